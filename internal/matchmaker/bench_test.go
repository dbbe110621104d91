package matchmaker

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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
