// Package version implements `bevygap version`.
package version

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/build"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
)

// Options of `bevygap version`.
type Options struct {
	IO     *iostreams.IOStreams
	Format func() output.Format // read when the command runs
	Info   func() build.Info
}

// NewCmdVersion builds the command; runF replaces the run function in tests.
func NewCmdVersion(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Format: func() output.Format { return f.Format }, Info: build.Get}
	return &cobra.Command{
		Use: "version",
		Example: `  bevygap version
  bevygap --version
  bevygap version -o json --jq .commit`,
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return versionRun(cmd.Context(), opts)
		},
	}
}

func versionRun(_ context.Context, o *Options) error {
	i := o.Info()
	out := o.IO.Out
	if o.Format() == output.JSON {
		return output.WriteJSON(out, i)
	}
	_, err := fmt.Fprintf(out, "bevygap %s (commit %s, built %s, %s %s)\n", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
	return err
}
