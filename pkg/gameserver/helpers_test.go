package gameserver

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/bevygap/bevygap/internal/simtest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
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

// deployment creates a session on the simulator and returns the
// deployment's info as the OnDeploy hook saw it (infos receives them).
func deployment(t *testing.T, sim *edgegapsim.Server, infos <-chan edgegapsim.DeploymentInfo) (string, edgegapsim.DeploymentInfo) {
	t.Helper()
	cs, err := simtest.Client(t, sim).CreateSession(t.Context(), edgegap.SessionRequest{
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
	sim := simtest.Start(t, edgegapsim.Config{OnDeploy: captureHook(infos)})
	_, info := deployment(t, sim, infos)
	env, err := EnvFromMap(info.Env)
	if err != nil {
		t.Fatal(err)
	}
	return sim, info, env
}
