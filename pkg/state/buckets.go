package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Descriptions exactly as the Rust side sets them.
const (
	descEG2LY     = "Maps Edgegap Session IDs to Lightyear Client IDs"
	descLY2EG     = "Maps Lightyear Client IDs to Edgegap Session IDs"
	descCerts     = "Maps server public ip to their self-signed cert digests"
	descUnclaimed = "Any session ids we get from the API are stored here, and if they key age gets too big, we delete the session via the API."
)

// Spec is one compat stream: its protocol base name and the exact config the
// Rust side (async-nats 0.36) creates.
type Spec struct {
	Base   string // bucket base name, or the stream name for the delete queue
	Bucket bool   // a KV bucket (stream KV_<bucket>)
	Config jetstream.StreamConfig
	// Pinned means unmodified Rust components create this stream too (no
	// namespace), so its replica count must stay the one they send (1): a
	// Rust create against a stream with another count is refused.
	Pinned bool
}

// MaxReplicas is the most copies JetStream keeps of a stream.
const MaxReplicas = 5

// Option changes how Open, EnsureAll and Specs lay out the streams.
type Option func(*options)

type options struct{ replicas int }

// Replicas sets the replica count (the nats-replicas setting) of bevygap's
// own buckets (dead letters) and, with a namespace, of the compat buckets
// and the delete stream. Without a namespace the compat streams keep the
// Rust configuration, replicas 1, whatever n is. The default is 1; use 3 on a
// 3-node cluster to survive the loss of one node.
func Replicas(n int) Option { return func(o *options) { o.replicas = n } }

func newOptions(opts []Option) (options, error) {
	o := options{replicas: 1}
	for _, f := range opts {
		f(&o)
	}
	if o.replicas < 1 || o.replicas > MaxReplicas {
		return o, fmt.Errorf("nats-replicas %d: use 1 to %d (one copy per NATS cluster node, JetStream keeps at most %d)", o.replicas, MaxReplicas, MaxReplicas)
	}
	return o, nil
}

func kvStream(bucket, desc string, maxAge time.Duration, maxValue int32) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "KV_" + bucket,
		Description:       desc,
		Subjects:          []string{"$KV." + bucket + ".>"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardNew,
		MaxAge:            maxAge,
		MaxMsgSize:        maxValue,
		Storage:           jetstream.FileStorage,
		Replicas:          1,
		AllowRollup:       true,
		DenyDelete:        true,
		AllowDirect:       true,
	}
}

// Specs returns the five compat buckets and the delete stream, in the names
// of n. Any change here breaks unmodified Rust game servers: the compat test
// pins them against the fixtures the Rust client sends. Only with a
// namespace does Replicas change them (an invalid count is left for
// EnsureAll to report).
func Specs(n Names, opts ...Option) []Spec {
	o, _ := newOptions(opts)
	b := n.Bucket
	specs := []Spec{
		{BucketSessionsEG2LY, true, kvStream(b(BucketSessionsEG2LY), descEG2LY, 30*time.Second, 1024), true},
		{BucketSessionsLY2EG, true, kvStream(b(BucketSessionsLY2EG), descLY2EG, 30*time.Second, 1024), true},
		{BucketActiveConnections, true, kvStream(b(BucketActiveConnections), "", 0, 0), true},
		{BucketUnclaimedSessions, true, kvStream(b(BucketUnclaimedSessions), descUnclaimed, 0, 1024), true},
		{BucketCertDigests, true, kvStream(b(BucketCertDigests), descCerts, 14*24*time.Hour, 1024), true},
		{DeleteStream, false, jetstream.StreamConfig{
			Name:      n.Stream(DeleteStream),
			Subjects:  []string{n.Subject(deleteSubjectPrefix) + ".*"},
			Retention: jetstream.WorkQueuePolicy,
			Discard:   jetstream.DiscardOld,
			Storage:   jetstream.FileStorage,
			Replicas:  1,
		}, true},
	}
	if n.Namespace != "" {
		for i := range specs {
			specs[i].Pinned = false
			specs[i].Config.Replicas = o.replicas
		}
	}
	return specs
}

// EnsureResult reports what EnsureAll did for one stream.
type EnsureResult struct {
	Stream  string `json:"stream"`
	Bucket  string `json:"bucket,omitempty"`
	Created bool   `json:"created"`
}

// ErrIncompatible means a bucket or stream exists with a configuration the
// Rust side would not accept.
var ErrIncompatible = errors.New("incompatible stream configuration")

// EnsureAll creates every compat bucket and the delete stream if missing. It
// is idempotent and changes an existing stream only to raise the replica
// count of a namespaced one to Replicas (never lowering it: a game-server
// agent with the default count does not undo the matchmaker's). One whose
// configuration differs from the protocol otherwise is reported as
// ErrIncompatible.
func EnsureAll(ctx context.Context, js jetstream.JetStream, n Names, opts ...Option) ([]EnsureResult, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	var out []EnsureResult
	for _, s := range Specs(n, opts...) {
		var r EnsureResult
		err := retryTimeouts(ctx, func(ctx context.Context) (err error) {
			r, err = ensureOne(ctx, js, n, s, o)
			return err
		})
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func ensureOne(ctx context.Context, js jetstream.JetStream, n Names, s Spec, o options) (EnsureResult, error) {
	r := EnsureResult{Stream: s.Config.Name}
	if s.Bucket {
		r.Bucket = n.Bucket(s.Base)
	}
	_, existErr := js.Stream(ctx, s.Config.Name)
	existed := existErr == nil
	if existErr != nil && !errors.Is(existErr, jetstream.ErrStreamNotFound) {
		return r, fmt.Errorf("looking up stream %s: %w", s.Config.Name, existErr)
	}
	// The server accepts a create whose config equals the existing one and
	// refuses (err_code 10058) one that differs: let it be the judge.
	_, err := js.CreateStream(ctx, s.Config)
	switch {
	case err == nil:
		r.Created = !existed
	case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
		if err := acceptExisting(ctx, js, s); err != nil {
			return r, err
		}
	default:
		if o.replicas > 1 && !s.Pinned {
			return r, fmt.Errorf("creating stream %s with nats-replicas %d: %w", s.Config.Name, o.replicas, err)
		}
		return r, fmt.Errorf("creating stream %s: %w", s.Config.Name, err)
	}
	return r, nil
}

// A JetStream cluster may leave a request unanswered while the same stream is
// being created through another server (several replicas starting at once
// against a fresh cluster do this; seen with nats-server 2.15): the setup
// calls retry on a timeout, each attempt bounded, while ctx lasts.
const (
	setupAttempts       = 5
	setupAttemptTimeout = 3 * time.Second
)

func retryTimeouts(ctx context.Context, f func(context.Context) error) error {
	var err error
	for range setupAttempts {
		actx, cancel := context.WithTimeout(ctx, setupAttemptTimeout)
		err = f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			return err
		}
	}
	return err
}

// acceptExisting judges a stream that exists with another configuration than
// s: only a namespaced one differing in its replica count alone is fine.
func acceptExisting(ctx context.Context, js jetstream.JetStream, s Spec) error {
	if !s.Pinned {
		err := ensureReplicas(ctx, js, s)
		if err == nil || !errors.Is(err, ErrIncompatible) {
			return err
		}
	}
	if err := Check(ctx, js, s); err != nil {
		return err
	}
	return fmt.Errorf("%w: stream %s exists with a different configuration", ErrIncompatible, s.Config.Name)
}

// ensureReplicas accepts an existing namespaced stream whose configuration
// equals the spec but for its replica count, raising that count to the
// spec's when it is lower. ErrIncompatible means another field differs.
func ensureReplicas(ctx context.Context, js jetstream.JetStream, s Spec) error {
	st, err := js.Stream(ctx, s.Config.Name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", s.Config.Name, err)
	}
	have := max(st.CachedInfo().Config.Replicas, 1)
	same := s.Config
	same.Replicas = have
	// The server accepts a create equal to the existing stream: the only
	// difference was the replica count.
	if _, err := js.CreateStream(ctx, same); err != nil {
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return ErrIncompatible
		}
		return fmt.Errorf("stream %s: %w", s.Config.Name, err)
	}
	if have >= s.Config.Replicas {
		return nil
	}
	if _, err := js.UpdateStream(ctx, s.Config); err != nil {
		return fmt.Errorf("raising the replicas of stream %s from %d to nats-replicas %d: %w", s.Config.Name, have, s.Config.Replicas, err)
	}
	return nil
}

// Check compares an existing stream with its spec and names the first field
// that differs. The replica count must equal a pinned spec's and be at least
// a namespaced one's.
func Check(ctx context.Context, js jetstream.JetStream, s Spec) error {
	st, err := js.Stream(ctx, s.Config.Name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", s.Config.Name, err)
	}
	got := st.CachedInfo().Config
	d := Diff(s.Config, got)
	if d == "" {
		d = replicasDiff(s, got.Replicas)
	}
	if d != "" {
		return fmt.Errorf("%w: stream %s: %s (delete it or fix the other creator)", ErrIncompatible, s.Config.Name, d)
	}
	return nil
}

func replicasDiff(s Spec, got int) string {
	want, got := max(s.Config.Replicas, 1), max(got, 1)
	switch {
	case s.Pinned && got != want:
		return fmt.Sprintf("replicas is %d, want %d (unmodified Rust components create it so; use a namespace for more)", got, want)
	case !s.Pinned && got < want:
		return fmt.Sprintf("replicas is %d, want at least %d (nats-replicas)", got, want)
	}
	return ""
}

// Diff names the first protocol-relevant field where got differs from want, or "".
func Diff(want, got jetstream.StreamConfig) string {
	norm := func(v int64) int64 {
		if v == 0 {
			return -1
		}
		return v
	}
	switch {
	case want.Description != got.Description:
		return fmt.Sprintf("description is %q, want %q", got.Description, want.Description)
	case !slices.Equal(want.Subjects, got.Subjects):
		return fmt.Sprintf("subjects are %v, want %v", got.Subjects, want.Subjects)
	case want.Retention != got.Retention:
		return fmt.Sprintf("retention is %v, want %v", got.Retention, want.Retention)
	case want.Discard != got.Discard:
		return fmt.Sprintf("discard is %v, want %v", got.Discard, want.Discard)
	case want.MaxAge != got.MaxAge:
		return fmt.Sprintf("max_age is %v, want %v", got.MaxAge, want.MaxAge)
	case norm(int64(want.MaxMsgSize)) != norm(int64(got.MaxMsgSize)):
		return fmt.Sprintf("max_msg_size is %d, want %d", got.MaxMsgSize, want.MaxMsgSize)
	case norm(want.MaxMsgsPerSubject) != norm(got.MaxMsgsPerSubject):
		return fmt.Sprintf("max_msgs_per_subject is %d, want %d", got.MaxMsgsPerSubject, want.MaxMsgsPerSubject)
	case norm(want.MaxMsgs) != norm(got.MaxMsgs):
		return fmt.Sprintf("max_msgs is %d, want %d", got.MaxMsgs, want.MaxMsgs)
	case norm(want.MaxBytes) != norm(got.MaxBytes):
		return fmt.Sprintf("max_bytes is %d, want %d", got.MaxBytes, want.MaxBytes)
	case want.Storage != got.Storage:
		return fmt.Sprintf("storage is %v, want %v", got.Storage, want.Storage)
	case want.AllowRollup != got.AllowRollup || want.DenyDelete != got.DenyDelete || want.AllowDirect != got.AllowDirect:
		return fmt.Sprintf("rollup/deny_delete/allow_direct are %v/%v/%v, want %v/%v/%v",
			got.AllowRollup, got.DenyDelete, got.AllowDirect, want.AllowRollup, want.DenyDelete, want.AllowDirect)
	}
	return ""
}
