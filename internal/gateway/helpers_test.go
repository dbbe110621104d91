package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a gateway on loopback with a real nats-server behind it.
type env struct {
	ns    *natstest.Server
	nc    *nats.Conn // the gateway's connection
	mm    *nats.Conn // the test matchmaker's connection
	reg   *prometheus.Registry
	srv   *Server
	names state.Names
	http  *http.Client
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	return startEnv(t, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})), mod)
}

// newBenchEnv is a quiet env without limits.
func newBenchEnv(b *testing.B) *env {
	return startEnv(b, slog.New(slog.DiscardHandler), func(c *Config) {
		c.RatePerMinute, c.MaxPendingPerIP, c.MaxPendingTotal = 0, 0, 0
	})
}

func startEnv(t testing.TB, log *slog.Logger, mod func(*Config)) *env {
	t.Helper()
	ns := natstest.RunJetStream(t)
	e := &env{ns: ns, nc: ns.Conn(t), mm: ns.Conn(t), reg: prometheus.NewRegistry()}
	// The limits serve applies, unless mod changes them (0 = unlimited).
	cfg := Config{
		NATS:            e.nc,
		Logger:          log,
		Registry:        e.reg,
		RatePerMinute:   DefaultRatePerMinute,
		MaxPendingPerIP: DefaultMaxPendingPerIP,
		MaxPendingTotal: DefaultMaxPendingTotal,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.names = cfg.Names
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	srv.Addr = "127.0.0.1:0"
	if err := srv.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	e.srv = srv
	tr := &http.Transport{}
	e.http = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return e
}

func (e *env) wsURL() string {
	return "ws" + strings.TrimPrefix(e.srv.URL(), "http") + "/matchmaker/ws"
}

// dial opens a websocket to the gateway with optional extra headers.
func (e *env) dial(t *testing.T, h http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{HTTPHeader: h, HTTPClient: e.http})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func send(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// transcript reads every frame until the connection closes: one line per
// text frame, then the close code and reason.
func transcript(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				fmt.Fprintf(&b, "close %d %s\n", int(ce.Code), ce.Reason)
			} else {
				fmt.Fprintf(&b, "read error %v\n", err)
			}
			return b.String()
		}
		kind := "text"
		if typ == websocket.MessageBinary {
			kind = "binary"
		}
		fmt.Fprintf(&b, "%s %s\n", kind, data)
	}
}

// request runs one websocket session: dial, send msg, read to the close.
func (e *env) request(t *testing.T, msg string) string {
	t.Helper()
	c := e.dial(t, nil)
	send(t, c, msg)
	return transcript(t, c)
}

func (e *env) get(t *testing.T, path string, h http.Header) (*http.Response, string) {
	t.Helper()
	return e.do(t, http.MethodGet, e.srv.URL()+path, h, nil)
}

func (e *env) do(t *testing.T, method, url string, h http.Header, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(b)
}

// metric returns the exposition lines of /metrics that start with prefix.
func (e *env) metric(t *testing.T, prefix string) string {
	t.Helper()
	_, body := e.get(t, "/metrics", nil)
	var out []string
	for l := range strings.Lines(body) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "\n")
}

func waitRequest[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("the test matchmaker got no request")
	}
	var zero T
	return zero
}

func mustPrefixes(ps ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// eventually polls cond (a safety timeout, not a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if cond() {
			return nil
		}
		return errors.New(what)
	})
}

// readAck reads one frame and checks it is "Acknowledged".
func readAck(t *testing.T, c *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil || string(data) != `"Acknowledged"` {
		t.Fatalf("want Acknowledged, got %q, %v", data, err)
	}
}
