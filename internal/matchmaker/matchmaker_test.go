package matchmaker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

var (
	sidRE   = regexp.MustCompile(`[0-9a-f]{12}-S`)
	seatRE  = regexp.MustCompile(`[0-9a-f]{12}_[0-9a-f]{12}`)
	tokenRE = regexp.MustCompile(`"token":"[A-Za-z0-9+/=]+"`)
	portRE  = regexp.MustCompile(`"port":\d+`)
	progRE  = regexp.MustCompile(`\(\d+s\)`)
)

// scrubbed renders a feedback sequence for a golden file.
func scrubbed(fb []protocol.Feedback) []byte {
	var b strings.Builder
	for _, f := range fb {
		s := string(f.Encode())
		s = sidRE.ReplaceAllString(s, "<session>")
		s = seatRE.ReplaceAllString(s, "<deployment>_<seat>")
		s = tokenRE.ReplaceAllString(s, `"token":"<2732 chars>"`)
		s = portRE.ReplaceAllString(s, `"port":<port>`)
		s = progRE.ReplaceAllString(s, "(<elapsed>)")
		b.WriteString(s + "\n")
	}
	b.WriteString("<empty end message>\n")
	return []byte(b.String())
}

func TestHappyPath(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.digest()
	s.start(s.config())
	fb := s.request(`{"client_ip":"81.128.157.100","game":"bevygap-spaceships","version":"1"}`)
	golden.Assert(t, "happy.feedback", scrubbed(fb))
	if len(fb) < 3 || fb[0].Kind != protocol.KindAcknowledged || fb[1].Kind != protocol.KindAccepted || fb[len(fb)-1].Kind != protocol.KindReady {
		t.Fatalf("sequence %v", fb)
	}
	sid, seat := fb[1].SessionID, fb[len(fb)-1].Seat

	// The token decrypts with the key, for the deployment's IP and port.
	sess, err := s.eg.GetSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := sess.Deployment.GamePort("")
	want := netip.AddrPortFrom(netip.MustParseAddr(sess.Deployment.PublicIP), uint16(port.External))
	if seat.IP != want.Addr().String() || seat.Port != want.Port() || seat.CertDigest != testDigest {
		t.Fatalf("seat %+v, want %v with digest %s", seat, want, testDigest)
	}
	raw, _ := base64.StdEncoding.DecodeString(seat.Token)
	if len(raw) != 2048 {
		t.Fatalf("token is %d bytes", len(raw))
	}
	tok, err := netcode.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	pd, err := tok.Decrypt(s.key, 80085)
	if err != nil {
		t.Fatalf("token does not decrypt with the key: %v", err)
	}
	if len(tok.ServerAddrs) != 1 || tok.ServerAddrs[0] != want || pd.ServerAddrs[0] != want {
		t.Fatalf("token addresses %v / %v, want %v", tok.ServerAddrs, pd.ServerAddrs, want)
	}
	// KV records as PROTOCOL.md says.
	ctx := context.Background()
	if got, _ := s.store.SessionForClient(ctx, pd.ClientID); got != sid {
		t.Fatalf("sessions_ly2eg[%d] = %q, want %q", pd.ClientID, got, sid)
	}
	if got, _ := s.store.ClientForSession(ctx, sid); got != pd.ClientID {
		t.Fatalf("sessions_eg2ly[%s] = %d", sid, got)
	}
	if ok, _ := s.store.IsUnclaimed(ctx, sid); !ok {
		t.Fatal("session not in unclaimed_sessions")
	}
	// The key is never logged, in any of its formats.
	logs := s.logs.String()
	for _, form := range []string{testKey, "0102030405060708090000000000000000000000000000000000000000000001", "AQIDBAUGBwgJAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE="} {
		if strings.Contains(logs, form) {
			t.Fatalf("logs contain the private key (%s)", form)
		}
	}
	if !strings.Contains(logs, sid) {
		t.Fatal("logs captured nothing of the request")
	}
	// A client connects: the session is claimed, then released on disconnect.
	if err := s.store.PutActive(ctx, sid, pd.ClientID); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if ok, _ := s.store.IsUnclaimed(ctx, sid); ok {
			return fmt.Errorf("still unclaimed")
		}
		return nil
	})
	if err := s.store.DeleteActive(ctx, sid); err != nil {
		t.Fatal(err)
	}
	s.noLeaks(0)
}

// With the webhook, readiness costs at most one session GET per seat.
func TestWebhookPath(t *testing.T) {
	s := newStack(t, edgegapsim.Config{DeployDelay: 300 * time.Millisecond, Sockets: 2})
	s.digest()
	cfg := s.config()
	cfg.WebhookURL = s.webhookSink()
	s.start(cfg)
	const n = 6
	if seats := s.requestMany(n, 20*time.Second); seats != n {
		t.Fatalf("%d of %d seated", seats, n)
	}
	st := s.sim.Stats()
	if got := st.Total(edgegapsim.EndpointGetSession); got > n {
		t.Fatalf("%d session GETs for %d seats (want at most 1 each)", got, n)
	}
	if st.WebhooksSent < n {
		t.Fatalf("simulator sent %d webhooks", st.WebhooksSent)
	}
	t.Logf("%d seats, %d session GETs, %d webhooks", n, st.Total(edgegapsim.EndpointGetSession), st.WebhooksSent)
}

// sendLog records when each status call leaves the process: after the
// budget let it go, before the network (real HTTP underneath).
type sendLog struct {
	mu    sync.Mutex
	times []time.Time
	next  http.RoundTripper
}

func (l *sendLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/session/") {
		l.mu.Lock()
		l.times = append(l.times, time.Now())
		l.mu.Unlock()
	}
	return l.next.RoundTrip(r)
}

// maxInWindow is the largest number of sends within any window.
func (l *sendLog) maxInWindow(w time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	best := 0
	for i, j := 0, 0; j < len(l.times); j++ {
		for l.times[j].Sub(l.times[i]) >= w {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}

// Without a webhook, 50 waiting requests share one status budget.
func TestPollingRespectsBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 3 s of simulated deploy delay")
	}
	s := newStack(t, edgegapsim.Config{DeployDelay: 3 * time.Second, Sockets: 10, RateLimits: &edgegapsim.RateLimits{}})
	s.digest()
	sends := &sendLog{next: http.DefaultTransport}
	cfg := s.config()
	cfg.Edgegap = s.client(edgegap.Config{HTTPClient: &http.Client{Transport: sends}}) // default budget: 10 status calls/s
	s.start(cfg)
	const n = 50
	seats := s.requestMany(n, 60*time.Second)
	limit := edgegap.DefaultBudgetConfig().Status
	peak := sends.maxInWindow(time.Second)
	t.Logf("%d seats; %d status calls sent, at most %d in any one second (budget %v/s, burst %d)",
		seats, len(sends.times), peak, limit.PerSecond, limit.Burst)
	if seats != n {
		t.Fatalf("%d of %d seated", seats, n)
	}
	// A token bucket admits at most its rate plus its burst in any second;
	// one more is allowed for a send the scheduler delayed into the next
	// second. Over the whole run the average must stay within the rate.
	// Without the shared budget, 50 waiters polling on their own schedules
	// send 50 calls per round.
	if float64(peak) > limit.PerSecond+float64(limit.Burst)+1 {
		t.Fatalf("%d status calls left within one second, over the budget of %v/s", peak, limit.PerSecond)
	}
	span := sends.times[len(sends.times)-1].Sub(sends.times[0]).Seconds()
	if avg := float64(len(sends.times)-limit.Burst) / span; avg > limit.PerSecond*1.05 {
		t.Fatalf("status calls averaged %.1f/s over %.1fs, over the budget of %v/s", avg, span, limit.PerSecond)
	}
}

// Two replicas in one queue group: every request served once.
func TestReplicasServeEachRequestOnce(t *testing.T) {
	s := newStack(t, edgegapsim.Config{Sockets: 10, RateLimits: &edgegapsim.RateLimits{}})
	s.digest()
	budget, _ := edgegap.NewBudget(edgegap.BudgetConfig{}) // unlimited: count POSTs, not waits
	for range 2 {
		cfg := s.config()
		cfg.Edgegap = s.client(edgegap.Config{Budget: budget})
		cfg.Registry = nil
		s.start(cfg)
	}
	const n = 100
	seats := s.requestMany(n, 30*time.Second)
	st := s.sim.Stats()
	if seats != n || st.Total(edgegapsim.EndpointSessionPost) != n || st.SessionsCreated != n {
		t.Fatalf("%d seats, %d session POSTs, %d sessions created; want %d of each", seats, st.Total(edgegapsim.EndpointSessionPost), st.SessionsCreated, n)
	}
}

func TestErrors(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.digest()
	cfg := s.config()
	cfg.Edgegap = s.client(edgegap.Config{MaxAttempts: 1})
	s.start(cfg)
	for _, c := range []struct {
		name, body string
		fail       []int
		code       int
		msg        string
	}{
		{"bad json", `{`, nil, 400, "not valid JSON"},
		{"no client ip", `{"game":"x"}`, nil, 400, "no client_ip"},
		{"bad client ip", `{"client_ip":"me"}`, nil, 400, "not an IP address"},
		{"edgegap 400", `{"client_ip":"1.2.3.4"}`, []int{400}, 400, ""},
		{"edgegap 401", `{"client_ip":"1.2.3.4"}`, []int{401}, 401, ""},
		{"edgegap 409", `{"client_ip":"1.2.3.4"}`, []int{409}, 409, ""},
		{"edgegap 500", `{"client_ip":"1.2.3.4"}`, []int{500}, 503, "edgegap error 500"},
		{"edgegap 502", `{"client_ip":"1.2.3.4"}`, []int{502}, 503, "edgegap error 502"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.fail != nil {
				if err := s.sim.FailNext(edgegapsim.EndpointSessionPost, c.fail...); err != nil {
					t.Fatal(err)
				}
			}
			fb := s.request(c.body)
			if len(fb) == 0 || fb[len(fb)-1].Kind != protocol.KindError {
				t.Fatalf("feedback %v", fb)
			}
			e := fb[len(fb)-1]
			if e.Code != c.code || !strings.Contains(e.Message, c.msg) || e.Message == "" {
				t.Fatalf("got %d %q, want %d containing %q", e.Code, e.Message, c.code, c.msg)
			}
		})
	}
	golden.Assert(t, "error.feedback", scrubbed(s.request(`{"client_ip":"nope"}`)))
}

func TestTimeoutDeletesSession(t *testing.T) {
	s := newStack(t, edgegapsim.Config{DeployDelay: time.Hour})
	s.digest()
	cfg := s.config()
	cfg.ReadyTimeout = 700 * time.Millisecond
	cfg.Heartbeat = 200 * time.Millisecond
	s.start(cfg)
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	last := fb[len(fb)-1]
	if last.Code != 408 || last.Message != "session still not ready, timed out." {
		t.Fatalf("got %v", last)
	}
	heartbeats := 0
	for _, f := range fb {
		if f.Kind == protocol.KindProgress {
			heartbeats++
		}
	}
	if heartbeats < 2 {
		t.Fatalf("only %d progress messages while waiting: %v", heartbeats, fb)
	}
	s.noLeaks(0) // queued for deletion at once, not left to the reaper
	ok, _ := s.store.IsUnclaimed(context.Background(), fb[1].SessionID)
	if ok {
		t.Fatal("timed-out session left in unclaimed_sessions")
	}
}

func TestCertDigest(t *testing.T) {
	t.Run("required and missing", func(t *testing.T) {
		s := newStack(t, edgegapsim.Config{})
		cfg := s.config()
		cfg.CertDigestWait = 200 * time.Millisecond
		s.start(cfg)
		fb := s.request(`{"client_ip":"1.2.3.4"}`)
		if e := fb[len(fb)-1]; e.Code != 500 || !strings.Contains(e.Message, "certificate digest") {
			t.Fatalf("got %v", e)
		}
		s.noLeaks(0)
	})
	t.Run("optional and missing", func(t *testing.T) {
		s := newStack(t, edgegapsim.Config{})
		cfg := s.config()
		cfg.CertDigestWait = 100 * time.Millisecond
		cfg.RequireCertDigest = false
		s.start(cfg)
		fb := s.request(`{"client_ip":"1.2.3.4"}`)
		if r := fb[len(fb)-1]; r.Kind != protocol.KindReady || r.Seat.CertDigest != "" {
			t.Fatalf("got %v", r)
		}
	})
	t.Run("arrives while waiting", func(t *testing.T) {
		s := newStack(t, edgegapsim.Config{})
		cfg := s.config()
		cfg.CertDigestWait = 5 * time.Second
		s.start(cfg)
		go func() {
			time.Sleep(300 * time.Millisecond)
			s.digest()
		}()
		fb := s.request(`{"client_ip":"1.2.3.4"}`)
		if r := fb[len(fb)-1]; r.Kind != protocol.KindReady || r.Seat.CertDigest != testDigest {
			t.Fatalf("got %v", r)
		}
	})
}

func TestBusyLimit(t *testing.T) {
	s := newStack(t, edgegapsim.Config{DeployDelay: time.Hour})
	s.digest()
	cfg := s.config()
	cfg.MaxInFlight = 1
	cfg.ReadyTimeout = 2 * time.Second
	s.start(cfg)
	first := make(chan []protocol.Feedback, 1)
	go func() {
		fb, _ := requestFeedback(s.nc, state.Names{}.MatchmakerRequest(edgegapsim.DefaultApp, edgegapsim.DefaultVersion), []byte(`{"client_ip":"1.2.3.4"}`), 10*time.Second)
		first <- fb
	}()
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if s.sim.Stats().SessionsCreated == 0 {
			return fmt.Errorf("first request not in flight yet")
		}
		return nil
	})
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if len(fb) != 1 || fb[0].Code != 503 || fb[0].Message != "matchmaker busy" {
		t.Fatalf("second request got %v", fb)
	}
	<-first
}

func TestReaperDeletesUnusedSeat(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.digest()
	cfg := s.config()
	cfg.UnclaimedTTL = 500 * time.Millisecond
	r := s.start(cfg)
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if fb[len(fb)-1].Kind != protocol.KindReady {
		t.Fatalf("no seat: %v", fb)
	}
	s.noLeaks(0)
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if ok, _ := s.store.IsUnclaimed(context.Background(), fb[1].SessionID); ok {
			return fmt.Errorf("still in unclaimed_sessions")
		}
		return nil
	})
	if got := testutilCounter(t, r.mm.metrics.reaped); got != 1 {
		t.Fatalf("reaped counter %v", got)
	}
}

func TestDeleteWorkerRetriesThenDeadLetters(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.digest()
	cfg := s.config()
	cfg.DeleteMaxDeliver = 3
	cfg.Edgegap = s.client(edgegap.Config{MaxAttempts: 1})
	s.start(cfg)
	ctx := context.Background()

	// Transient failures: retried with backoff until deleted.
	sess, err := s.eg.CreateSession(ctx, edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"1.2.3.4"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.sim.FailNext(edgegapsim.EndpointSessionDelete, 503, 429); err != nil {
		t.Fatal(err)
	}
	if err := s.store.EnqueueDelete(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	s.noLeaks(0)
	if st := s.sim.Stats(); st.Count(edgegapsim.EndpointSessionDelete, 200) != 1 || st.Total(edgegapsim.EndpointSessionDelete) != 3 {
		t.Fatalf("delete calls %v", st.Calls[edgegapsim.EndpointSessionDelete])
	}

	// Permanent failure: dead letter after MaxDeliver attempts.
	sess, _ = s.eg.CreateSession(ctx, edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"1.2.3.4"}})
	if err := s.sim.FailNext(edgegapsim.EndpointSessionDelete, 500, 500, 500, 500, 500); err != nil {
		t.Fatal(err)
	}
	if err := s.store.EnqueueDelete(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	dead, err := s.store.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var dl DeadLetter
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		e, err := dead.Get(ctx, sess.ID)
		if err != nil {
			return err
		}
		return json.Unmarshal(e.Value(), &dl)
	})
	if dl.Attempts != 3 || !strings.Contains(dl.LastError, "500") {
		t.Fatalf("dead letter %+v", dl)
	}
	if !strings.Contains(s.logs.String(), "giving up deleting session") {
		t.Fatal("dead letter not logged")
	}
	// Other 4xx: terminated, not retried.
	if err := s.store.EnqueueDelete(ctx, "000000000000-S"); err != nil {
		t.Fatal(err)
	}
	_ = s.sim.FailNext(edgegapsim.EndpointSessionDelete, 400)
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(s.logs.String(), "edgegap refused to delete session") {
			return fmt.Errorf("no rejection logged")
		}
		return nil
	})
	// The deliberately undeletable session remains; everything else is gone.
	s.noLeaks(1)
}

// A pull consumer that hears no heartbeat for two intervals (a congested
// network, a stalled server) reports it from Next; the delete worker must
// carry on, not stop: under CI load this once took the whole matchmaker
// down and leaked its sessions.
func TestDeleteWorkerSurvivesMissedHeartbeats(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	proxy := s.srv.Proxy(t)
	cfg := s.config()
	cfg.NC = proxy.Conn(t)
	store, err := state.Open(context.Background(), cfg.NC, state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = store
	mm, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mm.deletePullExpiry = time.Second // heartbeat every 500ms: missed after 1s
	s.run(mm)
	s.deleteWorkerPulling()
	proxy.Hold()
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(s.logs.String(), jetstream.ErrNoHeartbeat.Error()) {
			return fmt.Errorf("no missed heartbeat reported yet")
		}
		return nil
	})
	proxy.Release()

	s.queueDeleteOfNewSession()
	s.noLeaks(0)
	if got := testutilCounter(t, mm.metrics.loopRestarts.WithLabelValues("delete_worker")); got != 0 {
		t.Fatalf("delete worker restarted %v times after a missed heartbeat", got)
	}
}

// A cleanup loop that fails is restarted, not fatal: here the delete
// queue's consumer is deleted under the worker, which recreates it.
func TestDeleteWorkerRecreatesDeletedConsumer(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	r := s.start(s.config())
	ctx := context.Background()
	s.deleteWorkerPulling()
	if err := s.store.JS.DeleteConsumer(ctx, state.DeleteStream, state.DeleteConsumer); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if got := testutilCounter(t, r.mm.metrics.loopRestarts.WithLabelValues("delete_worker")); got < 1 {
			return fmt.Errorf("delete worker restarts %v", got)
		}
		return nil
	})
	s.queueDeleteOfNewSession()
	s.noLeaks(0)
	select {
	case err := <-r.done:
		t.Fatalf("matchmaker stopped: %v", err)
	default:
	}
}

func TestGenSessionService(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.digest()
	s.start(s.config())
	// Discoverable with `nats micro ls` metadata.
	msg, err := s.nc.Request("$SRV.INFO."+ServiceName, nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Name, Version, Description string
		Endpoints                  []struct {
			Name, Subject string
			QueueGroup    string `json:"queue_group"`
		}
	}
	json.Unmarshal(msg.Data, &info)
	if info.Name != "gensession" || info.Version != "0.0.1" || info.Description != "Generate sessions for clients who want to play" ||
		len(info.Endpoints) != 1 || info.Endpoints[0].Name != "gensession" || info.Endpoints[0].Subject != "session.gensession" || info.Endpoints[0].QueueGroup != "session_queue" {
		t.Fatalf("service info %s", msg.Data)
	}
	msg, err = s.nc.Request("session.gensession", []byte(`{"client_ip":"1.2.3.4"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var resp protocol.SessionResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil || len(resp.ConnectToken) != 2732 || resp.GameserverIP != "127.0.0.1" || resp.CertDigest != testDigest || resp.GameserverPort == 0 {
		t.Fatalf("reply %s (%v)", msg.Data, err)
	}
	// Bad requests are refused fast, on the request goroutine, while micro
	// is still in its handler wrapper: many of them in a row give the race
	// detector its chance if the reply ever touches micro's request again.
	for i := range 50 {
		msg, err = s.nc.RequestMsg(&nats.Msg{Subject: "session.gensession", Data: []byte(`{}`)}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get("Nats-Service-Error-Code") != "400" || !strings.Contains(msg.Header.Get("Nats-Service-Error"), "client_ip") {
			t.Fatalf("request %d: error headers %v", i, msg.Header)
		}
	}
}

func TestBootCheckAndKey(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	cfg := s.config()
	mm, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := mm.BootCheck(context.Background()); err != nil {
		t.Fatalf("boot check of the default app: %v", err)
	}
	cfg.AppVersion = "nope"
	mm, _ = New(cfg)
	if err := mm.BootCheck(context.Background()); err == nil || !strings.Contains(err.Error(), `version "nope"`) {
		t.Fatalf("unknown version: %v", err)
	}
	cfg.AppVersion = edgegapsim.DefaultVersion
	_ = s.sim.SetVersionActive(edgegapsim.DefaultApp, edgegapsim.DefaultVersion, false)
	mm, _ = New(cfg)
	if err := mm.BootCheck(context.Background()); err == nil || !strings.Contains(err.Error(), "not active") {
		t.Fatalf("inactive version: %v", err)
	}
	cfg.AppName = "nope"
	mm, _ = New(cfg)
	if err := mm.BootCheck(context.Background()); err == nil || !strings.Contains(err.Error(), `app "nope"`) {
		t.Fatalf("unknown app: %v", err)
	}
	cfg.PrivateKey = netcode.PrivateKey{}
	if _, err := New(cfg); err != ErrInsecureKey {
		t.Fatalf("zero key accepted: %v", err)
	}
	cfg.AllowInsecureKey = true
	if _, err := New(cfg); err != nil {
		t.Fatalf("zero key with AllowInsecureKey: %v", err)
	}
}

// Shutdown interrupts requests after the grace period and deletes their sessions.
func TestShutdownQueuesInterruptedSessions(t *testing.T) {
	s := newStack(t, edgegapsim.Config{DeployDelay: time.Hour})
	s.digest()
	cfg := s.config()
	cfg.ShutdownGrace = 300 * time.Millisecond
	r := s.start(cfg)
	got := make(chan []protocol.Feedback, 1)
	go func() {
		fb, _ := requestFeedback(s.nc, state.Names{}.MatchmakerRequest(edgegapsim.DefaultApp, edgegapsim.DefaultVersion), []byte(`{"client_ip":"1.2.3.4"}`), 10*time.Second)
		got <- fb
	}()
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if s.sim.Stats().SessionsCreated == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	r.stop(t)
	fb := <-got
	if e := fb[len(fb)-1]; e.Code != 503 || !strings.Contains(e.Message, "shutting down") {
		t.Fatalf("interrupted request got %v", e)
	}
	// No matchmaker runs now, but the delete job is queued in JetStream.
	js, _ := jetstream.New(s.nc)
	st, _ := js.Stream(context.Background(), state.DeleteStream)
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 1 {
		t.Fatalf("%d delete jobs queued, want 1", info.State.Msgs)
	}
	s.start(s.config()) // the next matchmaker deletes it
	s.noLeaks(0)
}

// A player who waits longer than the unclaimed TTL keeps the session: the
// waiting request keeps refreshing it, so the reaper never deletes it
// under them.
func TestLongWaitIsNotReaped(t *testing.T) {
	s := newStack(t, edgegapsim.Config{DeployDelay: 1500 * time.Millisecond})
	s.digest()
	cfg := s.config()
	cfg.UnclaimedTTL = 600 * time.Millisecond
	cfg.ReadyTimeout = 10 * time.Second
	s.start(cfg)
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if last := fb[len(fb)-1]; last.Kind != protocol.KindReady {
		t.Fatalf("no seat: %v", last)
	}
	if st := s.sim.Stats(); st.SessionsDeleted != 0 || st.LiveSessions != 1 {
		t.Fatalf("the session was deleted while its player waited: %+v", st)
	}
}

// A burst larger than the create budget queues instead of failing: the wait
// for the budget is bounded by the request, not by a creation timeout.
func TestCreateBurstQueues(t *testing.T) {
	s := newStack(t, edgegapsim.Config{Sockets: 100, RateLimits: &edgegapsim.RateLimits{}})
	s.digest()
	budget, _ := edgegap.NewBudget(edgegap.BudgetConfig{Create: edgegap.Limit{PerSecond: 20, Burst: 1}})
	cfg := s.config()
	cfg.Edgegap = s.client(edgegap.Config{Budget: budget})
	s.start(cfg)
	const n = 60 // three seconds' worth of creations, all at once
	if seats := s.requestMany(n, 30*time.Second); seats != n {
		t.Fatalf("%d of %d seated", seats, n)
	}
}

// The seat cannot be recorded (the session map's stream is unavailable, as
// while a NATS node or stream leader is lost): the player gets 503, try
// again, as after any other state failure; not a 500 with NATS's error.
func TestSeatRecordFailureIsUnavailable(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.digest()
	s.start(s.config())
	ctx := context.Background()
	if err := s.store.JS.DeleteStream(ctx, "KV_"+state.Names{}.Bucket(state.BucketSessionsLY2EG)); err != nil {
		t.Fatal(err)
	}
	fb := s.request(`{"client_ip":"81.128.157.100"}`)
	e := fb[len(fb)-1]
	if e.Kind != protocol.KindError || e.Code != protocol.CodeUnavailable || !strings.Contains(e.Message, "recording the seat") {
		t.Fatalf("feedback %v; want 503 naming the seat's record", fb)
	}
	if strings.Contains(e.Message, "sessions_ly2eg") {
		t.Errorf("message %q exposes a bucket name", e.Message)
	}
}
