// Package configcmd implements `bevygap config`.
package configcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
)

// NewCmdConfig builds `bevygap config`.
func NewCmdConfig(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config <command>",
		Short: "Show bevygap's effective configuration",
	}
	cmd.AddCommand(NewCmdShow(f, nil))
	return cmd
}

// ShowOptions of `bevygap config show`: the streams, and the loaded
// settings and output format (read when the command runs).
type ShowOptions struct {
	IO       *iostreams.IOStreams
	Settings func() *settings.Loaded
	Format   func() output.Format
}

// NewCmdShow builds `bevygap config show`.
func NewCmdShow(f *factory.Factory, runF func(context.Context, *ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{IO: f.IOStreams, Settings: func() *settings.Loaded { return f.Settings }, Format: func() output.Format { return f.Format }}
	return &cobra.Command{
		Use:   "show",
		Short: "Print every setting, its effective value and where it came from (secrets redacted)",
		Long: `Print every setting, its effective value and where it came from.

Precedence: flag > environment (BEVYGAP_<KEY>, then the Rust names such as
NATS_HOST or EDGEGAP_API_KEY) > config file > default. Secrets (passwords, API
keys, private keys, CA contents) are shown as [redacted] when set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return showRun(cmd.Context(), opts)
		},
	}
}

func showRun(_ context.Context, o *ShowOptions) error {
	cfg := o.Settings()
	entries := cfg.Entries()
	io := o.IO
	if o.Format() == output.JSON {
		return output.WriteJSON(io.Out, map[string]any{"file": cfg.File(), "settings": entries})
	}
	t := output.NewTable(io, "Key", "Type", "Value", "Source", "Env")
	for _, e := range entries {
		t.AddRow(e.Key, e.Type, e.Value, e.Source, e.Env)
	}
	if err := t.Render(); err != nil {
		return err
	}
	// A bad value of a setting this command does not use: the commands
	// that use it refuse to start.
	for _, e := range entries {
		if e.Error != "" {
			fmt.Fprintf(io.ErrOut, "Warning: %s\n", e.Error)
		}
	}
	return nil
}
