package matchmaker

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// Reconcile sorts every session against the ledger, deletes only the
// orphans of the selected app, and says why it kept the others.
func TestReconcile(t *testing.T) {
	s := newStack(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}})
	ctx := context.Background()
	if err := s.sim.AddApp(edgegapsim.App{Name: "other-game", Versions: []edgegapsim.Version{{Name: "v9"}}}); err != nil {
		t.Fatal(err)
	}
	create := func(app, version string) string {
		t.Helper()
		sess, err := s.eg.CreateSession(ctx, edgegap.SessionRequest{AppName: app, VersionName: version, IPList: []string{"1.2.3.4"}})
		if err != nil {
			t.Fatal(err)
		}
		return sess.ID
	}
	connected, unclaimed := create(edgegapsim.DefaultApp, edgegapsim.DefaultVersion), create(edgegapsim.DefaultApp, edgegapsim.DefaultVersion)
	orphan, other := create(edgegapsim.DefaultApp, edgegapsim.DefaultVersion), create("other-game", "v9")
	if err := s.store.PutActive(ctx, connected, 42); err != nil {
		t.Fatal(err)
	}
	if err := s.store.PutUnclaimed(ctx, unclaimed); err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(time.Hour) }
	reconcile := func(o ReconcileOptions) *ReconcileResult {
		t.Helper()
		res, err := Reconcile(ctx, s.eg, s.store, o)
		if err != nil {
			t.Fatalf("Reconcile(%+v): %v", o, err)
		}
		return res
	}
	kept := func(res *ReconcileResult, want map[Verdict]int) {
		t.Helper()
		if !maps.Equal(res.Kept, want) {
			t.Errorf("kept %v, want %v", res.Kept, want)
		}
	}

	// Young sessions are spared: their ledger entry may not be written yet.
	res := reconcile(ReconcileOptions{AppName: edgegapsim.DefaultApp, MinAge: 2 * time.Hour, DryRun: true, Now: later})
	kept(res, map[Verdict]int{VerdictConnected: 1, VerdictUnclaimed: 1, VerdictOtherApp: 1, VerdictYoung: 1})
	if res.Sessions != 4 || len(res.Orphans) != 0 {
		t.Errorf("young: %+v", res)
	}

	// Dry run: the orphan is reported, nothing is deleted.
	res = reconcile(ReconcileOptions{AppName: edgegapsim.DefaultApp, MinAge: time.Minute, DryRun: true, Now: later})
	kept(res, map[Verdict]int{VerdictConnected: 1, VerdictUnclaimed: 1, VerdictOtherApp: 1})
	if len(res.Orphans) != 1 || res.Orphans[0].SessionID != orphan || res.Orphans[0].Result != WouldDelete || res.Deleted != 0 || !res.DryRun {
		t.Errorf("dry run: %+v", res)
	}
	if o := res.Orphans[0]; o.Deployment == "" || o.Created.IsZero() || later().Sub(o.Created) < time.Hour {
		t.Errorf("orphan details: %+v", o)
	}
	if n := s.sim.Stats().LiveSessions; n != 4 {
		t.Fatalf("dry run deleted something: %d live", n)
	}

	// Another version of the app is not ours either.
	res = reconcile(ReconcileOptions{AppName: edgegapsim.DefaultApp, AppVersion: "v-other", DryRun: true, Now: later})
	kept(res, map[Verdict]int{VerdictConnected: 1, VerdictUnclaimed: 1, VerdictOtherApp: 2})

	// Every app: the other game's session is an orphan too.
	res = reconcile(ReconcileOptions{AllApps: true, DryRun: true, Now: later})
	if len(res.Orphans) != 2 || res.Kept[VerdictOtherApp] != 0 {
		t.Errorf("all apps: %+v", res)
	}

	// For real: only our orphan goes.
	res = reconcile(ReconcileOptions{AppName: edgegapsim.DefaultApp, Now: later})
	if len(res.Orphans) != 1 || res.Orphans[0].Result != Deleted || res.Deleted != 1 || res.Failed != 0 || res.DryRun {
		t.Errorf("delete: %+v", res)
	}
	if _, err := s.eg.GetSession(ctx, orphan); !edgegap.IsNotFound(err) {
		t.Errorf("orphan still exists: %v", err)
	}
	for _, id := range []string{connected, unclaimed, other} {
		if _, err := s.eg.GetSession(ctx, id); err != nil {
			t.Errorf("session %s was deleted: %v", id, err)
		}
	}

	// The other game's session is not this ledger's: delete it by hand (the
	// stack's leak check would count it), and a second delete is already gone.
	dels, failed := DeleteSessions(ctx, s.eg, []string{other, other})
	if failed != 0 || len(dels) != 2 || dels[0].Result != Deleted || dels[1].Result != AlreadyGone {
		t.Errorf("DeleteSessions: %+v, %d failed", dels, failed)
	}
}

func TestReconcileOptions(t *testing.T) {
	for _, c := range []struct {
		o    ReconcileOptions
		want string
	}{
		{ReconcileOptions{}, "app-name is required"},
		{ReconcileOptions{AppName: "a", MinAge: -time.Second}, "min-age -1s must not be negative"},
	} {
		// Refused before any call: no client is needed.
		if _, err := Reconcile(context.Background(), nil, nil, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

// An unauthorized key stops DeleteSessions at the first failure.
func TestDeleteSessionsStopsOnBadKey(t *testing.T) {
	s := newStack(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}})
	bad, err := edgegap.New(edgegap.Config{BaseURL: s.sim.URL(), APIKey: "token wrong"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bad.CloseIdleConnections)
	dels, failed := DeleteSessions(context.Background(), bad, []string{"a-S", "b-S"})
	if failed != 1 || len(dels) != 1 || dels[0].Result != DeleteFail || dels[0].Error == "" {
		t.Errorf("bad key: %+v, %d failed", dels, failed)
	}
}
