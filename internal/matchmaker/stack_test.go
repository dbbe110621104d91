package matchmaker

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/gateway"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1"

const testDigest = "e3:76:4d:00:11"

type stack struct {
	t     testing.TB
	srv   *natstest.Server
	nc    *nats.Conn
	store *state.Store
	sim   *edgegapsim.Server
	eg    *edgegap.Client
	key   netcode.PrivateKey
	logs  *clitest.Buffer
	mms   []*running
}

type running struct {
	mm     *Matchmaker
	cancel context.CancelFunc
	done   chan error
}

// newStack starts a real nats-server, the Edgegap simulator over real HTTP
// and an Edgegap client; matchmakers are added with start.
func newStack(t testing.TB, simCfg edgegapsim.Config) *stack {
	t.Helper()
	srv := natstest.RunJetStream(t)
	nc := srv.Conn(t)
	store, err := state.Open(context.Background(), nc, state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	if simCfg.Seed == 0 {
		simCfg.Seed = 1
	}
	sim, err := edgegapsim.Start(context.Background(), simCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	key, err := netcode.ParsePrivateKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, srv: srv, nc: nc, store: store, sim: sim, key: key, logs: &clitest.Buffer{}}
	s.eg = s.client(edgegap.Config{})
	// Runs after the matchmakers stopped (cleanups run last-in first-out).
	t.Cleanup(s.accountForEverySession)
	return s
}

// accountForEverySession fails the test when a session the simulator still
// runs is known to nothing that will delete it: not unclaimed (the reaper's),
// not connected (a player's), not dead-lettered (recorded for a human).
func (s *stack) accountForEverySession() {
	ctx := context.Background()
	live, err := s.eg.ListAllSessions(ctx)
	if err != nil {
		s.t.Errorf("listing sessions for the leak check: %v", err)
		return
	}
	dead, err := s.store.DeadLetters(ctx)
	if err != nil {
		s.t.Errorf("dead letters: %v", err)
		return
	}
	for _, sess := range live {
		if ok, _ := s.store.IsUnclaimed(ctx, sess.ID); ok {
			continue
		}
		if _, err := s.store.ActiveClient(ctx, sess.ID); err == nil {
			continue
		}
		if _, err := dead.Get(ctx, sess.ID); err == nil {
			continue
		}
		if st, err := s.store.JS.Stream(ctx, state.DeleteStream); err == nil {
			if _, err := st.GetLastMsgForSubject(ctx, state.Names{}.DeleteSubject(sess.ID)); err == nil {
				continue // its delete job is queued
			}
		}
		s.t.Errorf("session %s leaked: nothing will ever delete it", sess.ID)
	}
}

func (s *stack) client(cfg edgegap.Config) *edgegap.Client {
	s.t.Helper()
	cfg.BaseURL = s.sim.URL()
	cfg.APIKey = edgegapsim.DefaultAPIKey
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	}
	c, err := edgegap.New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(c.CloseIdleConnections)
	return c
}

func (s *stack) config() Config {
	return Config{
		NC: s.nc, Store: s.store, Edgegap: s.eg,
		AppName: edgegapsim.DefaultApp, AppVersion: edgegapsim.DefaultVersion,
		PrivateKey: s.key, ProtocolID: 80085, RequireCertDigest: true,
		CertDigestWait:   500 * time.Millisecond,
		DeleteBackoffMin: 20 * time.Millisecond, DeleteBackoffMax: 200 * time.Millisecond,
		Logger:   slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry: prometheus.NewRegistry(),
	}
}

// start runs a matchmaker until the test ends.
func (s *stack) start(cfg Config) *running {
	s.t.Helper()
	mm, err := New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.run(mm)
}

// run runs mm (made with New, possibly adjusted) until the test ends.
func (s *stack) run(mm *Matchmaker) *running {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{mm: mm, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- mm.Run(ctx) }()
	s.t.Cleanup(func() { r.stop(s.t) })
	// Ready when its service answers pings.
	natstest.CheckFor(s.t, 5*time.Second, 10*time.Millisecond, func() error {
		_, err := s.nc.Request("$SRV.PING."+ServiceName, nil, 200*time.Millisecond)
		return err
	})
	s.mms = append(s.mms, r)
	return r
}

func (r *running) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("matchmaker Run: %v", err)
		}
		r.done <- nil // later stops return at once
	case <-time.After(30 * time.Second):
		t.Error("matchmaker did not stop")
	}
}

func (s *stack) digest() {
	s.t.Helper()
	if err := s.store.PutCertDigest(context.Background(), edgegapsim.DefaultPublicIP, testDigest); err != nil {
		s.t.Fatal(err)
	}
}

// request sends a matchmaker request and collects the feedback stream until
// its empty end message.
func (s *stack) request(body string) []protocol.Feedback {
	s.t.Helper()
	fb, err := requestFeedback(s.nc, state.Names{}.MatchmakerRequest(edgegapsim.DefaultApp, edgegapsim.DefaultVersion), []byte(body), 30*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	return fb
}

func requestFeedback(nc *nats.Conn, subject string, body []byte, timeout time.Duration) ([]protocol.Feedback, error) {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, body); err != nil {
		return nil, err
	}
	var out []protocol.Feedback
	deadline := time.Now().Add(timeout)
	for {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			return out, err
		}
		if len(msg.Data) == 0 {
			return out, nil
		}
		var f protocol.Feedback
		if err := f.UnmarshalJSON(msg.Data); err != nil {
			return out, err
		}
		out = append(out, f)
	}
}

// requestMany sends n matchmaker requests at once and returns how many got
// a seat; the others are logged.
func (s *stack) requestMany(n int, timeout time.Duration) int {
	subject := state.Names{}.MatchmakerRequest(edgegapsim.DefaultApp, edgegapsim.DefaultVersion)
	var wg sync.WaitGroup
	var seats atomic.Int64
	for range n {
		wg.Go(func() {
			fb, err := requestFeedback(s.nc, subject, []byte(`{"client_ip":"1.2.3.4"}`), timeout)
			switch {
			case err != nil:
				s.t.Logf("request failed: %v", err)
			case fb[len(fb)-1].Kind != protocol.KindReady:
				s.t.Logf("no seat: %v", fb[len(fb)-1])
			default:
				seats.Add(1)
			}
		})
	}
	wg.Wait()
	return int(seats.Load())
}

// noLeaks waits until every session the simulator created was deleted,
// except keep (sessions legitimately in use).
func (s *stack) noLeaks(keep int) {
	s.t.Helper()
	natstest.CheckFor(s.t, 20*time.Second, 50*time.Millisecond, func() error {
		st := s.sim.Stats()
		if st.LiveSessions != keep {
			return errors.New("live sessions: " + itoa(st.LiveSessions) + " want " + itoa(keep))
		}
		return nil
	})
}

// queueDeleteOfNewSession creates a session through the API and queues its
// deletion, as the matchmaker does for a session nobody uses.
func (s *stack) queueDeleteOfNewSession() {
	s.t.Helper()
	ctx := context.Background()
	sess, err := s.eg.CreateSession(ctx, edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"1.2.3.4"}})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.store.EnqueueDelete(ctx, sess.ID); err != nil {
		s.t.Fatal(err)
	}
}

// deleteWorkerPulling waits until a delete worker has a pull request
// waiting on the delete queue's consumer.
func (s *stack) deleteWorkerPulling() {
	s.t.Helper()
	natstest.CheckFor(s.t, 5*time.Second, 20*time.Millisecond, func() error {
		c, err := s.store.JS.Consumer(context.Background(), state.DeleteStream, state.DeleteConsumer)
		if err != nil {
			return err
		}
		if info := c.CachedInfo(); info.NumWaiting == 0 {
			return errors.New("no pull request waiting")
		}
		return nil
	})
}

func itoa(n int) string { return formatInt(int64(n)) }

// webhookSink is the gateway's real webhook sink over HTTP: Edgegap's
// webhook POSTs reach NATS exactly as in production.
func (s *stack) webhookSink() string {
	gw, err := gateway.NewServer(gateway.Config{NATS: s.nc, Serve: gateway.ServeWebhook})
	if err != nil {
		s.t.Fatal(err)
	}
	h := httptest.NewServer(gw.WebhookHandler())
	s.t.Cleanup(func() {
		h.Close()
		_ = gw.Close()
	})
	return h.URL + "/hook/session"
}
