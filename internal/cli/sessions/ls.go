package sessions

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/pkg/edgegap"
)

// LsOptions of `sessions ls`.
type LsOptions struct {
	D       *Deps
	All     bool
	Page    int
	Limit   int
	Details bool
}

// Row is the JSON shape of one listed session.
type Row struct {
	SessionID  string     `json:"session_id"`
	Status     string     `json:"status"`
	Ready      bool       `json:"ready"`
	Linked     bool       `json:"linked"`
	Kind       string     `json:"kind"`
	UserCount  int        `json:"user_count"`
	Deployment string     `json:"deployment"`
	Created    *time.Time `json:"created,omitempty"`
}

// NewCmdLs builds `sessions ls`.
func NewCmdLs(d *Deps, runF func(context.Context, *LsOptions) error) *cobra.Command {
	o := &LsOptions{D: d}
	cmd := &cobra.Command{
		Use: "ls",
		Example: `  bevygap sessions ls
  bevygap sessions ls --all -o wide
  bevygap sessions ls -o json --jq '.[] | select(.ready | not) | .session_id'`,
		Aliases: []string{"list"},
		Short:   "List sessions (one page, or --all)",
		Long: `List Edgegap sessions: id, status, ready, linked, kind, users and deployment.
Edgegap's listing has no creation time; --details fetches each session for it
(one status call per session, within the client's rate budget).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Page < 1 || o.Limit < 1 || o.Limit > 100 {
				return factory.UsageErrorf("--page must be at least 1 and --limit from 1 to 100")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return lsRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "follow pagination and list every session")
	cmd.Flags().IntVar(&o.Page, "page", 1, "page to list")
	cmd.Flags().IntVar(&o.Limit, "limit", 100, "sessions per page (1 to 100)")
	cmd.Flags().BoolVar(&o.Details, "details", false, "fetch each session for its creation time")
	return cmd
}

func lsRun(ctx context.Context, o *LsOptions) error {
	eg, err := o.D.Edgegap()
	if err != nil {
		return err
	}
	var list []edgegap.SessionSummary
	hasMore := false
	if o.All {
		list, err = eg.ListAllSessions(ctx)
	} else {
		var p *edgegap.SessionPage
		p, err = eg.ListSessions(ctx, o.Page, o.Limit)
		if p != nil {
			list, hasMore = p.Sessions, p.HasNext
		}
	}
	if err != nil {
		return err
	}
	rows := make([]Row, 0, len(list))
	for _, s := range list {
		r := Row{SessionID: s.ID, Status: s.Status, Ready: s.Ready, Linked: s.Linked, Kind: s.Kind, UserCount: s.UserCount, Deployment: s.DeploymentRequestID}
		if o.Details {
			full, err := eg.GetSession(ctx, s.ID)
			if err == nil {
				if t, err := edgegap.ParseTime(full.CreateTime); err == nil {
					r.Created = &t
				}
			} else if !edgegap.IsNotFound(err) {
				return err
			}
		}
		rows = append(rows, r)
	}
	io := o.D.IO
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, rows)
	}
	f := o.D.Format()
	if len(rows) == 0 {
		if f.IsTable() {
			fmt.Fprintln(io.ErrOut, "No sessions.")
		}
		return nil
	}
	header := []string{"Session", "Status", "Ready", "Linked", "Kind", "Users", "Deployment"}
	if o.Details {
		header = append(header, "Age")
	}
	t := output.NewTable(io, f, header...)
	now := o.D.Now()
	for _, r := range rows {
		cells := []any{r.SessionID, r.Status, r.Ready, r.Linked, r.Kind, r.UserCount, r.Deployment}
		if o.Details {
			age := ""
			if r.Created != nil {
				age = output.Ago(f, now, *r.Created)
			}
			cells = append(cells, age)
		}
		t.AddRow(cells...)
	}
	if err := t.Render(); err != nil {
		return err
	}
	if hasMore && io.IsStderrTTY() {
		fmt.Fprintln(io.ErrOut, "More sessions on the next pages: --all lists every one.")
	}
	return nil
}
