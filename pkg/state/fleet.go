package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketDeployments is the fleet ledger: one record per Edgegap deployment
// bevygap started, keyed by the intent id bevygap chose before asking Edgegap
// (a bevygap addition; not part of the Rust protocol).
const BucketDeployments = "bevygap_deployments"

// DeploymentState is where a fleet deployment is in its life.
type DeploymentState string

// The states of a fleet deployment. requested: intent recorded, Edgegap not
// yet answered; deploying: Edgegap accepted it; ready: the game server runs and
// takes seats; draining: takes no new seats (too old); stopping: a stop is
// queued; gone: Edgegap no longer runs it.
const (
	DeploymentRequested DeploymentState = "requested"
	DeploymentDeploying DeploymentState = "deploying"
	DeploymentReady     DeploymentState = "ready"
	DeploymentDraining  DeploymentState = "draining"
	DeploymentStopping  DeploymentState = "stopping"
	DeploymentGone      DeploymentState = "gone"
)

// DeploymentStates lists every state, in life order.
var DeploymentStates = []DeploymentState{DeploymentRequested, DeploymentDeploying, DeploymentReady,
	DeploymentDraining, DeploymentStopping, DeploymentGone}

// SeatState is where one seat is: reserved for a client that has not yet
// connected, or connected.
type SeatState string

// Seat states.
const (
	SeatReserved  SeatState = "reserved"
	SeatConnected SeatState = "connected"
)

// FleetPort is one port of a deployment.
type FleetPort struct {
	External int    `json:"external"`
	Internal int    `json:"internal,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

// FleetSeat is one seat held on a deployment. The seat id is the key of the
// deployment's Seats map and the id written where the session id went
// (sessions_ly2eg, sessions_eg2ly, active_connections).
type FleetSeat struct {
	ClientID uint64    `json:"client_id,omitempty"`
	State    SeatState `json:"state"`
	Since    time.Time `json:"since"`
	// Waiting: reserved on a deployment that is not ready yet; the player
	// waits for it and has no token. The unclaimed clock starts at the
	// hand-out (Since is reset then).
	Waiting bool `json:"waiting,omitempty"`
}

// Deployment is one fleet ledger record. Seats live inside the record so a
// seat's membership and the deployment's seat count change in one
// compare-and-set: no replica can ever put more than Capacity players on it.
type Deployment struct {
	ID        string               `json:"id"`
	RequestID string               `json:"request_id,omitempty"`
	App       string               `json:"app"`
	Version   string               `json:"version"`
	State     DeploymentState      `json:"state"`
	PublicIP  string               `json:"public_ip,omitempty"`
	FQDN      string               `json:"fqdn,omitempty"`
	Ports     map[string]FleetPort `json:"ports,omitempty"`
	Location  string               `json:"location,omitempty"`
	Capacity  int                  `json:"capacity"`
	Seats     map[string]FleetSeat `json:"seats,omitempty"`
	Created   time.Time            `json:"created"`
	// Accepted is when Edgegap's answer (the request id) was recorded.
	Accepted   time.Time `json:"accepted,omitzero"`
	Ready      time.Time `json:"ready,omitzero"`
	Changed    time.Time `json:"changed"`
	EmptySince time.Time `json:"empty_since,omitzero"`
	Reason     string    `json:"reason,omitempty"`
	Tags       []string  `json:"tags,omitempty"`
	Attempts   int       `json:"attempts,omitempty"`

	// Revision is the KV revision this copy was read at (not stored).
	Revision uint64 `json:"-"`
}

// Free is the number of seats left.
func (d *Deployment) Free() int { return d.Capacity - len(d.Seats) }

// TakesSeats reports whether new players may be placed on d.
func (d *Deployment) TakesSeats() bool {
	switch d.State {
	case DeploymentRequested:
		// A Reason on a requested record: Edgegap's answer was lost; the
		// reconciler decides what it is, nobody waits on it meanwhile.
		return d.Reason == "" && d.Free() > 0
	case DeploymentDeploying, DeploymentReady:
		return d.Free() > 0
	}
	return false
}

// Live reports whether Edgegap may be running (or about to run) d.
func (d *Deployment) Live() bool { return d.State != DeploymentGone }

// Clone returns a deep copy.
func (d *Deployment) Clone() *Deployment {
	c := *d
	c.Ports = maps.Clone(d.Ports)
	c.Seats = maps.Clone(d.Seats)
	c.Tags = slices.Clone(d.Tags)
	return &c
}

// Fleet errors.
var (
	// ErrFull: the deployment has no free seat or takes no seats in its state.
	ErrFull = errors.New("deployment takes no more seats")
	// ErrNoChange: an Update function decided there is nothing to write.
	ErrNoChange = errors.New("no change")
	// ErrConflict: the record kept changing under us beyond the retry bound.
	ErrConflict = errors.New("deployment record kept changing")
)

// maxRecordBytes bounds a ledger record read back from NATS.
const maxRecordBytes = 64 << 10

// Fleet is the typed view of the fleet ledger.
type Fleet struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// FleetOptions configures OpenFleet.
type FleetOptions struct {
	// Replicas of the ledger bucket (1 when zero).
	Replicas int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// OpenFleet creates (or binds) the fleet ledger bucket in the names of n.
func OpenFleet(ctx context.Context, js jetstream.JetStream, n Names, o FleetOptions) (*Fleet, error) {
	if o.Replicas < 0 || o.Replicas > 5 {
		return nil, fmt.Errorf("fleet ledger replicas %d: use 1 to 5", o.Replicas)
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       n.Bucket(BucketDeployments),
		Description:  "bevygap fleet ledger: Edgegap deployments and their seats",
		History:      1,
		MaxValueSize: maxRecordBytes,
		Replicas:     o.Replicas,
		Storage:      jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet ledger bucket %s: %w", n.Bucket(BucketDeployments), err)
	}
	return &Fleet{kv: kv, now: o.Now}, nil
}

// KV exposes the raw bucket (watchers, the kv commands).
func (f *Fleet) KV() jetstream.KeyValue { return f.kv }

// NewFleetID returns a fresh random id (12 hex digits), usable as an intent
// id and as the random part of a seat id.
func NewFleetID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SeatID names a seat on deployment depID. The deployment's id is the part
// before the last '_' (DeploymentOfSeat).
func SeatID(depID string) string { return depID + "_" + NewFleetID() }

// DeploymentOfSeat returns the deployment id a seat id belongs to, or "".
func DeploymentOfSeat(seatID string) string {
	i := strings.LastIndexByte(seatID, '_')
	if i <= 0 {
		return ""
	}
	return seatID[:i]
}

// DecodeDeployment parses a ledger record read at revision rev.
func DecodeDeployment(key string, rev uint64, b []byte) (*Deployment, error) {
	if len(b) > maxRecordBytes {
		return nil, fmt.Errorf("fleet record %s: %d bytes, over the %d limit", key, len(b), maxRecordBytes)
	}
	var d Deployment
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("fleet record %s: %w", key, err)
	}
	if d.ID != key {
		return nil, fmt.Errorf("fleet record %s: holds id %q", key, d.ID)
	}
	d.Revision = rev
	return &d, nil
}

// Create records a new deployment (an intent, before Edgegap is asked). It
// fails if the id exists.
func (f *Fleet) Create(ctx context.Context, d *Deployment) error {
	now := f.now().UTC()
	if d.Created.IsZero() {
		d.Created = now
	}
	d.Changed = now
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	rev, err := f.kv.Create(ctx, d.ID, b)
	if err != nil {
		return fmt.Errorf("record deployment %s in %s: %w", d.ID, f.kv.Bucket(), err)
	}
	d.Revision = rev
	return nil
}

// Get reads one record.
func (f *Fleet) Get(ctx context.Context, id string) (*Deployment, error) {
	e, err := f.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("deployment %s in %s: %w", id, f.kv.Bucket(), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get deployment %s: %w", id, err)
	}
	return DecodeDeployment(id, e.Revision(), e.Value())
}

// List reads every record, oldest first.
func (f *Fleet) List(ctx context.Context) ([]*Deployment, error) {
	lister, err := f.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", f.kv.Bucket(), err)
	}
	defer func() { _ = lister.Stop() }()
	var out []*Deployment
	for k := range lister.Keys() {
		d, err := f.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *Deployment) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// FindByRequestID returns the record Edgegap knows as requestID.
func (f *Fleet) FindByRequestID(ctx context.Context, requestID string) (*Deployment, error) {
	all, err := f.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range all {
		if d.RequestID == requestID {
			return d, nil
		}
	}
	return nil, fmt.Errorf("deployment with request id %s in %s: %w", requestID, f.kv.Bucket(), ErrNotFound)
}

// errStale: the cached copy is not the current revision.
var errStale = errors.New("stale copy")

// updateAt applies fn to cached and writes it if cached is still the
// current revision (errStale otherwise, nothing written).
func (f *Fleet) updateAt(ctx context.Context, cached *Deployment, fn func(d *Deployment) error) (*Deployment, error) {
	next := cached.Clone()
	if err := fn(next); err != nil {
		if errors.Is(err, ErrFull) {
			return nil, errStale // the copy may be stale: decide on the current one
		}
		return nil, err
	}
	next.Changed = f.now().UTC()
	b, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	rev, err := f.kv.Update(ctx, cached.ID, b, cached.Revision)
	if isWrongSequence(err) {
		return nil, errStale
	}
	if err != nil {
		return nil, fmt.Errorf("update deployment %s: %w", cached.ID, err)
	}
	next.Revision = rev
	return next, nil
}

// maxCASTries bounds Update's compare-and-set loop.
const maxCASTries = 64

// Update applies fn to the current record and writes it back only if nobody
// changed it meanwhile (compare-and-set on the revision), retrying on a
// conflict. fn returning ErrNoChange ends without writing (the current record
// is returned); any other error is returned as is.
func (f *Fleet) Update(ctx context.Context, id string, fn func(d *Deployment) error) (*Deployment, error) {
	for range maxCASTries {
		cur, err := f.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		next := cur.Clone()
		if err := fn(next); errors.Is(err, ErrNoChange) {
			return cur, nil
		} else if err != nil {
			return cur, err
		}
		next.Changed = f.now().UTC()
		b, err := json.Marshal(next)
		if err != nil {
			return nil, err
		}
		rev, err := f.kv.Update(ctx, id, b, cur.Revision)
		if isWrongSequence(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update deployment %s: %w", id, err)
		}
		next.Revision = rev
		return next, nil
	}
	return nil, fmt.Errorf("deployment %s: %w after %d tries", id, ErrConflict, maxCASTries)
}

// isWrongSequence: somebody changed the record since we read it (on single
// and replicated buckets alike).
func isWrongSequence(err error) bool { return errors.Is(err, jetstream.ErrKeyRevisionMismatch) }

// Reserve takes one seat on deployment id for a new seat id, by
// compare-and-set. ErrFull when it has no free seat or takes none.
func (f *Fleet) Reserve(ctx context.Context, id string) (seatID string, d *Deployment, err error) {
	return f.ReserveFor(ctx, &Deployment{ID: id}, 0)
}

// ReserveFor is Reserve for clientID, starting from a copy of the record
// the caller holds (a view): when nobody changed it since, the seat costs
// one write and no read. A seat on a deployment that is not ready yet is
// Waiting.
func (f *Fleet) ReserveFor(ctx context.Context, cached *Deployment, clientID uint64) (seatID string, d *Deployment, err error) {
	seatID = SeatID(cached.ID)
	reserve := func(d *Deployment) error {
		if !d.TakesSeats() {
			return ErrFull
		}
		if d.Seats == nil {
			d.Seats = map[string]FleetSeat{}
		}
		d.Seats[seatID] = FleetSeat{ClientID: clientID, State: SeatReserved, Since: f.now().UTC(), Waiting: d.State != DeploymentReady}
		d.EmptySince = time.Time{}
		return nil
	}
	if cached.Revision != 0 {
		d, err = f.updateAt(ctx, cached, reserve)
		if !errors.Is(err, errStale) {
			if err != nil {
				return "", d, err
			}
			return seatID, d, nil
		}
	}
	d, err = f.Update(ctx, cached.ID, reserve)
	if err != nil {
		return "", d, err
	}
	return seatID, d, nil
}

// SetSeat updates one seat (client id, state); ErrNotFound when the seat is
// not on its deployment.
func (f *Fleet) SetSeat(ctx context.Context, seatID string, clientID uint64, st SeatState) (*Deployment, error) {
	id := DeploymentOfSeat(seatID)
	if id == "" {
		return nil, fmt.Errorf("seat id %q names no deployment: %w", seatID, ErrNotFound)
	}
	return f.Update(ctx, id, func(d *Deployment) error {
		s, ok := d.Seats[seatID]
		if !ok {
			return fmt.Errorf("seat %s on deployment %s: %w", seatID, id, ErrNotFound)
		}
		// Compare before assigning: a seat handed to a client (no longer
		// waiting for its deployment, with its client id) is what lets the
		// janitor release it after unclaimed-ttl.
		if s.State == st && !s.Waiting && (clientID == 0 || s.ClientID == clientID) {
			return ErrNoChange
		}
		if clientID != 0 {
			s.ClientID = clientID
		}
		s.State, s.Since, s.Waiting = st, f.now().UTC(), false
		d.Seats[seatID] = s
		return nil
	})
}

// Release frees a seat. It is idempotent: releasing a seat that is not held
// (or whose deployment is gone) is not an error.
func (f *Fleet) Release(ctx context.Context, seatID string) (*Deployment, error) {
	id := DeploymentOfSeat(seatID)
	if id == "" {
		return nil, nil
	}
	d, err := f.Update(ctx, id, func(d *Deployment) error {
		if _, ok := d.Seats[seatID]; !ok {
			return ErrNoChange
		}
		delete(d.Seats, seatID)
		if len(d.Seats) == 0 {
			d.EmptySince = f.now().UTC()
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return d, err
}

// Remove deletes a record (a deployment known gone for good).
func (f *Fleet) Remove(ctx context.Context, id string) error {
	if err := f.kv.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("remove deployment %s: %w", id, err)
	}
	return nil
}

// Candidates orders the deployments of app/version that take seats for
// placement: ready before deploying (a player seated at once beats one who
// waits), then fullest first (to keep few servers running), then oldest.
func Candidates(all []*Deployment, app, version string) []*Deployment {
	var out []*Deployment
	for _, d := range all {
		if d.App == app && d.Version == version && d.TakesSeats() {
			out = append(out, d)
		}
	}
	rank := func(s DeploymentState) int {
		if s == DeploymentReady {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b *Deployment) int {
		if r := rank(a.State) - rank(b.State); r != 0 {
			return r
		}
		if n := len(b.Seats) - len(a.Seats); n != 0 {
			return n
		}
		return a.Created.Compare(b.Created)
	})
	return out
}

// Names of bevygap's fleet streams and buckets (namespaced like all others).
const (
	// StopStream is the durable work queue of deployments to stop.
	StopStream = "bevygap_stop_deployments"
	// StopConsumer is its durable pull consumer.
	StopConsumer = "bevygap-stopper"
	// BucketLeases holds short leases (the right to open a deployment).
	BucketLeases  = "bevygap_leases"
	stopSubject   = "bevygap.stop_deployment"
	stopDedupe    = 10 * time.Minute
	leaseMaxBytes = 1024
)

// StopQueue is the durable work queue of Edgegap deployments to stop, with
// de-duplication on the request id for stopDedupe, so any number of
// replicas (and a restarted one replaying its history) may enqueue safely.
type StopQueue struct {
	js    jetstream.JetStream
	names Names
}

// OpenStopQueue creates (or binds) the stop stream.
func OpenStopQueue(ctx context.Context, js jetstream.JetStream, n Names, replicas int) (*StopQueue, error) {
	if replicas <= 0 {
		replicas = 1
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        n.Stream(StopStream),
		Description: "bevygap: Edgegap deployments to stop (request id per message)",
		Subjects:    []string{n.Subject(stopSubject) + ".*"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  stopDedupe,
	})
	if err != nil {
		return nil, fmt.Errorf("stop queue %s: %w", n.Stream(StopStream), err)
	}
	return &StopQueue{js: js, names: n}, nil
}

// Enqueue queues a deployment stop (idempotent within stopDedupe).
func (q *StopQueue) Enqueue(ctx context.Context, requestID string) error {
	if requestID == "" || strings.ContainsAny(requestID, ". *>") {
		return fmt.Errorf("queue stop: request id %q is not a single subject token", requestID)
	}
	_, err := q.js.Publish(ctx, q.names.Subject(stopSubject)+"."+requestID, []byte(requestID), jetstream.WithMsgID("stop-"+requestID))
	if err != nil {
		return fmt.Errorf("queue stop of deployment %s: %w", requestID, err)
	}
	return nil
}

// Consumer creates (or binds) the durable pull consumer the stop worker reads.
func (q *StopQueue) Consumer(ctx context.Context, maxDeliver int, ackWait time.Duration) (jetstream.Consumer, error) {
	c, err := q.js.CreateOrUpdateConsumer(ctx, q.names.Stream(StopStream), jetstream.ConsumerConfig{
		Durable: StopConsumer, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: maxDeliver, AckWait: ackWait,
	})
	if err != nil {
		return nil, fmt.Errorf("stop consumer %s: %w", StopConsumer, err)
	}
	return c, nil
}

// Lease is a short, exclusive right held in the leases bucket.
type Lease struct {
	Holder string    `json:"holder,omitempty"`
	Until  time.Time `json:"until,omitzero"`
	// Last is the id of the deployment the previous holder opened.
	Last string `json:"last,omitempty"`
}

// Leases is the leases bucket.
type Leases struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// ErrLeaseBusy: somebody else holds the lease.
var ErrLeaseBusy = errors.New("lease held by another holder")

// OpenLeases creates (or binds) the leases bucket.
func OpenLeases(ctx context.Context, js jetstream.JetStream, n Names, replicas int, now func() time.Time) (*Leases, error) {
	if replicas <= 0 {
		replicas = 1
	}
	if now == nil {
		now = time.Now
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: n.Bucket(BucketLeases), Description: "bevygap: short leases between matchmaker replicas",
		History: 1, MaxValueSize: leaseMaxBytes, Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("leases bucket %s: %w", n.Bucket(BucketLeases), err)
	}
	return &Leases{kv: kv, now: now}, nil
}

// LeaseKey turns free text (an app and version) into a valid KV key.
func LeaseKey(parts ...string) string {
	return "l_" + hex.EncodeToString([]byte(strings.Join(parts, "\x00")))
}

// Acquire takes the lease key for holder for ttl, unless another holder has
// it and it has not expired (ErrLeaseBusy). It returns the lease as it was
// and the revision to Release with.
func (l *Leases) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (Lease, uint64, error) {
	var cur Lease
	e, err := l.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return cur, 0, fmt.Errorf("lease %s: %w", key, err)
	default:
		if len(e.Value()) > leaseMaxBytes || json.Unmarshal(e.Value(), &cur) != nil {
			cur = Lease{} // unreadable: take it over
		}
		if cur.Holder != "" && cur.Holder != holder && l.now().Before(cur.Until) {
			return cur, 0, ErrLeaseBusy
		}
	}
	next := Lease{Holder: holder, Until: l.now().Add(ttl).UTC(), Last: cur.Last}
	b, _ := json.Marshal(next)
	var rev uint64
	if e == nil {
		rev, err = l.kv.Create(ctx, key, b)
	} else {
		rev, err = l.kv.Update(ctx, key, b, e.Revision())
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
		return cur, 0, ErrLeaseBusy
	}
	if err != nil {
		return cur, 0, fmt.Errorf("lease %s: %w", key, err)
	}
	return cur, rev, nil
}

// Release gives the lease up, recording last. It is a no-op if the lease
// was taken over meanwhile (it had expired).
func (l *Leases) Release(ctx context.Context, key string, rev uint64, last string) error {
	b, _ := json.Marshal(Lease{Last: last})
	_, err := l.kv.Update(ctx, key, b, rev)
	if err != nil && !isWrongSequence(err) {
		return fmt.Errorf("release lease %s: %w", key, err)
	}
	return nil
}
