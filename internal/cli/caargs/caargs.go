// Package caargs implements `bevygap ca-args`: package a CA certificate as
// the docker argument the Rust game server plugin reads.
package caargs

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/gameserver/caarg"
)

// Options of `ca-args`.
type Options struct {
	F       *factory.Factory
	File    string
	Apply   bool
	Yes     bool
	App     string
	Version string
}

// Result is the JSON shape of `ca-args`.
type Result struct {
	Argument  string `json:"argument"`
	Applied   bool   `json:"applied"`
	App       string `json:"app,omitempty"`
	Version   string `json:"version,omitempty"`
	Arguments string `json:"arguments,omitempty"`
}

// NewCmdCAArgs builds `bevygap ca-args`.
func NewCmdCAArgs(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "ca-args <ca.pem>",
		Short: "Package a CA certificate as the --ca_contents docker argument",
		Long: `Print the docker argument that carries a NATS root CA to game servers on
Edgegap, exactly as the Rust set-caroot-argument.sh builds it:

  --ca_contents '<the PEM with its newlines removed>'

Edgegap caps environment values at 255 bytes, so the CA travels as a docker
argument set on the app version through the API. With --apply it PATCHes the
version's arguments, replacing an existing --ca_contents and keeping the rest;
it shows the current and the new arguments and asks first (--yes when not on
a terminal). --app and --version are the old names of --app-name and
--app-version.`,
		Example: `  bevygap ca-args rootCA.pem
  bevygap ca-args rootCA.pem --apply --app-name my-game --app-version v3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.File = args[0]
			l := f.Settings
			o.App, o.Version = l.Matchmaker.AppName, l.Matchmaker.AppVersion
			if o.Apply && (l.Source("app-name") == "default" || l.Source("app-version") == "default") {
				return factory.UsageErrorf("--apply needs --app-name and --app-version (flags, env, config file or context)")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return run(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Apply, "apply", false, "PATCH the argument onto the Edgegap app version (asks first)")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "with --apply, do not ask for confirmation")
	settings.AddFlags(cmd.Flags(), "edgegap-url", "edgegap-api-key", "app-name", "app-version")
	cmd.Flags().SetNormalizeFunc(OldFlagNames)
	return cmd
}

// OldFlagNames maps --app and --version, the flags ca-args had before it
// took app-name and app-version like check and sessions prune.
func OldFlagNames(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name {
	case "app":
		return "app-name"
	case "version":
		return "app-version"
	}
	return pflag.NormalizedName(name)
}

func run(ctx context.Context, o *Options) error {
	b, err := os.ReadFile(o.File)
	if err != nil {
		return err
	}
	arg, err := caarg.Encode(b)
	if err != nil {
		return fmt.Errorf("%s: %w", o.File, err)
	}
	res := Result{Argument: arg}
	if o.Apply {
		eg, err := o.F.Edgegap(factory.EdgegapOptions{})
		if err != nil {
			return err
		}
		cur, err := eg.AppVersionArguments(ctx, o.App, o.Version)
		if err != nil {
			return err
		}
		next := caarg.Merge(cur, arg)
		if !o.Yes && o.F.IOStreams.CanPrompt() {
			fmt.Fprintf(o.F.IOStreams.ErrOut, "Arguments of %s version %s now:\n  %s\nafter:\n  %s\n", o.App, o.Version, orNone(cur), next)
		}
		if err := o.F.Confirm(o.Yes, fmt.Sprintf("Replace the arguments of %s version %s?", o.App, o.Version)); err != nil {
			return err
		}
		v, err := eg.PatchAppVersionArguments(ctx, o.App, o.Version, next)
		if err != nil {
			return err
		}
		res = Result{Argument: arg, Applied: true, App: o.App, Version: o.Version, Arguments: v.Arguments}
	}
	io := o.F.IOStreams
	if o.F.Format == output.JSON {
		return output.WriteJSON(io.Out, res)
	}
	if res.Applied {
		fmt.Fprintf(io.ErrOut, "Set the arguments of %s version %s; new deployments start with:\n", o.App, o.Version)
		_, err = fmt.Fprintln(io.Out, res.Arguments)
		return err
	}
	_, err = fmt.Fprintln(io.Out, arg)
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
