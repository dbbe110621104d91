package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketSessionIntents records each session create before Edgegap is asked
// (a bevygap addition; not part of the Rust protocol). A create whose answer
// never arrived (the matchmaker killed during the call, a 5xx after Edgegap
// created it) leaves its intent behind, so the session it may have made is
// attributable: the reconciler deletes it as a ghost of that create.
const BucketSessionIntents = "bevygap_session_intents"

// intentMaxAge bounds how long an unresolved intent is kept: far longer
// than any reconcile interval, short enough that the bucket stays small.
const intentMaxAge = 24 * time.Hour

// Intent is one session create bevygap started.
type Intent struct {
	ID       string    `json:"id"`
	App      string    `json:"app"`
	Version  string    `json:"version"`
	ClientIP string    `json:"client_ip"`
	Time     time.Time `json:"time"`
}

// Intents is the typed view of the session intents bucket.
type Intents struct {
	kv jetstream.KeyValue
}

// Intents opens (creating if needed) the session intents bucket.
func (s *Store) Intents(ctx context.Context) (*Intents, error) {
	kv, err := s.ownBucket(ctx, jetstream.KeyValueConfig{
		Bucket:       s.Names.Bucket(BucketSessionIntents),
		Description:  "bevygap: Edgegap session creates started and not yet recorded (ghost-session attribution)",
		History:      1,
		MaxValueSize: 1024,
		TTL:          intentMaxAge,
		Storage:      jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("session intents: %w", err)
	}
	return &Intents{kv: kv}, nil
}

// KV exposes the raw bucket.
func (i *Intents) KV() jetstream.KeyValue { return i.kv }

// Put records an intent (its ID must be set).
func (i *Intents) Put(ctx context.Context, in Intent) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if _, err := i.kv.Put(ctx, in.ID, b); err != nil {
		return fmt.Errorf("record intent %s in %s: %w", in.ID, i.kv.Bucket(), err)
	}
	return nil
}

// Resolve removes an intent whose outcome is known (the session is
// recorded, or Edgegap certainly created nothing).
func (i *Intents) Resolve(ctx context.Context, id string) error {
	// Purge, not Delete: no delete marker stays behind.
	if err := i.kv.Purge(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("resolve intent %s: %w", id, err)
	}
	return nil
}

// List returns every open intent.
func (i *Intents) List(ctx context.Context) ([]Intent, error) {
	lister, err := i.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", i.kv.Bucket(), err)
	}
	defer func() { _ = lister.Stop() }()
	out := []Intent{}
	for k := range lister.Keys() {
		e, err := i.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // resolved meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("get intent %s: %w", k, err)
		}
		var in Intent
		if json.Unmarshal(e.Value(), &in) != nil || in.ID != k {
			in = Intent{ID: k, Time: e.Created()} // unreadable: still an open create
		}
		out = append(out, in)
	}
	return out, nil
}
