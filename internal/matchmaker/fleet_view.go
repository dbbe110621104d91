package matchmaker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/pkg/state"
)

// fleetView is this process's copy of the fleet ledger, kept current by a KV
// watch, so that placement reads no NATS key and waiting requests wake on a
// record's change. The ledger stays the authority: every seat is taken by
// compare-and-set on the server, the view only proposes candidates.
type fleetView struct {
	mu   sync.Mutex
	recs map[string]*state.Deployment
	subs map[string]map[chan struct{}]struct{}
}

func newFleetView() *fleetView {
	return &fleetView{recs: map[string]*state.Deployment{}, subs: map[string]map[chan struct{}]struct{}{}}
}

// apply records d unless the view already holds a newer revision, and wakes
// the requests waiting on it.
func (v *fleetView) apply(d *state.Deployment) {
	if d == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if cur, ok := v.recs[d.ID]; ok && cur.Revision >= d.Revision && d.Revision != 0 {
		return
	}
	v.recs[d.ID] = d.Clone()
	v.wakeLocked(d.ID)
}

func (v *fleetView) remove(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.recs, id)
	v.wakeLocked(id)
}

func (v *fleetView) wakeLocked(id string) {
	for ch := range v.subs[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// get returns a copy of one record.
func (v *fleetView) get(id string) (*state.Deployment, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	d, ok := v.recs[id]
	if !ok {
		return nil, false
	}
	return d.Clone(), true
}

// snapshot returns the records (shared: callers must not modify them).
func (v *fleetView) snapshot() []*state.Deployment {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]*state.Deployment, 0, len(v.recs))
	for _, d := range v.recs {
		out = append(out, d)
	}
	return out
}

// byRequestID finds a record by Edgegap's request id, else by intent id.
func (v *fleetView) byRequestID(requestID, intent string) (*state.Deployment, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, d := range v.recs {
		if requestID != "" && d.RequestID == requestID {
			return d.Clone(), true
		}
	}
	if d, ok := v.recs[intent]; ok && intent != "" {
		return d.Clone(), true
	}
	return nil, false
}

// subscribe wakes ch whenever record id changes.
func (v *fleetView) subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.subs[id] == nil {
		v.subs[id] = map[chan struct{}]struct{}{}
	}
	v.subs[id][ch] = struct{}{}
	return ch, func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		delete(v.subs[id], ch)
		if len(v.subs[id]) == 0 {
			delete(v.subs, id)
		}
	}
}

// load fills the view from the ledger and returns the watcher that keeps
// it current (follow it with run).
func (v *fleetView) load(ctx context.Context, kv jetstream.KeyValue) (jetstream.KeyWatcher, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("fleet ledger watch closed while loading")
			}
			if e == nil {
				return w, nil
			}
			v.entry(e)
		}
	}
}

// run follows the watcher until ctx ends.
func (v *fleetView) run(ctx context.Context, w jetstream.KeyWatcher, kv jetstream.KeyValue) error {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("%s watch closed", kv.Bucket())
			}
			if e != nil {
				v.entry(e)
			}
		}
	}
}

func (v *fleetView) entry(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		v.remove(e.Key())
		return
	}
	d, err := state.DecodeDeployment(e.Key(), e.Revision(), e.Value())
	if err != nil {
		return // not ours to fix here; the reconciler reports unreadable records
	}
	v.apply(d)
}
