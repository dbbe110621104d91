// Package kv implements `bevygap kv`: inspect and purge NATS KV buckets, the
// compat buckets above all.
package kv

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/complete"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/state"
)

// Deps are what the kv commands need: streams, clock, output format, the
// NATS names and connection constructors. Format is read when a command
// runs (the root sets it after the tree is built).
type Deps struct {
	IO          *iostreams.IOStreams
	Now         func() time.Time
	Format      func() output.Format
	Names       func() (state.Names, error)
	NATS        func(ctx context.Context, name string) (*nats.Conn, error)
	ServiceNATS func(ctx context.Context, name string) (*nats.Conn, error)
	Confirm     func(yes bool, question string) error
	// Prepare loads the settings for dynamic completion (nil: none).
	Prepare func(cmd *cobra.Command) error
}

// DepsOf takes the kv commands' dependencies from the factory.
func DepsOf(f *factory.Factory) *Deps {
	return &Deps{
		IO: f.IOStreams, Now: f.Now, Format: func() output.Format { return f.Format },
		Names: f.Names, NATS: f.NATS, ServiceNATS: f.ServiceNATS, Confirm: f.Confirm,
		Prepare: f.PrepareCompletion,
	}
}

// NewCmdKV builds `bevygap kv`.
func NewCmdKV(f *factory.Factory) *cobra.Command {
	d := DepsOf(f)
	cmd := &cobra.Command{
		Use: "kv <command>",
		Example: `  bevygap kv ls
  bevygap kv keys active_connections
  bevygap kv watch --initial`,
		Short: "Inspect and purge the NATS key-value buckets",
		Long: `Inspect and purge NATS JetStream key-value buckets: the five bevygap buckets
(sessions_eg2ly, sessions_ly2eg, active_connections, unclaimed_sessions,
cert_digests) and any other bucket on the server.`,
	}
	settings.AddFlags(cmd.PersistentFlags(), "nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace")
	cmd.AddCommand(
		NewCmdInit(d, nil), NewCmdLs(d, nil), NewCmdKeys(d, nil), NewCmdGet(d, nil),
		NewCmdWatch(d, nil), NewCmdRm(d, nil), NewCmdPurge(d, nil),
	)
	return cmd
}

// completeBucket completes bucket names; completeBucketKeys a bucket, then
// its keys (repeatedly).
func (d *Deps) completeBucket() cobra.CompletionFunc {
	return complete.Func(d.Prepare, complete.Buckets(d.NATS))
}

func (d *Deps) completeBucketKeys() cobra.CompletionFunc {
	return complete.Nth(true, d.completeBucket(), complete.Func(d.Prepare, complete.Keys(d.NATS)))
}

// conn connects and returns a JetStream handle; close the conn when done.
func conn(ctx context.Context, d *Deps) (*nats.Conn, jetstream.JetStream, error) {
	return connWith(ctx, d.NATS)
}

func connWith(ctx context.Context, connect func(context.Context, string) (*nats.Conn, error)) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := connect(ctx, "bevygap-cli")
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// openBucket connects and binds a bucket; close the conn when done.
func openBucket(ctx context.Context, d *Deps, name string) (*nats.Conn, jetstream.KeyValue, error) {
	nc, js, err := conn(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	kv, err := bucket(ctx, js, name)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, kv, nil
}

// missingKey reports whether a KV error means the key does not exist (or
// cannot, being invalid).
func missingKey(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey)
}

// bucket binds a bucket by name, naming it when it is missing.
func bucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrInvalidBucketName) {
		return nil, fmt.Errorf("bucket %q not found (see `bevygap kv ls`)", name)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %q: %w", name, err)
	}
	return kv, nil
}

// Entry is the JSON shape of one key.
type Entry struct {
	Bucket      string    `json:"bucket"`
	Key         string    `json:"key"`
	Value       string    `json:"value"`
	ValueBase64 []byte    `json:"value_base64,omitempty"`
	Revision    uint64    `json:"revision"`
	Created     time.Time `json:"created"`
	Operation   string    `json:"operation,omitempty"`
}

func entryOf(e jetstream.KeyValueEntry) Entry {
	out := Entry{Bucket: e.Bucket(), Key: e.Key(), Revision: e.Revision(), Created: e.Created().UTC()}
	if utf8.Valid(e.Value()) {
		out.Value = string(e.Value())
	} else {
		out.ValueBase64 = e.Value()
	}
	return out
}

func opName(op jetstream.KeyValueOp) string {
	switch op {
	case jetstream.KeyValuePut:
		return "PUT"
	case jetstream.KeyValueDelete:
		return "DELETE"
	case jetstream.KeyValuePurge:
		return "PURGE"
	}
	return op.String()
}

// compatBuckets lists the protocol buckets in the configured namespace.
func compatBuckets(n state.Names) []string {
	var out []string
	for _, s := range state.Specs(n) {
		if s.Bucket {
			out = append(out, n.Bucket(s.Base))
		}
	}
	return out
}
