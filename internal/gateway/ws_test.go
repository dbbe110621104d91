package gateway

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/bevygap/bevygap/internal/gateway/gatewaytest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/pkg/protocol"
)

const goodRequest = `{"game":"bevygap-spaceships","version":"1","client_ip":null}`

func TestWebsocketSuccess(t *testing.T) {
	e := newEnv(t, nil)
	mm := gatewaytest.Respond(t, e.mm, e.names, "bevygap-spaceships", "1", gatewaytest.Feedback(gatewaytest.Success()...))
	got := e.request(t, goodRequest)
	if !strings.Contains(got, `"token":"`+gatewaytest.Token()+`"`) {
		t.Errorf("the token was not relayed unchanged:\n%s", got)
	}
	golden.Assert(t, "ws_success.txt", []byte(strings.ReplaceAll(got, gatewaytest.Token(), "<token>")))

	req := waitRequest(t, mm.Requests)
	want := protocol.MatchmakerRequest{ClientIP: DefaultFakeIP, Game: "bevygap-spaceships", Version: "1"}
	if req != want {
		t.Errorf("matchmaker got %+v, want %+v (loopback replaced by the fake IP)", req, want)
	}
}

func TestWebsocketMatchmakerError(t *testing.T) {
	e := newEnv(t, nil)
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Feedback(
		protocol.Acknowledged(), protocol.Accepted("s1"), protocol.Failure(408, "session still not ready, timed out.")))
	golden.Assert(t, "ws_matchmaker_error.txt", []byte(e.request(t, `{"game":"g","version":"1","client_ip":null}`)))
}

// Every gateway-side failure is one Error feedback frame the Rust client can
// parse, then a close.
func TestWebsocketFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RatePerMinute = 0 })
	gatewaytest.Respond(t, e.mm, e.names, "bad", "1", gatewaytest.Raw(`"Acknowledged"`, `ERR not feedback`, `"Acknowledged"`))
	gatewaytest.Respond(t, e.mm, e.names, "status", "1", gatewaytest.Raw(`{"ProgressReport":"x"}`, `{"SessionReady":{"token":"a","ip":"b","port":1,"cert_digest":"c","extra":1}}`))
	cases := []struct{ name, msg string }{
		{"invalid json", `{"game":`},
		{"wrong type", `{"game":1,"version":"1"}`},
		{"missing game", `{"version":"1"}`},
		{"invalid name", `{"game":"a.b","version":"1","client_ip":null}`},
		{"invalid version", `{"game":"a","version":"1.0","client_ip":null}`},
		{"name too long", `{"game":"` + strings.Repeat("a", 31) + `","version":"1","client_ip":null}`},
		{"space in name", `{"game":"my game","version":"1","client_ip":null}`},
		{"no matchmaker", `{"game":"nobody-home","version":"1","client_ip":null}`},
		{"malformed matchmaker reply", `{"game":"bad","version":"1","client_ip":null}`},
		{"unknown field in seat", `{"game":"status","version":"1","client_ip":null}`},
		{"override off", `{"game":"nobody-home","version":"1","client_ip":"not an ip"}`},
	}
	var out strings.Builder
	for _, c := range cases {
		out.WriteString("## " + c.name + "\n> " + c.msg + "\n")
		out.WriteString(e.request(t, c.msg))
	}
	// A binary frame.
	c := e.dial(t, nil)
	if err := c.Write(t.Context(), websocket.MessageBinary, []byte(goodRequest)); err != nil {
		t.Fatal(err)
	}
	out.WriteString("## binary frame\n" + transcript(t, c))
	golden.Assert(t, "ws_failures.txt", []byte(out.String()))
}

func TestWebsocketFirstMessageTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FirstMessageTimeout = 100 * time.Millisecond })
	c := e.dial(t, nil)
	golden.Assert(t, "ws_first_message_timeout.txt", []byte(transcript(t, c)))
	if got := e.metric(t, `bevygap_gateway_rejections_total{reason="first_message_timeout"}`); !strings.HasSuffix(got, " 1") {
		t.Errorf("rejection metric: %q", got)
	}
}

func TestWebsocketOversizedFrame(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t, nil)
	send(t, c, `{"game":"`+strings.Repeat("a", 5000)+`","version":"1"}`)
	got := transcript(t, c)
	if !strings.HasPrefix(got, "close 1009 ") {
		t.Fatalf("oversized frame: got %q, want close 1009", got)
	}
}

func TestWebsocketSecondMessage(t *testing.T) {
	e := newEnv(t, nil)
	release := make(chan struct{})
	mm := gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Hold(release))
	c := e.dial(t, nil)
	send(t, c, `{"game":"g","version":"1"}`)
	waitRequest(t, mm.Requests)
	readAck(t, c)
	send(t, c, `{"game":"g","version":"1"}`)
	got := transcript(t, c)
	want := "text {\"Error\":[400,\"only one request message per connection\"]}\nclose 1008 Bad Request\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// The client_ip field of the websocket message and the client_ip query
// parameter are used only with AllowClientIPOverride.
func TestWebsocketClientIPOverride(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.AllowClientIPOverride = allow })
		mm := gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Feedback(protocol.Acknowledged()))

		e.request(t, `{"game":"g","version":"1","client_ip":"5.6.7.8"}`)
		got := waitRequest(t, mm.Requests).ClientIP

		orig := e.srv.URL()
		u := "ws" + strings.TrimPrefix(orig, "http") + "/matchmaker/ws?client_ip=9.8.7.6"
		c, _, err := websocket.Dial(t.Context(), u, &websocket.DialOptions{HTTPClient: e.http})
		if err != nil {
			t.Fatal(err)
		}
		send(t, c, `{"game":"g","version":"1","client_ip":"5.6.7.8"}`)
		transcript(t, c)
		c.CloseNow()
		gotQuery := waitRequest(t, mm.Requests).ClientIP

		wantField, wantQuery := DefaultFakeIP, DefaultFakeIP
		if allow {
			wantField, wantQuery = "5.6.7.8", "9.8.7.6"
		}
		if got != wantField || gotQuery != wantQuery {
			t.Errorf("override allowed=%v: field gave %s (want %s), query gave %s (want %s)", allow, got, wantField, gotQuery, wantQuery)
		}
	}
}

func TestWebsocketTrustedForwardedFor(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TrustedProxies = mustPrefixes("127.0.0.0/8", "10.0.0.0/8") })
	mm := gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Feedback(protocol.Acknowledged()))
	c := e.dial(t, http.Header{"X-Forwarded-For": {"6.6.6.6, 9.9.9.9, 10.1.2.3"}})
	send(t, c, `{"game":"g","version":"1"}`)
	transcript(t, c)
	if got := waitRequest(t, mm.Requests).ClientIP; got != "9.9.9.9" {
		t.Errorf("client ip %s, want 9.9.9.9 (rightmost untrusted hop)", got)
	}

	// Untrusted peer: the header is ignored.
	e2 := newEnv(t, nil)
	mm2 := gatewaytest.Respond(t, e2.mm, e2.names, "g", "1", gatewaytest.Feedback(protocol.Acknowledged()))
	c2 := e2.dial(t, http.Header{"X-Forwarded-For": {"9.9.9.9"}})
	send(t, c2, `{"game":"g","version":"1"}`)
	transcript(t, c2)
	if got := waitRequest(t, mm2.Requests).ClientIP; got != DefaultFakeIP {
		t.Errorf("client ip %s from an untrusted peer's X-Forwarded-For, want the fake ip", got)
	}
}

func TestWebsocketRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RatePerMinute, c.RateBurst = 1, 2 })
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Feedback(protocol.Acknowledged()))
	for i := range 2 {
		if got := e.request(t, `{"game":"g","version":"1"}`); got != "text \"Acknowledged\"\nclose 1000 Goodbye\n" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	got := e.request(t, `{"game":"g","version":"1"}`)
	golden.Assert(t, "ws_rate_limited.txt", []byte(got))
	if m := e.metric(t, `bevygap_gateway_rejections_total{reason="rate_limited"}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("rate limit metric: %q", m)
	}
}

func TestWebsocketPendingCaps(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxPendingPerIP, c.MaxPendingTotal = 1, 2
		c.TrustedProxies = mustPrefixes("127.0.0.1/32")
	})
	release := make(chan struct{})
	mm := gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Hold(release))
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }

	first := e.dial(t, from("1.1.1.1"))
	send(t, first, `{"game":"g","version":"1"}`)
	waitRequest(t, mm.Requests)

	sameIP := e.dial(t, from("1.1.1.1"))
	perIP := transcript(t, sameIP)

	second := e.dial(t, from("2.2.2.2"))
	send(t, second, `{"game":"g","version":"1"}`)
	waitRequest(t, mm.Requests)

	third := e.dial(t, from("3.3.3.3"))
	total := transcript(t, third)
	golden.Assert(t, "ws_pending_caps.txt", []byte("## same ip\n"+perIP+"## total\n"+total))

	close(release)
	for _, c := range []*websocket.Conn{first, second} {
		if got := transcript(t, c); got != "text \"Acknowledged\"\nclose 1000 Goodbye\n" {
			t.Errorf("held request: %q", got)
		}
	}
	eventually(t, "pending requests released", func() bool { return e.srv.limits.pending() == 0 })
}

// Shutdown tells waiting clients: Error 503, then close 1001.
func TestWebsocketShutdown(t *testing.T) {
	e := newEnv(t, nil)
	mm := gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Hold(nil))
	c := e.dial(t, nil)
	send(t, c, `{"game":"g","version":"1"}`)
	waitRequest(t, mm.Requests)
	readAck(t, c)
	idle := e.dial(t, nil) // connected, request not sent yet

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx) }()
	got := "## waiting\n" + transcript(t, c) + "## idle\n" + transcript(t, idle)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	golden.Assert(t, "ws_shutdown.txt", []byte(got))
}

// A client that sends its request together with the handshake (before the
// 101) is served: the early bytes survive the switch to small buffers.
func TestWebsocketEarlyFrame(t *testing.T) {
	e := newEnv(t, nil)
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Feedback(protocol.Acknowledged()))
	u := strings.TrimPrefix(e.srv.URL(), "http://")
	c, err := rawWebsocket(u, `{"game":"g","version":"1"}`, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 0x81 || string(payload) != `"Acknowledged"` {
		t.Errorf("first frame %x %q", hdr, payload)
	}
}

func TestWebsocketRequestTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxRequestDuration = 200 * time.Millisecond })
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Hold(nil))
	got := e.request(t, `{"game":"g","version":"1"}`)
	want := "text \"Acknowledged\"\ntext {\"Error\":[504,\"matchmaker did not finish within 200ms\"]}\nclose 1011 Gateway Timeout\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// After SessionReady a missing end message only delays the normal close.
func TestWebsocketSeatWithoutEnd(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.endGrace = 50 * time.Millisecond
	seat := gatewaytest.Success()
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", func(ctx context.Context, _ protocol.MatchmakerRequest, reply func([]byte)) {
		for _, f := range seat {
			reply(f.Encode())
		}
		reply([]byte(`"Acknowledged"`)) // after the final feedback: dropped
		<-ctx.Done()
	})
	got := e.request(t, `{"game":"g","version":"1"}`)
	if !strings.HasSuffix(got, "\"cert_digest\":\"e3:76:4d\"}}\nclose 1000 Goodbye\n") {
		t.Errorf("got %q", got)
	}
}

// Keepalive: a client that answers pings stays; one that does not is cut.
func TestWebsocketKeepalive(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.PingInterval = 20 * time.Millisecond
		c.WriteTimeout = 200 * time.Millisecond
	})
	release := make(chan struct{})
	mm := gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Hold(release, protocol.Progress("still here")))

	// A silent client (reads nothing, so never pongs) is disconnected.
	u := strings.TrimPrefix(e.srv.URL(), "http://")
	raw, err := rawWebsocket(u, `{"game":"g","version":"1"}`)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	waitRequest(t, mm.Requests)
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, raw); err != nil {
		t.Fatalf("silent client not disconnected: %v", err)
	}
	eventually(t, "client_gone counted", func() bool {
		return strings.Contains(e.metric(t, "bevygap_gateway_requests_total"), `outcome="client_gone",route="ws"} 1`)
	})

	// A live client (reading, so answering pings) outlives many pings.
	var pings atomic.Int32
	c, _, err := websocket.Dial(t.Context(), e.wsURL(), &websocket.DialOptions{HTTPClient: e.http,
		OnPingReceived: func(context.Context, []byte) bool { pings.Add(1); return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	send(t, c, `{"game":"g","version":"1"}`)
	out := make(chan string, 1)
	go func() { out <- transcript(t, c) }()
	eventually(t, "five pings", func() bool { return pings.Load() >= 5 })
	close(release)
	if got := <-out; got != "text \"Acknowledged\"\ntext {\"ProgressReport\":\"still here\"}\nclose 1000 Goodbye\n" {
		t.Errorf("live client: %q", got)
	}
}
