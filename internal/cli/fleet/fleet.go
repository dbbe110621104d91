// Package fleet implements `bevygap fleet` and `bevygap seats ls`: the
// deployments allocator's NATS ledger (bevygap_deployments) as the
// matchmakers see it. Neither calls Edgegap.
package fleet

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/state"
)

// Deps are what the commands need: streams, clock, output format and the
// ledger's records (read once per run).
type Deps struct {
	IO     *iostreams.IOStreams
	Now    func() time.Time
	Format func() output.Format
	// Records reads every ledger record, oldest first.
	Records func(ctx context.Context) ([]*state.Deployment, error)
}

// DepsOf takes the commands' dependencies from the factory.
func DepsOf(f *factory.Factory) *Deps {
	return &Deps{
		IO: f.IOStreams, Now: f.Now, Format: func() output.Format { return f.Format },
		Records: func(ctx context.Context) ([]*state.Deployment, error) {
			store, nc, err := f.Store(ctx, "bevygap-cli")
			if err != nil {
				return nil, err
			}
			defer nc.Close()
			led, err := state.OpenFleet(ctx, store.JS, store.Names, state.FleetOptions{Replicas: f.S().NATS.Replicas})
			if err != nil {
				return nil, err
			}
			return led.List(ctx)
		},
	}
}

var natsFlags = []string{"nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace", "nats-replicas"}

// Options of `bevygap fleet`.
type Options struct {
	D     *Deps
	State string
}

// Row is the JSON shape of one ledger deployment.
type Row struct {
	ID         string     `json:"id"`         // ledger record (intent) id
	RequestID  string     `json:"request_id"` // Edgegap's id ("" until Edgegap answered)
	App        string     `json:"app"`
	Version    string     `json:"version"`
	State      string     `json:"state"`
	SeatsUsed  int        `json:"seats_used"`
	Reserved   int        `json:"reserved"`
	Connected  int        `json:"connected"`
	Capacity   int        `json:"capacity"`
	PublicIP   string     `json:"public_ip"`
	Location   string     `json:"location"`
	Created    time.Time  `json:"created"`
	Ready      *time.Time `json:"ready"`
	EmptySince *time.Time `json:"empty_since"`
	Reason     string     `json:"reason"`
}

// NewCmdFleet builds `bevygap fleet`.
func NewCmdFleet(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{D: DepsOf(f)}
	cmd := &cobra.Command{
		Use: "fleet",
		Example: `  bevygap fleet
  bevygap fleet --state ready -o wide
  bevygap fleet -o json --jq '[.[] | .seats_used] | add'`,
		Short: "Show the deployments allocator's fleet: seats used per deployment, state, age",
		Long: `Show each deployment of the fleet ledger (NATS bucket bevygap_deployments, the
deployments allocator's record of what it runs): record id, Edgegap request id,
app/version, state (requested, deploying, ready, draining, stopping, gone),
seats used of capacity, age, and since when it is empty (it stops empty-ttl
later). Reads NATS only: no Edgegap call. Gone records stay a few minutes.
See bevygap seats ls for the seats, bevygap deployments ls for Edgegap's view.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.State != "" && !slices.Contains(state.DeploymentStates, state.DeploymentState(o.State)) {
				return factory.UsageErrorf("--state %q: want one of %v", o.State, state.DeploymentStates)
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return fleetRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.State, "state", "", "only deployments in this state")
	states := make([]string, len(state.DeploymentStates))
	for i, s := range state.DeploymentStates {
		states[i] = string(s)
	}
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(states, cobra.ShellCompDirectiveNoFileComp))
	settings.AddFlags(cmd.Flags(), natsFlags...)
	return cmd
}

func fleetRun(ctx context.Context, o *Options) error {
	recs, err := o.D.Records(ctx)
	if err != nil {
		return err
	}
	rows := []Row{}
	for _, d := range recs {
		if o.State != "" && string(d.State) != o.State {
			continue
		}
		rows = append(rows, rowOf(d))
	}
	io := o.D.IO
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, rows)
	}
	if len(rows) == 0 {
		if io.IsStdoutTTY() {
			fmt.Fprintln(io.ErrOut, "No deployments in the fleet ledger.")
		}
		return nil
	}
	now := o.D.Now()
	t := output.NewTable(io, o.D.Format(), "Deployment", "Request ID", "App/Version", "State", "Seats", "Age", "Empty since", "Reason")
	used, capacity := 0, 0
	for _, r := range rows {
		empty := ""
		if r.EmptySince != nil {
			empty = output.Ago(o.D.Format(), now, *r.EmptySince)
		}
		t.AddRow(r.ID, r.RequestID, r.App+"/"+r.Version, r.State, fmt.Sprintf("%d/%d", r.SeatsUsed, r.Capacity),
			output.Duration(now.Sub(r.Created)), empty, r.Reason)
		if r.State == string(state.DeploymentReady) || r.State == string(state.DeploymentDeploying) {
			used, capacity = used+r.SeatsUsed, capacity+r.Capacity
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	if io.IsStderrTTY() && capacity > 0 {
		fmt.Fprintf(io.ErrOut, "%d of %d seats used on deploying and ready deployments (%.0f%% packed)\n", used, capacity, 100*float64(used)/float64(capacity))
	}
	return nil
}

func rowOf(d *state.Deployment) Row {
	r := Row{ID: d.ID, RequestID: d.RequestID, App: d.App, Version: d.Version, State: string(d.State), SeatsUsed: len(d.Seats),
		Capacity: d.Capacity, PublicIP: d.PublicIP, Location: d.Location, Created: d.Created, Reason: d.Reason}
	for _, s := range d.Seats {
		if s.State == state.SeatConnected {
			r.Connected++
		} else {
			r.Reserved++
		}
	}
	if !d.Ready.IsZero() {
		t := d.Ready
		r.Ready = &t
	}
	if !d.EmptySince.IsZero() && len(d.Seats) == 0 {
		t := d.EmptySince
		r.EmptySince = &t
	}
	return r
}
