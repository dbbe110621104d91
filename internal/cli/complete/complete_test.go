package complete_test

import (
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/complete"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// Deployment and session ids complete from Edgegap (our simulator over
// HTTP), filtered by what was typed; a refused key offers nothing.
func TestEdgegapIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, err := edgegapsim.Start(ctx, edgegapsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	newClient := func(key string) func() (*edgegap.Client, error) {
		return func() (*edgegap.Client, error) { return edgegap.New(edgegap.Config{BaseURL: sim.URL(), APIKey: key}) }
	}
	eg, _ := newClient(edgegapsim.DefaultAPIKey)()
	dep, err := eg.CreateDeployment(ctx, edgegap.DeploymentRequest{App: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion, Users: []edgegap.DeploymentUser{edgegap.UserAtIP("81.128.157.100")}})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := eg.CreateSession(ctx, edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"81.128.157.100"}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := &cobra.Command{}
	cmd.SetContext(ctx)
	deps := complete.Func(nil, complete.DeploymentIDs(newClient(edgegapsim.DefaultAPIKey)))
	got, dir := deps(cmd, nil, dep.RequestID[:3])
	if len(got) != 1 || !strings.HasPrefix(got[0], dep.RequestID+"\t") || dir != cobra.ShellCompDirectiveNoFileComp {
		t.Fatalf("deployment ids: %q %v", got, dir)
	}
	sessions := complete.Func(nil, complete.SessionIDs(newClient(edgegapsim.DefaultAPIKey)))
	if got, _ := sessions(cmd, nil, ""); len(got) != 1 || !strings.HasPrefix(got[0], sess.ID+"\t") {
		t.Fatalf("session ids: %q", got)
	}
	if got, _ := sessions(cmd, nil, "zzz"); len(got) != 0 {
		t.Fatalf("filtered: %q", got)
	}
	refused := complete.Func(nil, complete.DeploymentIDs(newClient("token wrong")))
	if got, dir := refused(cmd, nil, ""); got != nil || dir != cobra.ShellCompDirectiveNoFileComp {
		t.Fatalf("refused key: %q %v", got, dir)
	}
}
