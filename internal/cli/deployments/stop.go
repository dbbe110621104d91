package deployments

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/pkg/edgegap"
)

// StopOptions of `deployments stop`.
type StopOptions struct {
	D   *Deps
	IDs []string
	Yes bool
}

// Stop is the JSON result of one stop.
type Stop struct {
	RequestID string `json:"request_id"`
	// Result: stopped (Edgegap stops it now), stopping (it is not ready
	// yet; Edgegap stops it once it is), already_gone (unknown or
	// terminated), failed.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// maxStdinBytes bounds what `stop -` reads.
const maxStdinBytes = 1 << 20

// NewCmdStop builds `deployments stop`.
func NewCmdStop(d *Deps, runF func(context.Context, *StopOptions) error) *cobra.Command {
	o := &StopOptions{D: d}
	cmd := &cobra.Command{
		Use: "stop <request-id>... | -",
		Example: `  bevygap deployments stop 1a2b3c4d5e6f
  bevygap deployments ls -o json --jq '.[].request_id' | bevygap deployments stop - --yes`,
		Short: "Stop deployments (unknown or terminated ones count as already gone)",
		Long: `Stop Edgegap deployments gracefully and report each: stopped, stopping (not
ready yet: Edgegap stops it once it is) or already gone (unknown or already
terminated, which is not an error). "-" reads the ids from standard input,
separated by white space (e.g. from deployments ls -o json | jq -r
'.[].request_id'). Asks for confirmation on a terminal; --yes otherwise.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: d.completeIDs(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := stopIDs(args, d.IO.In)
			if err != nil {
				return err
			}
			o.IDs = ids
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return stopRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// stopIDs are the arguments, "-" replaced by the ids read from in, each
// once, in order.
func stopIDs(args []string, in io.Reader) ([]string, error) {
	var ids []string
	for _, a := range args {
		if a != "-" {
			ids = append(ids, a)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(in, maxStdinBytes+1))
		if err != nil {
			return nil, fmt.Errorf("reading ids from standard input: %w", err)
		}
		if len(b) > maxStdinBytes {
			return nil, factory.UsageErrorf("standard input: more than %d bytes of ids", maxStdinBytes)
		}
		ids = append(ids, strings.Fields(string(b))...)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, factory.UsageErrorf("no request id given (standard input was empty)")
	}
	return out, nil
}

func stopRun(ctx context.Context, o *StopOptions) error {
	if err := o.D.Confirm(o.Yes, fmt.Sprintf("Stop %d Edgegap deployment(s)?", len(o.IDs))); err != nil {
		return err
	}
	eg, err := o.D.Edgegap()
	if err != nil {
		return err
	}
	res := make([]Stop, 0, len(o.IDs))
	failed := 0
	for _, id := range o.IDs {
		outcome, err := eg.StopDeployment(ctx, id)
		s := Stop{RequestID: id}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case edgegap.IsUnauthorized(err):
			return err
		case err == nil:
			s.Result = outcome.String()
		case edgegap.IsAlreadyGone(err):
			s.Result = "already_gone"
		default:
			s.Result, s.Error = "failed", err.Error()
			failed++
		}
		res = append(res, s)
	}
	io := o.D.IO
	if o.D.Format() == output.JSON {
		if err := output.WriteJSON(io.Out, res); err != nil {
			return err
		}
	} else {
		t := output.NewTable(io, o.D.Format(), "Request ID", "Result", "Error")
		for _, s := range res {
			t.AddRow(s.RequestID, strings.ReplaceAll(s.Result, "_", " "), s.Error)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d stops failed", failed, len(o.IDs))
	}
	return nil
}
