package deployments

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
)

// PruneOptions of `deployments prune`.
type PruneOptions struct {
	F         *factory.Factory
	OlderThan time.Duration
	Yes       bool
	DryRun    bool
}

// NewCmdPrune builds `deployments prune`.
func NewCmdPrune(f *factory.Factory, runF func(context.Context, *PruneOptions) error) *cobra.Command {
	o := &PruneOptions{F: f}
	cmd := &cobra.Command{
		Use: "prune [--yes]",
		Example: `  bevygap deployments prune
  bevygap deployments prune --yes --older-than 10m`,
		Short: "Find (and with --yes stop) bevygap deployments nothing will ever use",
		Long: `Run the fleet reconciler of the deployments allocator once, as the matchmaker
does every reconcile-interval, for one NATS namespace, app-name and
app-version (the scope bevygap tags its deployments with), and report what it
does and why:

  stop    Edgegap runs a deployment of this scope that has no record in the
          NATS fleet ledger (not even of its intent) and is older than
          --older-than, or whose record says bevygap gave up on it
  retire  a ledger record Edgegap no longer lists is recorded gone
  adopt   Edgegap runs the deployment of a record whose answer was lost:
          the ledger takes it back and players are placed on it

By default prune only shows this (dry run); --yes acts, sending each stop
to Edgegap (and queueing it, so a running matchmaker retries one that
fails). Deployments without bevygap's tags, and those of other namespaces,
apps or versions, are never touched: run prune with --app-version for an
older version's leftovers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.OlderThan <= 0 {
				return factory.UsageErrorf("--older-than must be positive (a new deployment is not in the ledger yet)")
			}
			if o.Yes && cmd.Flags().Changed("dry-run") && o.DryRun {
				return factory.UsageErrorf("--yes and --dry-run contradict each other")
			}
			o.DryRun = !o.Yes
			for _, k := range []string{"app-name", "app-version"} {
				if o.F.Settings.Source(k) == "default" {
					return factory.UsageErrorf("say whose deployments to prune: --%s (or BEVYGAP_%s): bevygap's tags name the namespace, app and version", k, strings.ToUpper(strings.ReplaceAll(k, "-", "_")))
				}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return pruneRun(cmd.Context(), o)
		},
	}
	cmd.Flags().DurationVar(&o.OlderThan, "older-than", matchmaker.DefaultReconcileGrace, "only deployments older than this (a new one may not be in the ledger yet)")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "act: stop, retire and adopt")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", true, "only show what would be done (the default)")
	settings.AddFlags(cmd.Flags(), "app-name", "app-version")
	settings.AddFlags(cmd.Flags(), "nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace", "nats-replicas")
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
	s := o.F.S()
	res, err := matchmaker.ReconcileFleet(ctx, matchmaker.Config{
		NC: nc, Store: store, Edgegap: eg, AppName: s.Matchmaker.AppName, AppVersion: s.Matchmaker.AppVersion,
		Fleet:  matchmaker.FleetConfig{ReconcileGrace: o.OlderThan, Replicas: s.NATS.Replicas},
		Logger: o.F.Logger, Now: o.F.Now,
	}, o.DryRun)
	if err != nil {
		return err
	}
	io := o.F.IOStreams
	if o.F.Format == output.JSON {
		if err := output.WriteJSON(io.Out, res); err != nil {
			return err
		}
	} else {
		if len(res.Items) > 0 {
			now := o.F.Now()
			t := output.NewTable(io, o.F.Format, "Action", "Request ID", "Record", "Age", "Result", "Why")
			for _, x := range res.Items {
				age := ""
				if x.Started != nil {
					age = output.Duration(now.Sub(*x.Started))
				}
				result := strings.ReplaceAll(x.Result, "_", " ")
				if x.Error != "" {
					result += ": " + x.Error
				}
				t.AddRow(string(x.Action), x.RequestID, x.Record, age, result, x.Why)
			}
			if err := t.Render(); err != nil {
				return err
			}
		}
		fmt.Fprintln(io.ErrOut, pruneLine(res))
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d stops failed", res.Failed)
	}
	return nil
}

// pruneLine sums a prune up for stderr.
func pruneLine(res *matchmaker.FleetPruneResult) string {
	n := map[matchmaker.FleetPruneAction]int{}
	for _, x := range res.Items {
		n[x.Action]++
	}
	line := fmt.Sprintf("%d deployments of scope %s listed: %d to stop, %d records to retire, %d to adopt",
		res.Listed, res.Scope, n[matchmaker.PruneStop], n[matchmaker.PruneRetire], n[matchmaker.PruneAdopt])
	if res.DryRun {
		if len(res.Items) > 0 {
			line += " (dry run: --yes acts)"
		}
		return line
	}
	return line + fmt.Sprintf("; %d stopped, %d failed", res.Stopped, res.Failed)
}
