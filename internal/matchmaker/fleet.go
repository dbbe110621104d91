package matchmaker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// Fleet defaults (FLEET.md).
const (
	DefaultSeatsPerDeployment = 6
	DefaultEmptyTTL           = 10 * time.Minute
	DefaultMaxDeploymentAge   = 23 * time.Hour
	DefaultReconcileInterval  = 2 * time.Minute
	DefaultReconcileGrace     = 2 * time.Minute
	// MaxSeatsPerDeployment keeps a ledger record (which holds its seats)
	// well under the record size limit.
	MaxSeatsPerDeployment = 256
)

// Tags bevygap puts on every deployment it starts: TagBevygap, TagApp+<hash
// of namespace, app and version> and TagIntent+<intent id>.
const (
	TagBevygap = "bevygap"
	TagScope   = "bevygap-scope-"
	TagIntent  = "bevygap-intent-"
)

// Webhook names (POST /hook/<name> on the webhook sink) for deployments.
const (
	HookDeploymentReady      = "deployment-ready"
	HookDeploymentError      = "deployment-error"
	HookDeploymentTerminated = "deployment-terminated"
)

// FleetConfig configures the deployments allocator. Zero values pick the
// defaults above.
type FleetConfig struct {
	SeatsPerDeployment int
	EmptyTTL           time.Duration
	MaxDeploymentAge   time.Duration
	ReconcileInterval  time.Duration
	// ReconcileGrace: a tagged deployment Edgegap lists with no record is
	// stopped, and a requested record Edgegap does not list is retired, only
	// once older than this (an answer may still be on its way).
	ReconcileGrace time.Duration
	// WebhookBase is the webhook sink's public base URL (…/hook); empty
	// means no webhooks (readiness by polling, within the status budget).
	WebhookBase string
	// WebhookSecret is appended as ?secret= to every webhook URL.
	WebhookSecret string
	// Replicas of the fleet's own buckets and streams.
	Replicas int
}

func (c *FleetConfig) fillDefaults() error {
	if c.SeatsPerDeployment < 0 || c.SeatsPerDeployment > MaxSeatsPerDeployment {
		return fmt.Errorf("seats-per-deployment %d: use 1 to %d", c.SeatsPerDeployment, MaxSeatsPerDeployment)
	}
	if c.SeatsPerDeployment == 0 {
		c.SeatsPerDeployment = DefaultSeatsPerDeployment
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.EmptyTTL, DefaultEmptyTTL)
	def(&c.MaxDeploymentAge, DefaultMaxDeploymentAge)
	def(&c.ReconcileInterval, DefaultReconcileInterval)
	def(&c.ReconcileGrace, DefaultReconcileGrace)
	if c.WebhookBase != "" {
		u, err := url.Parse(c.WebhookBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("deployment webhook base: want an absolute http(s) URL of the webhook sink's /hook")
		}
	}
	return nil
}

// fleet is the deployments allocator: seats packed on Edgegap deployments
// bevygap starts, recorded in the fleet ledger (FLEET.md).
type fleet struct {
	m      *Matchmaker
	cfg    FleetConfig
	ledger *state.Fleet
	leases *state.Leases
	stops  *state.StopQueue
	view   *fleetView
	holder string // this process, in leases

	placeMu  sync.Mutex // see reserveOnView
	pollMu   sync.Mutex
	lastPoll map[string]time.Time // deployment id -> last status call

	digests     sync.Map // request id -> certificate digest
	digestCount atomic.Int64
}

// scopeTag identifies this namespace, app and version among bevygap's
// deployments (ScopeTag).
func (f *fleet) scopeTag() string {
	return ScopeTag(f.m.cfg.Store.Names.Namespace, f.m.cfg.AppName, f.m.cfg.AppVersion)
}

func (f *fleet) tags(intent string) []string {
	return []string{TagBevygap, f.scopeTag(), TagIntent + intent}
}

func intentOf(tags []string) string {
	for _, t := range tags {
		if s, ok := strings.CutPrefix(t, TagIntent); ok {
			return s
		}
	}
	return ""
}

func (f *fleet) hookURL(name string) string {
	if f.cfg.WebhookBase == "" {
		return ""
	}
	u := strings.TrimSuffix(f.cfg.WebhookBase, "/") + "/" + name
	if f.cfg.WebhookSecret != "" {
		u += "?secret=" + url.QueryEscape(f.cfg.WebhookSecret)
	}
	return u
}

// reasonOutcomeUnknown is the ledger reason of a deployment whose create
// Edgegap did not confirm; the players waiting on it see it, so it names
// Edgegap.
const reasonOutcomeUnknown = "Edgegap did not confirm its create (outcome unknown)"

// errReplace marks a failure after which a waiting player is placed once
// more elsewhere (error webhook, ready timeout, deployment gone).
type errReplace struct{ err error }

func (e *errReplace) Error() string { return e.err.Error() }
func (e *errReplace) Unwrap() error { return e.err }

// seat places a client: a seat on a ready or deploying deployment, else on
// a new one; waits for it to be ready; re-places once after an error
// webhook, a ready timeout or a vanished deployment.
func (f *fleet) seat(ctx context.Context, clientIP string, progress func(protocol.Feedback)) (*protocol.Seat, string, error) {
	clientID, err := f.m.clientID()
	if err != nil {
		return nil, "", protocol.Errorf(protocol.CodeInternal, "client id: %v", err)
	}
	var lastErr error
	for attempt := range 2 {
		seatID, d, created, err := f.reserve(ctx, clientID)
		if err != nil {
			return nil, "", err
		}
		log := f.m.log.With("seat_id", seatID, "deployment", d.ID)
		if attempt == 0 {
			progress(protocol.Accepted(seatID))
		} else {
			progress(protocol.Progress("Placing again: " + lastErr.Error()))
		}
		if created {
			if err := f.deploy(ctx, d, clientIP); err != nil {
				f.release(seatID, err)
				return nil, seatID, err
			}
		}
		rd, err := f.awaitReady(ctx, d.ID, seatID, progress)
		if err == nil {
			seat, herr := f.handOut(ctx, rd, seatID, clientID)
			if herr != nil {
				f.release(seatID, herr)
				return nil, seatID, herr
			}
			return seat, seatID, nil
		}
		f.release(seatID, err)
		var re *errReplace
		if !errors.As(err, &re) {
			return nil, seatID, err
		}
		log.Warn("deployment failed before the seat was ready; placing the player again", "err", err)
		lastErr = err
	}
	var pe *protocol.Error
	if errors.As(lastErr, &pe) {
		return nil, "", pe
	}
	return nil, "", protocol.Errorf(protocol.CodeUnavailable, "%v", lastErr)
}

// reserve takes a seat: on a candidate of the local view (ready first, then
// fullest), else through the opening lease on the deployment the last
// holder opened, else on a new intent record. Zero Edgegap calls.
func (f *fleet) reserve(ctx context.Context, clientID uint64) (seatID string, d *state.Deployment, created bool, err error) {
	backoff := time.Millisecond
	for range 200 {
		seatID, d, err := f.reserveOnView(ctx, clientID)
		if err != nil || d != nil {
			return seatID, d, false, err
		}
		seatID, d, created, err := f.open(ctx, clientID)
		if !errors.Is(err, state.ErrLeaseBusy) {
			if err != nil {
				return "", nil, false, f.natsFailure(ctx, "opening a deployment", err)
			}
			return seatID, d, created, nil
		}
		select { // another request is opening a deployment: join it soon
		case <-ctx.Done():
			return "", nil, false, interrupted(ctx)
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		}
		backoff = min(2*backoff, 20*time.Millisecond)
	}
	return "", nil, false, protocol.Errorf(protocol.CodeUnavailable, "no seat found: the fleet ledger is too busy, try again")
}

// reserveOnView tries the view's candidates, fullest first. The requests
// of this process take turns (placeMu): they would otherwise all race for
// the same fullest record and lose most compare-and-sets to each other;
// taking turns, each sees the record its predecessor wrote (the view is
// updated with every reservation), so the write succeeds at once. Other
// replicas still race fairly through the compare-and-set.
func (f *fleet) reserveOnView(ctx context.Context, clientID uint64) (string, *state.Deployment, error) {
	f.placeMu.Lock()
	defer f.placeMu.Unlock()
	for _, c := range state.Candidates(f.view.snapshot(), f.m.cfg.AppName, f.m.cfg.AppVersion) {
		seatID, d, err := f.ledger.ReserveFor(ctx, c, clientID)
		if err == nil {
			f.view.apply(d)
			return seatID, d, nil
		}
		if !errors.Is(err, state.ErrFull) && !errors.Is(err, state.ErrNotFound) {
			return "", nil, f.natsFailure(ctx, "reserving a seat", err)
		}
		if d != nil {
			f.view.apply(d)
		}
	}
	return "", nil, nil
}

func (f *fleet) natsFailure(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return interrupted(ctx)
	}
	f.m.log.Error("fleet ledger failure", "while", what, "err", err)
	return protocol.Errorf(protocol.CodeUnavailable, "matchmaker state unavailable while %s", what)
}

// leaseTTL bounds how long a crashed holder blocks opening deployments.
const leaseTTL = 3 * time.Second

// open holds the opening lease of this app version: it first tries the
// deployment the previous holder opened (it may have seats the local view
// has not seen yet), else records a new intent with the caller's seat in
// it. One holder at a time in all replicas, so a burst of N players opens
// ceil(N / seats) deployments.
func (f *fleet) open(ctx context.Context, clientID uint64) (string, *state.Deployment, bool, error) {
	key := state.LeaseKey(f.m.cfg.Store.Names.Namespace, f.m.cfg.AppName, f.m.cfg.AppVersion)
	// One holder per attempt: two requests of this process must exclude
	// each other as much as two replicas do.
	cur, rev, err := f.leases.Acquire(ctx, key, f.holder+"."+state.NewFleetID(), leaseTTL)
	if err != nil {
		return "", nil, false, err
	}
	last := cur.Last
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := f.leases.Release(rctx, key, rev, last); err != nil {
			f.m.log.Warn("releasing the opening lease failed; it expires by itself", "err", err)
		}
	}()
	if last != "" {
		seatID, d, err := f.ledger.ReserveFor(ctx, &state.Deployment{ID: last}, clientID)
		if err == nil {
			f.view.apply(d)
			return seatID, d, false, nil
		}
		if !errors.Is(err, state.ErrFull) && !errors.Is(err, state.ErrNotFound) {
			return "", nil, false, err
		}
		if d != nil {
			f.m.log.Debug("previous deployment takes no seat", "deployment", last, "state", d.State, "seats", len(d.Seats), "reason", d.Reason, "err", err)
		}
	}
	// The view may lag (seats released by another replica): before paying
	// for a new deployment, look at the ledger itself.
	all, err := f.ledger.List(ctx)
	if err != nil {
		return "", nil, false, err
	}
	for _, c := range state.Candidates(all, f.m.cfg.AppName, f.m.cfg.AppVersion) {
		seatID, d, err := f.ledger.ReserveFor(ctx, c, clientID)
		if err == nil {
			f.view.apply(d)
			return seatID, d, false, nil
		}
		if !errors.Is(err, state.ErrFull) && !errors.Is(err, state.ErrNotFound) {
			return "", nil, false, err
		}
	}
	id := state.NewFleetID()
	f.m.log.Debug("opening a deployment", "deployment", id, "previous", last)
	seatID := state.SeatID(id)
	now := f.m.cfg.Now().UTC()
	d := &state.Deployment{
		ID: id, App: f.m.cfg.AppName, Version: f.m.cfg.AppVersion, State: state.DeploymentRequested,
		Capacity: f.cfg.SeatsPerDeployment, Tags: f.tags(id),
		Seats: map[string]state.FleetSeat{seatID: {ClientID: clientID, State: state.SeatReserved, Since: now, Waiting: true}},
	}
	// The intent is recorded before Edgegap is asked: a crash or a lost
	// answer leaves a record the reconciler matches by the intent tag.
	if err := f.ledger.Create(ctx, d); err != nil {
		return "", nil, false, err
	}
	f.view.apply(d)
	last = id
	return seatID, d, true, nil
}

// deployCallTimeout bounds the create call (budget wait included).
const deployCallTimeout = 20 * time.Second

// deploy asks Edgegap for the deployment of intent record d and records
// the answer. The call is not cancelled by shutdown once sent.
func (f *fleet) deploy(ctx context.Context, d *state.Deployment, clientIP string) error {
	req := edgegap.DeploymentRequest{
		App: d.App, Version: d.Version, Users: []edgegap.DeploymentUser{edgegap.UserAtIP(clientIP)}, Tags: d.Tags,
		WebhookOnReady: f.hookURL(HookDeploymentReady), WebhookOnError: f.hookURL(HookDeploymentError),
		WebhookOnTerminated: f.hookURL(HookDeploymentTerminated),
	}
	cctx, cancel := context.WithTimeout(ctx, deployCallTimeout)
	created, err := f.m.cfg.Edgegap.CreateDeployment(cctx, req)
	cancel()
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer wcancel()
	log := f.m.log.With("deployment", d.ID)
	var alloc *edgegap.AllocationError
	switch {
	case err == nil:
		log.Info("deployment created", "request_id", created.RequestID, "client_ip", clientIP)
		f.m.metrics.fleetCreated.Inc()
		nd, uerr := f.ledger.Update(wctx, d.ID, func(r *state.Deployment) error {
			r.RequestID, r.Accepted = created.RequestID, f.m.cfg.Now().UTC()
			if r.State == state.DeploymentRequested {
				r.State = state.DeploymentDeploying
			}
			return nil
		})
		if uerr != nil {
			// Edgegap runs it; the reconciler adopts it by its intent tag.
			log.Error("recording the created deployment failed; the reconciler will adopt it", "request_id", created.RequestID, "err", uerr)
			return protocol.Errorf(protocol.CodeUnavailable, "could not record deployment %s", created.RequestID)
		}
		f.view.apply(nd)
		return nil
	case errors.As(err, &alloc):
		// Edgegap registered the request: record its id as gone, so that
		// the reconciler stops it if Edgegap ever starts it.
		log.Warn("edgegap could not allocate a server", "request_id", alloc.RequestID, "err", err)
		f.fail(wctx, d.ID, alloc.RequestID, "edgegap could not allocate a server", state.DeploymentGone)
		return protocol.Errorf(protocol.CodeUnavailable, "Edgegap could not allocate a server for this game right now (no capacity near you); try again in a moment")
	case edgegap.IsOutcomeUnknown(err):
		// It may exist: keep the intent record for the reconciler.
		log.Warn("deployment outcome unknown; the reconciler will adopt or stop it", "err", err)
		f.fail(wctx, d.ID, "", reasonOutcomeUnknown, state.DeploymentRequested)
		return protocol.Errorf(protocol.CodeUnavailable, "Edgegap did not confirm the deployment; try again")
	default:
		log.Warn("deployment refused", "err", err)
		f.fail(wctx, d.ID, "", "create failed: "+err.Error(), state.DeploymentGone)
		return edgegapFailure(ctx, "creating the deployment", err)
	}
}

// fail records why a deployment will not take players.
func (f *fleet) fail(ctx context.Context, id, requestID, reason string, st state.DeploymentState) {
	nd, err := f.ledger.Update(ctx, id, func(r *state.Deployment) error {
		if requestID != "" {
			r.RequestID = requestID
		}
		r.State, r.Reason = st, reason
		return nil
	})
	if err != nil {
		f.m.log.Error("recording a failed deployment failed; the reconciler will retire it", "deployment", id, "err", err)
		return
	}
	f.view.apply(nd)
}

// release frees a seat nobody will use.
func (f *fleet) release(seatID string, why error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(f.m.reqCtx), 5*time.Second)
	defer cancel()
	d, err := f.ledger.Release(ctx, seatID)
	if err != nil {
		f.m.log.Error("releasing a seat failed; the janitor will release it", "seat_id", seatID, "err", err)
		return
	}
	if d != nil {
		f.view.apply(d)
	}
	f.m.log.Info("seat released", "seat_id", seatID, "reason", why)
}

// handOut turns a seat on a ready deployment into the client's seat:
// address, certificate digest (by request id first, then public IP; cached
// per deployment, it never changes), the token and the two mapping puts
// keyed by the seat id. A seat that waited for its deployment starts its
// unclaimed clock now (one more compare-and-set); one taken on a ready
// deployment started it when it was reserved, moments ago.
func (f *fleet) handOut(ctx context.Context, d *state.Deployment, seatID string, clientID uint64) (*protocol.Seat, error) {
	ed := &edgegap.Deployment{RequestID: d.RequestID, PublicIP: d.PublicIP, Ports: map[string]edgegap.Port{}}
	for name, p := range d.Ports {
		ed.Ports[name] = edgegap.Port{Name: name, External: p.External, Internal: p.Internal, Protocol: p.Protocol}
	}
	addr, err := f.m.seatAddr(seatID, ed)
	if err != nil {
		return nil, err
	}
	digest, err := f.digest(ctx, d)
	if err != nil {
		return nil, err
	}
	waited := d.Seats[seatID].Waiting
	return f.m.handOut(ctx, seatID, addr, digest, clientID, func() error {
		if !waited {
			return nil
		}
		nd, err := f.ledger.SetSeat(ctx, seatID, clientID, state.SeatReserved)
		if err == nil {
			f.view.apply(nd)
		}
		return err
	})
}

// maxCachedDigests bounds the digest cache (entries of gone deployments
// are dropped wholesale beyond it).
const maxCachedDigests = 10000

func (f *fleet) digest(ctx context.Context, d *state.Deployment) (string, error) {
	if v, ok := f.digests.Load(d.RequestID); ok && d.RequestID != "" {
		return v.(string), nil
	}
	keys := []string{d.PublicIP}
	if d.RequestID != "" {
		keys = []string{d.RequestID, d.PublicIP}
	}
	// The IP key may hold the digest of an earlier server on the same IP:
	// only one written since this deployment was created counts.
	digest, err := f.m.certDigest(ctx, keys, d.Created.Add(-time.Second))
	if err != nil || digest == "" || d.RequestID == "" {
		return digest, err
	}
	if f.digestCount.Add(1) > maxCachedDigests {
		f.digests.Clear()
		f.digestCount.Store(0)
	}
	f.digests.Store(d.RequestID, digest)
	return digest, nil
}
