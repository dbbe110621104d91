package sessions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

type env struct {
	t     *testing.T
	sim   *edgegapsim.Server
	eg    *edgegap.Client
	store *state.Store
	vars  map[string]string // the commands' whole environment
}

// setup starts a simulator and a NATS server for one test, which runs in
// parallel with the others: the commands see only e.vars.
func setup(t *testing.T) *env {
	t.Parallel()
	sim, err := edgegapsim.Start(context.Background(), edgegapsim.Config{Seed: 7, RateLimits: &edgegapsim.RateLimits{}})
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
	return &env{t: t, sim: sim, eg: eg, store: store, vars: vars}
}

func (e *env) run(o clitest.Opts, args ...string) clitest.Result {
	e.t.Helper()
	if o.Env == nil {
		o.Env = e.vars
	}
	return clitest.Exec(e.t, cli.RunIn, o, args...)
}

func (e *env) create() string {
	e.t.Helper()
	s, err := e.eg.CreateSession(context.Background(), edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"1.2.3.4"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return s.ID
}

func TestLsGetRm(t *testing.T) {
	e := setup(t)
	r := e.run(clitest.Opts{}, "sessions", "ls", "-o", "json")
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
		r := e.run(clitest.Opts{TTY: c.tty}, c.args...)
		if r.Code != 0 {
			t.Fatalf("%s: exit %d %s", c.name, r.Code, r.Stderr)
		}
		golden.Assert(t, c.name+".golden", []byte(scrubTime(r.Stdout)))
	}
	r = e.run(clitest.Opts{}, "sessions", "get", ids[0], "-o", "json")
	var s edgegap.Session
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil || s.Deployment == nil || s.Deployment.PublicIP != "127.0.0.1" || len(s.Deployment.Ports) == 0 {
		t.Fatalf("get json: %q %v", r.Stdout, err)
	}
	r = e.run(clitest.Opts{}, "sessions", "rm", ids[0])
	if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
		t.Fatalf("rm without --yes: exit %d %q", r.Code, r.Stderr)
	}
	r = e.run(clitest.Opts{}, "sessions", "rm", "--yes", ids[0], "000000000000-S", "-o", "json")
	golden.Assert(t, "rm.json.golden", []byte(r.Stdout))
	if r.Code != 0 || e.sim.Stats().LiveSessions != 1 {
		t.Fatalf("rm: exit %d, live %d", r.Code, e.sim.Stats().LiveSessions)
	}
	r = e.run(clitest.Opts{}, "sessions", "get", "000000000000-S")
	if r.Code != 1 || !strings.Contains(r.Stderr, "404") {
		t.Fatalf("get missing: exit %d %q", r.Code, r.Stderr)
	}
}

func TestWrongKeyExits4(t *testing.T) {
	e := setup(t)
	e.vars["EDGEGAP_API_KEY"] = "token wrong-key"
	r := e.run(clitest.Opts{}, "sessions", "ls", "-o", "json")
	if r.Code != 4 || !strings.Contains(r.Stderr, "refused the API key") || strings.Contains(r.Stderr, "wrong-key") {
		t.Fatalf("wrong key: exit %d %q", r.Code, r.Stderr)
	}
	e.vars["EDGEGAP_API_KEY"] = ""
	r = e.run(clitest.Opts{}, "sessions", "ls")
	if r.Code != 4 || !strings.Contains(r.Stderr, "EDGEGAP_API_KEY") {
		t.Fatalf("no key: exit %d %q", r.Code, r.Stderr)
	}
}

// prune deletes only sessions nothing else will clean up.
func TestPrune(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	active, unclaimed, orphan := e.create(), e.create(), e.create()
	if err := e.store.PutActive(ctx, active, 42); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutUnclaimed(ctx, unclaimed); err != nil {
		t.Fatal(err)
	}
	r := e.run(clitest.Opts{}, "sessions", "prune", "-o", "json")
	var sum struct {
		Sessions, Orphaned, Deleted int
		DryRun                      bool `json:"dry_run"`
	}
	json.Unmarshal([]byte(r.Stdout), &sum)
	if r.Code != 0 || sum.Sessions != 3 || sum.Orphaned != 0 {
		t.Fatalf("young sessions are not orphans (min-age 2m): %+v %s", sum, r.Stderr)
	}
	r = e.run(clitest.Opts{}, "sessions", "prune", "--min-age", "0s", "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, orphan) || strings.Contains(r.Stdout, active) || strings.Contains(r.Stdout, unclaimed) ||
		!strings.Contains(r.Stderr, "3 sessions, 1 orphaned, 0 deleted") {
		t.Fatalf("dry run: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if e.sim.Stats().LiveSessions != 3 {
		t.Fatal("dry run deleted something")
	}
	r = e.run(clitest.Opts{}, "sessions", "prune", "--min-age", "0s", "--yes", "-o", "json")
	json.Unmarshal([]byte(r.Stdout), &sum)
	if r.Code != 0 || sum.Orphaned != 1 || sum.Deleted != 1 || sum.DryRun {
		t.Fatalf("prune --yes: %+v %s", sum, r.Stderr)
	}
	if _, err := e.eg.GetSession(ctx, orphan); !edgegap.IsNotFound(err) {
		t.Fatalf("orphan still exists: %v", err)
	}
	if e.sim.Stats().LiveSessions != 2 {
		t.Fatalf("prune deleted a session in use")
	}
}

// Sessions of another app in the same organisation are never pruned,
// unless --all-apps.
func TestPruneOnlyOwnApp(t *testing.T) {
	e := setup(t)
	e.vars["BEVYGAP_APP_NAME"] = ""
	if r := e.run(clitest.Opts{}, "sessions", "prune"); r.Code != 2 || !strings.Contains(r.Stderr, "--app-name") {
		t.Fatalf("prune without an app: exit %d %s", r.Code, r.Stderr)
	}
	e.vars["BEVYGAP_APP_NAME"] = edgegapsim.DefaultApp
	if err := e.sim.AddApp(edgegapsim.App{Name: "other-game", Versions: []edgegapsim.Version{{Name: "v9"}}}); err != nil {
		t.Fatal(err)
	}
	other, err := e.eg.CreateSession(context.Background(), edgegap.SessionRequest{AppName: "other-game", VersionName: "v9", IPList: []string{"1.2.3.4"}})
	if err != nil {
		t.Fatal(err)
	}
	mine := e.create()
	r := e.run(clitest.Opts{}, "sessions", "prune", "--min-age", "0s", "--yes", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, mine) || strings.Contains(r.Stdout, other.ID) {
		t.Fatalf("prune touched another app or missed ours: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := e.eg.GetSession(context.Background(), other.ID); err != nil {
		t.Fatalf("the other game's session was deleted: %v", err)
	}
	if !strings.Contains(r.Stdout, `"skipped_other_apps": 1`) {
		t.Errorf("skipped count not reported: %s", r.Stdout)
	}
	r = e.run(clitest.Opts{}, "sessions", "prune", "--min-age", "0s", "--all-apps", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, other.ID) {
		t.Fatalf("--all-apps did not consider it: %s %s", r.Stdout, r.Stderr)
	}
}

func scrubTime(s string) string {
	return clitest.Scrub(timeRE.ReplaceAllString(s, "<created>"))
}
