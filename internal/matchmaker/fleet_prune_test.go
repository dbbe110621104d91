package matchmaker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

// Distinct namespaces, apps and versions never share a scope tag (the
// reconciler of one would stop the other's deployments), even when their
// names share a long prefix.
func TestScopeTagsAreDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, s := range [][3]string{
		{"", "bevygap-spaceships", "1"}, {"", "bevygap-spaceships", "2"}, {"", "bevygap-spaceships-b", "1"},
		{"production", "game", "v1"}, {"production2", "game", "v1"}, {"", "production\x00game", "v1"},
	} {
		tag := ScopeTag(s[0], s[1], s[2])
		if other, dup := seen[tag]; dup {
			t.Errorf("%q and %s share scope tag %s", s, other, tag)
		}
		seen[tag] = strings.Join(s[:], "/")
		if _, err := (edgegap.DeploymentQuery{Tags: []string{tag}}).Encode(); err != nil {
			t.Errorf("scope tag %q is not a valid tag: %v", tag, err)
		}
	}
	// Running deployments carry it: it must not change between releases.
	if got := ScopeTag("", "bevygap-spaceships", "1"); got != "bevygap-scope-d63b62799a87a45a" {
		t.Errorf("scope tag %s changed", got)
	}
}

// ReconcileFleet, without a running matchmaker: a dry run reports what the
// reconciler would do and why, and changes nothing; then it stops the
// tagged deployment nobody records, retires the record Edgegap no longer
// lists, adopts the deployment of a lost answer, and leaves alone the
// deployments of another version and without bevygap's tags.
func TestReconcileFleet(t *testing.T) {
	s := newStack(t, edgegapsim.Config{Apps: []edgegapsim.App{{Name: edgegapsim.DefaultApp,
		Versions: []edgegapsim.Version{{Name: edgegapsim.DefaultVersion}, {Name: "2", NoSessionConfig: true}}}}})
	ctx := context.Background()
	led := s.ledger()
	scope := ScopeTag("", edgegapsim.DefaultApp, edgegapsim.DefaultVersion)
	deploy := func(version string, tags ...string) string {
		t.Helper()
		d, err := s.eg.CreateDeployment(ctx, edgegap.DeploymentRequest{App: edgegapsim.DefaultApp, Version: version,
			Users: []edgegap.DeploymentUser{edgegap.UserAtIP("1.2.3.4")}, Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		return d.RequestID
	}
	record := func(d *state.Deployment) {
		t.Helper()
		d.App, d.Capacity = edgegapsim.DefaultApp, 6
		if d.Version == "" {
			d.Version = edgegapsim.DefaultVersion
		}
		if err := led.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	orphan := deploy(edgegapsim.DefaultVersion, TagBevygap, scope, TagIntent+"nobody")
	deploy(edgegapsim.DefaultVersion, TagBevygap, scope, TagIntent+"lost")
	record(&state.Deployment{ID: "lost", State: state.DeploymentRequested, Reason: "create outcome unknown"})
	record(&state.Deployment{ID: "vanished", RequestID: "0123456789ab", State: state.DeploymentReady})
	// Version 2's running deployment and record, and a deployment of
	// someone else: none of this scope.
	v2scope := ScopeTag("", edgegapsim.DefaultApp, "2")
	v2 := deploy("2", TagBevygap, v2scope, TagIntent+"v2rec")
	record(&state.Deployment{ID: "v2rec", Version: "2", RequestID: v2, State: state.DeploymentReady})
	foreign := deploy(edgegapsim.DefaultVersion, "other")
	time.Sleep(60 * time.Millisecond) // past the grace

	cfg := s.config()
	cfg.PrivateKey = netcode.PrivateKey{} // prune mints no token: no key needed
	// Within the grace nothing is stopped or retired (an answer may be on
	// its way); adopting is safe at any age.
	cfg.Fleet.ReconcileGrace = time.Hour
	if young, err := ReconcileFleet(ctx, cfg, true); err != nil || young.Listed != 2 || len(young.Items) != 1 || young.Items[0].Action != PruneAdopt {
		t.Fatalf("within the grace: %+v %v", young, err)
	}
	cfg.Fleet.ReconcileGrace = 50 * time.Millisecond
	dry, err := ReconcileFleet(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[FleetPruneAction]string{PruneStop: orphan, PruneRetire: "vanished", PruneAdopt: "lost"}
	if !dry.DryRun || dry.Listed != 2 || len(dry.Items) != 3 || dry.Scope != scope {
		t.Fatalf("dry run: %+v", dry)
	}
	for _, it := range dry.Items {
		id := it.RequestID
		if it.Action != PruneStop {
			id = it.Record
		}
		if want[it.Action] != id || !strings.HasPrefix(it.Result, "would_") || it.Why == "" || it.Started == nil {
			t.Errorf("dry run item %+v", it)
		}
	}
	if n := s.sim.Stats().LiveDeployments; n != 4 {
		t.Fatalf("dry run stopped something: %d live", n)
	}
	if d, _ := led.Get(ctx, "vanished"); d.State != state.DeploymentReady {
		t.Fatalf("dry run retired a record: %+v", d)
	}

	res, err := ReconcileFleet(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.DryRun || res.Stopped != 1 || res.Failed != 0 || len(res.Items) != 3 {
		t.Fatalf("prune: %+v", res)
	}
	for _, it := range res.Items {
		switch it.Action {
		case PruneStop:
			if it.Result != "stopped" || !strings.Contains(it.Why, "no ledger record") {
				t.Errorf("stop: %+v", it)
			}
		case PruneRetire:
			if it.Result != "retired" {
				t.Errorf("retire: %+v", it)
			}
		case PruneAdopt:
			if it.Result != "adopted" || it.RequestID == "" {
				t.Errorf("adopt: %+v", it)
			}
		}
	}
	if _, err := s.eg.DeploymentStatus(ctx, orphan); !edgegap.IsNotFound(err) {
		st, _ := s.eg.DeploymentStatus(ctx, orphan)
		if st == nil || st.CurrentStatus != "Status.TERMINATED" {
			t.Fatalf("orphan still runs: %+v %v", st, err)
		}
	}
	for id, st := range map[string]state.DeploymentState{"vanished": state.DeploymentGone, "v2rec": state.DeploymentReady} {
		if d, err := led.Get(ctx, id); err != nil || d.State != st {
			t.Errorf("record %s: %+v %v, want %s", id, d, err, st)
		}
	}
	if d, err := led.Get(ctx, "lost"); err != nil || d.RequestID == "" || d.Reason != "" {
		t.Errorf("lost intent not adopted: %+v %v", d, err)
	}
	for _, id := range []string{v2, foreign} {
		if st, err := s.eg.DeploymentStatus(ctx, id); err != nil || st.CurrentStatus == "Status.TERMINATED" {
			t.Errorf("%s of another scope touched: %+v %v", id, st, err)
		}
	}
	// Nothing left to do: a second run is empty.
	again, err := ReconcileFleet(ctx, cfg, false)
	if err != nil || len(again.Items) != 0 {
		t.Fatalf("second run: %+v %v", again, err)
	}
}

// A refused key stops the reconciliation with the error, before anything.
func TestReconcileFleetUnauthorized(t *testing.T) {
	s := newStack(t, edgegapsim.Config{})
	cfg := s.config()
	c, err := edgegap.New(edgegap.Config{BaseURL: s.sim.URL(), APIKey: "token nope"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	cfg.Edgegap = c
	if _, err := ReconcileFleet(context.Background(), cfg, false); !edgegap.IsUnauthorized(err) {
		t.Fatalf("err %v, want unauthorized", err)
	}
}
