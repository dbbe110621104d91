package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bevygap/bevygap/internal/gateway/gatewaytest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestCORS(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CORSOrigins = []string{"https://game.example.com"} })
	preflight := func(origin, method string) *http.Response {
		h := http.Header{"Access-Control-Request-Method": {method}, "Access-Control-Request-Headers": {"content-type"}}
		if origin != "" {
			h.Set("Origin", origin)
		}
		resp, _ := e.do(t, http.MethodOptions, e.srv.URL()+"/matchmaker/wannaplay", h, nil)
		return resp
	}
	resp := preflight("https://game.example.com", "POST")
	if resp.StatusCode != http.StatusNoContent ||
		resp.Header.Get("Access-Control-Allow-Origin") != "https://game.example.com" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET, POST" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "Content-Type" {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	for _, c := range []struct{ origin, method string }{
		{"https://evil.example.com", "POST"},
		{"https://game.example.com", "DELETE"},
		{"", "POST"},
	} {
		resp := preflight(c.origin, c.method)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %s %s: %d %v, want 403 without ACAO", c.origin, c.method, resp.StatusCode, resp.Header)
		}
	}

	resp, _ = e.get(t, "/healthz", http.Header{"Origin": {"https://game.example.com"}})
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://game.example.com" {
		t.Errorf("allowed origin GET: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = e.get(t, "/healthz", http.Header{"Origin": {"https://evil.example.com"}})
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused origin GET: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = e.get(t, "/healthz", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no origin GET: %d %v", resp.StatusCode, resp.Header)
	}
	// A refused origin cannot start work either.
	resp, _ = e.do(t, http.MethodPost, e.srv.URL()+"/matchmaker/request/g/1", http.Header{"Origin": {"https://evil.example.com"}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("refused origin POST: %d", resp.StatusCode)
	}

	// Websocket upgrades follow the same list; same-origin pages (the index
	// page's tester) are allowed.
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Feedback(protocol.Acknowledged()))
	dial := func(origin string) (*websocket.Conn, int) {
		c, resp, err := websocket.Dial(t.Context(), e.wsURL(), &websocket.DialOptions{HTTPClient: e.http, HTTPHeader: http.Header{"Origin": {origin}}})
		if err != nil {
			if resp == nil {
				t.Fatalf("dial %s: %v", origin, err)
			}
			return nil, resp.StatusCode
		}
		return c, resp.StatusCode
	}
	if _, code := dial("https://evil.example.com"); code != http.StatusForbidden {
		t.Errorf("websocket from a refused origin: %d, want 403", code)
	}
	for _, origin := range []string{"https://game.example.com", e.srv.URL()} {
		c, code := dial(origin)
		if c == nil {
			t.Fatalf("websocket from %s refused: %d", origin, code)
		}
		send(t, c, `{"game":"g","version":"1"}`)
		if got := transcript(t, c); got != "text \"Acknowledged\"\nclose 1000 Goodbye\n" {
			t.Errorf("websocket from %s: %q", origin, got)
		}
	}

	star := newEnv(t, func(c *Config) { c.CORSOrigins = []string{"*"} })
	resp, _ = star.get(t, "/healthz", http.Header{"Origin": {"https://anyone.example"}})
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("* origin: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestResolveClient(t *testing.T) {
	fake := netip.MustParseAddr(DefaultFakeIP)
	cases := []struct {
		name     string
		cfg      Config
		remote   string
		xff      []string
		query    string
		network  string
		client   string
		override bool
		err      bool
	}{
		{name: "peer", remote: "8.8.8.8:1234", network: "8.8.8.8", client: "8.8.8.8"},
		{name: "loopback is faked", remote: "127.0.0.1:1", network: "127.0.0.1", client: DefaultFakeIP},
		{name: "ipv6 loopback is faked", remote: "[::1]:1", network: "::1", client: DefaultFakeIP},
		{name: "untrusted xff ignored", remote: "8.8.8.8:1", xff: []string{"1.1.1.1"}, network: "8.8.8.8", client: "8.8.8.8"},
		{name: "trusted xff", cfg: Config{TrustedProxies: mustPrefixes("10.0.0.0/8")}, remote: "10.0.0.1:1",
			xff: []string{"6.6.6.6, 1.1.1.1"}, network: "1.1.1.1", client: "1.1.1.1"},
		{name: "trusted chain across headers", cfg: Config{TrustedProxies: mustPrefixes("10.0.0.0/8")}, remote: "10.0.0.1:1",
			xff: []string{"6.6.6.6, 1.1.1.1", "10.9.9.9"}, network: "1.1.1.1", client: "1.1.1.1"},
		{name: "xff with port", cfg: Config{TrustedProxies: mustPrefixes("10.0.0.0/8")}, remote: "10.0.0.1:1",
			xff: []string{"[2001:db8::1]:443"}, network: "2001:db8::1", client: "2001:db8::1"},
		{name: "garbage stops the walk", cfg: Config{TrustedProxies: mustPrefixes("10.0.0.0/8")}, remote: "10.0.0.1:1",
			xff: []string{"1.1.1.1, bogus, 10.0.0.2"}, network: "10.0.0.2", client: "10.0.0.2"},
		{name: "all trusted", cfg: Config{TrustedProxies: mustPrefixes("10.0.0.0/8")}, remote: "10.0.0.1:1",
			xff: []string{"10.0.0.3"}, network: "10.0.0.3", client: "10.0.0.3"},
		{name: "loopback via proxy is faked", cfg: Config{TrustedProxies: mustPrefixes("10.0.0.0/8")}, remote: "10.0.0.1:1",
			xff: []string{"127.0.0.1"}, network: "127.0.0.1", client: DefaultFakeIP},
		{name: "override off", remote: "8.8.8.8:1", query: "5.5.5.5", network: "8.8.8.8", client: "8.8.8.8"},
		{name: "override on", cfg: Config{AllowClientIPOverride: true}, remote: "8.8.8.8:1", query: "5.5.5.5",
			network: "8.8.8.8", client: "5.5.5.5", override: true},
		{name: "override loopback", cfg: Config{AllowClientIPOverride: true}, remote: "8.8.8.8:1", query: "127.0.0.1",
			network: "8.8.8.8", client: DefaultFakeIP, override: true},
		{name: "override invalid", cfg: Config{AllowClientIPOverride: true}, remote: "8.8.8.8:1", query: "nope", err: true},
		{name: "mapped v4", remote: "[::ffff:8.8.4.4]:1", network: "8.8.4.4", client: "8.8.4.4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.NATS = &nats.Conn{}
			cfg, err := cfg.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{cfg: cfg}
			r := httptest.NewRequest("GET", "/matchmaker/ws", nil)
			if c.query != "" {
				r = httptest.NewRequest("GET", "/matchmaker/ws?client_ip="+c.query, nil)
			}
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			ca, err := s.resolveClient(r)
			if c.err {
				if err == nil {
					t.Fatalf("want an error, got %+v", ca)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ca.network.String() != c.network || ca.client.String() != c.client || ca.overridden != c.override {
				t.Errorf("got network %s client %s override %v, want %s %s %v", ca.network, ca.client, ca.overridden, c.network, c.client, c.override)
			}
			if ca.client == fake && c.client != DefaultFakeIP {
				t.Error("unexpected fake ip")
			}
		})
	}
}

func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	cfg, err := Config{NATS: &nats.Conn{}, MaxTrackedIPs: 100, RatePerMinute: 6, RateBurst: 2, MaxPendingPerIP: 1}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	l := newLimiter(cfg)
	l.now = func() time.Time { return now }
	ip := netip.MustParseAddr("1.2.3.4")
	rel, rej := l.acquire(ip)
	if rej != nil {
		t.Fatal(rej.reason)
	}
	if _, rej := l.acquire(ip); rej != rejectIP {
		t.Fatalf("second pending from one ip: %v", rej)
	}
	rel()
	rel() // idempotent
	rel2, _ := l.acquire(ip)
	rel2()
	if _, rej := l.acquire(ip); rej != rejectRate {
		t.Fatalf("third request in the same instant: %v, want rate limited", rej)
	}
	now = now.Add(10 * time.Second) // one token back at 6/min
	if rel, rej := l.acquire(ip); rej != nil {
		t.Fatalf("after refill: %v", rej.reason)
	} else {
		rel()
	}
	// IPv6 addresses of one /64 share a bucket.
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff")
	relA, _ := l.acquire(a)
	if _, rej := l.acquire(b); rej != rejectIP {
		t.Errorf("same /64: %v", rej)
	}
	relA()
	// Many addresses: the map stays bounded.
	for i := range 10000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if rel, rej := l.acquire(addr); rej == nil {
			rel()
		}
	}
	if n := l.tracked(); n > 100 {
		t.Errorf("tracking %d addresses, cap 100", n)
	}
	if l.pending() != 0 {
		t.Errorf("pending %d", l.pending())
	}
}

// 0 means unlimited for every limit; a negative limit is refused with its name.
func TestConfigLimits(t *testing.T) {
	cfg, err := Config{NATS: &nats.Conn{}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	l := newLimiter(cfg)
	ip := netip.MustParseAddr("1.2.3.4")
	for i := range 1000 {
		if _, rej := l.acquire(ip); rej != nil {
			t.Fatalf("zero config, request %d from one ip: %s", i, rej.reason)
		}
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{RatePerMinute: -1}, "rate-per-minute -1 must not be negative (0 = unlimited)"},
		{Config{MaxPendingPerIP: -1}, "max-pending-per-ip -1 must not be negative (0 = unlimited)"},
		{Config{MaxPendingTotal: -2}, "max-pending-total -2 must not be negative (0 = unlimited)"},
	} {
		c.cfg.NATS = &nats.Conn{}
		if _, err := c.cfg.withDefaults(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestStreamRoute(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RatePerMinute = 0 })
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Feedback(gatewaytest.Success()...))
	gatewaytest.Respond(t, e.mm, e.names, "err", "1", gatewaytest.Feedback(protocol.Acknowledged(), protocol.Failure(500, "no ports")))
	var out strings.Builder
	for _, path := range []string{"g/1", "err/1", "nobody/1", "a.b/1", "g/" + strings.Repeat("9", 31)} {
		resp, body := e.do(t, http.MethodPost, e.srv.URL()+"/matchmaker/request/"+path, nil, nil)
		out.WriteString("## " + path + "\n")
		out.WriteString(resp.Status + " " + resp.Header.Get("Content-Type") + " " + strings.Join(resp.TransferEncoding, ",") + "\n")
		out.WriteString(strings.ReplaceAll(body, gatewaytest.Token(), "<token>"))
	}
	golden.Assert(t, "stream.txt", []byte(out.String()))
}

func TestWannaplay(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.RatePerMinute = 0
		c.WannaplayTimeout = 200 * time.Millisecond
	})
	post := func() (int, string) {
		resp, body := e.do(t, http.MethodPost, e.srv.URL()+"/matchmaker/wannaplay", nil, nil)
		return resp.StatusCode, body
	}
	if code, body := post(); code != 503 || body != "No service responders" {
		t.Errorf("no responders: %d %q", code, body)
	}

	// A subscriber that never answers: timeout.
	sub, err := e.mm.Subscribe(e.names.GenSessionGroup()+".gensession", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	e.mm.Flush()
	if code, body := post(); code != 408 || body != "Request timeout" {
		t.Errorf("timeout: %d %q", code, body)
	}
	sub.Unsubscribe()

	var gotReq protocol.MatchmakerRequest
	reply := func(req micro.Request) {
		json.Unmarshal(req.Data(), &gotReq)
		gatewaytest.GenSessionOK(req)
	}
	svc := gatewaytest.GenSession(t, e.mm, e.names, reply)
	code, body := post()
	want, _ := json.Marshal(gatewaytest.SessionResponse())
	if code != 200 || body != string(want) || gotReq.ClientIP != DefaultFakeIP {
		t.Errorf("success: %d %q (request %+v)", code, body, gotReq)
	}
	svc.Stop()

	gatewaytest.GenSession(t, e.mm, e.names, func(req micro.Request) { req.Error("409", "app version not active", nil) })
	if code, body := post(); code != 409 || body != "app version not active" {
		t.Errorf("service error: %d %q", code, body)
	}
}

func TestWebhookSink(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.WebhookSecret = "s3cret"
		c.WebhookMaxBody = 32
	})
	msgs := make(chan *nats.Msg, 10)
	sub, err := e.mm.ChanSubscribe(e.names.Webhook("edgegap"), msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	e.mm.Flush()
	hook := func(path string, h http.Header, body string) (int, string) {
		resp, b := e.do(t, http.MethodPost, e.srv.WebhookURL()+path, h, strings.NewReader(body))
		return resp.StatusCode, b
	}
	secret := http.Header{"X-Bevygap-Webhook-Secret": {"s3cret"}}
	if code, body := hook("/hook/edgegap", secret, `{"session_id":"s1"}`); code != 200 || body != "OK" {
		t.Fatalf("post: %d %q", code, body)
	}
	select {
	case m := <-msgs:
		if string(m.Data) != `{"session_id":"s1"}` {
			t.Errorf("published %q", m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing published")
	}
	if code, _ := hook("/hook/edgegap?secret=s3cret", nil, `x`); code != 200 {
		t.Errorf("query secret: %d", code)
	}
	<-msgs
	for _, c := range []struct {
		path string
		h    http.Header
		body string
		code int
	}{
		{"/hook/edgegap", nil, "x", 401},
		{"/hook/edgegap?secret=wrong", nil, "x", 401},
		{"/hook/edgegap", http.Header{"X-Bevygap-Webhook-Secret": {"s3cre"}}, "x", 401},
		{"/hook/edgegap", secret, strings.Repeat("x", 33), 413},
		{"/hook/a.b", secret, "x", 400},
		{"/hook/" + strings.Repeat("a", 65), secret, "x", 400},
	} {
		if code, body := hook(c.path, c.h, c.body); code != c.code {
			t.Errorf("%s: %d %q, want %d", c.path, code, body, c.code)
		}
	}
	// A body of unknown length over the cap.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.WebhookURL()+"/hook/edgegap", strings.NewReader(strings.Repeat("y", 100)))
	req.ContentLength = -1
	req.Header = secret
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversized body: %d", resp.StatusCode)
	}
	select {
	case m := <-msgs:
		t.Errorf("refused hook published %q", m.Data)
	default:
	}
}

// With NATS gone under the sink, a hook is answered 503 so that Edgegap
// retries it, never 200 for a message nobody got.
func TestWebhookSinkNATSClosed(t *testing.T) {
	e := newEnv(t, nil)
	e.nc.Close()
	resp, body := e.do(t, http.MethodPost, e.srv.WebhookURL()+"/hook/edgegap", nil, strings.NewReader(`{"session_id":"s1"}`))
	if resp.StatusCode != http.StatusServiceUnavailable || body != "nats unavailable, try again" {
		t.Errorf("hook with NATS closed: %d %q, want 503", resp.StatusCode, body)
	}
	if got := e.metric(t, `bevygap_gateway_requests_total{outcome="unavailable",route="hook"}`); got == "" {
		t.Errorf("no unavailable outcome counted for the hook route")
	}
}

// The webhook sink on its own listener, the client routes on another.
func TestSplitListeners(t *testing.T) {
	ns := newEnv(t, nil).ns
	nc := ns.Conn(t)
	srv, err := NewServer(Config{NATS: nc})
	if err != nil {
		t.Fatal(err)
	}
	srv.Addr, srv.WebhookAddr = "127.0.0.1:0", "127.0.0.1:0"
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.URL() == srv.WebhookURL() {
		t.Fatal("one listener")
	}
	cl := &http.Client{Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	status := func(method, url string) int {
		req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader("x"))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := status("POST", srv.WebhookURL()+"/hook/x"); c != 200 {
		t.Errorf("hook on the webhook listener: %d", c)
	}
	if c := status("POST", srv.URL()+"/hook/x"); c != 404 {
		t.Errorf("hook on the client listener: %d", c)
	}
	if c := status("GET", srv.WebhookURL()+"/matchmaker"); c != 404 {
		t.Errorf("client page on the webhook listener: %d", c)
	}
	if c := status("GET", srv.URL()+"/matchmaker"); c != 200 {
		t.Errorf("client page: %d", c)
	}
	if c := status("GET", srv.WebhookURL()+"/"); c != 200 {
		t.Errorf("webhook sink page: %d", c)
	}
	// A second server on the same registry is refused, not a panic.
	reg := prometheus.NewRegistry()
	first, err := NewServer(Config{NATS: nc, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := NewServer(Config{NATS: nc, Registry: reg}); err == nil {
		t.Error("two servers registered the same metrics")
	}
}

func TestHealthAndReady(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Names = state.Names{Namespace: "t1"}
		c.ReadyTimeout = 200 * time.Millisecond
	})
	if resp, body := e.get(t, "/healthz", nil); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	if resp, body := e.get(t, "/readyz", nil); resp.StatusCode != 503 || !strings.Contains(body, "gensession") {
		t.Errorf("readyz without a matchmaker: %d %q", resp.StatusCode, body)
	}
	// A gensession service of another namespace does not count.
	gatewaytest.GenSession(t, e.mm, state.Names{Namespace: "other"}, gatewaytest.GenSessionOK)
	if resp, body := e.get(t, "/readyz", nil); resp.StatusCode != 503 {
		t.Errorf("readyz with another namespace's matchmaker: %d %q", resp.StatusCode, body)
	}
	gatewaytest.GenSession(t, e.mm, e.names, gatewaytest.GenSessionOK)
	if resp, body := e.get(t, "/readyz", nil); resp.StatusCode != 200 || body != "ready" {
		t.Errorf("readyz: %d %q", resp.StatusCode, body)
	}
	if resp, body := e.get(t, "/", nil); resp.StatusCode != 200 || !strings.Contains(body, "/matchmaker/ws") {
		t.Errorf("index: %d", resp.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RateBurst = 2 })
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Feedback(gatewaytest.Success()...))
	e.request(t, goodRequest)                  // no matchmaker
	e.request(t, `{"game":"g","version":"1"}`) // seat
	e.request(t, `{"game":"g","version":"1"}`) // rate limited
	eventually(t, "requests counted", func() bool {
		return strings.HasSuffix(e.metric(t, "bevygap_gateway_request_duration_seconds_count"), " 3")
	})
	got := e.metric(t, "bevygap_gateway_requests_total") + "\n" +
		e.metric(t, "bevygap_gateway_rejections_total") + "\n" +
		e.metric(t, "bevygap_gateway_request_duration_seconds_count") + "\n" +
		e.metric(t, "bevygap_gateway_websocket_connections") + "\n" +
		e.metric(t, "bevygap_gateway_pending_requests")
	golden.Assert(t, "metrics.txt", []byte(got+"\n"))
}

// Without NATS the gateway answers at once instead of buffering requests.
func TestNATSDown(t *testing.T) {
	e := newEnv(t, nil)
	e.ns.Shutdown()
	eventually(t, "nats disconnected", func() bool { return !e.nc.IsConnected() })
	if got := e.request(t, goodRequest); got != "text {\"Error\":[503,\"matchmaker unreachable, try again later\"]}\nclose 1013 Service Unavailable\n" {
		t.Errorf("websocket: %q", got)
	}
	if resp, body := e.get(t, "/readyz", nil); resp.StatusCode != 503 || !strings.Contains(body, "nats not connected") {
		t.Errorf("readyz: %d %q", resp.StatusCode, body)
	}
	if resp, _ := e.get(t, "/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}
