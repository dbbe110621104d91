package sessions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

type env struct{ *clitest.Stack }

// setup starts a simulator and a NATS server for one test, which runs in
// parallel with the others: the commands see only e.Vars.
func setup(t *testing.T) *env {
	t.Parallel()
	return &env{clitest.StartStack(t, cli.RunIn, edgegapsim.Config{})}
}

func (e *env) create() string {
	e.T.Helper()
	s, err := e.EG.CreateSession(context.Background(), edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"1.2.3.4"}})
	if err != nil {
		e.T.Fatal(err)
	}
	return s.ID
}

func TestLsGetRm(t *testing.T) {
	e := setup(t)
	r := e.Run(clitest.Opts{}, "sessions", "ls", "-o", "json")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "[]" {
		t.Fatalf("empty ls: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	ids := []string{e.create(), e.create()}
	for _, c := range []struct {
		name string
		tty  bool
		args []string
	}{
		{"ls.json", false, []string{"sessions", "ls", "-o", "json"}},
		{"ls.tty", true, []string{"sessions", "ls"}},
		{"ls.plain", false, []string{"sessions", "ls", "--all"}},
		{"get.tty", true, []string{"sessions", "get", ids[0]}},
	} {
		r := e.Run(clitest.Opts{TTY: c.tty}, c.args...)
		if r.Code != 0 {
			t.Fatalf("%s: exit %d %s", c.name, r.Code, r.Stderr)
		}
		golden.Assert(t, c.name+".golden", []byte(scrubTime(r.Stdout)))
	}
	r = e.Run(clitest.Opts{}, "sessions", "get", ids[0], "-o", "json")
	var s edgegap.Session
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil || s.Deployment == nil || s.Deployment.PublicIP != "127.0.0.1" || len(s.Deployment.Ports) == 0 {
		t.Fatalf("get json: %q %v", r.Stdout, err)
	}
	r = e.Run(clitest.Opts{}, "sessions", "rm", ids[0])
	if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
		t.Fatalf("rm without --yes: exit %d %q", r.Code, r.Stderr)
	}
	r = e.Run(clitest.Opts{}, "sessions", "rm", "--yes", ids[0], "000000000000-S", "-o", "json")
	golden.Assert(t, "rm.json.golden", []byte(r.Stdout))
	if r.Code != 0 || e.Sim.Stats().LiveSessions != 1 {
		t.Fatalf("rm: exit %d, live %d", r.Code, e.Sim.Stats().LiveSessions)
	}
	r = e.Run(clitest.Opts{}, "sessions", "get", "000000000000-S")
	if r.Code != 1 || !strings.Contains(r.Stderr, "404") {
		t.Fatalf("get missing: exit %d %q", r.Code, r.Stderr)
	}
}

func TestWrongKeyExits4(t *testing.T) {
	e := setup(t)
	e.Vars["EDGEGAP_API_KEY"] = "token wrong-key"
	r := e.Run(clitest.Opts{}, "sessions", "ls", "-o", "json")
	if r.Code != 4 || !strings.Contains(r.Stderr, "refused the API key") || strings.Contains(r.Stderr, "wrong-key") {
		t.Fatalf("wrong key: exit %d %q", r.Code, r.Stderr)
	}
	e.Vars["EDGEGAP_API_KEY"] = ""
	r = e.Run(clitest.Opts{}, "sessions", "ls")
	if r.Code != 4 || !strings.Contains(r.Stderr, "EDGEGAP_API_KEY") {
		t.Fatalf("no key: exit %d %q", r.Code, r.Stderr)
	}
}

// prune deletes only sessions nothing else will clean up.
func TestPrune(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	active, unclaimed, orphan := e.create(), e.create(), e.create()
	if err := e.Store.PutActive(ctx, active, 42); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.PutUnclaimed(ctx, unclaimed); err != nil {
		t.Fatal(err)
	}
	r := e.Run(clitest.Opts{}, "sessions", "prune", "-o", "json")
	var sum struct {
		Sessions, Orphaned, Deleted int
		DryRun                      bool `json:"dry_run"`
	}
	json.Unmarshal([]byte(r.Stdout), &sum)
	if r.Code != 0 || sum.Sessions != 3 || sum.Orphaned != 0 {
		t.Fatalf("young sessions are not orphans (min-age 2m): %+v %s", sum, r.Stderr)
	}
	r = e.Run(clitest.Opts{}, "sessions", "prune", "--min-age", "0s", "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, orphan) || strings.Contains(r.Stdout, active) || strings.Contains(r.Stdout, unclaimed) ||
		!strings.Contains(r.Stderr, "3 sessions, 1 orphaned, 0 deleted") {
		t.Fatalf("dry run: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if e.Sim.Stats().LiveSessions != 3 {
		t.Fatal("dry run deleted something")
	}
	r = e.Run(clitest.Opts{}, "sessions", "prune", "--min-age", "0s", "--yes", "-o", "json")
	json.Unmarshal([]byte(r.Stdout), &sum)
	if r.Code != 0 || sum.Orphaned != 1 || sum.Deleted != 1 || sum.DryRun {
		t.Fatalf("prune --yes: %+v %s", sum, r.Stderr)
	}
	if _, err := e.EG.GetSession(ctx, orphan); !edgegap.IsNotFound(err) {
		t.Fatalf("orphan still exists: %v", err)
	}
	if e.Sim.Stats().LiveSessions != 2 {
		t.Fatalf("prune deleted a session in use")
	}
}

// Sessions of another app in the same organisation are never pruned,
// unless --all-apps.
func TestPruneOnlyOwnApp(t *testing.T) {
	e := setup(t)
	e.Vars["BEVYGAP_APP_NAME"] = ""
	if r := e.Run(clitest.Opts{}, "sessions", "prune"); r.Code != 2 || !strings.Contains(r.Stderr, "--app-name") {
		t.Fatalf("prune without an app: exit %d %s", r.Code, r.Stderr)
	}
	e.Vars["BEVYGAP_APP_NAME"] = edgegapsim.DefaultApp
	if err := e.Sim.AddApp(edgegapsim.App{Name: "other-game", Versions: []edgegapsim.Version{{Name: "v9"}}}); err != nil {
		t.Fatal(err)
	}
	other, err := e.EG.CreateSession(context.Background(), edgegap.SessionRequest{AppName: "other-game", VersionName: "v9", IPList: []string{"1.2.3.4"}})
	if err != nil {
		t.Fatal(err)
	}
	mine := e.create()
	r := e.Run(clitest.Opts{}, "sessions", "prune", "--min-age", "0s", "--yes", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, mine) || strings.Contains(r.Stdout, other.ID) {
		t.Fatalf("prune touched another app or missed ours: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := e.EG.GetSession(context.Background(), other.ID); err != nil {
		t.Fatalf("the other game's session was deleted: %v", err)
	}
	if !strings.Contains(r.Stdout, `"skipped_other_apps": 1`) {
		t.Errorf("skipped count not reported: %s", r.Stdout)
	}
	r = e.Run(clitest.Opts{}, "sessions", "prune", "--min-age", "0s", "--all-apps", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, other.ID) {
		t.Fatalf("--all-apps did not consider it: %s %s", r.Stdout, r.Stderr)
	}
}

func scrubTime(s string) string {
	return clitest.Scrub(timeRE.ReplaceAllString(s, "<created>"))
}
