// Package check implements `bevygap check`: a checklist of everything a
// deployment of bevygap depends on.
package check

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	checks "github.com/bevygap/bevygap/internal/check"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/state"
)

// Options of `check`.
type Options struct {
	F       *factory.Factory
	Strict  bool
	Timeout time.Duration
}

// Status of one check.
type Status = checks.Status

// Statuses.
const (
	OK   = checks.OK
	Warn = checks.Warn
	Fail = checks.Fail
	Skip = checks.Skip
)

// Item is one row of the checklist.
type Item = checks.Item

// NewCmdCheck builds `bevygap check`.
func NewCmdCheck(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check NATS, the buckets, the Edgegap app, version, API and allocator, and the Lightyear settings",
		Long: `Check everything bevygap needs, one row each (ok, warn or fail, with a hint):
NATS reachable, JetStream enabled, the bevygap buckets present and compatible
with the Rust side, the Edgegap API key accepted, the app and version existing
and active, the version's docker tag not "latest", the Edgegap API the version
implies (sessions when it has a Seat or Match session_config, else
deployments) and whether the key can use it, the allocator the allocator
setting resolves to and why, the Lightyear private key not all zeros and the
protocol id set. Exit 1 when any check fails; --strict
counts warnings as failures.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return run(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Strict, "strict", false, "treat warnings as failures")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 15*time.Second, "give up on the checks after this long")
	settings.AddFlags(cmd.Flags(), "nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace",
		"edgegap-url", "edgegap-api-key", "app-name", "app-version", "allocator", "lightyear-private-key", "lightyear-protocol-id")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	items := Run(ctx, o.F)
	failed := checks.Failures(items, o.Strict)
	for i := range items {
		if o.Strict && items[i].Status == Warn {
			items[i].Status = Fail
		}
	}
	io := o.F.IOStreams
	if o.F.Format == output.JSON {
		if err := output.WriteJSON(io.Out, items); err != nil {
			return err
		}
	} else {
		th := o.F.Theme()
		t := output.NewTable(io, "Check", "Status", "Detail", "Hint")
		for _, it := range items {
			st := string(it.Status)
			if io.IsStdoutTTY() {
				switch it.Status {
				case OK:
					st = th.OK.Render("✓ ok")
				case Warn:
					st = th.Warn.Render("! warn")
				case Fail:
					st = th.Fail.Render("✗ fail")
				case Skip:
					st = th.Muted.Render("- skip")
				}
			}
			t.AddRow(it.Check, st, it.Detail, it.Hint)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	if failed > 0 {
		if o.F.Format != output.JSON {
			fmt.Fprintf(io.ErrOut, "%d check(s) failed\n", failed)
		}
		return &factory.SilentError{Code: 1}
	}
	return nil
}

// Run performs every check with the factory's configuration.
func Run(ctx context.Context, f *factory.Factory) []Item {
	cfg := f.S()
	names, nerr := f.Names()
	return checks.Run(ctx, checks.Config{
		Names:   func() (state.Names, error) { return names, nerr },
		Connect: func(ctx context.Context) (*nats.Conn, error) { return f.NATS(ctx, "bevygap-check") },
		Edgegap: func() (*edgegap.Client, error) { return f.Edgegap(factory.EdgegapOptions{}) },
		AppName: cfg.Matchmaker.AppName, AppVersion: cfg.Matchmaker.AppVersion, Allocator: cfg.Matchmaker.Allocator,
		PrivateKey: cfg.Matchmaker.PrivateKey,
		ProtocolID: func() (uint64, bool, error) {
			return cfg.Matchmaker.ProtocolID, f.Settings.Source("lightyear-protocol-id") == "default", nil
		},
	})
}
