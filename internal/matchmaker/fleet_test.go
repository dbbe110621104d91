package matchmaker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// fleetConfig is a deployments-allocator matchmaker with webhooks wired to
// the real webhook sink (over HTTP, through NATS).
func (s *stack) fleetConfig(webhooks bool) Config {
	cfg := s.config()
	cfg.Allocator = AllocatorDeployments
	cfg.RequireCertDigest = false
	cfg.CertDigestWait = time.Millisecond
	cfg.Fleet = FleetConfig{SeatsPerDeployment: 6, EmptyTTL: 200 * time.Millisecond, ReconcileInterval: 300 * time.Millisecond, ReconcileGrace: 100 * time.Millisecond}
	if webhooks {
		cfg.Fleet.WebhookBase = strings.TrimSuffix(s.webhookSink(), "/session")
	}
	return cfg
}

func (s *stack) ledger() *state.Fleet {
	s.t.Helper()
	f, err := state.OpenFleet(context.Background(), s.store.JS, state.Names{}, state.FleetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return f
}

// calls counts the simulator's calls to one endpoint.
func (s *stack) calls(endpoint string) int {
	n := 0
	for _, c := range s.sim.Stats().Calls[endpoint] {
		n += c
	}
	return n
}

// seatMany sends n requests at once and returns the feedback streams.
func (s *stack) seatMany(n int) [][]protocol.Feedback {
	subject := state.Names{}.MatchmakerRequest(edgegapsim.DefaultApp, edgegapsim.DefaultVersion)
	out := make([][]protocol.Feedback, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			fb, err := requestFeedback(s.nc, subject, []byte(`{"client_ip":"1.2.3.4"}`), 30*time.Second)
			if err != nil {
				s.t.Errorf("request %d: %v", i, err)
			}
			out[i] = fb
		})
	}
	wg.Wait()
	return out
}

func lastKind(fb []protocol.Feedback) protocol.Kind {
	if len(fb) == 0 {
		return ""
	}
	return fb[len(fb)-1].Kind
}

// fleetSeat asks a running fleet matchmaker for one seat and returns its
// seat id and the client id recorded for it (sessions_eg2ly).
func (s *stack) fleetSeat() (string, uint64) {
	s.t.Helper()
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if lastKind(fb) != protocol.KindReady {
		s.t.Fatalf("feedback %v", fb)
	}
	seatID := fb[1].SessionID
	cid, err := s.store.ClientForSession(context.Background(), seatID)
	if err != nil {
		s.t.Fatal(err)
	}
	return seatID, cid
}

// fleetSeats checks every ledger record against its capacity and returns
// the number of live deployments and seats held.
func (s *stack) fleetSeats(f *state.Fleet) (deployments, seats int) {
	s.t.Helper()
	all, err := f.List(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	for _, d := range all {
		if len(d.Seats) > d.Capacity {
			s.t.Errorf("deployment %s holds %d seats, capacity %d", d.ID, len(d.Seats), d.Capacity)
		}
		if d.Live() {
			deployments++
			seats += len(d.Seats)
		}
	}
	return deployments, seats
}

// A burst of 60 players with 6 seats per deployment starts exactly 10
// deployments, with one POST each and no status call (webhooks); a warm
// fleet then seats players with no Edgegap call at all.
func TestFleetPackingAndWarmFleet(t *testing.T) {
	s := newStack(t, edgegapsim.Config{DeployDelay: 50 * time.Millisecond})
	s.start(s.fleetConfig(true))
	for i, fb := range s.seatMany(60) {
		if lastKind(fb) != protocol.KindReady {
			t.Fatalf("request %d: %v", i, fb)
		}
	}
	if n := s.sim.Stats().DeploymentsCreated; n != 10 {
		t.Fatalf("deployments created: %d, want 10\n%s", n, s.logs)
	}
	if n := s.calls(edgegap.EndpointDeploymentCreate); n != 10 {
		t.Fatalf("create calls: %d, want 10", n)
	}
	if n := s.calls(edgegap.EndpointDeploymentStatusGet); n != 0 {
		t.Fatalf("status calls with webhooks: %d, want 0", n)
	}
	led := s.ledger()
	if d, seats := s.fleetSeats(led); d != 10 || seats != 60 {
		t.Fatalf("ledger: %d deployments, %d seats; want 10, 60", d, seats)
	}
	// Six players leave one deployment; six new ones take their seats on
	// the running fleet: zero Edgegap calls.
	ctx := context.Background()
	all, _ := led.List(ctx)
	for id := range all[0].Seats {
		if _, err := led.Release(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	before := len(s.sim.Stats().Calls)
	total := func() int {
		n := 0
		for _, byStatus := range s.sim.Stats().Calls {
			for _, c := range byStatus {
				n += c
			}
		}
		return n
	}
	callsBefore := total() - s.calls(edgegap.EndpointDeploymentsGet)
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if len(s.mms[0].mm.fleet.view.snapshot()) == 0 {
			return errors.New("empty view")
		}
		return nil
	})
	for i, fb := range s.seatMany(6) {
		if lastKind(fb) != protocol.KindReady {
			t.Fatalf("warm request %d: %v", i, fb)
		}
	}
	// The reconciler's list calls run on their own clock; seats make none.
	if n := total() - s.calls(edgegap.EndpointDeploymentsGet) - callsBefore; n != 0 {
		t.Fatalf("warm fleet made %d Edgegap calls (endpoints before %d), want 0: %v", n, before, s.sim.Stats().Calls)
	}
	if n := s.sim.Stats().DeploymentsCreated; n != 10 {
		t.Fatalf("deployments after warm seats: %d, want 10", n)
	}
}

// Two replicas under the same burst never put more players on a
// deployment than its capacity.
func TestFleetTwoReplicasNeverExceedCapacity(t *testing.T) {
	s := newStack(t, edgegapsim.Config{DeployDelay: 30 * time.Millisecond})
	s.start(s.fleetConfig(true))
	s.start(s.fleetConfig(true))
	seated := 0
	for _, fb := range s.seatMany(60) {
		if lastKind(fb) == protocol.KindReady {
			seated++
		} else {
			t.Logf("no seat: %v", fb)
		}
	}
	if seated != 60 {
		t.Fatalf("%d of 60 seated", seated)
	}
	d, seats := s.fleetSeats(s.ledger())
	if seats != 60 || d < 10 {
		t.Fatalf("ledger: %d deployments, %d seats", d, seats)
	}
	if d != 10 {
		t.Logf("two replicas opened %d deployments for 60 players (10 is the minimum)", d)
	}
}

// Without webhooks, readiness comes from status calls within the budget.
func TestFleetPollingWithoutWebhooks(t *testing.T) {
	s := newStack(t, edgegapsim.Config{DeployDelay: 100 * time.Millisecond})
	s.start(s.fleetConfig(false))
	for _, fb := range s.seatMany(6) {
		if lastKind(fb) != protocol.KindReady {
			t.Fatalf("no seat: %v", fb)
		}
	}
	if n := s.calls(edgegap.EndpointDeploymentStatusGet); n < 1 || n > 10 {
		t.Fatalf("status calls for one deployment and six players: %d, want 1..10", n)
	}
}

// A fleet seat's feedback stream has the shapes of a session's (the Rust
// client plugin parses it unchanged): the seat id where the session id
// was, the deployment's state as progress, its address in SessionReady.
func TestFleetFeedbackGolden(t *testing.T) {
	// Deploying for a moment, so the stream always reports it.
	s := newStack(t, edgegapsim.Config{DeployDelay: 200 * time.Millisecond})
	cfg := s.fleetConfig(true)
	cfg.RequireCertDigest, cfg.CertDigestWait = true, 2*time.Second
	s.start(cfg)
	// The Go agent's keys: the deployment's request id (the Rust plugin
	// writes the public IP).
	led := s.ledger()
	done := make(chan struct{})
	defer func() { <-done }()
	go func() { // owner: this test, which waits for it
		defer close(done)
		for range 2000 {
			all, err := led.List(context.Background())
			if err == nil && len(all) > 0 && all[0].RequestID != "" {
				_ = s.store.PutCertDigest(context.Background(), all[0].RequestID, testDigest)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	fb := s.request(`{"client_ip":"81.128.157.100","game":"bevygap-spaceships","version":"1"}`)
	golden.Assert(t, "fleet.feedback", scrubbed(fb))
	if lastKind(fb) != protocol.KindReady || fb[len(fb)-1].Seat.CertDigest != testDigest {
		t.Fatalf("feedback %v", fb)
	}
}

// A seat's life: connect, disconnect, released; the empty deployment is
// stopped after empty-ttl and the ledger forgets nothing it should keep.
func TestFleetLifecycle(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.start(s.fleetConfig(true))
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if lastKind(fb) != protocol.KindReady || fb[1].Kind != protocol.KindAccepted {
		t.Fatalf("feedback %v", fb)
	}
	seatID := fb[1].SessionID
	if state.DeploymentOfSeat(seatID) == "" {
		t.Fatalf("seat id %q names no deployment", seatID)
	}
	ctx := context.Background()
	cid, err := s.store.ClientForSession(ctx, seatID)
	if err != nil {
		t.Fatalf("sessions_eg2ly has no entry for the seat: %v", err)
	}
	if got, _ := s.store.SessionForClient(ctx, cid); got != seatID {
		t.Fatalf("sessions_ly2eg[%d] = %q", cid, got)
	}
	// The game server (Rust plugin or Go agent) writes active_connections.
	if err := s.store.PutActive(ctx, seatID, cid); err != nil {
		t.Fatal(err)
	}
	led := s.ledger()
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		d, err := led.Get(ctx, state.DeploymentOfSeat(seatID))
		if err != nil {
			return err
		}
		if d.Seats[seatID].State != state.SeatConnected {
			return fmt.Errorf("seat %+v", d.Seats[seatID])
		}
		return nil
	})
	if err := s.store.DeleteActive(ctx, seatID); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := s.sim.Stats().LiveDeployments; n != 0 {
			return fmt.Errorf("%d live deployments", n)
		}
		d, err := led.Get(ctx, state.DeploymentOfSeat(seatID))
		if err != nil {
			return err
		}
		if d.State != state.DeploymentGone || len(d.Seats) != 0 {
			return fmt.Errorf("record %s, %d seats", d.State, len(d.Seats))
		}
		return nil
	})
	if got := testutilCounter(t, s.mms[0].mm.metrics.fleetStops.WithLabelValues("empty")); got != 1 {
		t.Fatalf("stopped-empty metric %v", got)
	}
}

// A ghost create (Edgegap creates the deployment, the answer is a 5xx):
// the player gets 503, the intent record stays, the reconciler adopts the
// deployment, and it is stopped once empty: nothing left running.
func TestFleetGhostCreateIsAdoptedThenStopped(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	if err := s.sim.SetEndpointFaults(edgegap.EndpointDeploymentCreate, edgegapsim.EndpointFaults{GhostRate: 1}); err != nil {
		t.Fatal(err)
	}
	r := s.start(s.fleetConfig(true))
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if f := fb[len(fb)-1]; f.Kind != protocol.KindError || f.Code != 503 {
		t.Fatalf("ghost create answered %v", fb)
	}
	if err := s.sim.SetEndpointFaults(edgegap.EndpointDeploymentCreate, edgegapsim.EndpointFaults{}); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if n := s.sim.Stats().LiveDeployments; n != 0 {
			return fmt.Errorf("%d live deployments", n)
		}
		return nil
	})
	if got := testutilCounter(t, r.mm.metrics.fleetAdopted); got < 1 {
		t.Fatalf("adopted %v, want >= 1; logs:\n%s", got, s.logs)
	}
}

// A replica that dies between its intent record and Edgegap's answer: the
// deployment runs with a record nobody completes; the reconciler of a
// live replica adopts it and stops it once empty. Also an untagged-record
// deployment (tagged, no record at all) is stopped.
func TestFleetReconcilerAdoptsAndStopsOrphans(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	ctx := context.Background()
	led := s.ledger()
	cfg := s.fleetConfig(true)
	mm, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	scope := mm.fleet.scopeTag()
	// The dead replica's intent, and the deployment it got.
	if err := led.Create(ctx, &state.Deployment{ID: "intent1", App: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion,
		State: state.DeploymentRequested, Capacity: 6, Tags: []string{TagBevygap, scope, TagIntent + "intent1"}}); err != nil {
		t.Fatal(err)
	}
	for _, intent := range []string{"intent1", "nobody"} {
		if _, err := s.eg.CreateDeployment(ctx, edgegap.DeploymentRequest{App: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion,
			Users: []edgegap.DeploymentUser{edgegap.UserAtIP("1.2.3.4")}, Tags: []string{TagBevygap, scope, TagIntent + intent}}); err != nil {
			t.Fatal(err)
		}
	}
	// Someone else's deployment (no bevygap tags) is never touched.
	if _, err := s.eg.CreateDeployment(ctx, edgegap.DeploymentRequest{App: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion,
		Users: []edgegap.DeploymentUser{edgegap.UserAtIP("1.2.3.4")}, Tags: []string{"other"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // past the reconcile grace
	r := s.run(mm)
	natstest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if n := s.sim.Stats().LiveDeployments; n != 1 {
			return fmt.Errorf("%d live deployments, want 1 (the untagged one)", n)
		}
		return nil
	})
	if a, st := testutilCounter(t, r.mm.metrics.fleetAdopted), testutilCounter(t, r.mm.metrics.fleetOrphansStopped); a < 1 || st < 1 {
		t.Fatalf("adopted %v, stopped %v", a, st)
	}
}

// An error webhook places the waiting player once more, elsewhere.
func TestFleetErrorWebhookReplaces(t *testing.T) {
	var failed atomic.Bool
	s := newStack(t, edgegapsim.Config{DeployDelay: 20 * time.Millisecond, OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		if failed.CompareAndSwap(false, true) {
			return edgegapsim.DeployHandle{}, errors.New("image pull failed")
		}
		return edgegapsim.DeployHandle{}, nil
	}})
	s.start(s.fleetConfig(true))
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if lastKind(fb) != protocol.KindReady {
		t.Fatalf("not re-placed: %v", fb)
	}
	if n := s.sim.Stats().DeploymentsCreated; n != 2 {
		t.Fatalf("deployments created %d, want 2", n)
	}
}

// 422 "Couldn't Allocate Server": 503 with a clear reason; the request id
// is recorded so a deployment Edgegap might still start gets stopped.
func TestFleetCouldNotAllocate(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	if err := s.sim.SetEndpointFaults(edgegap.EndpointDeploymentCreate, edgegapsim.EndpointFaults{CapacityRate: 1}); err != nil {
		t.Fatal(err)
	}
	s.start(s.fleetConfig(true))
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	f := fb[len(fb)-1]
	if f.Kind != protocol.KindError || f.Code != 503 || !strings.Contains(f.Message, "could not allocate") {
		t.Fatalf("422 answered %v", f)
	}
}

// Two replicas, 60 players who all connect to their simulated game servers
// (which would take more: MaxClients is far above the seats): counted from
// the game servers' side (the active_connections they write), no
// deployment ever holds more players than seats-per-deployment.
func TestFleetTwoReplicasGameServersNeverOverfilled(t *testing.T) {
	var s *stack
	hook := func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		return simserver.SimulatorHook(simserver.HookConfig{NC: s.nc, PrivateKey: s.key, ProtocolID: 80085, MaxClients: 1000})(ctx, info)
	}
	s = newStack(t, edgegapsim.Config{DeployDelay: 30 * time.Millisecond, OnDeploy: hook})
	for range 2 {
		cfg := s.fleetConfig(true)
		cfg.RequireCertDigest, cfg.CertDigestWait = true, 5*time.Second
		s.start(cfg)
	}
	var conns []*simserver.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	ctx := context.Background()
	for i, fb := range s.seatMany(60) {
		if lastKind(fb) != protocol.KindReady {
			t.Fatalf("request %d: %v", i, fb)
		}
		c, err := simserver.ConnectBase64(ctx, fb[len(fb)-1].Seat.Token, simserver.ConnectOptions{})
		if err != nil {
			t.Fatalf("player %d refused by its game server: %v", i, err)
		}
		conns = append(conns, c)
	}
	perDeployment := map[string]int{}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		clear(perDeployment)
		keys, err := s.store.Active().ListKeys(ctx)
		if err != nil {
			return err
		}
		n := 0
		for k := range keys.Keys() {
			perDeployment[state.DeploymentOfSeat(k)]++
			n++
		}
		if n != 60 {
			return fmt.Errorf("%d connected, want 60", n)
		}
		return nil
	})
	for dep, n := range perDeployment {
		if n > 6 {
			t.Errorf("deployment %s has %d connected players, capacity 6", dep, n)
		}
	}
	if len(perDeployment) < 10 {
		t.Fatalf("60 players on %d deployments of 6 seats", len(perDeployment))
	}
}

// A deployment that is not ready within ready-timeout is stopped and its
// waiting player placed once more, on a new deployment.
func TestFleetReadyTimeoutReplaces(t *testing.T) {
	var first atomic.Bool
	s := newStack(t, edgegapsim.Config{OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		if first.CompareAndSwap(false, true) {
			// Ready long after the ready timeout (Edgegap's stop of a
			// deployment that is not ready yet waits until it is).
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
		return edgegapsim.DeployHandle{}, nil
	}})
	cfg := s.fleetConfig(true)
	cfg.ReadyTimeout = 500 * time.Millisecond
	cfg.Heartbeat = 100 * time.Millisecond
	s.start(cfg)
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if lastKind(fb) != protocol.KindReady {
		t.Fatalf("not re-placed after the ready timeout: %v", fb)
	}
	placedAgain := false
	for _, f := range fb {
		placedAgain = placedAgain || strings.HasPrefix(f.Progress, "Placing again")
	}
	if st := s.sim.Stats(); st.DeploymentsCreated != 2 || !placedAgain {
		t.Fatalf("%d deployments created (want 2), progress said placing again: %v", st.DeploymentsCreated, placedAgain)
	}
	// The one that never got ready is stopped.
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := s.sim.Stats().LiveDeployments; n != 1 {
			return fmt.Errorf("%d live deployments, want 1", n)
		}
		return nil
	})
}

// A disconnect whose seat release could not be recorded (the chaos suite's
// NATS kill: the watch delivered the delete while the ledger was
// unavailable) leaves the ledger saying "connected" with no
// active_connections entry. The fleet reconciler releases such a seat, so
// the deployment empties and is stopped; before, it ran forever.
func TestFleetReleasesAConnectedSeatWhoseClientLeftUnrecorded(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.start(s.fleetConfig(true))
	seatID, cid := s.fleetSeat()
	ctx := context.Background()
	// The ledger says connected; active_connections has no entry: the
	// client came and left, and its release was lost.
	led := s.ledger()
	if _, err := led.SetSeat(ctx, seatID, cid, state.SeatConnected); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if n := s.sim.Stats().LiveDeployments; n != 0 {
			return fmt.Errorf("%d live deployments", n)
		}
		d, err := led.Get(ctx, state.DeploymentOfSeat(seatID))
		if err != nil {
			return err
		}
		if d.State != state.DeploymentGone || len(d.Seats) != 0 {
			return fmt.Errorf("record %s, seats %v", d.State, d.Seats)
		}
		return nil
	})
}

// A connected seat whose client is still there (its active_connections
// entry exists) is never released by the reconciler.
func TestFleetKeepsAConnectedSeat(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	s.start(s.fleetConfig(true))
	seatID, cid := s.fleetSeat()
	ctx := context.Background()
	if err := s.store.PutActive(ctx, seatID, cid); err != nil {
		t.Fatal(err)
	}
	led := s.ledger()
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		d, err := led.Get(ctx, state.DeploymentOfSeat(seatID))
		if err != nil {
			return err
		}
		if d.Seats[seatID].State != state.SeatConnected {
			return fmt.Errorf("seat %+v", d.Seats[seatID])
		}
		return nil
	})
	time.Sleep(time.Second) // several reconcile rounds (300 ms) past the grace (100 ms)
	d, err := led.Get(ctx, state.DeploymentOfSeat(seatID))
	if err != nil {
		t.Fatal(err)
	}
	if d.Seats[seatID].State != state.SeatConnected || s.sim.Stats().LiveDeployments != 1 {
		t.Fatalf("connected seat %+v, %d live deployments; want it kept and its deployment running", d.Seats[seatID], s.sim.Stats().LiveDeployments)
	}
}

// A connect the matchmaker failed to record (the ledger was unavailable
// when active_connections got the entry) leaves the seat reserved: past
// unclaimed-ttl the janitor finds the game server's entry and marks the
// seat connected instead of releasing a playing client's seat.
func TestFleetJanitorKeepsASeatWhoseConnectWasNotRecorded(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	cfg := s.fleetConfig(true)
	cfg.UnclaimedTTL, cfg.Heartbeat = 600*time.Millisecond, 100*time.Millisecond
	s.start(cfg)
	fb := s.request(`{"client_ip":"1.2.3.4"}`)
	if lastKind(fb) != protocol.KindReady {
		t.Fatalf("feedback %v", fb)
	}
	seatID := fb[1].SessionID
	ctx := context.Background()
	// The game server's entry is recorded, then the seat is put back to
	// reserved (and old), as a failed ledger update would have left it.
	if err := s.store.PutActive(ctx, seatID, 7); err != nil {
		t.Fatal(err)
	}
	led := s.ledger()
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		d, err := led.Get(ctx, state.DeploymentOfSeat(seatID))
		if err != nil || d.Seats[seatID].State != state.SeatConnected {
			return fmt.Errorf("seat not connected yet: %v", err)
		}
		return nil
	})
	if _, err := led.Update(ctx, state.DeploymentOfSeat(seatID), func(d *state.Deployment) error {
		st := d.Seats[seatID]
		st.State, st.Since = state.SeatReserved, time.Now().Add(-time.Hour)
		d.Seats[seatID] = st
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		d, err := led.Get(ctx, state.DeploymentOfSeat(seatID))
		if err != nil {
			return err
		}
		st, ok := d.Seats[seatID]
		if !ok {
			return errors.New("the janitor released a playing client's seat")
		}
		if st.State != state.SeatConnected {
			return fmt.Errorf("seat %s", st.State)
		}
		return nil
	})
}
