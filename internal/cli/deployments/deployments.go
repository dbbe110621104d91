// Package deployments implements `bevygap deployments`: list, inspect, stop
// and prune Edgegap deployments (the 2026 API; FLEET.md).
package deployments

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

// Deps are what the ls, get and stop commands need: streams, clock, output
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

// completeIDs completes deployment request ids from Edgegap.
func (d *Deps) completeIDs(repeat bool) cobra.CompletionFunc {
	return complete.Nth(repeat, complete.Func(d.Prepare, complete.DeploymentIDs(d.Edgegap)))
}

// DepsOf takes the commands' dependencies from the factory.
func DepsOf(f *factory.Factory) *Deps {
	return &Deps{
		IO: f.IOStreams, Now: f.Now, Format: func() output.Format { return f.Format }, Confirm: f.Confirm,
		Edgegap: func() (*edgegap.Client, error) { return f.Edgegap(factory.EdgegapOptions{}) },
		Prepare: f.PrepareCompletion,
	}
}

// NewCmdDeployments builds `bevygap deployments`.
func NewCmdDeployments(f *factory.Factory) *cobra.Command {
	d := DepsOf(f)
	cmd := &cobra.Command{
		Use: "deployments <command>",
		Example: `  bevygap deployments ls
  bevygap deployments stop 1a2b3c4d5e6f --yes
  bevygap deployments prune            # dry run: what nothing will ever use`,
		Aliases: []string{"deployment"},
		Short:   "List, inspect, stop and prune Edgegap deployments",
		Long: `List, inspect, stop and prune Edgegap deployments (Edgegap's 2026 API, used
by the deployments allocator). Every running deployment is a paid server:
prune finds bevygap's deployments that nothing will ever use.

bevygap tags every deployment it starts with "bevygap", a scope tag of its
NATS namespace, app and version, and the intent id of its ledger record.`,
	}
	settings.AddFlags(cmd.PersistentFlags(), "edgegap-url", "edgegap-api-key")
	cmd.AddCommand(NewCmdLs(d, nil), NewCmdGet(d, nil), NewCmdStop(d, nil), NewCmdPrune(f, nil))
	return cmd
}
