package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

// Short timings of every run: what the drain at the end waits out.
const (
	unclaimedTTL      = 3 * time.Second
	emptyTTL          = 2 * time.Second
	reconcileInterval = 2 * time.Second
	reconcileGrace    = 3 * time.Second
	readyTimeout      = 10 * time.Second
	// orphanSeatAge is when the deployments allocator releases a seat whose
	// request died with its replica (matchmaker fleet.orphanSeatAge: the
	// create call's 20 s bound, ready-timeout, the digest wait, 5 s).
	orphanSeatAge = 20*time.Second + readyTimeout + 5*time.Second + 5*time.Second
)

// killPlan kills Target with SIGKILL once At of the players have started,
// and restarts it Down later.
type killPlan struct {
	Target string  // "mm2", "gateway", "nats", "serve" or "nats-leader" (the node leading the fleet ledger's stream)
	At     float64 // fraction of the players started
	Down   time.Duration
}

// scenario is one chaos run.
type scenario struct {
	Name      string
	Allocator string // sessions or deployments
	// AllInOne runs one `serve` with embedded NATS (persistent data-dir);
	// otherwise nats-server processes, `serve --gateway --webhook` and two
	// `serve --matchmaker` replicas.
	AllInOne bool
	// NATSNodes is 1 (one nats-server) or 3 (a cluster).
	NATSNodes int
	Namespace string
	Replicas  int
	Players   int
	Conc      int
	Faults    faultPlan
	Kills     []killPlan
	// ConnectEvery: every n-th seated player connects to its game server.
	ConnectEvery int
	Retries      int
}

// tally is a run's outcome, as printed and as written to docs/reliability.md.
type tally struct {
	Name              string         `json:"name"`
	Allocator         string         `json:"allocator"`
	Players           int            `json:"players"`
	Requests          int            `json:"requests"`
	Seats             int            `json:"seats"`
	Connected         int            `json:"connected"`
	Errors            map[string]int `json:"errors"`
	ExplainedByKill   int            `json:"explained_by_kill"`
	ExplainedByFault  int            `json:"explained_by_fault"`
	Unexplained       []string       `json:"unexplained"`
	Messages          map[string]int `json:"messages"`
	Injected5xx       int            `json:"injected_5xx"`
	InjectedDrops     int            `json:"injected_drops"`
	SessionsCreated   int            `json:"sessions_created"`
	DeploymentsMade   int            `json:"deployments_created"`
	Kills             []string       `json:"kills"`
	LeakedSessions    int            `json:"leaked_sessions"`
	LeakedDeployments int            `json:"leaked_deployments"`
	LostDeletes       int            `json:"lost_deletes"`
	LastDeleteAfter   time.Duration  `json:"last_delete_after_last_player"`
	SeatingResumed    time.Duration  `json:"seating_resumed_after_kill"`
	FailedInFlight    int            `json:"failed_in_flight_at_kill"`
	Elapsed           time.Duration  `json:"elapsed"`
}

func (t tally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos %s (%s): %d players, %d requests, %d seats (%d connected)\n", t.Name, t.Allocator, t.Players, t.Requests, t.Seats, t.Connected)
	fmt.Fprintf(&b, "  faults injected: %d 5xx, %d dropped connections; kills: %s\n", t.Injected5xx, t.InjectedDrops, strings.Join(t.Kills, ", "))
	fmt.Fprintf(&b, "  errors: %v (explained: %d by a kill, %d by an Edgegap fault; unexplained: %d)\n", t.Errors, t.ExplainedByKill, t.ExplainedByFault, len(t.Unexplained))
	fmt.Fprintf(&b, "  sessions created %d, deployments created %d\n", t.SessionsCreated, t.DeploymentsMade)
	fmt.Fprintf(&b, "  leaked sessions %d, leaked deployments %d, lost deletes %d; last delete %s after the last player\n",
		t.LeakedSessions, t.LeakedDeployments, t.LostDeletes, t.LastDeleteAfter.Round(100*time.Millisecond))
	if t.SeatingResumed > 0 {
		fmt.Fprintf(&b, "  seating resumed %s after the kill; %d requests failed in flight at the kill\n", t.SeatingResumed.Round(10*time.Millisecond), t.FailedInFlight)
	}
	for m, n := range t.Messages {
		fmt.Fprintf(&b, "  %4d × %s\n", n, m)
	}
	for _, u := range t.Unexplained {
		fmt.Fprintf(&b, "  unexplained: %s\n", u)
	}
	return b.String()
}

// run is a scenario in progress.
type run struct {
	t        testing.TB
	sc       scenario
	dir      string
	names    state.Names
	natsHost string
	gwURL    string
	sim      *simWorld
	procs    map[string]*proc
	natsOf   map[string]*proc // server name -> its process

	mu     sync.Mutex
	events []event
}

func runScenario(t *testing.T, sc scenario) tally {
	t.Helper()
	bevygap, natsBin := binaries(t)
	r := &run{t: t, sc: sc, dir: t.TempDir(), procs: map[string]*proc{}, natsOf: map[string]*proc{}}
	var err error
	if os.Getenv("CHAOS_KEEP_LOGS") != "" { // kept for a post-mortem
		if r.dir, err = os.MkdirTemp("", "bevygap-chaos-run-"); err != nil {
			t.Fatal(err)
		}
	}
	if r.names, err = state.NewNames(sc.Namespace); err != nil {
		t.Fatal(err)
	}
	defer r.stopAll()
	gw, hook := freePort(t), freePort(t)
	r.gwURL = fmt.Sprintf("ws://127.0.0.1:%d/matchmaker/ws", gw)
	env := r.env(gw, hook)
	if sc.AllInOne {
		np := freePort(t)
		r.natsHost = fmt.Sprintf("nats://127.0.0.1:%d", np)
		r.sim = startSim(t, r.natsHost, r.names)
		env = append(env, "EDGEGAP_API_KEY="+r.sim.srv.APIKey(), "BEVYGAP_EDGEGAP_URL="+r.sim.srv.URL(),
			fmt.Sprintf("BEVYGAP_NATS_LISTEN=127.0.0.1:%d", np), "BEVYGAP_DATA_DIR="+filepath.Join(r.dir, "serve-data"))
		r.add("serve", bevygap, []string{"serve"}, env)
	} else {
		r.startNATS(natsBin, max(sc.NATSNodes, 1))
		r.sim = startSim(t, r.natsHost, r.names)
		env = append(env, "NATS_HOST="+r.natsHost, "NATS_INSECURE=1", "EDGEGAP_API_KEY="+r.sim.srv.APIKey(), "BEVYGAP_EDGEGAP_URL="+r.sim.srv.URL())
		r.add("gateway", bevygap, []string{"serve", "--gateway", "--webhook"}, env)
		r.add("mm1", bevygap, []string{"serve", "--matchmaker"}, env)
		r.add("mm2", bevygap, []string{"serve", "--matchmaker"}, env)
	}
	for _, name := range r.order() {
		if err := r.startAndWait(name); err != nil {
			t.Fatal(err)
		}
	}
	r.sim.setFaults(t, sc.Faults)
	start := time.Now()

	// The kills run beside the players, triggered by their progress.
	var kills sync.WaitGroup
	triggers := make([]chan struct{}, len(sc.Kills))
	for i := range triggers {
		triggers[i] = make(chan struct{})
	}
	var fired sync.Map
	killErrs := make(chan error, len(sc.Kills))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	killCtx, killCancel := context.WithCancel(ctx)
	defer killCancel()
	for i, k := range sc.Kills {
		kills.Go(func() {
			select {
			case <-triggers[i]:
			case <-killCtx.Done():
				return
			}
			killErrs <- r.killAndRestart(k)
		})
	}
	// The monitor notes when the simulator last deleted a session or
	// stopped a deployment.
	var lastDelete time.Time
	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		seen := 0
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				st := r.sim.srv.Stats()
				if n := st.SessionsDeleted + st.DeploymentsStopped; n > seen {
					seen, lastDelete = n, time.Now()
				}
			}
		}
	}()
	players := runPlayers(ctx, playerOpts{
		URL: r.gwURL, Count: sc.Players, Concurrency: sc.Conc, ConnectEvery: sc.ConnectEvery, Retries: sc.Retries,
		OnStarted: func(n int) {
			for i, k := range sc.Kills {
				if float64(n) >= k.At*float64(sc.Players) {
					if _, dup := fired.LoadOrStore(i, true); !dup {
						close(triggers[i])
					}
				}
			}
		},
	})
	killCancel() // a kill not triggered yet never will be
	kills.Wait()
	close(killErrs)
	for err := range killErrs { // reported here, on the test goroutine
		if err != nil {
			t.Error(err)
		}
	}
	lastPlayer := time.Time{}
	for _, p := range players {
		if p.end.After(lastPlayer) {
			lastPlayer = p.end
		}
	}
	zeroAt := r.drain(lastPlayer)
	cancel()
	<-monDone
	tl := r.tally(players, lastPlayer, zeroAt)
	if !lastDelete.IsZero() {
		tl.LastDeleteAfter = lastDelete.Sub(lastPlayer)
	}
	tl.Elapsed = time.Since(start)
	t.Log("\n" + tl.String())
	return tl
}

// env is what every bevygap process of the run gets.
func (r *run) env(gw, hook int) []string {
	secret := "chaos-webhook-secret"
	e := append(baseEnv(r.dir),
		"LIGHTYEAR_PRIVATE_KEY="+app.DevKey, "BEVYGAP_LIGHTYEAR_PROTOCOL_ID="+strconv.Itoa(app.DevProtocolID),
		"BEVYGAP_APP_NAME="+edgegapsim.DefaultApp, "BEVYGAP_APP_VERSION="+edgegapsim.DefaultVersion,
		"BEVYGAP_ALLOCATOR="+r.sc.Allocator,
		"BEVYGAP_EDGEGAP_CREATE_RATE=0", "BEVYGAP_EDGEGAP_STATUS_RATE=0", "BEVYGAP_EDGEGAP_DEPLOY_RATE=0",
		"BEVYGAP_EDGEGAP_DEPLOYMENT_STATUS_RATE=0", "BEVYGAP_EDGEGAP_LIST_RATE=0",
		"BEVYGAP_UNCLAIMED_TTL="+unclaimedTTL.String(), "BEVYGAP_EMPTY_TTL="+emptyTTL.String(),
		"BEVYGAP_RECONCILE_INTERVAL="+reconcileInterval.String(), "BEVYGAP_RECONCILE_GRACE="+reconcileGrace.String(),
		"BEVYGAP_READY_TIMEOUT="+readyTimeout.String(), "BEVYGAP_SEATS_PER_DEPLOYMENT="+strconv.Itoa(simSockets),
		fmt.Sprintf("BEVYGAP_GATEWAY_LISTEN=127.0.0.1:%d", gw), fmt.Sprintf("BEVYGAP_WEBHOOK_LISTEN=127.0.0.1:%d", hook),
		"BEVYGAP_WEBHOOK_SECRET="+secret,
		fmt.Sprintf("BEVYGAP_SESSION_WEBHOOK_URL=http://127.0.0.1:%d/hook/session?secret=%s", hook, secret),
		fmt.Sprintf("BEVYGAP_WEBHOOK_PUBLIC_URL=http://127.0.0.1:%d", hook),
		"BEVYGAP_RATE_PER_MINUTE=0", "BEVYGAP_MAX_PENDING_PER_IP=100000", "BEVYGAP_MAX_PENDING_TOTAL=100000",
		"BEVYGAP_NATS_REPLICAS="+strconv.Itoa(max(r.sc.Replicas, 1)),
	)
	if r.sc.Namespace != "" {
		e = append(e, "BEVYGAP_NATS_NAMESPACE="+r.sc.Namespace)
	}
	return e
}

func (r *run) add(name, bin string, args, env []string) *proc {
	p := &proc{name: name, bin: bin, args: args, env: env, log: filepath.Join(r.dir, name+".log")}
	r.procs[name] = p
	return p
}

// order is the start order: NATS, the gateway (its webhook sink), then the
// matchmakers.
func (r *run) order() []string {
	var out []string
	for _, n := range []string{"nats-1", "nats-2", "nats-3", "gateway", "serve", "mm1", "mm2"} {
		if _, ok := r.procs[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// startAndWait starts a process and waits until it serves. It runs on the
// test goroutine and on a kill's (a restart): it reports, never ends the test.
func (r *run) startAndWait(name string) error {
	p := r.procs[name]
	off := logSize(p.log)
	if strings.HasPrefix(name, "nats-") {
		if !p.running() {
			if err := p.start(); err != nil {
				return err
			}
		}
		// Its client port (-p) is the first argument pair's value.
		return waitTCP("127.0.0.1:"+p.args[3], 20*time.Second)
	}
	if err := p.start(); err != nil {
		return err
	}
	return p.waitLog(off, "bevygap serving", 60*time.Second)
}

// startNATS starts n nats-server processes (a cluster when n > 1) with
// persistent stores, and waits for JetStream.
func (r *run) startNATS(bin string, n int) {
	ports, routes := make([]int, n), make([]int, n)
	var urls, routeURLs []string
	for i := range n {
		ports[i], routes[i] = freePort(r.t), freePort(r.t)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		routeURLs = append(routeURLs, fmt.Sprintf("nats://127.0.0.1:%d", routes[i]))
	}
	for i := range n {
		name := fmt.Sprintf("nats-%d", i+1)
		args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(ports[i]), "-js", "-sd", filepath.Join(r.dir, name), "--server_name", name}
		if n > 1 {
			args = append(args, "--cluster_name", "chaos", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", routes[i]), "--routes", strings.Join(routeURLs, ","))
		}
		p := r.add(name, bin, args, baseEnv(r.dir))
		r.natsOf[name] = p
		if err := p.start(); err != nil {
			r.t.Fatal(err)
		}
	}
	r.natsHost = strings.Join(urls, ",")
	for _, u := range urls {
		if err := waitTCP(strings.TrimPrefix(u, "nats://"), 20*time.Second); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := r.waitJetStream(60 * time.Second); err != nil {
		r.t.Fatal(err)
	}
}

// waitJetStream waits until JetStream answers (a cluster has elected its
// meta leader).
func (r *run) waitJetStream(timeout time.Duration) error {
	nc, err := nats.Connect(r.natsHost, nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("JetStream not ready after %s: %w", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitStreamLeaders waits until every stream answers its info with a
// leader.
func (r *run) waitStreamLeaders(timeout time.Duration) error {
	nc, err := nats.Connect(r.natsHost, nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := streamsLed(js)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("streams without a leader after %s: %w", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// streamsLed returns nil when every stream answers its info, with a leader.
func streamsLed(js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var all []string
	for n := range names.Name() {
		all = append(all, n)
	}
	if err := names.Err(); err != nil {
		return err
	}
	for _, n := range all {
		s, err := js.Stream(ctx, n)
		if err != nil {
			return fmt.Errorf("stream %s: %w", n, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: %w", n, err)
		}
		if info.Cluster != nil && info.Cluster.Name != "" && info.Cluster.Leader == "" {
			return fmt.Errorf("stream %s has no leader", n)
		}
	}
	return nil
}

// streamLeader names the server leading stream.
func (r *run) streamLeader(stream string) (string, error) {
	nc, err := nats.Connect(r.natsHost)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", stream, err)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", fmt.Errorf("stream %s has no leader", stream)
	}
	return info.Cluster.Leader, nil
}

// killAndRestart SIGKILLs the target and restarts it after k.Down. It runs
// on its own goroutine: failures are returned to the test goroutine, never
// reported with t.Fatal here. The kill is recorded as soon as it happened; a
// target that did not come back has a zero Back (down until the end).
func (r *run) killAndRestart(k killPlan) error {
	target := k.Target
	if target == "nats-leader" {
		var err error
		if target, err = r.streamLeader("KV_" + r.names.Bucket(state.BucketDeployments)); err != nil {
			return fmt.Errorf("kill %s: %w", k.Target, err)
		}
	}
	if target == "nats" {
		target = "nats-1"
	}
	p := r.procs[target]
	if p == nil {
		return fmt.Errorf("kill: no process %q", k.Target)
	}
	ev := event{What: "SIGKILL", Target: target, At: time.Now()}
	p.kill()
	r.mu.Lock()
	r.events = append(r.events, ev)
	i := len(r.events) - 1
	r.mu.Unlock()
	time.Sleep(k.Down)
	if err := r.startAndWait(target); err != nil {
		return fmt.Errorf("restart %s after its kill: %w", target, err)
	}
	if strings.HasPrefix(target, "nats-") {
		if err := r.waitJetStream(60 * time.Second); err != nil {
			return fmt.Errorf("restart %s after its kill: %w", target, err)
		}
		// The kill's outage lasts until every stream has a leader again:
		// a cluster that lost its meta leader and stream leaders elects
		// new ones (seconds) after the node is back.
		if err := r.waitStreamLeaders(60 * time.Second); err != nil {
			return fmt.Errorf("restart %s after its kill: %w", target, err)
		}
	}
	r.mu.Lock()
	r.events[i].Back = time.Now()
	r.mu.Unlock()
	return nil
}

// drain waits until the simulator has no live session or deployment, at
// most the TTLs (a dead replica's waiting seats: the orphan-seat age), a
// reconcile grace and three reconcile intervals (plus slack) after the last
// player; it returns when that happened (zero: never).
func (r *run) drain(lastPlayer time.Time) time.Time {
	deadline := lastPlayer.Add(max(unclaimedTTL, orphanSeatAge) + emptyTTL + reconcileGrace + 3*reconcileInterval + 30*time.Second)
	for time.Now().Before(deadline) {
		st := r.sim.srv.Stats()
		if st.LiveSessions == 0 && st.LiveDeployments == 0 {
			return time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Time{}
}

func (r *run) tally(players []player, lastPlayer, zeroAt time.Time) tally {
	tl := tally{Name: r.sc.Name, Allocator: r.sc.Allocator, Players: r.sc.Players, Requests: len(players), Errors: map[string]int{}, Unexplained: []string{}, Kills: []string{}, Messages: map[string]int{}}
	st := r.sim.srv.Stats()
	tl.Injected5xx, tl.InjectedDrops = injected(st)
	tl.SessionsCreated, tl.DeploymentsMade = st.SessionsCreated, st.DeploymentsCreated
	r.mu.Lock()
	events := append([]event(nil), r.events...)
	r.mu.Unlock()
	for _, e := range events {
		back := "never back"
		if !e.Back.IsZero() {
			back = "back after " + e.Back.Sub(e.At).Round(100*time.Millisecond).String()
		}
		tl.Kills = append(tl.Kills, fmt.Sprintf("%s %s (%s)", e.What, e.Target, back))
	}
	known := map[string]bool{} // session ids and deployment intent ids a player was handed
	for _, p := range players {
		if p.seat {
			tl.Seats++
			known[p.sessionID] = true
			if r.sc.Allocator == "deployments" {
				known[state.DeploymentOfSeat(p.sessionID)] = true
			}
			if p.connected {
				tl.Connected++
			}
		}
		if p.kind == "" {
			continue
		}
		key := p.kind
		if p.kind == "error" {
			key = strconv.Itoa(p.code)
		}
		tl.Errors[key]++
		tl.Messages[key+" "+p.msg]++
		switch {
		case duringKill(p, events):
			tl.ExplainedByKill++
		case tl.Injected5xx+tl.InjectedDrops > 0 && edgegapFailure(p.msg):
			tl.ExplainedByFault++
		default:
			tl.Unexplained = append(tl.Unexplained, fmt.Sprintf("%s %d %q at +%s", p.kind, p.code, p.msg, p.start.Sub(players[0].start).Round(time.Millisecond)))
		}
	}
	// Seating resumed: the first seat granted to a request that started
	// after the (first) kill.
	if len(events) > 0 {
		e := events[0]
		for _, p := range players {
			if p.seat && p.start.After(e.At) {
				if d := p.seated.Sub(e.At); tl.SeatingResumed == 0 || d < tl.SeatingResumed {
					tl.SeatingResumed = d
				}
			}
			if !p.seat && p.kind != "" && p.start.Before(e.At) && p.end.After(e.At) {
				tl.FailedInFlight++
			}
		}
	}
	// What is still alive: ids known to a player are lost deletes, the
	// others leaks.
	for _, ep := range edgegapsim.Endpoints() {
		_ = r.sim.srv.SetEndpointFaults(ep, edgegapsim.EndpointFaults{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sessions, err := r.sim.eg.ListAllSessions(ctx)
	if err != nil {
		r.t.Errorf("list sessions: %v", err)
	}
	deps, err := r.sim.eg.ListDeployments(ctx, edgegap.DeploymentQuery{})
	if err != nil {
		r.t.Errorf("list deployments: %v", err)
	}
	hosting := map[string]bool{} // deployments a live session keeps alive
	for _, s := range sessions {
		hosting[s.DeploymentRequestID] = true
		if known[s.ID] {
			tl.LostDeletes++
		} else {
			tl.LeakedSessions++
		}
		r.t.Logf("alive after the drain: session %s (%s, handed to a player: %v, deployment %s, status %s)", s.ID, s.CustomID, known[s.ID], s.DeploymentRequestID, s.Status)
	}
	for _, d := range deps {
		if r.sc.Allocator == "sessions" && hosting[d.RequestID] {
			// Edgegap's own deployment, stopped once its sessions are
			// gone: the live session on it is what the tally counts.
			r.t.Logf("alive after the drain: deployment %s, hosting a live session", d.RequestID)
			continue
		}
		if known[intentTag(d.Tags)] {
			tl.LostDeletes++
		} else {
			tl.LeakedDeployments++
		}
		r.t.Logf("alive after the drain: deployment %s (intent %s, a player's seat: %v, started %s, ready %v)", d.RequestID, intentTag(d.Tags), known[intentTag(d.Tags)], d.StartTime, d.Ready)
	}
	if zeroAt.IsZero() {
		r.t.Logf("the simulator still runs %d sessions and %d deployments after the drain", len(sessions), len(deps))
	}
	sort.Strings(tl.Unexplained)
	return tl
}

// intentTag is the fleet ledger id bevygap tagged a deployment with, or "".
func intentTag(tags []string) string {
	for _, t := range tags {
		if id, ok := strings.CutPrefix(t, matchmaker.TagIntent); ok && id != "" {
			return id
		}
	}
	return ""
}

// duringKill reports whether the request was in flight while a killed
// process was down (from the kill until it served again).
func duringKill(p player, events []event) bool {
	for _, e := range events {
		if (e.Back.IsZero() || !p.start.After(e.Back)) && !p.end.Before(e.At) {
			return true
		}
	}
	return false
}

// stopAll ends every process gracefully (SIGTERM), then the simulator.
func (r *run) stopAll() {
	for _, name := range []string{"mm1", "mm2", "gateway", "serve", "nats-1", "nats-2", "nats-3"} {
		if p := r.procs[name]; p != nil && p.running() {
			p.signal(syscall.SIGTERM)
		}
	}
	if r.t.Failed() {
		for _, name := range r.order() {
			r.t.Logf("%s log tail:\n%s", name, tail(r.procs[name].log, 15))
		}
	}
	if os.Getenv("CHAOS_KEEP_LOGS") != "" {
		r.t.Logf("logs in %s", r.dir)
	}
}
