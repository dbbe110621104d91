package fleet

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/state"
)

// SeatsOptions of `bevygap seats ls`.
type SeatsOptions struct {
	D     *Deps
	State string
}

// Seat is the JSON shape of one seat.
type Seat struct {
	SeatID     string    `json:"seat_id"`
	State      string    `json:"state"`     // reserved or connected
	ClientID   string    `json:"client_id"` // the Lightyear client id ("" until handed out)
	Deployment string    `json:"deployment"`
	RequestID  string    `json:"request_id"`
	Since      time.Time `json:"since"`
}

// NewCmdSeats builds `bevygap seats`.
func NewCmdSeats(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use: "seats <command>",
		Example: `  bevygap seats ls
  bevygap seats ls --state connected -o json`,
		Short: "Show the seats the deployments allocator holds",
	}
	cmd.AddCommand(NewCmdSeatsLs(DepsOf(f), nil))
	return cmd
}

// NewCmdSeatsLs builds `bevygap seats ls`.
func NewCmdSeatsLs(d *Deps, runF func(context.Context, *SeatsOptions) error) *cobra.Command {
	o := &SeatsOptions{D: d}
	cmd := &cobra.Command{
		Use: "ls",
		Example: `  bevygap seats ls
  bevygap seats ls --state reserved`,
		Aliases: []string{"list"},
		Short:   "List reserved and connected seats (client id, deployment, since)",
		Long: `List the seats of the fleet ledger (NATS bucket bevygap_deployments): seat id
(what the game server knows as the session id), state (reserved: handed to a
client that has not connected yet, released after unclaimed-ttl; connected),
the Lightyear client id, the deployment and since when. Oldest first. Reads
NATS only: no Edgegap call.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.State != "" && o.State != string(state.SeatReserved) && o.State != string(state.SeatConnected) {
				return factory.UsageErrorf("--state %q: want reserved or connected", o.State)
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return seatsRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.State, "state", "", "only seats in this state (reserved or connected)")
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions([]string{"reserved", "connected"}, cobra.ShellCompDirectiveNoFileComp))
	settings.AddFlags(cmd.Flags(), natsFlags...)
	return cmd
}

func seatsRun(ctx context.Context, o *SeatsOptions) error {
	recs, err := o.D.Records(ctx)
	if err != nil {
		return err
	}
	seats := []Seat{}
	for _, d := range recs {
		for id, s := range d.Seats {
			if o.State != "" && string(s.State) != o.State {
				continue
			}
			cid := ""
			if s.ClientID != 0 {
				cid = strconv.FormatUint(s.ClientID, 10)
			}
			seats = append(seats, Seat{SeatID: id, State: string(s.State), ClientID: cid, Deployment: d.ID, RequestID: d.RequestID, Since: s.Since})
		}
	}
	slices.SortFunc(seats, func(a, b Seat) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.SeatID, b.SeatID)
	})
	io := o.D.IO
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, seats)
	}
	if len(seats) == 0 {
		if io.IsStdoutTTY() {
			fmt.Fprintln(io.ErrOut, "No seats held.")
		}
		return nil
	}
	now := o.D.Now()
	t := output.NewTable(io, o.D.Format(), "Seat", "State", "Client ID", "Deployment", "Request ID", "Since")
	for _, s := range seats {
		t.AddRow(s.SeatID, s.State, s.ClientID, s.Deployment, s.RequestID, output.Ago(o.D.Format(), now, s.Since))
	}
	return t.Render()
}
