package kv

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/complete"

	"github.com/bevygap/bevygap/internal/output"
)

// GetOptions of `kv get`.
type GetOptions struct {
	D           *Deps
	Bucket, Key string
}

// NewCmdGet builds `kv get`.
func NewCmdGet(d *Deps, runF func(context.Context, *GetOptions) error) *cobra.Command {
	o := &GetOptions{D: d}
	return &cobra.Command{
		Use: "get <bucket> <key>",
		Example: `  bevygap kv get sessions_eg2ly 950dd2eaff09-S
  bevygap kv get active_connections 950dd2eaff09-S -o json --jq .revision`,
		Short:             "Print the value of a key (raw; -o json adds metadata)",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: complete.Nth(false, d.completeBucket(), complete.Func(d.Prepare, complete.Keys(d.NATS))),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Bucket, o.Key = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return getRun(cmd.Context(), o)
		},
	}
}

func getRun(ctx context.Context, o *GetOptions) error {
	nc, kv, err := openBucket(ctx, o.D, o.Bucket)
	if err != nil {
		return err
	}
	defer nc.Close()
	e, err := kv.Get(ctx, o.Key)
	if missingKey(err) {
		return fmt.Errorf("key %q not found in bucket %q", o.Key, o.Bucket)
	}
	if err != nil {
		return fmt.Errorf("get %s from %s: %w", o.Key, o.Bucket, err)
	}
	io := o.D.IO
	if o.D.Format() == output.JSON {
		out := entryOf(e)
		out.Operation = opName(e.Operation())
		return output.WriteJSON(io.Out, out)
	}
	// The raw value, newline-terminated like every line bevygap prints
	// (natscli does the same); -o json keeps the exact bytes.
	v := e.Value()
	if _, err := io.Out.Write(v); err != nil {
		return err
	}
	if len(v) == 0 || v[len(v)-1] != '\n' {
		_, err = fmt.Fprintln(io.Out)
	}
	return err
}
