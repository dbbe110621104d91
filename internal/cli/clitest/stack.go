package clitest

import (
	"context"
	"testing"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

// Stack is what the commands that talk to Edgegap and NATS run against in
// a test: a simulator, a NATS server with the bevygap buckets, a client of
// the simulator, and the commands' whole environment pointing at both.
type Stack struct {
	T     *testing.T
	Sim   *edgegapsim.Server
	EG    *edgegap.Client
	Store *state.Store
	Vars  map[string]string // the commands' whole environment
	run   Runner
}

// StartStack starts a simulator (cfg with seed 7 and no rate limits) and a
// NATS server for t; both stop when t ends. run is cli.RunIn.
func StartStack(t *testing.T, run Runner, cfg edgegapsim.Config) *Stack {
	t.Helper()
	cfg.Seed, cfg.RateLimits = 7, &edgegapsim.RateLimits{}
	sim, err := edgegapsim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	srv := natstest.RunJetStream(t)
	store, err := state.Open(context.Background(), srv.Conn(t), state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"EDGEGAP_API_KEY":     edgegapsim.DefaultAPIKey,
		"BEVYGAP_EDGEGAP_URL": sim.URL(),
		"NATS_HOST":           srv.URL,
		"NATS_INSECURE":       "1",
		"BEVYGAP_APP_NAME":    edgegapsim.DefaultApp,
	}
	eg, err := edgegap.New(edgegap.Config{BaseURL: sim.URL(), APIKey: edgegapsim.DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eg.CloseIdleConnections)
	return &Stack{T: t, Sim: sim, EG: eg, Store: store, Vars: vars, run: run}
}

// Run runs args against the stack, in s.Vars unless o has its own
// environment.
func (s *Stack) Run(o Opts, args ...string) Result {
	s.T.Helper()
	if o.Env == nil {
		o.Env = s.Vars
	}
	return Exec(s.T, s.run, o, args...)
}
