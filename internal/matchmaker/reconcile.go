package matchmaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/state"
)

// This file is the cleanup of last resort: reconciling Edgegap against the
// NATS ledger. The watchers and the delete worker (cleanup.go) delete every
// session whose life they saw; a session created while no ledger entry was
// written (a crash between the Edgegap call and the KV write, a wiped NATS,
// a session made by hand) is in neither bucket and would keep a paid server
// alive forever. Reconcile finds those orphans and, unless DryRun, deletes
// them. `bevygap sessions prune` runs it once; the matchmaker runs it at
// start and every ReconcileInterval, one replica at a time
// (reconcileSessions). Each session create is recorded as an intent before
// Edgegap is asked (state.Intents): an orphan created while such a create's
// answer was lost is attributed to it (Orphan.Intent), and stale intents
// are resolved.

// Verdict says why Reconcile left a session alone or called it an orphan.
type Verdict string

// Verdicts, in the order Reconcile checks them.
const (
	// VerdictConnected: a client is connected (active_connections).
	VerdictConnected Verdict = "connected"
	// VerdictUnclaimed: in unclaimed_sessions, so the reaper deletes it.
	VerdictUnclaimed Verdict = "unclaimed"
	// VerdictOtherApp: another app or version, or not placed yet (its app is
	// unknown): not this NATS's to delete.
	VerdictOtherApp Verdict = "other_app"
	// VerdictGone: it ended while Reconcile looked.
	VerdictGone Verdict = "gone"
	// VerdictYoung: younger than MinAge, or a create of this app is still
	// running (an open intent): its ledger entry may not be written yet.
	VerdictYoung Verdict = "young"
	// VerdictOrphaned: nothing will ever delete it.
	VerdictOrphaned Verdict = "orphaned"
)

// DeleteResult is the outcome of deleting one session.
type DeleteResult string

// Delete results.
const (
	WouldDelete DeleteResult = "would_delete" // dry run
	Deleted     DeleteResult = "deleted"
	AlreadyGone DeleteResult = "already_gone" // 404 or 410: counts as deleted
	DeleteFail  DeleteResult = "failed"
)

// ReconcileOptions select what Reconcile considers and whether it deletes.
type ReconcileOptions struct {
	// AppName (required unless AllApps) limits Reconcile to sessions whose
	// deployment runs this app: other games of the same Edgegap
	// organisation are not in this NATS and must not be touched.
	AppName string
	// AppVersion, when set, limits it further to one version.
	AppVersion string
	// AllApps considers every session of the organisation.
	AllApps bool
	// MinAge spares sessions younger than this.
	MinAge time.Duration
	// IntentWindow is how long an unresolved create intent may explain (and
	// protect) a session created around it; 0 means DefaultIntentWindow.
	IntentWindow time.Duration
	// DryRun only reports the orphans (their Result is WouldDelete).
	DryRun bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Orphan is a session nothing else will delete.
type Orphan struct {
	SessionID  string
	Status     string
	Deployment string // deployment request id
	Created    time.Time
	Result     DeleteResult
	Error      string // when Result is DeleteFail
	// Intent is the unresolved create this session is the ghost of (the
	// matchmaker never got or never recorded Edgegap's answer), if any.
	Intent *state.Intent
}

// ReconcileResult is what Reconcile found and did.
type ReconcileResult struct {
	// Sessions is how many sessions Edgegap listed.
	Sessions int
	// Kept counts the sessions left alone, by verdict.
	Kept map[Verdict]int
	// Orphans are the sessions with VerdictOrphaned, in Edgegap's order.
	Orphans []Orphan
	// Deleted counts the orphans deleted or already gone, Failed those
	// whose delete failed.
	Deleted, Failed int
	DryRun          bool
	// Ghosts counts the orphans attributed to an unresolved create intent;
	// IntentsResolved the stale intents removed.
	Ghosts, IntentsResolved int
}

// DefaultIntentWindow is how long after an intent a session it made may
// carry as its create time: the create call's own bound, plus slack for the
// clock of Edgegap against ours.
const DefaultIntentWindow = edgegap.DefaultTimeout + 30*time.Second

// Reconcile lists every Edgegap session and sorts each against the NATS
// ledger (store): connected, unclaimed, another app's, gone, young or
// orphaned. Unless o.DryRun it deletes the orphans. An error reading
// Edgegap or NATS stops it (nothing is deleted then); failed deletes are
// counted in the result, not returned.
func Reconcile(ctx context.Context, eg *edgegap.Client, store *state.Store, o ReconcileOptions) (*ReconcileResult, error) {
	if !o.AllApps && o.AppName == "" {
		return nil, errors.New("reconcile: app-name is required (or all apps)")
	}
	if o.MinAge < 0 {
		return nil, fmt.Errorf("reconcile: min-age %v must not be negative", o.MinAge)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IntentWindow <= 0 {
		o.IntentWindow = DefaultIntentWindow
	}
	all, err := eg.ListAllSessions(ctx)
	if err != nil {
		return nil, err
	}
	intents, err := store.Intents(ctx)
	if err != nil {
		return nil, err
	}
	open, err := intents.List(ctx)
	if err != nil {
		return nil, err
	}
	r := &reconciler{eg: eg, store: store, o: o, now: o.Now(), ours: map[string]bool{}}
	res := &ReconcileResult{Sessions: len(all), Kept: map[Verdict]int{}, Orphans: []Orphan{}, DryRun: o.DryRun}
	if err := r.sort(ctx, all, open, res); err != nil {
		return nil, err
	}
	if o.DryRun {
		return res, nil
	}
	res.IntentsResolved = r.resolveStale(ctx, intents, open)
	if len(res.Orphans) == 0 {
		return res, nil
	}
	ids := make([]string, len(res.Orphans))
	for i, x := range res.Orphans {
		ids[i] = x.SessionID
	}
	dels, failed := DeleteSessions(ctx, eg, ids)
	res.Failed = failed
	for i, d := range dels {
		res.Orphans[i].Result, res.Orphans[i].Error = d.Result, d.Error
		if d.Result != DeleteFail {
			res.Deleted++
		}
	}
	return res, nil
}

// reconciler is the state of one Reconcile.
type reconciler struct {
	eg    *edgegap.Client
	store *state.Store
	o     ReconcileOptions
	now   time.Time
	ours  map[string]bool // deployment request id -> of the selected app
}

// sort gives every listed session its verdict into res: kept by verdict,
// or an orphan (attributed to the lost create it is the ghost of, if any).
// The intents are read after the sessions were listed: a create that
// resolved its intent meanwhile had already recorded its session.
func (r *reconciler) sort(ctx context.Context, all []edgegap.SessionSummary, open []state.Intent, res *ReconcileResult) error {
	for _, s := range all {
		v, created, err := r.classify(ctx, s)
		if err != nil {
			return err
		}
		if v != VerdictOrphaned {
			res.Kept[v]++
			continue
		}
		if r.inFlight(open, created) {
			// A create of ours is still running and may yet record it.
			res.Kept[VerdictYoung]++
			continue
		}
		orphan := Orphan{SessionID: s.ID, Status: s.Status, Deployment: s.DeploymentRequestID, Created: created, Result: WouldDelete}
		if in := r.ghostOf(open, created); in != nil {
			orphan.Intent = in
			res.Ghosts++
		}
		res.Orphans = append(res.Orphans, orphan)
	}
	return nil
}

// classify gives a session its verdict (and, when orphaned, its creation
// time). Cheap checks (NATS) come before Edgegap calls.
func (r *reconciler) classify(ctx context.Context, s edgegap.SessionSummary) (Verdict, time.Time, error) {
	if _, err := r.store.ActiveClient(ctx, s.ID); err == nil {
		return VerdictConnected, time.Time{}, nil
	} else if !errors.Is(err, state.ErrNotFound) {
		return "", time.Time{}, err
	}
	unclaimed, err := r.store.IsUnclaimed(ctx, s.ID)
	if err != nil {
		return "", time.Time{}, err
	}
	if unclaimed {
		return VerdictUnclaimed, time.Time{}, nil
	}
	mine, err := r.isOurs(ctx, s.DeploymentRequestID)
	if err != nil {
		return "", time.Time{}, err
	}
	if !mine {
		return VerdictOtherApp, time.Time{}, nil
	}
	full, err := r.eg.GetSession(ctx, s.ID)
	if edgegap.IsNotFound(err) || edgegap.IsGone(err) {
		return VerdictGone, time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	created, err := edgegap.ParseTime(full.CreateTime)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("session %s: %w", s.ID, err)
	}
	if r.now.Sub(created) < r.o.MinAge {
		return VerdictYoung, created, nil
	}
	return VerdictOrphaned, created, nil
}

// resolveStale removes the intents old enough that every session they may
// have made has been judged by now: recorded (kept) or orphaned (deleted
// by this Reconcile). It returns how many it removed.
func (r *reconciler) resolveStale(ctx context.Context, intents *state.Intents, open []state.Intent) int {
	n := 0
	for _, in := range open {
		if r.selected(in.App, in.Version) && r.now.Sub(in.Time) >= r.o.MinAge+r.o.IntentWindow {
			if err := intents.Resolve(ctx, in.ID); err == nil {
				n++
			}
		}
	}
	return n
}

// inFlight reports whether a session created at created may belong to a
// create of the selected app still running: an open intent younger than
// IntentWindow, started around then.
func (r *reconciler) inFlight(open []state.Intent, created time.Time) bool {
	for _, in := range open {
		if r.selected(in.App, in.Version) && r.now.Sub(in.Time) < r.o.IntentWindow && created.Sub(in.Time) > -r.o.IntentWindow {
			return true
		}
	}
	return false
}

// selected reports whether app and version are what Reconcile considers.
func (r *reconciler) selected(app, version string) bool {
	return r.o.AllApps || app == r.o.AppName && (r.o.AppVersion == "" || version == r.o.AppVersion)
}

// ghostOf returns the unresolved intent of the selected app whose create
// may have made a session created at created, or nil.
func (r *reconciler) ghostOf(open []state.Intent, created time.Time) *state.Intent {
	for i := range open {
		in := &open[i]
		if !r.selected(in.App, in.Version) {
			continue
		}
		if d := created.Sub(in.Time); d > -r.o.IntentWindow && d < r.o.IntentWindow {
			return in
		}
	}
	return nil
}

// isOurs reports whether a deployment runs the selected app (and version),
// asking Edgegap once per deployment.
func (r *reconciler) isOurs(ctx context.Context, dep string) (bool, error) {
	if r.o.AllApps {
		return true, nil
	}
	if v, ok := r.ours[dep]; ok {
		return v, nil
	}
	if dep == "" {
		return false, nil // not placed yet: its app is unknown, leave it
	}
	st, err := r.eg.DeploymentStatus(ctx, dep)
	if edgegap.IsNotFound(err) || edgegap.IsGone(err) {
		r.ours[dep] = false
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.ours[dep] = st.AppName == r.o.AppName && (r.o.AppVersion == "" || st.AppVersion == r.o.AppVersion)
	return r.ours[dep], nil
}

// Deletion is the outcome of deleting one session.
type Deletion struct {
	SessionID string
	Result    DeleteResult // Deleted, AlreadyGone or DeleteFail
	Error     string
}

// DeleteSessions deletes sessions one by one; 404 and 410 count as already
// gone. An unauthorized key or a cancelled ctx stops at once (every other
// call would fail the same way), so the result may be shorter than ids. It
// returns the outcomes in the order of ids and the number of failures.
func DeleteSessions(ctx context.Context, eg *edgegap.Client, ids []string) ([]Deletion, int) {
	out := make([]Deletion, 0, len(ids))
	failed := 0
	for _, id := range ids {
		err := eg.DeleteSession(ctx, id)
		switch {
		case err == nil:
			out = append(out, Deletion{SessionID: id, Result: Deleted})
		case edgegap.IsNotFound(err) || edgegap.IsGone(err):
			out = append(out, Deletion{SessionID: id, Result: AlreadyGone})
		default:
			failed++
			out = append(out, Deletion{SessionID: id, Result: DeleteFail, Error: err.Error()})
			if edgegap.IsUnauthorized(err) || ctx.Err() != nil {
				return out, failed
			}
		}
	}
	return out, failed
}

// reconcileSessions runs Reconcile for this app version at start and every
// ReconcileInterval, one replica at a time: the round's lease is held until
// it expires (nine tenths of the interval), so replicas ticking at other
// times skip it and Edgegap is listed about once per interval in all.
func (m *Matchmaker) reconcileSessions(ctx context.Context) error {
	tick := time.NewTicker(m.cfg.ReconcileInterval)
	defer tick.Stop()
	for {
		m.reconcileRound(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (m *Matchmaker) reconcileRound(ctx context.Context) {
	key := state.LeaseKey("reconcile-sessions", m.cfg.AppName, m.cfg.AppVersion)
	_, _, err := m.leases.Acquire(ctx, key, m.holder, m.cfg.ReconcileInterval*9/10)
	if errors.Is(err, state.ErrLeaseBusy) {
		m.leak.reconciles.WithLabelValues("skipped").Inc()
		return
	}
	if err == nil {
		var res *ReconcileResult
		res, err = Reconcile(ctx, m.cfg.Edgegap, m.cfg.Store, ReconcileOptions{
			AppName: m.cfg.AppName, AppVersion: m.cfg.AppVersion, MinAge: m.cfg.ReconcileGrace, Now: m.cfg.Now,
			// A grace below the default window (tests, chaos runs) bounds it too.
			IntentWindow: min(DefaultIntentWindow, m.cfg.ReconcileGrace),
		})
		if err == nil {
			m.reconciled(res)
			return
		}
	}
	if ctx.Err() == nil {
		m.leak.reconciles.WithLabelValues("failed").Inc()
		m.log.Warn("session reconciliation failed; the next round retries", "err", err, "in", m.cfg.ReconcileInterval)
	}
}

func (m *Matchmaker) reconciled(res *ReconcileResult) {
	m.leak.reconciles.WithLabelValues("done").Inc()
	m.leak.orphansFound.Add(float64(len(res.Orphans)))
	m.leak.orphansRemoved.Add(float64(res.Deleted))
	m.leak.ghosts.Add(float64(res.Ghosts))
	for _, o := range res.Orphans {
		attrs := []any{"session_id", o.SessionID, "created", o.Created, "result", o.Result}
		if o.Intent != nil {
			attrs = append(attrs, "ghost_of_create_for", o.Intent.ClientIP, "create_started", o.Intent.Time)
		}
		if o.Error != "" {
			attrs = append(attrs, "err", o.Error)
		}
		m.log.Warn("orphan session found by reconciliation", attrs...)
	}
	if len(res.Orphans) > 0 || res.IntentsResolved > 0 {
		m.log.Info("sessions reconciled", "listed", res.Sessions, "orphans", len(res.Orphans), "deleted", res.Deleted, "failed", res.Failed, "ghosts", res.Ghosts, "intents_resolved", res.IntentsResolved)
	}
}
