package matchmaker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/state"
)

const (
	reasonEmpty  = "empty for empty-ttl"
	reasonTooOld = "older than max-deployment-age"
	// goneKeep is how long a gone record stays visible (bevygap fleet).
	goneKeep = 10 * time.Minute
	// janitorEvery is the janitor's period.
	janitorEvery = time.Second
)

// viewLoop keeps the local fleet view current. Idempotent: every replica
// follows the ledger.
func (f *fleet) viewLoop(ctx context.Context) error {
	w, err := f.view.load(ctx, f.ledger.KV())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return f.view.run(ctx, w, f.ledger.KV())
}

// janitor releases seats nobody claimed within unclaimed-ttl (and seats of
// requests that died with their replica), stops deployments empty for
// empty-ttl, drains deployments older than max-deployment-age, re-queues
// stops that were not queued, and forgets gone records after a while. It
// is idempotent: every replica runs it, every change is a compare-and-set
// and every queued stop is de-duplicated on the request id.
func (f *fleet) janitor(ctx context.Context) error {
	tick := time.NewTicker(janitorEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := f.m.cfg.Now()
		for _, d := range f.view.snapshot() {
			if d.App != f.m.cfg.AppName || d.Version != f.m.cfg.AppVersion {
				continue
			}
			f.tend(ctx, d, now)
		}
		f.m.metrics.observeFleet(f.view.snapshot())
	}
}

// orphanSeatAge: a seat still waiting for its deployment after this long
// belongs to a request whose replica died (a live request holds one seat at
// most for the create call, ready-timeout and the digest wait: placing again
// takes a new seat), so it is released.
func (f *fleet) orphanSeatAge() time.Duration {
	return deployCallTimeout + f.m.cfg.ReadyTimeout + f.m.cfg.CertDigestWait + 5*time.Second
}

func (f *fleet) tend(ctx context.Context, d *state.Deployment, now time.Time) {
	for id, s := range d.Seats {
		if s.State != state.SeatReserved {
			continue
		}
		age := now.Sub(s.Since)
		if (!s.Waiting && age >= f.m.cfg.UnclaimedTTL) || age >= f.orphanSeatAge() {
			// A connect whose record failed (the ledger unavailable when
			// active_connections said so) must not cost a playing client
			// its seat: the game server's entry is the truth.
			if cid, err := f.m.cfg.Store.ActiveClient(ctx, id); err == nil {
				f.connected(ctx, id, strconv.FormatUint(cid, 10), true)
				continue
			}
			f.release(id, errors.New("unclaimed"))
			f.m.metrics.reaped.Inc()
		}
	}
	switch d.State {
	case state.DeploymentReady, state.DeploymentDeploying:
		switch {
		case len(d.Seats) == 0 && !d.EmptySince.IsZero() && now.Sub(d.EmptySince) >= f.cfg.EmptyTTL:
			f.retire(ctx, d.ID, reasonEmpty, false)
		case now.Sub(d.Created) >= f.cfg.MaxDeploymentAge && d.State == state.DeploymentReady:
			f.drain(ctx, d.ID)
		}
	case state.DeploymentDraining:
		if len(d.Seats) == 0 {
			f.retire(ctx, d.ID, reasonTooOld, false)
		}
	case state.DeploymentStopping:
		if d.RequestID != "" && now.Sub(d.Changed) >= time.Minute {
			_ = f.stops.Enqueue(ctx, d.RequestID) // de-duplicated; a lost enqueue is retried
		}
	case state.DeploymentGone:
		if now.Sub(d.Changed) >= goneKeep {
			if err := f.ledger.Remove(ctx, d.ID); err == nil {
				f.view.remove(d.ID)
			}
		}
	}
}

func (f *fleet) drain(ctx context.Context, id string) {
	nd, err := f.ledger.Update(ctx, id, func(d *state.Deployment) error {
		if d.State != state.DeploymentReady {
			return state.ErrNoChange
		}
		d.State, d.Reason = state.DeploymentDraining, reasonTooOld
		return nil
	})
	if err == nil {
		f.view.apply(nd)
	}
}

// stopWorker consumes the stop queue: 200/202 and 404/410 (already gone)
// ack and record the deployment gone; 429, 5xx and transport errors retry
// with backoff; after DeleteMaxDeliver attempts the deployment goes to the
// dead letters. One worker per replica; the durable consumer shares jobs.
func (f *fleet) stopWorker(ctx context.Context) error {
	cons, err := f.stops.Consumer(ctx, f.m.cfg.DeleteMaxDeliver, 2*deleteCallTimeout)
	if err != nil {
		return err
	}
	return f.m.consume(ctx, cons, "deployment", func(ctx context.Context, rid string) error {
		outcome, err := f.m.cfg.Edgegap.StopDeployment(ctx, rid)
		if err == nil || edgegap.IsAlreadyGone(err) {
			f.stopped(ctx, rid, outcome, err)
			if err != nil {
				return errAlreadyGone
			}
		}
		return err
	})
}

// errAlreadyGone tells consume that the target was gone already.
var errAlreadyGone = errors.New("already gone")

func (f *fleet) stopped(ctx context.Context, rid string, outcome edgegap.StopOutcome, err error) {
	d, ok := f.view.byRequestID(rid, "")
	if !ok {
		return
	}
	reason := "stopped"
	if err != nil {
		reason = "already gone"
	} else if outcome == edgegap.StopPending {
		reason = "stopping once ready"
	}
	f.gone(ctx, d.ID, firstNonEmpty(d.Reason+"; "+reason, reason))
}

// FleetReconcileResult is what one fleet reconciliation found and did.
type FleetReconcileResult struct {
	Listed  int      `json:"listed"`
	Adopted []string `json:"adopted"`
	Stopped []string `json:"stopped"`
	Retired []string `json:"retired"`
}

// reconcileLoop runs ReconcileFleet on start and every reconcile-interval
// (with jitter). Idempotent: adoption is a compare-and-set, stops are
// de-duplicated; every replica may run it.
func (f *fleet) reconcileLoop(ctx context.Context) error {
	for {
		if r, err := f.reconcile(ctx, false); err != nil && ctx.Err() == nil {
			f.m.log.Warn("fleet reconciliation failed; next round will retry", "err", err)
		} else if len(r.Adopted)+len(r.Stopped)+len(r.Retired) > 0 {
			f.m.log.Info("fleet reconciled", "listed", r.Listed, "adopted", r.Adopted, "stopped", r.Stopped, "retired", r.Retired)
		}
		f.releaseDisconnected(ctx)
		wait := f.cfg.ReconcileInterval/2 + rand.N(f.cfg.ReconcileInterval/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// releaseDisconnected releases the connected seats whose client has left
// (active_connections no longer holds the seat) though no release was
// recorded: the disconnect arrived while the ledger could not be written
// (NATS down or its stream without a leader) and the watch moved past it.
// Without this the seat stays connected forever and its deployment is never
// emptied nor stopped. A seat connected for less than the reconcile grace
// is left alone (a read served by a lagging replica may not show its entry
// yet). It returns how many it released.
func (f *fleet) releaseDisconnected(ctx context.Context) int {
	now := f.m.cfg.Now()
	n := 0
	for _, d := range f.view.snapshot() {
		if d.App != f.m.cfg.AppName || d.Version != f.m.cfg.AppVersion {
			continue
		}
		for id, s := range d.Seats {
			if s.State != state.SeatConnected || now.Sub(s.Since) < f.cfg.ReconcileGrace {
				continue
			}
			if _, err := f.m.cfg.Store.ActiveClient(ctx, id); !errors.Is(err, state.ErrNotFound) {
				continue // still connected, or NATS failing: the next round looks again
			}
			nd, err := f.ledger.Release(ctx, id)
			if err != nil {
				continue
			}
			if nd != nil {
				f.view.apply(nd)
			}
			n++
			f.m.log.Warn("client gone without its seat released; released now", "seat_id", id)
		}
	}
	return n
}

// reconcile compares Edgegap's list of this scope's deployments with the
// ledger: a listed deployment whose intent has a record is adopted; one with
// no record, older than the grace, is stopped; a record Edgegap no longer
// lists goes gone; a record bevygap gave up on that Edgegap still runs is
// stopped.
func (f *fleet) reconcile(ctx context.Context, dryRun bool) (FleetReconcileResult, error) {
	r := FleetReconcileResult{Adopted: []string{}, Stopped: []string{}, Retired: []string{}}
	// Ages are taken as of before the listing: a record created while the
	// list call was under way is not older than the grace (or Edgegap's list
	// may simply predate it).
	now := f.m.cfg.Now()
	listed, err := f.m.cfg.Edgegap.ListDeployments(ctx, edgegap.DeploymentQuery{Tags: []string{TagBevygap, f.scopeTag()}})
	if err != nil {
		return r, fmt.Errorf("listing deployments: %w", err)
	}
	r.Listed = len(listed)
	recs, err := f.ledger.List(ctx)
	if err != nil {
		return r, err
	}
	byRID := map[string]*state.Deployment{}
	byIntent := map[string]*state.Deployment{}
	for _, d := range recs {
		byIntent[d.ID] = d
		if d.RequestID != "" {
			byRID[d.RequestID] = d
		}
	}
	seen := map[string]bool{}
	for _, e := range listed {
		d := byRID[e.RequestID]
		if d == nil {
			d = byIntent[intentOf(e.Tags)]
		}
		if d != nil {
			seen[d.ID] = true
		}
		f.reconcileListed(ctx, e, d, now, dryRun, &r)
	}
	for _, d := range recs {
		// Young records are spared: Edgegap's list may predate them (the
		// age counts from Edgegap's answer when there is one: a create can
		// wait long for its budget after the intent was recorded).
		if seen[d.ID] || d.State == state.DeploymentGone || now.Sub(d.Created) < f.cfg.ReconcileGrace || now.Sub(d.Accepted) < f.cfg.ReconcileGrace {
			continue
		}
		// The ledger holds every scope of the namespace; Edgegap was asked
		// for this one's deployments only.
		if d.App != f.m.cfg.AppName || d.Version != f.m.cfg.AppVersion {
			continue
		}
		// An intent whose creator may still be calling Edgegap (waiting
		// for the deploy budget, or for the answer) is not given up yet.
		if d.RequestID == "" && now.Sub(d.Created) < deployCallTimeout+5*time.Second {
			continue
		}
		r.Retired = append(r.Retired, d.ID)
		if !dryRun {
			f.gone(ctx, d.ID, "edgegap no longer lists it")
		}
	}
	f.m.metrics.fleetAdopted.Add(float64(len(r.Adopted)))
	f.m.metrics.fleetOrphansStopped.Add(float64(len(r.Stopped)))
	return r, nil
}

func (f *fleet) reconcileListed(ctx context.Context, e edgegap.DeploymentSummary, d *state.Deployment, now time.Time, dryRun bool, r *FleetReconcileResult) {
	started, _ := edgegap.ParseTime(e.StartTime)
	switch {
	case d == nil:
		if !started.IsZero() && now.Sub(started) < f.cfg.ReconcileGrace {
			return // its creator may still record it
		}
		r.Stopped = append(r.Stopped, e.RequestID)
		if !dryRun {
			_ = f.stops.Enqueue(ctx, e.RequestID)
		}
	case d.State == state.DeploymentGone || d.State == state.DeploymentStopping:
		if !slices.Contains(r.Stopped, e.RequestID) {
			r.Stopped = append(r.Stopped, e.RequestID)
		}
		if !dryRun {
			_ = f.stops.Enqueue(ctx, e.RequestID)
		}
	case d.RequestID == "" || d.Reason != "":
		r.Adopted = append(r.Adopted, d.ID)
		if dryRun {
			return
		}
		nd, err := f.ledger.Update(ctx, d.ID, func(x *state.Deployment) error {
			x.RequestID, x.Reason, x.Accepted = e.RequestID, "", now.UTC()
			if x.State == state.DeploymentRequested {
				x.State = state.DeploymentDeploying
			}
			if len(x.Seats) == 0 && x.EmptySince.IsZero() {
				x.EmptySince = now.UTC()
			}
			return nil
		})
		if err == nil {
			f.view.apply(nd)
			if e.Ready {
				f.markReady(ctx, d.ID, &edgegap.DeploymentStatus{RequestID: e.RequestID, PublicIP: e.PublicIP, FQDN: e.FQDN, Running: true, Ports: e.Ports})
			}
		}
	}
}
