package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound is returned when a key is absent.
var ErrNotFound = errors.New("not found")

// Store is the typed view of the compat buckets and the delete queue.
type Store struct {
	Names Names
	JS    jetstream.JetStream

	replicas                               int // of bevygap's own buckets
	eg2ly, ly2eg, active, unclaimed, certs jetstream.KeyValue
}

// Open ensures every compat bucket and stream exists and binds them. Replicas
// applies as in EnsureAll, and to the buckets the Store creates later.
func Open(ctx context.Context, nc *nats.Conn, n Names, opts ...Option) (*Store, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if _, err := EnsureAll(ctx, js, n, opts...); err != nil {
		return nil, err
	}
	s := &Store{Names: n, JS: js, replicas: o.replicas}
	for _, b := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{
		{BucketSessionsEG2LY, &s.eg2ly}, {BucketSessionsLY2EG, &s.ly2eg},
		{BucketActiveConnections, &s.active}, {BucketUnclaimedSessions, &s.unclaimed},
		{BucketCertDigests, &s.certs},
	} {
		var kv jetstream.KeyValue
		err := retryTimeouts(ctx, func(ctx context.Context) (err error) {
			kv, err = js.KeyValue(ctx, n.Bucket(b.name))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("binding bucket %s: %w", n.Bucket(b.name), err)
		}
		*b.kv = kv
	}
	return s, nil
}

func get(ctx context.Context, kv jetstream.KeyValue, key string) (string, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("%s in %s: %w", key, kv.Bucket(), ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get %s from %s: %w", key, kv.Bucket(), err)
	}
	return string(e.Value()), nil
}

func del(ctx context.Context, kv jetstream.KeyValue, key string) error {
	if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete %s from %s: %w", key, kv.Bucket(), err)
	}
	return nil
}

// PutSeat records a seat in both session maps: client id -> session id and
// session id -> client id (decimal text), as the Rust matchmaker does.
func (s *Store) PutSeat(ctx context.Context, clientID uint64, sessionID string) error {
	cid := strconv.FormatUint(clientID, 10)
	if _, err := s.ly2eg.Put(ctx, cid, []byte(sessionID)); err != nil {
		return fmt.Errorf("put %s in %s: %w", cid, s.ly2eg.Bucket(), err)
	}
	if _, err := s.eg2ly.Put(ctx, sessionID, []byte(cid)); err != nil {
		return fmt.Errorf("put %s in %s: %w", sessionID, s.eg2ly.Bucket(), err)
	}
	return nil
}

// SessionForClient reads sessions_ly2eg.
func (s *Store) SessionForClient(ctx context.Context, clientID uint64) (string, error) {
	return get(ctx, s.ly2eg, strconv.FormatUint(clientID, 10))
}

// ClientForSession reads sessions_eg2ly.
func (s *Store) ClientForSession(ctx context.Context, sessionID string) (uint64, error) {
	v, err := get(ctx, s.eg2ly, sessionID)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s in %s holds %q, not a client id", sessionID, s.eg2ly.Bucket(), v)
	}
	return id, nil
}

// PutActive records that a client is connected to its session's game server.
func (s *Store) PutActive(ctx context.Context, sessionID string, clientID uint64) error {
	if _, err := s.active.Put(ctx, sessionID, []byte(strconv.FormatUint(clientID, 10))); err != nil {
		return fmt.Errorf("put %s in %s: %w", sessionID, s.active.Bucket(), err)
	}
	return nil
}

// DeleteActive records a disconnect.
func (s *Store) DeleteActive(ctx context.Context, sessionID string) error {
	return del(ctx, s.active, sessionID)
}

// ActiveClient returns the client connected on a session.
func (s *Store) ActiveClient(ctx context.Context, sessionID string) (uint64, error) {
	v, err := get(ctx, s.active, sessionID)
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s in %s holds %q, not a client id", sessionID, s.active.Bucket(), v)
	}
	return id, nil
}

// PutUnclaimed marks a session as created but not yet used by any client.
func (s *Store) PutUnclaimed(ctx context.Context, sessionID string) error {
	if _, err := s.unclaimed.Put(ctx, sessionID, []byte(sessionID)); err != nil {
		return fmt.Errorf("put %s in %s: %w", sessionID, s.unclaimed.Bucket(), err)
	}
	return nil
}

// DeleteUnclaimed removes a session from unclaimed_sessions.
func (s *Store) DeleteUnclaimed(ctx context.Context, sessionID string) error {
	return del(ctx, s.unclaimed, sessionID)
}

// IsUnclaimed reports whether a session is still waiting for its client.
func (s *Store) IsUnclaimed(ctx context.Context, sessionID string) (bool, error) {
	_, err := get(ctx, s.unclaimed, sessionID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// PutCertDigest records a game server's certificate digest under key: its
// public IP (the Rust plugin) or its deployment's request id (the Go agent
// writes both).
func (s *Store) PutCertDigest(ctx context.Context, key, digest string) error {
	if _, err := s.certs.Put(ctx, key, []byte(digest)); err != nil {
		return fmt.Errorf("put %s in %s: %w", key, s.certs.Bucket(), err)
	}
	return nil
}

// CertDigest reads a game server's certificate digest.
func (s *Store) CertDigest(ctx context.Context, ip string) (string, error) {
	return get(ctx, s.certs, ip)
}

// WaitCertDigest returns a game server's certificate digest, waiting up to
// wait for it to be published (a KV watch, not a loop of gets). keys are
// the cert_digests keys to look under, most specific first (a
// deployment's request id, then its public IP, which is what the Rust
// plugin writes); an entry written before notBefore (a previous server on
// the same IP) is ignored.
func (s *Store) WaitCertDigest(ctx context.Context, keys []string, notBefore time.Time, wait time.Duration) (string, error) {
	parent := ctx
	what := strings.Join(keys, " or ")
	fresh := func(e jetstream.KeyValueEntry) bool {
		return e != nil && len(e.Value()) > 0 && !e.Created().Before(notBefore)
	}
	// Fast path: usually the game server published it long ago.
	for _, k := range keys {
		e, err := s.certs.Get(ctx, k)
		if err == nil && fresh(e) {
			return string(e.Value()), nil
		}
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return "", fmt.Errorf("get %s from %s: %w", k, s.certs.Bucket(), err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	w, err := s.certs.WatchFiltered(ctx, keys, jetstream.IgnoreDeletes())
	if err != nil {
		if ctx.Err() != nil && parent.Err() == nil { // our own wait ran out
			return "", fmt.Errorf("%s in %s after %v: %w", what, s.certs.Bucket(), wait, ErrNotFound)
		}
		return "", fmt.Errorf("watch %s in %s: %w", what, s.certs.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return "", parent.Err()
			}
			return "", fmt.Errorf("%s in %s after %v: %w", what, s.certs.Bucket(), wait, ErrNotFound)
		case e, ok := <-w.Updates():
			if !ok {
				return "", fmt.Errorf("%s in %s: watch closed: %w", what, s.certs.Bucket(), ErrNotFound)
			}
			if fresh(e) {
				return string(e.Value()), nil
			}
		}
	}
}

// Active and Unclaimed expose the raw buckets for watchers.
func (s *Store) Active() jetstream.KeyValue    { return s.active }
func (s *Store) Unclaimed() jetstream.KeyValue { return s.unclaimed }

// EnqueueDelete queues a session for deletion through the Edgegap API. The
// message id makes repeated enqueues within the stream's duplicate window
// (2 minutes) collapse into one job, so every replica may enqueue safely.
func (s *Store) EnqueueDelete(ctx context.Context, sessionID string) error {
	_, err := s.JS.Publish(ctx, s.Names.DeleteSubject(sessionID), []byte(sessionID), jetstream.WithMsgID("del-"+sessionID))
	if err != nil {
		return fmt.Errorf("queue delete of session %s: %w", sessionID, err)
	}
	return nil
}

// DeleteConsumer creates (or binds) the durable pull consumer the delete
// worker reads, api-deleter-1 with explicit ack.
func (s *Store) DeleteConsumer(ctx context.Context, maxDeliver int, ackWait time.Duration) (jetstream.Consumer, error) {
	c, err := s.JS.CreateOrUpdateConsumer(ctx, s.Names.Stream(DeleteStream), jetstream.ConsumerConfig{
		Durable:    DeleteConsumer,
		AckPolicy:  jetstream.AckExplicitPolicy,
		MaxDeliver: maxDeliver,
		AckWait:    ackWait,
	})
	if err != nil {
		return nil, fmt.Errorf("delete consumer %s: %w", DeleteConsumer, err)
	}
	return c, nil
}

// BucketDeadLetters holds sessions whose deletion kept failing (a bevygap
// addition; not part of the Rust protocol).
const BucketDeadLetters = "bevygap_dead_letters"

// DeadLetters opens (creating if needed) the dead-letter bucket, with the
// Store's replica count (bevygap owns it, the Rust side never reads it). An
// existing bucket with fewer replicas is raised to the count, never lowered.
func (s *Store) DeadLetters(ctx context.Context) (jetstream.KeyValue, error) {
	r := max(s.replicas, 1)
	cfg := jetstream.KeyValueConfig{
		Bucket:      s.Names.Bucket(BucketDeadLetters),
		Description: "Edgegap sessions bevygap failed to delete; check and delete them by hand (bevygap sessions rm)",
		Replicas:    r,
	}
	// Create, not create-or-update: every replica opens the bucket at start,
	// and a cluster does not answer an update racing the stream's creation.
	var kv jetstream.KeyValue
	err := retryTimeouts(ctx, func(ctx context.Context) (err error) {
		kv, err = s.JS.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = s.raiseReplicas(ctx, cfg)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dead-letter bucket (nats-replicas %d): %w", r, err)
	}
	return kv, nil
}

// PurgeDeleteMarkers removes the delete and purge markers of
// active_connections and unclaimed_sessions older than keep (the longest
// window any watcher needs them for), so the buckets, and every watcher's
// start-up replay, stay as large as what is live rather than growing with
// history. Younger markers stay. It is idempotent: any replica may run it.
func (s *Store) PurgeDeleteMarkers(ctx context.Context, keep time.Duration) error {
	if keep <= 0 {
		return fmt.Errorf("purge delete markers: keep %v must be positive", keep)
	}
	for _, kv := range []jetstream.KeyValue{s.active, s.unclaimed} {
		if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(keep)); err != nil {
			return fmt.Errorf("purge delete markers of %s: %w", kv.Bucket(), err)
		}
	}
	return nil
}

// ownBucket opens (creating if needed) one of bevygap's own buckets with
// the Store's replica count, as DeadLetters does.
func (s *Store) ownBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Replicas = max(s.replicas, 1)
	var kv jetstream.KeyValue
	err := retryTimeouts(ctx, func(ctx context.Context) (err error) {
		kv, err = s.JS.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = s.raiseReplicas(ctx, cfg)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s (nats-replicas %d): %w", cfg.Bucket, cfg.Replicas, err)
	}
	return kv, nil
}

// raiseReplicas binds an existing bucket whose configuration differs from
// cfg, updating it to cfg only when it has fewer replicas.
func (s *Store) raiseReplicas(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := s.JS.KeyValue(ctx, cfg.Bucket)
	if err != nil {
		return nil, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	if have := max(st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas, 1); have >= cfg.Replicas {
		return kv, nil
	}
	return s.JS.UpdateKeyValue(ctx, cfg)
}
