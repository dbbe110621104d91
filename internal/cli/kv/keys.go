package kv

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/complete"

	"github.com/bevygap/bevygap/internal/output"
)

// KeysOptions of `kv keys`.
type KeysOptions struct {
	D      *Deps
	Bucket string
}

// NewCmdKeys builds `kv keys`.
func NewCmdKeys(d *Deps, runF func(context.Context, *KeysOptions) error) *cobra.Command {
	o := &KeysOptions{D: d}
	return &cobra.Command{
		Use: "keys <bucket>",
		Example: `  bevygap kv keys unclaimed_sessions
  bevygap kv keys cert_digests -o wide
  bevygap kv keys sessions_eg2ly -o json --jq '.[].key'`,
		Short:             "List the keys of a bucket with value, revision and age",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: complete.Nth(false, d.completeBucket()),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Bucket = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return keysRun(cmd.Context(), o)
		},
	}
}

func keysRun(ctx context.Context, o *KeysOptions) error {
	nc, kv, err := openBucket(ctx, o.D, o.Bucket)
	if err != nil {
		return err
	}
	defer nc.Close()
	lister, err := kv.ListKeys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("listing keys of %s: %w", o.Bucket, err)
	}
	entries := []Entry{}
	if lister != nil {
		for k := range lister.Keys() {
			e, err := kv.Get(ctx, k)
			if missingKey(err) {
				continue // deleted meanwhile
			}
			if err != nil {
				return fmt.Errorf("get %s from %s: %w", k, o.Bucket, err)
			}
			entries = append(entries, entryOf(e))
		}
		_ = lister.Stop()
	}
	io := o.D.IO
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, entries)
	}
	f := o.D.Format()
	if len(entries) == 0 && f.IsTable() {
		fmt.Fprintf(io.ErrOut, "No keys in %s.\n", o.Bucket)
		return nil
	}
	now := o.D.Now()
	t := output.NewTable(io, f, "Key", "Value", "Revision", "Age").MaxWidth(1, 48)
	for _, e := range entries {
		v := e.Value
		if e.ValueBase64 != nil {
			v = fmt.Sprintf("(%d bytes binary)", len(e.ValueBase64))
		}
		t.AddRow(e.Key, v, e.Revision, output.Ago(f, now, e.Created))
	}
	return t.Render()
}
