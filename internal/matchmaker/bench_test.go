package matchmaker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// newBenchStack is a matchmaker against an instantly ready simulator with
// no rate limits, so the benchmark measures bevygap, not the budgets.
func newBenchStack(b *testing.B) *stack {
	s := newStack(b, edgegapsim.Config{Sockets: 1 << 20, RateLimits: &edgegapsim.RateLimits{}})
	s.digest()
	unlimited, _ := edgegap.NewBudget(edgegap.BudgetConfig{})
	cfg := s.config()
	cfg.Edgegap = s.client(edgegap.Config{Budget: unlimited})
	cfg.Logger = nil
	cfg.PollFirst = time.Millisecond
	s.start(cfg)
	return s
}

// BenchmarkSeat measures one whole seat through NATS: request, session
// create and get over HTTP, KV puts, token mint, feedback stream.
func BenchmarkSeat(b *testing.B) {
	s := newBenchStack(b)
	subject := state.Names{}.MatchmakerRequest(edgegapsim.DefaultApp, edgegapsim.DefaultVersion)
	body := []byte(`{"client_ip":"1.2.3.4"}`)
	start := time.Now()
	for b.Loop() {
		fb, err := requestFeedback(s.nc, subject, body, 10*time.Second)
		if err != nil || fb[len(fb)-1].Kind != protocol.KindReady {
			b.Fatalf("no seat: %v %v", err, fb)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "seats/s")
}

// BenchmarkSeatFloor is what a seat cannot avoid: one NATS request/reply
// and the four KV puts a seat makes (unclaimed twice, both session maps).
func BenchmarkSeatFloor(b *testing.B) {
	s := newBenchStack(b)
	sub, err := s.nc.Subscribe("bench.floor", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	ctx := context.Background()
	start := time.Now()
	for b.Loop() {
		if _, err := s.nc.Request("bench.floor", []byte(`{"client_ip":"1.2.3.4"}`), 5*time.Second); err != nil {
			b.Fatal(err)
		}
		if err := s.store.PutUnclaimed(ctx, "floor-S"); err != nil {
			b.Fatal(err)
		}
		if err := s.store.PutSeat(ctx, 42, "floor-S"); err != nil {
			b.Fatal(err)
		}
		if err := s.store.PutUnclaimed(ctx, "floor-S"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "seats/s")
}

// newFleetBenchStack is a deployments-allocator matchmaker with a warm
// fleet: 20 ready deployments of 6 seats (no Edgegap call per seat).
func newFleetBenchStack(b *testing.B) (*stack, *state.Fleet) {
	s := newStack(b, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}})
	cfg := s.fleetConfig(false)
	cfg.Logger = nil
	cfg.Fleet.EmptyTTL = time.Hour
	// The warm records are the benchmark's own, not Edgegap's: the
	// reconciler must not retire them.
	cfg.Fleet.ReconcileInterval, cfg.Fleet.ReconcileGrace = time.Hour, time.Hour
	s.start(cfg)
	led := s.ledger()
	ctx := context.Background()
	for i := range 20 {
		id := fmt.Sprintf("warm%02d", i)
		err := led.Create(ctx, &state.Deployment{ID: id, RequestID: "rid" + id, App: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion,
			State: state.DeploymentReady, Capacity: 6, PublicIP: "127.0.0.1", Ports: map[string]state.FleetPort{"game": {External: 7000 + i, Internal: 7000}}})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.store.PutCertDigest(ctx, "rid"+id, testDigest); err != nil {
			b.Fatal(err)
		}
	}
	natstest.CheckFor(b, 5*time.Second, 5*time.Millisecond, func() error {
		if n := len(s.mms[0].mm.fleet.view.snapshot()); n < 20 {
			return fmt.Errorf("view has %d deployments", n)
		}
		return nil
	})
	return s, led
}

// BenchmarkFleetSeat measures one whole seat on a warm fleet: request,
// placement by compare-and-set, digest, token, two mapping puts, the
// hand-out CAS, feedback stream. Zero Edgegap calls. Each seat is released
// (timer stopped) so the fleet stays warm.
func BenchmarkFleetSeat(b *testing.B) {
	s, led := newFleetBenchStack(b)
	subject := state.Names{}.MatchmakerRequest(edgegapsim.DefaultApp, edgegapsim.DefaultVersion)
	body := []byte(`{"client_ip":"1.2.3.4"}`)
	ctx := context.Background()
	calls := s.sim.Stats().Calls
	fc := newFeedbackClient(b, s.nc)
	for b.Loop() {
		fb, err := fc.request(subject, body, 10*time.Second)
		if err != nil || fb[len(fb)-1].Kind != protocol.KindReady {
			b.Fatalf("no seat: %v %v", err, fb)
		}
		b.StopTimer()
		if _, err := led.Release(ctx, fb[1].SessionID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	if got := s.sim.Stats().Calls; len(got) != len(calls) {
		b.Fatalf("warm seats called Edgegap: %v", got)
	}
}

// BenchmarkFleetSeatFloor is what a fleet seat cannot avoid: one NATS
// request/reply, the seat's compare-and-set (one write on a record whose
// revision is known) and the two mapping puts.
func BenchmarkFleetSeatFloor(b *testing.B) {
	s, led := newFleetBenchStack(b)
	sub, err := s.nc.Subscribe("bench.floor", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	ctx := context.Background()
	cur, err := led.Get(ctx, "warm00")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.nc.Request("bench.floor", []byte(`{"client_ip":"1.2.3.4"}`), 5*time.Second); err != nil {
			b.Fatal(err)
		}
		seat, _, err := led.ReserveFor(ctx, cur, 42)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.store.PutSeat(ctx, 42, seat); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if cur, err = led.Release(ctx, seat); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// feedbackClient reads feedback streams through one wildcard inbox
// subscription, as the gateway does: a subscription per request (what
// requestFeedback does) allocates a 64k-message buffer each time, and its
// garbage would be measured as the matchmaker's cost.
type feedbackClient struct {
	nc     *nats.Conn
	prefix string
	ch     chan *nats.Msg
}

func newFeedbackClient(b *testing.B, nc *nats.Conn) *feedbackClient {
	fc := &feedbackClient{nc: nc, prefix: nc.NewInbox(), ch: make(chan *nats.Msg, 64)}
	sub, err := nc.ChanSubscribe(fc.prefix+".*", fc.ch)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Unsubscribe() })
	return fc
}

// request sends one request (one at a time) and collects its stream.
func (fc *feedbackClient) request(subject string, body []byte, timeout time.Duration) ([]protocol.Feedback, error) {
	if err := fc.nc.PublishRequest(subject, fc.prefix+".r", body); err != nil {
		return nil, err
	}
	var out []protocol.Feedback
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case <-deadline.C:
			return out, nats.ErrTimeout
		case msg := <-fc.ch:
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
}
