package deployments_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

type env struct{ *clitest.Stack }

// setup starts a simulator and a NATS server for one test, which runs in
// parallel with the others: the commands see only e.Vars.
func setup(t *testing.T) *env { return setupWith(t, edgegapsim.Config{}) }

func setupWith(t *testing.T, cfg edgegapsim.Config) *env {
	t.Parallel()
	s := clitest.StartStack(t, cli.RunIn, cfg)
	s.Vars["BEVYGAP_APP_VERSION"] = edgegapsim.DefaultVersion
	return &env{s}
}

// deploy starts a deployment with tags and waits until it is ready.
func (e *env) deploy(tags ...string) string {
	e.T.Helper()
	ctx := context.Background()
	d, err := e.EG.CreateDeployment(ctx, edgegap.DeploymentRequest{App: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion,
		Users: []edgegap.DeploymentUser{edgegap.UserAtIP("1.2.3.4")}, Tags: tags})
	if err != nil {
		e.T.Fatal(err)
	}
	natstest.CheckFor(e.T, 10*time.Second, 5*time.Millisecond, func() error {
		st, err := e.EG.DeploymentStatus(ctx, d.RequestID)
		if err == nil && !st.Ready() {
			return errNotReady
		}
		return err
	})
	return d.RequestID
}

var errNotReady = &notReady{}

type notReady struct{}

func (*notReady) Error() string { return "not ready" }

type row struct {
	RequestID string   `json:"request_id"`
	App       string   `json:"app"`
	Version   string   `json:"version"`
	Status    string   `json:"status"`
	Address   string   `json:"address"`
	Location  string   `json:"location"`
	Tags      []string `json:"tags"`
	Started   *string  `json:"started"`
}

func (e *env) ls(args ...string) []row {
	e.T.Helper()
	r := e.Run(clitest.Opts{}, append([]string{"deployments", "ls", "-o", "json"}, args...)...)
	var rows []row
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &rows) != nil {
		e.T.Fatalf("ls %v: exit %d %q %s", args, r.Code, r.Stdout, r.Stderr)
	}
	return rows
}

func ids(rows []row) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.RequestID)
	}
	return out
}

func TestLsGetStop(t *testing.T) {
	e := setup(t)
	r := e.Run(clitest.Opts{}, "deployments", "ls", "-o", "json")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "[]" {
		t.Fatalf("empty ls: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	a := e.deploy(matchmaker.TagBevygap, "bevygap-intent-a")
	b := e.deploy(matchmaker.TagBevygap, "bevygap-intent-b")
	foreign := e.deploy("someone-else")
	for _, c := range []struct {
		name string
		tty  bool
		args []string
	}{
		{"ls.json", false, []string{"deployments", "ls", "-o", "json"}},
		{"ls.tty", true, []string{"deployments", "ls"}},
		{"ls.all.plain", false, []string{"deployments", "ls", "--all"}},
		{"ls.brief.json", false, []string{"deployments", "ls", "--brief", "-o", "json"}},
		{"get.tty", true, []string{"deployments", "get", a}},
	} {
		r := e.Run(clitest.Opts{TTY: c.tty}, c.args...)
		if r.Code != 0 {
			t.Fatalf("%s: exit %d %s", c.name, r.Code, r.Stderr)
		}
		golden.Assert(t, c.name+".golden", []byte(scrub(r.Stdout)))
	}
	rows := e.ls()
	if got := ids(rows); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("ls: %v, want [%s %s]", got, a, b)
	}
	if x := rows[0]; x.App != edgegapsim.DefaultApp || x.Version != edgegapsim.DefaultVersion || x.Status != "ready" ||
		!strings.HasPrefix(x.Address, "127.0.0.1:") || x.Location == "" || x.Started == nil {
		t.Fatalf("row: %+v", x)
	}
	if got := ids(e.ls("--all")); len(got) != 3 || got[2] != foreign {
		t.Fatalf("ls --all: %v", got)
	}
	if got := e.ls("--status", "deploying"); len(got) != 0 {
		t.Fatalf("ls --status deploying: %v", got)
	}
	if got := e.ls("--status", "ready"); len(got) != 2 {
		t.Fatalf("ls --status ready: %v", got)
	}
	if got := e.ls("--older-than", "1h"); len(got) != 0 {
		t.Fatalf("ls --older-than 1h: %v", got)
	}
	if got := e.ls("--older-than", "1ns"); len(got) != 2 {
		t.Fatalf("ls --older-than 1ns: %v", got)
	}
	for _, bad := range [][]string{{"--status", "not ready"}, {"--older-than", "-1s"}} {
		if r := e.Run(clitest.Opts{}, append([]string{"deployments", "ls"}, bad...)...); r.Code != 2 {
			t.Errorf("ls %v: exit %d %s", bad, r.Code, r.Stderr)
		}
	}
	r = e.Run(clitest.Opts{}, "deployments", "get", a, "-o", "json")
	var st edgegap.DeploymentStatus
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.RequestID != a || st.CurrentStatus != edgegap.StatusReady || len(st.Ports) == 0 {
		t.Fatalf("get json: %q %v", r.Stdout, err)
	}
	if r := e.Run(clitest.Opts{}, "deployments", "get", "000000000000"); r.Code != 1 || !strings.Contains(r.Stderr, "404") {
		t.Fatalf("get unknown: exit %d %q", r.Code, r.Stderr)
	}

	// Off a terminal, stop needs --yes; stop reports per id.
	if r := e.Run(clitest.Opts{}, "deployments", "stop", a); r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
		t.Fatalf("stop without --yes: exit %d %q", r.Code, r.Stderr)
	}
	r = e.Run(clitest.Opts{}, "deployments", "stop", "--yes", a, "000000000000", "-o", "json")
	golden.Assert(t, "stop.json.golden", []byte(r.Stdout))
	if r.Code != 0 {
		t.Fatalf("stop: exit %d %s", r.Code, r.Stderr)
	}
	if got := ids(e.ls("--all")); len(got) != 2 || got[0] != b {
		t.Fatalf("after stop: %v", got)
	}
	// Ids from standard input, with "-"; duplicates stopped once.
	r = e.Run(clitest.Opts{Stdin: b + "\n" + foreign + " " + b + "\n"}, "deployments", "stop", "--yes", "-")
	if r.Code != 0 || strings.Count(r.Stdout, "stopped") != 2 {
		t.Fatalf("stop -: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if got := e.ls("--all"); len(got) != 0 {
		t.Fatalf("after stop -: %v", got)
	}
	if r := e.Run(clitest.Opts{Stdin: " \n"}, "deployments", "stop", "--yes", "-"); r.Code != 2 {
		t.Fatalf("stop - with nothing: exit %d %s", r.Code, r.Stderr)
	}
}

// On a terminal stop asks; "n" stops nothing.
func TestStopConfirms(t *testing.T) {
	e := setup(t)
	id := e.deploy(matchmaker.TagBevygap)
	r := e.Run(clitest.Opts{TTY: true, Stdin: "n\n"}, "deployments", "stop", id)
	// A declined prompt is a quiet cancel: exit 2, no error line, nothing stopped.
	if r.Code != 2 || !strings.Contains(r.Stderr, "Stop 1 Edgegap deployment(s)?") || strings.Contains(r.Stderr, "Error") || len(e.ls()) != 1 {
		t.Fatalf("declined: exit %d %q", r.Code, r.Stderr)
	}
	r = e.Run(clitest.Opts{TTY: true, Stdin: "y\n"}, "deployments", "stop", id)
	if r.Code != 0 || !strings.Contains(r.Stdout, "stopped") || len(e.ls()) != 0 {
		t.Fatalf("confirmed: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
}

// A deployment not ready yet is "stopping": Edgegap stops it once ready.
func TestStopBeforeReady(t *testing.T) {
	e := setupWith(t, edgegapsim.Config{DeployDelay: time.Hour})
	d, err := e.EG.CreateDeployment(context.Background(), edgegap.DeploymentRequest{App: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion,
		Users: []edgegap.DeploymentUser{edgegap.UserAtIP("1.2.3.4")}, Tags: []string{matchmaker.TagBevygap}})
	if err != nil {
		t.Fatal(err)
	}
	if rows := e.ls("--status", "deploying"); len(rows) != 1 || rows[0].Status != "deploying" {
		t.Fatalf("deploying: %+v", rows)
	}
	r := e.Run(clitest.Opts{}, "deployments", "stop", "--yes", d.RequestID)
	if r.Code != 0 || !strings.Contains(r.Stdout, d.RequestID+"\tstopping") {
		t.Fatalf("stop before ready: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestWrongKeyExits4(t *testing.T) {
	e := setup(t)
	e.Vars["EDGEGAP_API_KEY"] = "token wrong-key"
	for _, args := range [][]string{
		{"deployments", "ls", "-o", "json"}, {"deployments", "get", "000000000000"},
		{"deployments", "stop", "--yes", "000000000000"}, {"deployments", "prune"},
	} {
		r := e.Run(clitest.Opts{}, args...)
		if r.Code != 4 || !strings.Contains(r.Stderr, "refused the API key") || strings.Contains(r.Stderr, "wrong-key") {
			t.Errorf("%v with a wrong key: exit %d %q", args, r.Code, r.Stderr)
		}
	}
	e.Vars["EDGEGAP_API_KEY"] = ""
	if r := e.Run(clitest.Opts{}, "deployments", "ls"); r.Code != 4 || !strings.Contains(r.Stderr, "EDGEGAP_API_KEY") {
		t.Fatalf("no key: exit %d %q", r.Code, r.Stderr)
	}
}

// prune follows the fleet reconciler: it stops this scope's tagged
// deployment that no ledger record explains, leaves alone the recorded
// one, another version's and someone else's, and acts only with --yes.
func TestPrune(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	scope := matchmaker.ScopeTag("", edgegapsim.DefaultApp, edgegapsim.DefaultVersion)
	orphan := e.deploy(matchmaker.TagBevygap, scope, matchmaker.TagIntent+"nobody")
	recorded := e.deploy(matchmaker.TagBevygap, scope, matchmaker.TagIntent+"rec1")
	otherVersion := e.deploy(matchmaker.TagBevygap, matchmaker.ScopeTag("", edgegapsim.DefaultApp, "0"), matchmaker.TagIntent+"old")
	foreign := e.deploy("someone-else")
	led, err := state.OpenFleet(ctx, e.Store.JS, state.Names{}, state.FleetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := led.Create(ctx, &state.Deployment{ID: "rec1", RequestID: recorded, App: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion,
		State: state.DeploymentReady, Capacity: 6}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Scope  string `json:"scope"`
		Listed int    `json:"listed"`
		DryRun bool   `json:"dry_run"`
		Items  []struct {
			Action, Result, Why string
			RequestID           string `json:"request_id"`
		} `json:"items"`
		Stopped int `json:"stopped"`
	}
	prune := func(args ...string) (result, clitest.Result) {
		t.Helper()
		r := e.Run(clitest.Opts{}, append([]string{"deployments", "prune", "-o", "json"}, args...)...)
		var res result
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
			t.Fatalf("prune %v: exit %d %q %s", args, r.Code, r.Stdout, r.Stderr)
		}
		return res, r
	}
	// Young deployments are not touched (the default --older-than is 2m).
	if res, r := prune(); r.Code != 0 || res.Listed != 2 || len(res.Items) != 0 || !res.DryRun || res.Scope != scope {
		t.Fatalf("young: %+v %s", res, r.Stderr)
	}
	res, r := prune("--older-than", "1ms")
	if r.Code != 0 || len(res.Items) != 1 || res.Items[0].RequestID != orphan || res.Items[0].Action != "stop" ||
		res.Items[0].Result != "would_stop" || !strings.Contains(res.Items[0].Why, "no ledger record") {
		t.Fatalf("dry run: %+v %s", res, r.Stderr)
	}
	if n := e.Sim.Stats().LiveDeployments; n != 4 {
		t.Fatalf("dry run stopped something: %d live", n)
	}
	r = e.Run(clitest.Opts{}, "deployments", "prune", "--older-than", "1ms")
	if r.Code != 0 || !strings.Contains(r.Stdout, orphan) || !strings.Contains(r.Stdout, "would stop") ||
		!strings.Contains(r.Stderr, "2 deployments of scope "+scope+" listed: 1 to stop, 0 records to retire, 0 to adopt (dry run: --yes acts)") {
		t.Fatalf("dry run table: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	res, r = prune("--older-than", "1ms", "--yes")
	if r.Code != 0 || res.DryRun || res.Stopped != 1 || len(res.Items) != 1 || res.Items[0].Result != "stopped" {
		t.Fatalf("prune --yes: %+v %s", res, r.Stderr)
	}
	got := ids(e.ls("--all"))
	if len(got) != 3 || strings.Contains(strings.Join(got, " "), orphan) {
		t.Fatalf("after prune: %v, want %s, %s and %s", got, recorded, otherVersion, foreign)
	}
	for _, bad := range [][]string{{"--yes", "--dry-run"}, {"--older-than", "0s"}} {
		if r := e.Run(clitest.Opts{}, append([]string{"deployments", "prune"}, bad...)...); r.Code != 2 {
			t.Errorf("prune %v: exit %d %s", bad, r.Code, r.Stderr)
		}
	}
	delete(e.Vars, "BEVYGAP_APP_VERSION")
	if r := e.Run(clitest.Opts{}, "deployments", "prune"); r.Code != 2 || !strings.Contains(r.Stderr, "--app-version") {
		t.Fatalf("prune without a version: exit %d %s", r.Code, r.Stderr)
	}
}

func scrub(s string) string {
	return clitest.Scrub(simTime.ReplaceAllString(s, "<started>"))
}

// `deployments get <TAB>` and `deployments stop <TAB>` (through cobra's
// __complete) offer the request ids Edgegap lists, and no files.
func TestCompletesDeploymentIDs(t *testing.T) {
	e := setup(t)
	id := e.deploy(matchmaker.TagBevygap)
	for _, verb := range []string{"get", "stop"} {
		r := e.Run(clitest.Opts{}, "__complete", "deployments", verb, "")
		if !strings.Contains(r.Stdout, id+"\t") || !strings.HasSuffix(r.Stdout, ":4\n") {
			t.Fatalf("deployments %s <TAB>: exit %d %q %q", verb, r.Code, r.Stdout, r.Stderr)
		}
	}
	// get takes one id: nothing more once it is given.
	if r := e.Run(clitest.Opts{}, "__complete", "deployments", "get", id, ""); strings.Contains(r.Stdout, id) {
		t.Fatalf("deployments get %s <TAB> offers more: %q", id, r.Stdout)
	}
}
