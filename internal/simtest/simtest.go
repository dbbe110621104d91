// Package simtest starts what tests of the game-server side run against:
// the Edgegap simulator on loopback, a client of it, and a NATS server with
// the bevygap buckets. Everything it starts stops when the test ends.
package simtest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

// Start runs the Edgegap simulator on loopback. Rate limits are off unless
// cfg sets them.
func Start(t testing.TB, cfg edgegapsim.Config) *edgegapsim.Server {
	t.Helper()
	if cfg.RateLimits == nil {
		cfg.RateLimits = &edgegapsim.RateLimits{}
	}
	srv, err := edgegapsim.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	return srv
}

// Client is an Edgegap client for sim's API with a 1ms minimum backoff.
func Client(t testing.TB, sim *edgegapsim.Server) *edgegap.Client {
	t.Helper()
	c, err := edgegap.New(edgegap.Config{BaseURL: sim.URL(), APIKey: sim.APIKey(), MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// Store starts a nats-server and opens the compat buckets.
func Store(t testing.TB) (*state.Store, *nats.Conn) {
	t.Helper()
	nc := natstest.RunJetStream(t).Conn(t)
	st, err := state.Open(t.Context(), nc, state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	return st, nc
}
