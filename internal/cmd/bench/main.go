// Command bench measures the deployments allocator through the whole stack
// on loopback, each figure beside a floor measured in the same run, and
// prints a markdown report (scripts/bench.sh writes it into
// docs/performance.md).
//
// It starts, in this process: an embedded nats-server, the Edgegap
// simulator enforcing Edgegap's rate limits, a simulated netcode game server
// per deployment, the matchmaker (deployments allocator, ready webhooks
// through the real webhook sink) and the gateway; clients are real
// websockets. The floor of the gateway figures is a null matchmaker on the
// same NATS answering every request at once with a pre-minted seat: the
// gateway, websocket and NATS path with no allocation at all.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/client"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

type opts struct {
	burst, seats, warm, conc, rate int
	rateFor                        time.Duration
}

func main() {
	var o opts
	flag.IntVar(&o.burst, "burst", 600, "players in the cold burst")
	flag.IntVar(&o.seats, "seats", 6, "seats per deployment")
	flag.IntVar(&o.warm, "warm", 4000, "players in the warm throughput run")
	flag.IntVar(&o.conc, "concurrency", 100, "concurrent players in the throughput run")
	flag.IntVar(&o.rate, "rate", 100, "players per second in the latency run")
	flag.DurationVar(&o.rateFor, "rate-for", 5*time.Second, "length of the latency run")
	flag.Parse()
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type stack struct {
	st     *app.Stack
	ws     string
	ledger *state.Fleet
}

func start(ctx context.Context, seats int) (*stack, error) {
	s := app.DevSettings()
	s.Matchmaker.Allocator = "deployments"
	s.Matchmaker.SeatsPerDeployment = seats
	s.Matchmaker.EmptyTTL = time.Hour
	s.Matchmaker.UnclaimedTTL = time.Hour // players who got a seat keep it for the run
	s.Dev.Sockets = seats
	// Edgegap's documented limits, in the client's budget and enforced by
	// the simulator (429 beyond them).
	def := edgegap.DefaultBudgetConfig()
	s.Edgegap.CreateRate, s.Edgegap.StatusRate = def.Create.PerSecond, def.Status.PerSecond
	s.Edgegap.DeployRate, s.Edgegap.DeploymentStatusRate, s.Edgegap.ListRate = def.Deploy.PerSecond, def.DeploymentStatus.PerSecond, def.List.PerSecond
	s.Gateway.Listen, s.Dev.EdgegapListen = "127.0.0.1:0", "127.0.0.1:0"
	s.Gateway.RatePerMinute, s.Gateway.MaxPendingPerIP, s.Gateway.MaxPendingTotal = 0, 0, 0
	s.Matchmaker.MaxInFlight = 100000
	s.Serve.NATSListen = ""
	if err := s.Validate(); err != nil {
		return nil, err
	}
	o, err := app.Dev(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	rl := edgegapsim.DefaultRateLimits()
	o.Simulator.RateLimits = &rl
	st, err := app.Start(ctx, o)
	if err != nil {
		return nil, err
	}
	ledger, err := state.OpenFleet(ctx, st.Store.JS, state.Names{}, state.FleetOptions{})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &stack{st: st, ws: "ws" + strings.TrimPrefix(st.Gateway.URL(), "http") + "/matchmaker/ws", ledger: ledger}, nil
}

func (s *stack) calls() map[string]int {
	out := map[string]int{}
	for ep, byStatus := range s.st.Sim.Stats().Calls {
		for _, n := range byStatus {
			out[ep] += n
		}
	}
	return out
}

func (s *stack) throttled() int {
	n := 0
	for _, byStatus := range s.st.Sim.Stats().Calls {
		n += byStatus[429]
	}
	return n
}

// load runs count requests, conc at a time, for game; release frees each
// seat once granted (a player who leaves at once), keeping the fleet warm.
func (s *stack) load(ctx context.Context, game string, count, conc int, release bool) (client.Summary, error) {
	var mu sync.Mutex
	var seats []string
	sum, err := client.Load(ctx, client.LoadOptions{
		URL: s.ws, Game: game, Version: edgegapsim.DefaultVersion, Count: count, Concurrency: conc, ClientIP: "81.128.157.100",
		OnResult: func(_ int, res client.Result, err error) {
			if err == nil && release {
				mu.Lock()
				seats = append(seats, res.SessionID)
				mu.Unlock()
				if _, rerr := s.ledger.Release(ctx, res.SessionID); rerr != nil {
					fmt.Fprintln(os.Stderr, "release:", rerr)
				}
			}
		},
	})
	return sum, err
}

// paced sends rate requests per second for d (open loop) and returns the
// latencies of the seats.
func (s *stack) paced(ctx context.Context, game string, rate int, d time.Duration, release bool) ([]time.Duration, int, error) {
	n := int(d.Seconds() * float64(rate))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lats []time.Duration
		errs atomic.Int64
	)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for range n {
		<-tick.C
		wg.Go(func() {
			res, err := client.Request(ctx, client.Options{URL: s.ws, Game: game, Version: edgegapsim.DefaultVersion, ClientIP: "81.128.157.100"})
			if err != nil {
				errs.Add(1)
				return
			}
			mu.Lock()
			lats = append(lats, res.Elapsed)
			mu.Unlock()
			if release {
				_, _ = s.ledger.Release(ctx, res.SessionID)
			}
		})
	}
	wg.Wait()
	slices.Sort(lats)
	return lats, int(errs.Load()), nil
}

func pct(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(p*float64(len(l))+0.999999) - 1
	return l[max(0, min(i, len(l)-1))]
}

// nullMatchmaker answers every request for game at once with a seat minted
// once: the floor of the gateway path.
func nullMatchmaker(nc *nats.Conn, names state.Names, game string, seat protocol.Seat) (*nats.Subscription, error) {
	ack, acc, ready := protocol.Acknowledged().Encode(), protocol.Accepted("floor").Encode(), protocol.Ready(seat).Encode()
	return nc.QueueSubscribe(names.MatchmakerRequest(game, edgegapsim.DefaultVersion), "floor", func(m *nats.Msg) {
		for _, b := range [][]byte{ack, acc, ready, nil} {
			_ = nc.Publish(m.Reply, b)
		}
	})
}

func run(ctx context.Context, o opts, out io.Writer) error {
	w := func(format string, a ...any) { fmt.Fprintf(out, format, a...) }
	s, err := start(ctx, o.seats)
	if err != nil {
		return err
	}
	defer s.st.Close()

	// 1. Cold burst.
	sum, err := s.load(ctx, edgegapsim.DefaultApp, o.burst, o.burst, false)
	if err != nil {
		return err
	}
	c := s.calls()
	want := (o.burst + o.seats - 1) / o.seats
	created := s.st.Sim.Stats().DeploymentsCreated
	w("### Cold burst: %d players at once, %d seats per deployment\n\n", o.burst, o.seats)
	w("| figure | measured | target |\n|---|---:|---:|\n")
	w("| seats | %d of %d (errors %v) | all |\n", sum.Seats, sum.Requests, errorsOf(sum))
	w("| deployments started | %d | exactly ceil(%d/%d) = %d |\n", created, o.burst, o.seats, want)
	w("| deployment creations (POST /v2/deployments) | %d | %d (1 per deployment) |\n", c[edgegap.EndpointDeploymentCreate], want)
	w("| status calls (GET /v1/status), ready webhooks on | %d | 0 |\n", c[edgegap.EndpointDeploymentStatusGet])
	w("| Edgegap 429s | %d | 0 |\n\n", s.throttled())

	// 2. Warm fleet: everyone leaves, as many come back.
	all, err := s.ledger.List(ctx)
	if err != nil {
		return err
	}
	for _, d := range all {
		for id := range d.Seats {
			if _, err := s.ledger.Release(ctx, id); err != nil {
				return err
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // the view follows the releases
	before := s.calls()
	sum, err = s.load(ctx, edgegapsim.DefaultApp, o.burst, o.conc, false)
	if err != nil {
		return err
	}
	after := s.calls()
	seatCalls := 0
	for ep, n := range after {
		if ep != edgegap.EndpointDeploymentsGet { // the reconciler lists on its own clock
			seatCalls += n - before[ep]
		}
	}
	w("### Warm fleet: %d players on the %d running deployments\n\n", o.burst, created)
	w("| figure | measured | target |\n|---|---:|---:|\n")
	w("| seats | %d of %d (errors %v) | all |\n", sum.Seats, sum.Requests, errorsOf(sum))
	w("| Edgegap calls per seat | %.3f (%d calls) | 0 |\n", float64(seatCalls)/float64(max(sum.Seats, 1)), seatCalls)
	w("| new deployments | %d | 0 |\n\n", s.st.Sim.Stats().DeploymentsCreated-created)

	// Release again: the fleet is warm for the throughput runs.
	all, _ = s.ledger.List(ctx)
	for _, d := range all {
		for id := range d.Seats {
			_, _ = s.ledger.Release(ctx, id)
		}
	}
	time.Sleep(200 * time.Millisecond)

	// 3. Throughput and latency, beside the null-matchmaker floor.
	floorSeat, err := client.Request(ctx, client.Options{URL: s.ws, Game: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion, ClientIP: "81.128.157.100"})
	if err != nil {
		return err
	}
	_, _ = s.ledger.Release(ctx, floorSeat.SessionID)
	sub, err := nullMatchmaker(s.st.NC, state.Names{}, "floor", floorSeat.Seat)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	throttledBefore := s.throttled()
	floor, err := s.load(ctx, "floor", o.warm, o.conc, false)
	if err != nil {
		return err
	}
	sys, err := s.load(ctx, edgegapsim.DefaultApp, o.warm, o.conc, true)
	if err != nil {
		return err
	}
	w("### Warm fleet throughput: %d players, %d at a time, each leaving at once\n\n", o.warm, o.conc)
	w("| figure | bevygap | floor (null matchmaker) | ratio | target |\n|---|---:|---:|---:|---:|\n")
	w("| seats/s | %.0f | %.0f | %.2f | >= 1,000/s |\n", sys.SeatsPerSecond, floor.SeatsPerSecond, sys.SeatsPerSecond/floor.SeatsPerSecond)
	w("| errors | %v | %v | | 0 |\n", errorsOf(sys), errorsOf(floor))
	w("| Edgegap 429s | %d | | | 0 |\n\n", s.throttled()-throttledBefore)

	fl, ferr, _ := s.paced(ctx, "floor", o.rate, o.rateFor, false)
	sl, serr, _ := s.paced(ctx, edgegapsim.DefaultApp, o.rate, o.rateFor, true)
	w("### Warm fleet latency at %d players/s for %v (dial to SessionReady)\n\n", o.rate, o.rateFor)
	w("| figure | bevygap | floor (null matchmaker) | target |\n|---|---:|---:|---:|\n")
	w("| p50 | %s | %s | <= 3 ms |\n", msf(pct(sl, .5)), msf(pct(fl, .5)))
	w("| p99 | %s | %s | <= 15 ms |\n", msf(pct(sl, .99)), msf(pct(fl, .99)))
	w("| seats / errors | %d / %d | %d / %d | 0 errors |\n\n", len(sl), serr, len(fl), ferr)
	if sys.Seats != o.warm || sum.Seats != o.burst {
		return errors.New("some players got no seat (see the tables)")
	}
	return nil
}

func msf(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func errorsOf(s client.Summary) string {
	m := map[string]int{}
	for code, n := range s.Errors {
		m[fmt.Sprint(code)] = n
	}
	if s.TransportErrors > 0 {
		m["transport"] = s.TransportErrors
	}
	if s.ProtocolErrors > 0 {
		m["protocol"] = s.ProtocolErrors
	}
	b, _ := json.Marshal(m)
	return string(b)
}
