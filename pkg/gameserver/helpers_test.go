package gameserver

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newStore starts a nats-server and opens the compat buckets.
func newStore(t *testing.T) (*state.Store, *nats.Conn) {
	t.Helper()
	nc := natstest.RunJetStream(t).Conn(t)
	st, err := state.Open(t.Context(), nc, state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	return st, nc
}

func newAgent(t *testing.T, st *state.Store, nc *nats.Conn, env Env) *Agent {
	t.Helper()
	a, err := NewAgent(AgentConfig{Store: st, NC: nc, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// startSim starts the Edgegap simulator without rate limits.
func startSim(t *testing.T, cfg edgegapsim.Config) *edgegapsim.Server {
	t.Helper()
	cfg.RateLimits = &edgegapsim.RateLimits{}
	srv, err := edgegapsim.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	return srv
}

// apiClient is an Edgegap client for the simulator's API.
func apiClient(t *testing.T, sim *edgegapsim.Server) *edgegap.Client {
	t.Helper()
	c, err := edgegap.New(edgegap.Config{BaseURL: sim.URL(), APIKey: sim.APIKey(), MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// deployment creates a session on the simulator and returns the
// deployment's info as the OnDeploy hook saw it (infos receives them).
func deployment(t *testing.T, sim *edgegapsim.Server, infos <-chan edgegapsim.DeploymentInfo) (string, edgegapsim.DeploymentInfo) {
	t.Helper()
	cs, err := apiClient(t, sim).CreateSession(t.Context(), edgegap.SessionRequest{
		AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"81.128.157.100"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var info edgegapsim.DeploymentInfo
	select {
	case info = <-infos:
	case <-time.After(10 * time.Second):
		t.Fatal("no deployment")
	}
	return cs.ID, info
}

// captureHook is an OnDeploy hook that hands the deployment info to the test.
func captureHook(infos chan<- edgegapsim.DeploymentInfo) func(context.Context, edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
	return func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		select {
		case infos <- info:
		case <-ctx.Done():
		}
		return edgegapsim.DeployHandle{}, nil
	}
}

// deployedEnv starts a simulator, deploys one server through a session and
// returns the simulator, the deployment and the ARBITRIUM_* env it got.
func deployedEnv(t *testing.T) (*edgegapsim.Server, edgegapsim.DeploymentInfo, Env) {
	t.Helper()
	infos := make(chan edgegapsim.DeploymentInfo, 1)
	sim := startSim(t, edgegapsim.Config{OnDeploy: captureHook(infos)})
	_, info := deployment(t, sim, infos)
	env, err := EnvFromMap(info.Env)
	if err != nil {
		t.Fatal(err)
	}
	return sim, info, env
}
