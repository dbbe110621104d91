package sessions

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
)

// PruneOptions of `sessions prune`.
type PruneOptions struct {
	F       *factory.Factory
	MinAge  time.Duration
	Yes     bool
	DryRun  bool
	AllApps bool
	// VersionSet: --app-version was given on the command line (a version
	// from the config file does not narrow the pruning: the orphans of the
	// previous version are the likely ones).
	VersionSet bool
}

// Orphan is a session nothing will clean up.
type Orphan struct {
	SessionID  string    `json:"session_id"`
	Status     string    `json:"status"`
	Deployment string    `json:"deployment"`
	Created    time.Time `json:"created"`
	Result     string    `json:"result"` // would_delete, deleted, already_gone, failed
	Error      string    `json:"error,omitempty"`
}

// PruneSummary is the JSON result of `sessions prune`.
type PruneSummary struct {
	Sessions int      `json:"sessions"`
	Skipped  int      `json:"skipped_other_apps"`
	Orphaned int      `json:"orphaned"`
	Deleted  int      `json:"deleted"`
	DryRun   bool     `json:"dry_run"`
	Orphans  []Orphan `json:"orphans"`
}

// NewCmdPrune builds `sessions prune`.
func NewCmdPrune(f *factory.Factory, runF func(context.Context, *PruneOptions) error) *cobra.Command {
	o := &PruneOptions{F: f}
	cmd := &cobra.Command{
		Use: "prune [--yes]",
		Example: `  bevygap sessions prune
  bevygap sessions prune --yes -o json`,
		Short: "Find (and with --yes delete) sessions nothing will ever clean up",
		Long: `Reconcile Edgegap with NATS: a session that has no active_connections entry
(no client is connected) and is not in unclaimed_sessions (so the reaper will
not delete it), older than --min-age, is orphaned: it keeps a paid server
alive and nothing will delete it. By default prune only shows them (dry run);
--yes deletes them.

Only sessions of app-name (required) are considered, and of --app-version
when given on the command line; they are found through their deployment's
status. Sessions of other games in the same Edgegap organisation are not in
this NATS and must not be touched. --all-apps considers every session.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.MinAge < 0 {
				return factory.UsageErrorf("--min-age must not be negative")
			}
			if o.Yes && cmd.Flags().Changed("dry-run") && o.DryRun {
				return factory.UsageErrorf("--yes and --dry-run contradict each other")
			}
			o.DryRun = !o.Yes
			if !o.AllApps && o.F.Settings.Source("app-name") == "default" {
				return factory.UsageErrorf("say whose sessions to prune: --app-name (or BEVYGAP_APP_NAME), or --all-apps for every app of the organisation")
			}
			o.VersionSet = cmd.Flags().Changed("app-version")
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return pruneRun(cmd.Context(), o)
		},
	}
	cmd.Flags().DurationVar(&o.MinAge, "min-age", 2*time.Minute, "only sessions older than this (a new session is not in NATS yet)")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "delete the orphaned sessions")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", true, "only show what would be deleted (the default)")
	cmd.Flags().BoolVar(&o.AllApps, "all-apps", false, "consider the sessions of every app of the organisation, not only app-name")
	settings.AddFlags(cmd.Flags(), "app-name", "app-version")
	settings.AddFlags(cmd.Flags(), "nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace")
	return cmd
}

func pruneRun(ctx context.Context, o *PruneOptions) error {
	eg, err := o.F.Edgegap(factory.EdgegapOptions{})
	if err != nil {
		return err
	}
	store, nc, err := o.F.Store(ctx, "bevygap-cli")
	if err != nil {
		return err
	}
	defer nc.Close()
	ro := matchmaker.ReconcileOptions{
		AppName: o.F.S().Matchmaker.AppName, AllApps: o.AllApps,
		MinAge: o.MinAge, DryRun: o.DryRun, Now: o.F.Now,
	}
	if o.VersionSet {
		ro.AppVersion = o.F.S().Matchmaker.AppVersion
	}
	res, err := matchmaker.Reconcile(ctx, eg, store, ro)
	if err != nil {
		return err
	}
	sum := pruneSummary(res)
	now := o.F.Now()
	io := o.F.IOStreams
	if o.F.Format == output.JSON {
		if err := output.WriteJSON(io.Out, sum); err != nil {
			return err
		}
	} else {
		if len(sum.Orphans) > 0 {
			t := output.NewTable(io, o.F.Format, "Session", "Status", "Deployment", "Age", "Result")
			for _, x := range sum.Orphans {
				t.AddRow(x.SessionID, x.Status, x.Deployment, output.Duration(now.Sub(x.Created)), x.Result)
			}
			if err := t.Render(); err != nil {
				return err
			}
		}
		line := fmt.Sprintf("%d sessions, %d orphaned, %d deleted", sum.Sessions, sum.Orphaned, sum.Deleted)
		if sum.Skipped > 0 {
			line += fmt.Sprintf(" (%d of other apps or versions not considered)", sum.Skipped)
		}
		if o.DryRun && sum.Orphaned > 0 {
			line += " (dry run: --yes deletes them)"
		}
		fmt.Fprintln(io.ErrOut, line)
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d deletes failed", res.Failed, sum.Orphaned)
	}
	return nil
}

// pruneSummary is the JSON shape of a reconciliation.
func pruneSummary(res *matchmaker.ReconcileResult) PruneSummary {
	sum := PruneSummary{
		Sessions: res.Sessions, Skipped: res.Kept[matchmaker.VerdictOtherApp], Orphaned: len(res.Orphans),
		Deleted: res.Deleted, DryRun: res.DryRun, Orphans: make([]Orphan, len(res.Orphans)),
	}
	for i, x := range res.Orphans {
		sum.Orphans[i] = Orphan{SessionID: x.SessionID, Status: x.Status, Deployment: x.Deployment, Created: x.Created, Result: string(x.Result), Error: x.Error}
	}
	return sum
}
