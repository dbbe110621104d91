package sessions

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/pkg/edgegap"
)

// RmOptions of `sessions rm`.
type RmOptions struct {
	D   *Deps
	IDs []string
	Yes bool
}

// Deletion is the JSON result of one delete.
type Deletion struct {
	SessionID string `json:"session_id"`
	Result    string `json:"result"` // deleted, already_gone, failed
	Error     string `json:"error,omitempty"`
}

// NewCmdRm builds `sessions rm`.
func NewCmdRm(d *Deps, runF func(context.Context, *RmOptions) error) *cobra.Command {
	o := &RmOptions{D: d}
	cmd := &cobra.Command{
		Use: "rm <session-id>...",
		Example: `  bevygap sessions rm 950dd2eaff09-S
  bevygap sessions rm 950dd2eaff09-S aaaaaaaaaaaa-S --yes`,
		Short:             "Delete sessions (unknown or terminated ones count as already gone)",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: d.completeIDs(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs = args
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return rmRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func rmRun(ctx context.Context, o *RmOptions) error {
	if err := o.D.Confirm(o.Yes, fmt.Sprintf("Delete %d Edgegap session(s)?", len(o.IDs))); err != nil {
		return err
	}
	eg, err := o.D.Edgegap()
	if err != nil {
		return err
	}
	res, failed := deleteAll(ctx, eg, o.IDs)
	io := o.D.IO
	if o.D.Format() == output.JSON {
		if err := output.WriteJSON(io.Out, res); err != nil {
			return err
		}
	} else {
		t := output.NewTable(io, o.D.Format(), "Session", "Result", "Error")
		for _, r := range res {
			t.AddRow(r.SessionID, r.Result, r.Error)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d deletes failed", failed, len(o.IDs))
	}
	return nil
}

// deleteAll deletes sessions (matchmaker.DeleteSessions: 404 and 410 count
// as already gone; an unauthorized key stops at once).
func deleteAll(ctx context.Context, eg *edgegap.Client, ids []string) ([]Deletion, int) {
	res, failed := matchmaker.DeleteSessions(ctx, eg, ids)
	out := make([]Deletion, len(res))
	for i, d := range res {
		out[i] = Deletion{SessionID: d.SessionID, Result: string(d.Result), Error: d.Error}
	}
	return out, failed
}
