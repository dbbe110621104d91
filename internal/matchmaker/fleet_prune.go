package matchmaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/state"
)

// This file exposes the fleet reconciler's rule to `bevygap deployments
// prune`: ReconcileFleet runs one reconciliation (fleet.reconcile) of one
// namespace, app and version without running a matchmaker, and says why it
// stops, retires or adopts each deployment.

// ScopeTag is the tag bevygap puts on every deployment it starts for one
// NATS namespace, app and version (beside TagBevygap and TagIntent+<intent
// id>): TagScope and 16 hex digits of a SHA-256 of the three, so that tags
// stay short and distinct scopes never share a tag.
func ScopeTag(namespace, app, version string) string {
	sum := sha256.Sum256([]byte(namespace + "\x00" + app + "\x00" + version))
	return TagScope + hex.EncodeToString(sum[:8])
}

// FleetPruneAction is what the reconciler does with one deployment.
type FleetPruneAction string

// Prune actions.
const (
	// PruneStop: Edgegap runs a deployment of this scope that nothing will
	// ever use (no ledger record past the grace, or bevygap gave up on it).
	PruneStop FleetPruneAction = "stop"
	// PruneRetire: a ledger record Edgegap no longer lists is recorded gone.
	PruneRetire FleetPruneAction = "retire"
	// PruneAdopt: a running deployment whose record lost its request id (or
	// had been given up) is adopted; it stays and takes players.
	PruneAdopt FleetPruneAction = "adopt"
)

// FleetPruneItem is one deployment or record the reconciler acts on.
type FleetPruneItem struct {
	Action    FleetPruneAction `json:"action"`
	RequestID string           `json:"request_id"` // Edgegap's id ("" for a record that never got one)
	Record    string           `json:"record"`     // ledger record id ("" when there is none)
	Started   *time.Time       `json:"started"`    // when Edgegap started it, or the record was created; nil if unknown
	Why       string           `json:"why"`
	// Result: would_stop, stopped, stopping (Edgegap stops it once ready),
	// already_gone, failed; would_retire, retired; would_adopt, adopted.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// FleetPruneResult is what ReconcileFleet found and did.
type FleetPruneResult struct {
	Scope  string           `json:"scope"`  // the scope tag listed
	Listed int              `json:"listed"` // deployments Edgegap listed with it
	DryRun bool             `json:"dry_run"`
	Items  []FleetPruneItem `json:"items"`
	// Stopped counts stops Edgegap took (or found already gone), Failed
	// those that failed.
	Stopped int `json:"stopped"`
	Failed  int `json:"failed"`
}

// ReconcileFleet runs the fleet reconciler once for cfg's namespace, app
// and version (cfg needs NC, Store, Edgegap, AppName and AppVersion;
// Fleet.ReconcileGrace is the age below which nothing is touched) and,
// unless dryRun, acts: it adopts, retires and stops as the matchmaker's
// reconciler does, and sends each stop to Edgegap itself (the stop is
// queued too, so a running matchmaker retries one that failed here).
// Deployments of other scopes, and deployments without bevygap's tags, are
// never touched. An unauthorized key stops it with the error.
func ReconcileFleet(ctx context.Context, cfg Config, dryRun bool) (*FleetPruneResult, error) {
	cfg.Allocator = AllocatorDeployments
	cfg.AllowInsecureKey = true // mints no token
	if cfg.AppVersion == "" {
		return nil, errors.New("reconcile fleet: app-version is required")
	}
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	defer m.reqStop()
	f := m.fleet
	if err := f.prepare(ctx); err != nil {
		return nil, err
	}
	before := f.view.snapshot()
	// Listed first for the reasons only: reconcile lists again and decides.
	listed, err := m.cfg.Edgegap.ListDeployments(ctx, edgegap.DeploymentQuery{Tags: []string{TagBevygap, f.scopeTag()}})
	if err != nil {
		return nil, fmt.Errorf("listing deployments: %w", err)
	}
	r, err := f.reconcile(ctx, dryRun)
	if err != nil {
		return nil, err
	}
	res := &FleetPruneResult{Scope: f.scopeTag(), Listed: r.Listed, DryRun: dryRun, Items: []FleetPruneItem{}}
	why := newPruneReasons(before, listed, m.cfg.Now(), f.cfg.ReconcileGrace)
	for _, rid := range r.Stopped {
		it := why.stop(rid)
		it.Result = "would_stop"
		if !dryRun {
			if err := stopOne(ctx, f, &it); err != nil {
				return res, err
			}
			if it.Result == "failed" {
				res.Failed++
			} else {
				res.Stopped++
			}
		}
		res.Items = append(res.Items, it)
	}
	for _, id := range r.Retired {
		it := why.retire(id)
		it.Result = pick(dryRun, "would_retire", "retired")
		res.Items = append(res.Items, it)
	}
	for _, id := range r.Adopted {
		it := why.adopt(id)
		it.Result = pick(dryRun, "would_adopt", "adopted")
		res.Items = append(res.Items, it)
	}
	return res, nil
}

// stopOne stops it.RequestID and records the outcome in the ledger.
func stopOne(ctx context.Context, f *fleet, it *FleetPruneItem) error {
	outcome, err := f.m.cfg.Edgegap.StopDeployment(ctx, it.RequestID)
	switch {
	case edgegap.IsUnauthorized(err):
		return err
	case err == nil || edgegap.IsAlreadyGone(err):
		f.stopped(ctx, it.RequestID, outcome, err)
		it.Result = outcome.String()
		if err != nil {
			it.Result = "already_gone"
		}
	default:
		it.Result, it.Error = "failed", err.Error()
	}
	return nil
}

func pick(dryRun bool, would, did string) string {
	if dryRun {
		return would
	}
	return did
}

// pruneReasons explains the reconciler's decisions from the ledger and the
// listing as they were before it ran.
type pruneReasons struct {
	byID, byRID, byIntent map[string]*state.Deployment
	listed                map[string]edgegap.DeploymentSummary
	now                   time.Time
	grace                 time.Duration
}

func newPruneReasons(recs []*state.Deployment, listed []edgegap.DeploymentSummary, now time.Time, grace time.Duration) *pruneReasons {
	p := &pruneReasons{byID: map[string]*state.Deployment{}, byRID: map[string]*state.Deployment{}, byIntent: map[string]*state.Deployment{},
		listed: map[string]edgegap.DeploymentSummary{}, now: now, grace: grace}
	for _, d := range recs {
		p.byID[d.ID] = d
		p.byIntent[d.ID] = d
		if d.RequestID != "" {
			p.byRID[d.RequestID] = d
		}
	}
	for _, e := range listed {
		p.listed[e.RequestID] = e
	}
	return p
}

func (p *pruneReasons) stop(rid string) FleetPruneItem {
	it := FleetPruneItem{Action: PruneStop, RequestID: rid}
	e, ok := p.listed[rid]
	if t, err := edgegap.ParseTime(e.StartTime); ok && err == nil {
		it.Started = &t
	}
	d := p.byRID[rid]
	if d == nil && ok {
		d = p.byIntent[intentOf(e.Tags)]
	}
	switch {
	case d != nil:
		it.Record = d.ID
		it.Why = fmt.Sprintf("its ledger record is %s", d.State)
		if d.Reason != "" {
			it.Why += " (" + d.Reason + ")"
		}
		it.Why += ": bevygap gave up on it but Edgegap still runs it"
	case ok:
		it.Why = fmt.Sprintf("no ledger record, not even of its intent, and older than the %s grace: nobody will ever place a player on it", p.grace)
	default:
		it.Why = fmt.Sprintf("no ledger record and older than the %s grace", p.grace)
	}
	return it
}

func (p *pruneReasons) retire(id string) FleetPruneItem {
	it := FleetPruneItem{Action: PruneRetire, Record: id, Why: "Edgegap no longer lists it"}
	if d := p.byID[id]; d != nil {
		it.RequestID = d.RequestID
		created := d.Created
		it.Started = &created
		it.Why = fmt.Sprintf("its ledger record is %s but Edgegap no longer lists it: recorded gone", d.State)
		if d.RequestID == "" {
			it.Why = fmt.Sprintf("an intent recorded %s ago that Edgegap never started: recorded gone", p.now.Sub(d.Created).Round(time.Second))
		}
	}
	return it
}

func (p *pruneReasons) adopt(id string) FleetPruneItem {
	it := FleetPruneItem{Action: PruneAdopt, Record: id, Why: "Edgegap runs it: the ledger takes it back"}
	if d := p.byID[id]; d != nil {
		created := d.Created
		it.Started = &created
		for rid, e := range p.listed {
			if e.RequestID == d.RequestID || intentOf(e.Tags) == d.ID {
				it.RequestID = rid
			}
		}
		if d.RequestID == "" {
			it.Why = "Edgegap runs the deployment of this intent, whose answer was lost: adopted, it takes players"
		} else if d.Reason != "" {
			it.Why = "Edgegap runs it although its record says " + d.Reason + ": adopted, it takes players"
		}
	}
	return it
}
