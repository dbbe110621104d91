package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketCheckpoints holds how far bevygap's watchers have handled a bucket's
// history (a bevygap addition; not part of the Rust protocol), so a
// restarted matchmaker resumes instead of replaying every recent delete.
const BucketCheckpoints = "bevygap_checkpoints"

// Checkpoints is the checkpoints bucket: key -> the highest stream revision
// whose event, and every one before it, has been handled.
type Checkpoints struct {
	kv jetstream.KeyValue
}

// Checkpoints opens (creating if needed) the checkpoints bucket.
func (s *Store) Checkpoints(ctx context.Context) (*Checkpoints, error) {
	kv, err := s.ownBucket(ctx, jetstream.KeyValueConfig{
		Bucket:       s.Names.Bucket(BucketCheckpoints),
		Description:  "bevygap: how far the matchmakers' watchers have handled each bucket",
		History:      1,
		MaxValueSize: 64,
		Storage:      jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	return &Checkpoints{kv: kv}, nil
}

// Get returns the checkpoint of key (0 when none).
func (c *Checkpoints) Get(ctx context.Context, key string) (uint64, error) {
	e, err := c.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", key, err)
	}
	v, err := strconv.ParseUint(string(e.Value()), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s holds %q, not a revision", key, e.Value())
	}
	return v, nil
}

// Advance raises the checkpoint of key to rev; it never lowers it (several
// replicas advance the same checkpoint), by compare-and-set.
func (c *Checkpoints) Advance(ctx context.Context, key string, rev uint64) error {
	for range maxCASTries {
		e, err := c.kv.Get(ctx, key)
		var cur uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = c.kv.Create(ctx, key, []byte(strconv.FormatUint(rev, 10)))
			if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
				continue
			}
			return err
		case err != nil:
			return fmt.Errorf("checkpoint %s: %w", key, err)
		}
		cur, _ = strconv.ParseUint(string(e.Value()), 10, 64)
		if cur >= rev {
			return nil
		}
		_, err = c.kv.Update(ctx, key, []byte(strconv.FormatUint(rev, 10)), e.Revision())
		if isWrongSequence(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("advance checkpoint %s: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("checkpoint %s: %w after %d tries", key, ErrConflict, maxCASTries)
}
