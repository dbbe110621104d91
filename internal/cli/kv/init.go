package kv

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/pkg/state"
)

// InitOptions of `kv init`.
type InitOptions struct{ D *Deps }

// NewCmdInit builds `kv init`.
func NewCmdInit(d *Deps, runF func(context.Context, *InitOptions) error) *cobra.Command {
	o := &InitOptions{D: d}
	return &cobra.Command{
		Use: "init",
		Example: `  bevygap kv init
  bevygap kv init --nats-namespace game1`,
		Short: "Create the bevygap buckets and the delete stream if missing",
		Long: `Create the five bevygap buckets and DELETE_SESSION_STREAM with exactly the
configuration the Rust components use. Idempotent: existing ones are checked,
never changed; an incompatible one is reported.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return initRun(cmd.Context(), o)
		},
	}
}

func initRun(ctx context.Context, o *InitOptions) error {
	names, err := o.D.Names()
	if err != nil {
		return err
	}
	nc, js, err := conn(ctx, o.D)
	if err != nil {
		return err
	}
	defer nc.Close()
	res, err := state.EnsureAll(ctx, js, names)
	if err != nil {
		return err
	}
	io := o.D.IO
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, res)
	}
	created := 0
	t := output.NewTable(io, o.D.Format(), "Stream", "Bucket", "Status")
	for _, r := range res {
		status := "exists"
		if r.Created {
			status = "created"
			created++
		}
		t.AddRow(r.Stream, r.Bucket, status)
	}
	if err := t.Render(); err != nil {
		return err
	}
	if o.D.Format().IsTable() {
		fmt.Fprintf(io.ErrOut, "\n%d created, %d already present\n", created, len(res)-created)
	}
	return nil
}
