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
		Use: "config <command>",
		Example: `  bevygap config show
  bevygap help config`,
		Short: "Show bevygap's effective configuration (help config: where settings come from)",
		Long:  ConfigHelp,
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
		Use: "show",
		Example: `  bevygap config show
  bevygap config show -o json --jq '.settings[] | select(.source != "default")'
  BEVYGAP_APP_NAME=my-game bevygap config show -o wide`,
		Short: "Print every setting, its effective value and where it came from (secrets redacted)",
		Long: `Print every setting, its effective value and where it came from.

Precedence: flag > environment (BEVYGAP_<KEY>, then the Rust names such as
NATS_HOST or EDGEGAP_API_KEY) > .env file > context > config file > default
(bevygap help config). Secrets (passwords, API keys, private keys, CA
contents) are shown as [redacted] when set.`,
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
	t := output.NewTable(io, o.Format(), "Key", "Type", "Value", "Source", "Env")
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

// ConfigHelp is `bevygap help config`: where settings come from.
const ConfigHelp = `Every setting has a key (the flag name and config-file key), a BEVYGAP_<KEY>
environment name, and for the Rust bevygap ones their Rust name too (NATS_HOST,
EDGEGAP_API_KEY, LIGHTYEAR_PRIVATE_KEY, ...). A command reads, first found:

  1. its flag                       --nats-host 127.0.0.1:4222
  2. the environment                BEVYGAP_NATS_HOST, then NATS_HOST
  3. the .env file of the working   NATS_HOST=127.0.0.1:4222 (as the Rust
     directory                      bevygap reads it; the environment wins)
  4. the selected context           bevygap context use dev (or --context,
                                    BEVYGAP_CONTEXT)
  5. the config file                ./bevygap.yaml, then
                                    $XDG_CONFIG_HOME/bevygap/bevygap.yaml, or
                                    --config PATH; an unknown key is an error
  6. the default                    (dev lays its own preset just above it)

A bad value is an error naming the key, the value (unless secret), where it
came from and what is allowed (exit 2). Secrets never appear in output:
config show prints [redacted]; contexts keep them as env:NAME or file:PATH
references unless told otherwise.

  bevygap config show            every setting, its value and source
  bevygap context add|use|ls     named sets of endpoints and credentials
  bevygap help exit-codes        what each exit code means`
