package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/bevygap/bevygap/internal/gateway"
	"github.com/bevygap/bevygap/internal/gateway/gatewaytest"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startGateway runs a gateway (no rate limits, client IP overrides allowed)
// in front of a test matchmaker with a few scripted games.
func startGateway(t *testing.T) (wsURL string, mm, hold *gatewaytest.Responder) {
	t.Helper()
	ns := natstest.RunJetStream(t)
	mmConn := ns.Conn(t)
	var names state.Names
	mm = gatewaytest.Respond(t, mmConn, names, "ok", "1", gatewaytest.Feedback(gatewaytest.Success()...))
	gatewaytest.Respond(t, mmConn, names, "err", "1", gatewaytest.Feedback(protocol.Acknowledged(), protocol.Failure(409, "app version not active")))
	gatewaytest.Respond(t, mmConn, names, "nothing", "1", gatewaytest.Feedback(protocol.Acknowledged()))
	short := gatewaytest.Success()
	short[len(short)-1].Seat.Token = base64.StdEncoding.EncodeToString([]byte("NETCODE 1.02\x00 too short"))
	gatewaytest.Respond(t, mmConn, names, "shorttoken", "1", gatewaytest.Feedback(short...))
	hold = gatewaytest.Respond(t, mmConn, names, "hold", "1", gatewaytest.Hold(nil))

	srv, err := gateway.NewServer(gateway.Config{
		NATS: ns.Conn(t), Names: names, RatePerMinute: 0, MaxPendingPerIP: 0, AllowClientIPOverride: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Addr = "127.0.0.1:0"
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return "ws" + strings.TrimPrefix(srv.URL(), "http") + "/matchmaker/ws", mm, hold
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestRequestSeat(t *testing.T) {
	u, mm, _ := startGateway(t)
	var seen []string
	res, err := Request(ctx(t), Options{URL: u, Game: "ok", Version: "1", ClientIP: "5.6.7.8",
		OnFeedback: func(f protocol.Feedback) { seen = append(seen, string(f.Kind)) }})
	if err != nil {
		t.Fatal(err)
	}
	want := gatewaytest.Seat
	want.Token = gatewaytest.Token()
	if res.Seat != want || res.SessionID != "950dd2eaff09-S" || len(res.Progress) != 2 || res.Elapsed <= 0 {
		t.Errorf("result %+v", res)
	}
	if strings.Join(seen, ",") != "Acknowledged,SessionRequestAccepted,ProgressReport,ProgressReport,SessionReady" {
		t.Errorf("feedback seen: %v", seen)
	}
	if ip := (<-mm.Requests).ClientIP; ip != "5.6.7.8" {
		t.Errorf("matchmaker saw client ip %s, want the override", ip)
	}
	b, _ := json.Marshal(res)
	for _, k := range []string{`"seat":{"token":`, `"session_id":"950dd2eaff09-S"`, `"elapsed_ms":`, `"progress":["Status.DEPLOYING (0.2s)"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("result JSON %s lacks %s", b, k)
		}
	}
}

func TestRequestErrors(t *testing.T) {
	u, _, _ := startGateway(t)
	var pe *protocol.Error
	_, err := Request(ctx(t), Options{URL: u, Game: "err", Version: "1"})
	if !errors.As(err, &pe) || pe.Code != 409 || pe.Message != "app version not active" {
		t.Errorf("matchmaker error: %v", err)
	}
	_, err = Request(ctx(t), Options{URL: u, Game: "nobody", Version: "1"})
	if !errors.As(err, &pe) || pe.Code != 503 {
		t.Errorf("no matchmaker: %v", err)
	}
	_, err = Request(ctx(t), Options{URL: u, Game: "a.b", Version: "1"})
	if !errors.As(err, &pe) || pe.Code != 400 || pe.Message != "Game name invalid" {
		t.Errorf("invalid name: %v", err)
	}
	if _, err = Request(ctx(t), Options{URL: u, Game: "shorttoken", Version: "1"}); !errors.Is(err, ErrBadSeat) {
		t.Errorf("short token: %v", err)
	}
	if _, err = Request(ctx(t), Options{URL: u, Game: "nothing", Version: "1"}); !errors.Is(err, ErrClosed) {
		t.Errorf("closed without a seat: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	var te *TransportError
	if _, err = Request(ctx(t), Options{URL: "ws://" + addr + "/matchmaker/ws", Game: "ok", Version: "1"}); !errors.As(err, &te) {
		t.Errorf("nothing listening: %v", err)
	}
	c, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err = Request(c, Options{URL: u, Game: "hold", Version: "1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// A text frame that is not feedback (the Rust gateway's "ERR ..." frames)
// is fatal, as in the Rust client plugin.
func TestRequestNonFeedbackFrame(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Read(r.Context())
		c.Write(r.Context(), websocket.MessageBinary, []byte("ignored"))
		c.Write(r.Context(), websocket.MessageText, []byte(`"Acknowledged"`))
		c.Write(r.Context(), websocket.MessageText, []byte("ERR Timeout waiting for websocket request message"))
		c.Close(websocket.StatusNormalClosure, "")
	}))
	defer srv.Close()
	var n int
	_, err := Request(ctx(t), Options{URL: srv.URL, Game: "g", Version: "1", HTTPClient: srv.Client(),
		OnFeedback: func(protocol.Feedback) { n++ }})
	if !errors.Is(err, ErrUnexpectedMessage) || n != 1 {
		t.Errorf("got %v after %d feedback messages", err, n)
	}
}

func TestCheckSeat(t *testing.T) {
	good := gatewaytest.Seat
	good.Token = gatewaytest.Token()
	if err := CheckSeat(good); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(good.Token)
	bad := func(mod func(*protocol.Seat)) protocol.Seat { s := good; mod(&s); return s }
	for name, s := range map[string]protocol.Seat{
		"url base64": bad(func(s *protocol.Seat) {
			s.Token = base64.URLEncoding.EncodeToString(append([]byte{0xfb, 0xff}, raw[2:]...))
		}),
		"2047 bytes": bad(func(s *protocol.Seat) { s.Token = base64.StdEncoding.EncodeToString(raw[:2047]) }),
		"2049 bytes": bad(func(s *protocol.Seat) { s.Token = base64.StdEncoding.EncodeToString(append(raw, 0)) }),
		"wrong magic": bad(func(s *protocol.Seat) {
			s.Token = base64.StdEncoding.EncodeToString(append([]byte("NETCODE 1.01"), raw[12:]...))
		}),
		"bad ip": bad(func(s *protocol.Seat) { s.IP = "game.example.com" }),
		"port 0": bad(func(s *protocol.Seat) { s.Port = 0 }),
	} {
		if err := CheckSeat(s); !errors.Is(err, ErrBadSeat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLoad(t *testing.T) {
	u, _, hold := startGateway(t)
	var calls int
	sum, err := Load(ctx(t), LoadOptions{URL: u, Game: "ok", Version: "1", Count: 20, Concurrency: 5,
		OnResult: func(int, Result, error) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests != 20 || sum.Seats != 20 || calls != 20 || len(sum.Errors) != 0 || sum.TransportErrors+sum.ProtocolErrors+sum.Canceled != 0 {
		t.Errorf("summary %+v", sum)
	}
	if sum.Latency.P50 <= 0 || sum.Latency.P50 > sum.Latency.P90 || sum.Latency.P90 > sum.Latency.P99 || sum.Latency.P99 > sum.Latency.Max || sum.SeatsPerSecond <= 0 {
		t.Errorf("latency %+v, %v seats/s", sum.Latency, sum.SeatsPerSecond)
	}

	sum, err = Load(ctx(t), LoadOptions{URL: u, Game: "err", Version: "1", Count: 6, Concurrency: 3})
	if err != nil || sum.Seats != 0 || sum.Errors[409] != 6 {
		t.Errorf("errors summary %+v, %v", sum, err)
	}
	b, _ := json.Marshal(sum)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"requests", "seats", "errors", "transport_errors", "protocol_errors", "canceled", "latency", "seats_per_second", "elapsed_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary JSON %s lacks %s", b, k)
		}
	}
	if !strings.Contains(string(b), `"errors":{"409":6}`) || !strings.Contains(string(b), `"latency":{"p50_ms":0,"p90_ms":0,"p99_ms":0,"max_ms":0}`) {
		t.Errorf("summary JSON %s", b)
	}

	// Bounded by ctx.
	c, cancel := context.WithCancel(t.Context())
	go func() {
		for range 4 {
			<-hold.Requests
		}
		cancel()
	}()
	sum, err = Load(c, LoadOptions{URL: u, Game: "hold", Version: "1", Count: 100, Concurrency: 4})
	if !errors.Is(err, context.Canceled) || sum.Requests != 4 || sum.Canceled != 4 {
		t.Errorf("canceled run: %+v, %v", sum, err)
	}

	for _, o := range []LoadOptions{{Count: 0}, {Count: MaxLoadCount + 1}, {Count: 1, Concurrency: -1}} {
		if _, err := Load(t.Context(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := percentiles(ds)
	if l.P50 != 50*time.Millisecond || l.P90 != 90*time.Millisecond || l.P99 != 99*time.Millisecond || l.Max != 100*time.Millisecond {
		t.Errorf("%+v", l)
	}
	if l := percentiles([]time.Duration{7}); l.P50 != 7 || l.Max != 7 {
		t.Errorf("%+v", l)
	}
}
