package matchmaker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// loseCreateAnswer is a transport whose session creates reach Edgegap (the
// simulator creates the session) but whose answer never reaches the
// matchmaker: a 502 in its place, or a connection that hangs until the
// client gives up (a matchmaker killed mid-call looks the same to Edgegap).
type loseCreateAnswer struct {
	next http.RoundTripper
	hang bool
}

func (l loseCreateAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	rsp, err := l.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/v1/session") {
		return rsp, err
	}
	_, _ = io.Copy(io.Discard, rsp.Body)
	_ = rsp.Body.Close()
	if l.hang {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return &http.Response{StatusCode: http.StatusBadGateway, Status: "502 Bad Gateway", Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(`{"message":"upstream lost"}`)), Request: r}, nil
}

// Finding 1: a session Edgegap created whose answer was lost is recorded
// nowhere but in its create intent; the matchmaker's own reconciliation
// deletes it once older than the grace, and resolves the intent.
func TestGhostSessionIsReconciled(t *testing.T) {
	for _, hang := range []bool{false, true} {
		t.Run(fmt.Sprintf("hang=%v", hang), func(t *testing.T) {
			s := newStack(t, edgegapsim.Config{})
			s.digest()
			hc := &http.Client{Transport: loseCreateAnswer{next: http.DefaultTransport.(*http.Transport).Clone(), hang: hang}}
			if hang {
				hc.Timeout = 300 * time.Millisecond
			}
			var offset atomic.Int64
			cfg := s.config()
			cfg.Edgegap = s.client(edgegap.Config{HTTPClient: hc})
			cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			cfg.ReconcileInterval, cfg.ReconcileGrace = 100*time.Millisecond, time.Minute
			r := s.start(cfg)
			fb := s.request(`{"client_ip":"81.128.157.100"}`)
			if f := fb[len(fb)-1]; f.Kind != protocol.KindError || f.Code != 503 {
				t.Fatalf("lost create answered %v", fb)
			}
			if st := s.sim.Stats(); st.LiveSessions != 1 {
				t.Fatalf("%d live sessions, want the ghost", st.LiveSessions)
			}
			intents, err := s.store.Intents(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			open, err := intents.List(context.Background())
			if err != nil || len(open) != 1 || open[0].ClientIP != "81.128.157.100" {
				t.Fatalf("open intents %+v (%v), want the lost create's", open, err)
			}
			// Within the grace the ghost is spared (its answer may be on its way).
			natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
				if testutilCounter(t, r.mm.leak.reconciles.WithLabelValues("done")) < 2 {
					return errors.New("fewer than two rounds")
				}
				return nil
			})
			if st := s.sim.Stats(); st.LiveSessions != 1 || testutilCounter(t, r.mm.leak.orphansFound) != 0 {
				t.Fatalf("ghost deleted within the grace")
			}
			offset.Store(int64(5 * time.Minute))
			s.noLeaks(0)
			natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
				if got := testutilCounter(t, r.mm.leak.orphansRemoved); got != 1 {
					return fmt.Errorf("orphans removed %v, want 1", got)
				}
				if got := testutilCounter(t, r.mm.leak.ghosts); got != 1 {
					return fmt.Errorf("ghosts %v, want 1", got)
				}
				if open, _ := intents.List(context.Background()); len(open) != 0 {
					return fmt.Errorf("intents still open: %+v", open)
				}
				return nil
			})
			if got := testutilCounter(t, r.mm.leak.orphansFound); got != 1 {
				t.Fatalf("orphans found %v, want 1", got)
			}
			if !strings.Contains(s.logs.String(), "ghost_of_create_for") {
				t.Fatal("the orphan was not attributed to its create in the logs")
			}
		})
	}
}

// A seat served normally leaves no intent behind, and two replicas share
// the reconciliation through the lease: rounds run, none deletes anything.
func TestReconcileLeaveSeatsAlone(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.digest()
	cfg := s.config()
	cfg.ReconcileInterval, cfg.ReconcileGrace = 50*time.Millisecond, time.Millisecond
	a := s.start(cfg)
	cfg2 := s.config()
	cfg2.ReconcileInterval, cfg2.ReconcileGrace = 50*time.Millisecond, time.Millisecond
	b := s.start(cfg2)
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if lastKind(fb) != protocol.KindReady {
		t.Fatalf("no seat: %v", fb)
	}
	intents, err := s.store.Intents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if open, err := intents.List(context.Background()); err != nil || len(open) != 0 {
		t.Fatalf("intents left after a seat: %+v (%v)", open, err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		done := testutilCounter(t, a.mm.leak.reconciles.WithLabelValues("done")) + testutilCounter(t, b.mm.leak.reconciles.WithLabelValues("done"))
		skipped := testutilCounter(t, a.mm.leak.reconciles.WithLabelValues("skipped")) + testutilCounter(t, b.mm.leak.reconciles.WithLabelValues("skipped"))
		if done < 3 || skipped < 1 {
			return fmt.Errorf("rounds done %v, skipped %v", done, skipped)
		}
		return nil
	})
	if got := testutilCounter(t, a.mm.leak.orphansFound) + testutilCounter(t, b.mm.leak.orphansFound); got != 0 {
		t.Fatalf("%v orphans found beside a live seat", got)
	}
	if st := s.sim.Stats(); st.LiveSessions != 1 {
		t.Fatalf("%d live sessions, want the seat's", st.LiveSessions)
	}
}

// Finding 2: a restart after many disconnects queues no delete again for
// sessions handled long ago, even past the queue's de-duplication window
// (shortened here to what 2 minutes are in production).
func TestRestartQueuesNoReplayedDeletes(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	ctx := context.Background()
	st, err := s.store.JS.Stream(ctx, state.DeleteStream)
	if err != nil {
		t.Fatal(err)
	}
	c := st.CachedInfo().Config
	c.Duplicates = 100 * time.Millisecond
	if _, err := s.store.JS.UpdateStream(ctx, c); err != nil {
		t.Fatal(err)
	}
	published := func() uint64 {
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.LastSeq
	}
	first := s.start(s.config())
	const n = 40
	for i := range n {
		if err := s.store.PutActive(ctx, fmt.Sprintf("gone%02d", i), uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if err := s.store.DeleteActive(ctx, fmt.Sprintf("gone%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := published(); got != n {
			return fmt.Errorf("%d deletes queued, want %d", got, n)
		}
		return nil
	})
	first.stop(t)
	time.Sleep(300 * time.Millisecond) // past the de-duplication window
	second := s.start(s.config())
	// A fresh disconnect after the restart: queued once the replay is done.
	if err := s.store.PutActive(ctx, "fresh", 99); err != nil {
		t.Fatal(err)
	}
	if err := s.store.DeleteActive(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, err := st.GetLastMsgForSubject(ctx, state.Names{}.DeleteSubject("fresh")); err != nil && published() == n {
			return errors.New("the fresh disconnect is not queued yet")
		}
		return nil
	})
	if got := published(); got != n+1 {
		t.Fatalf("the restart queued %d deletes, want 1 (the fresh disconnect): %d replayed", got-n, got-n-1)
	}
	if got := testutilCounter(t, second.mm.leak.replaySkipped); got != n {
		t.Fatalf("replay skipped %v, want %d", got, n)
	}
}

// countInFlight is a transport counting the session deletes in flight.
type countInFlight struct {
	next          http.RoundTripper
	now, max, all atomic.Int64
}

func (c *countInFlight) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodDelete {
		return c.next.RoundTrip(r)
	}
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for m := c.max.Load(); n > m && !c.max.CompareAndSwap(m, n); m = c.max.Load() {
	}
	c.all.Add(1)
	return c.next.RoundTrip(r)
}

// Finding 2: delete workers run DeleteWorkers jobs at once, so a backlog
// drains that many times faster than one at a time.
func TestDeleteWorkersRunConcurrently(t *testing.T) {
	s := newStack(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}})
	const n, workers = 48, 8
	for range n {
		s.queueDeleteOfNewSession()
	}
	if err := s.sim.SetFaults(edgegapsim.Faults{Latency: 100 * time.Millisecond, Endpoints: []string{edgegap.EndpointSessionDelete}}); err != nil {
		t.Fatal(err)
	}
	counter := &countInFlight{next: http.DefaultTransport.(*http.Transport).Clone()}
	cfg := s.config()
	cfg.Edgegap = s.client(edgegap.Config{HTTPClient: &http.Client{Transport: counter}})
	cfg.DeleteWorkers = workers
	r := s.start(cfg)
	s.noLeaks(0)
	if got := counter.max.Load(); got != workers {
		t.Fatalf("at most %d deletes in flight, want %d", got, workers)
	}
	if got := testutilCounter(t, r.mm.metrics.deletes.WithLabelValues("deleted")); got != n {
		t.Fatalf("%v deleted, want %d", got, n)
	}
	if got := counter.all.Load(); got != n {
		t.Fatalf("%d delete calls for %d sessions", got, n)
	}
}

// Finding 4: delete markers older than the replay window are purged from
// active_connections and unclaimed_sessions, so the buckets (and every
// watcher's start-up replay) hold what is live, not the history.
func TestDeleteMarkersArePurged(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	ctx := context.Background()
	const n = 25
	for i := range n {
		id := fmt.Sprintf("old%02d", i)
		if err := s.store.PutActive(ctx, id, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		if err := s.store.DeleteActive(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.store.PutUnclaimed(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.store.DeleteUnclaimed(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.store.PutActive(ctx, "live", 7); err != nil {
		t.Fatal(err)
	}
	msgs := func(kv jetstream.KeyValue) uint64 {
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Values()
	}
	if a, u := msgs(s.store.Active()), msgs(s.store.Unclaimed()); a != n+1 || u != n {
		t.Fatalf("before: %d and %d entries", a, u)
	}
	cfg := s.config()
	cfg.PurgeInterval = 50 * time.Millisecond
	mm, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mm.markerKeep = 200 * time.Millisecond
	s.run(mm)
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if a, u := msgs(s.store.Active()), msgs(s.store.Unclaimed()); a != 1 || u != 0 {
			return fmt.Errorf("active_connections holds %d entries, unclaimed_sessions %d; want 1 and 0", a, u)
		}
		return nil
	})
	if _, err := s.store.ActiveClient(ctx, "live"); err != nil {
		t.Fatalf("the live entry went with the markers: %v", err)
	}
	// Young markers stay (the replay window still needs them).
	if err := s.store.DeleteActive(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if a := msgs(s.store.Active()); a != 1 {
		t.Fatalf("a young marker was purged (%d entries)", a)
	}
}

// Finding 6: gensession answers inside micro's handler, so `nats micro
// stats gensession` ($SRV.STATS) counts its errors and its real
// processing time.
func TestGenSessionMicroStats(t *testing.T) {
	const deploy = 300 * time.Millisecond
	s := newStack(t, edgegapsim.Config{DeployDelay: deploy})
	s.digest()
	cfg := s.config()
	cfg.GenSessionInstances = 3
	s.start(cfg)
	subj := state.Names{}.GenSession()
	var wg sync.WaitGroup
	for _, body := range []string{`{"client_ip":"1.2.3.4","game":"bevygap-spaceships","version":"1"}`, `not json`, `{"client_ip":"1.2.3.5"}`} {
		wg.Go(func() {
			if _, err := s.nc.Request(subj, []byte(body), 20*time.Second); err != nil {
				t.Errorf("gensession %s: %v", body, err)
			}
		})
	}
	wg.Wait()
	inbox := s.nc.NewInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := s.nc.PublishRequest("$SRV.STATS."+ServiceName, inbox, nil); err != nil {
		t.Fatal(err)
	}
	var requests, errs, instances int
	var processing time.Duration
	var lastErr string
	for {
		msg, err := sub.NextMsg(500 * time.Millisecond)
		if err != nil {
			break
		}
		var st micro.Stats
		if err := json.Unmarshal(msg.Data, &st); err != nil {
			t.Fatal(err)
		}
		instances++
		for _, e := range st.Endpoints {
			requests += e.NumRequests
			errs += e.NumErrors
			processing += e.ProcessingTime
			if e.LastError != "" {
				lastErr = e.LastError
			}
		}
	}
	if instances != 3 || requests != 3 || errs != 1 {
		t.Fatalf("%d instances report %d requests, %d errors; want 3, 3, 1", instances, requests, errs)
	}
	if !strings.Contains(lastErr, "400") {
		t.Fatalf("last error %q, want the 400", lastErr)
	}
	// A seat takes at least the deployment's start: micro saw the wait.
	if processing < deploy {
		t.Fatalf("processing time %v, less than a deployment's start (%v)", processing, deploy)
	}
}

// Finding 3, matchmaker side: progress goes out at least every heartbeat
// during the whole request (here a slow create call), so the gateway's
// silence bound of three heartbeats never cuts off a live matchmaker.
func TestProgressDuringSlowCreate(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.digest()
	if err := s.sim.SetFaults(edgegapsim.Faults{Latency: 700 * time.Millisecond, Endpoints: []string{edgegap.EndpointSessionPost}}); err != nil {
		t.Fatal(err)
	}
	cfg := s.config()
	cfg.Heartbeat = 100 * time.Millisecond
	s.start(cfg)
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	working := 0
	for _, f := range fb {
		if f.Kind == protocol.KindAccepted {
			break
		}
		if f.Kind == protocol.KindProgress && strings.HasPrefix(f.Progress, "Working (") {
			working++
		}
	}
	if working == 0 || lastKind(fb) != protocol.KindReady {
		t.Fatalf("no progress during the create call: %v", fb)
	}
}

// Finding 3, cleanup side: a matchmaker cut off mid-request (its NATS
// connection gone, as when it is killed) leaves its session in
// unclaimed_sessions; the surviving replica's reaper deletes it.
func TestDeadReplicaSessionIsReaped(t *testing.T) {
	s := newStack(t, edgegapsim.Config{DeployDelay: time.Second})
	s.digest()
	survivor := s.config()
	survivor.UnclaimedTTL = 500 * time.Millisecond
	s.start(survivor)
	ncA := s.srv.Conn(t)
	storeA, err := state.Open(context.Background(), ncA, state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	cfgA := s.config()
	cfgA.NC, cfgA.Store, cfgA.QueueGroup = ncA, storeA, "victim"
	<-s.start(cfgA).mm.Ready()
	// Both replicas serve the request (two queue groups): the survivor's
	// seat goes unclaimed and is reaped; once the victim's session is
	// created it is cut off, and only the survivor's reaper can delete it.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		_, _ = requestFeedback(s.nc, state.Names{}.MatchmakerRequest(edgegapsim.DefaultApp, edgegapsim.DefaultVersion), []byte(`{"client_ip":"1.2.3.4"}`), 5*time.Second)
	})
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if s.sim.Stats().SessionsCreated < 2 {
			return errors.New("sessions not created yet")
		}
		return nil
	})
	ncA.Close()
	s.noLeaks(0)
}
