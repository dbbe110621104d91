// Package sessions implements `bevygap sessions`: list, inspect, delete and
// prune Edgegap sessions.
package sessions

import (
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/settings"
)

// NewCmdSessions builds `bevygap sessions`.
func NewCmdSessions(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions <command>",
		Short: "List, inspect, delete and prune Edgegap sessions",
		Long: `List, inspect, delete and prune Edgegap sessions. Every running session keeps
a paid server alive: prune finds the ones nothing will ever clean up.`,
	}
	settings.AddFlags(cmd.PersistentFlags(), "edgegap-url", "edgegap-api-key")
	cmd.AddCommand(NewCmdLs(f, nil), NewCmdGet(f, nil), NewCmdRm(f, nil), NewCmdPrune(f, nil))
	return cmd
}
