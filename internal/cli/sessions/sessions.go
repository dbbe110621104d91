// Package sessions implements `bevygap sessions`: list, inspect, delete and
// prune Edgegap sessions.
package sessions

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/complete"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegap"
)

// Deps are what the ls, get and rm commands need: streams, clock, output
// format, confirmation and the Edgegap client constructor (format read when
// a command runs).
type Deps struct {
	IO      *iostreams.IOStreams
	Now     func() time.Time
	Format  func() output.Format
	Confirm func(yes bool, question string) error
	Edgegap func() (*edgegap.Client, error)
	// Prepare loads the settings for dynamic completion (nil: none).
	Prepare func(cmd *cobra.Command) error
}

// completeIDs completes session ids from Edgegap.
func (d *Deps) completeIDs(repeat bool) cobra.CompletionFunc {
	return complete.Nth(repeat, complete.Func(d.Prepare, complete.SessionIDs(d.Edgegap)))
}

// DepsOf takes the commands' dependencies from the factory.
func DepsOf(f *factory.Factory) *Deps {
	return &Deps{
		IO: f.IOStreams, Now: f.Now, Format: func() output.Format { return f.Format }, Confirm: f.Confirm,
		Edgegap: func() (*edgegap.Client, error) { return f.Edgegap(factory.EdgegapOptions{}) },
		Prepare: f.PrepareCompletion,
	}
}

// NewCmdSessions builds `bevygap sessions`.
func NewCmdSessions(f *factory.Factory) *cobra.Command {
	d := DepsOf(f)
	cmd := &cobra.Command{
		Use: "sessions <command>",
		Example: `  bevygap sessions ls
  bevygap sessions prune`,
		Short: "List, inspect, delete and prune Edgegap sessions",
		Long: `List, inspect, delete and prune Edgegap sessions. Every running session keeps
a paid server alive: prune finds the ones nothing will ever clean up.`,
	}
	settings.AddFlags(cmd.PersistentFlags(), "edgegap-url", "edgegap-api-key")
	cmd.AddCommand(NewCmdLs(d, nil), NewCmdGet(d, nil), NewCmdRm(d, nil), NewCmdPrune(f, nil))
	return cmd
}
