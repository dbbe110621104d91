// Package check implements `bevygap check`: a checklist of everything a
// deployment of bevygap depends on.
package check

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	checks "github.com/bevygap/bevygap/internal/check"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/natsconn"
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
		Use: "check",
		Example: `  bevygap check
  bevygap --context prod check --strict
  bevygap check -o json --jq '.[] | select(.status == "fail") | .check'`,
		Short: "Check NATS, the buckets, the Edgegap app, version, API and allocator, and the Lightyear settings",
		Long: `Check everything bevygap needs, one row each (ok, warn or fail, with a hint):
NATS reachable, JetStream enabled, the bevygap buckets present and compatible
with the Rust side, the Edgegap API key accepted, the app and version existing
and active, the version's docker tag not "latest", the Edgegap API the version
implies (sessions when it has a Seat or Match session_config, else
deployments) and whether the key can use it, the allocator the allocator
setting resolves to and why, the Lightyear private key not all zeros and the
protocol id set. Exit 1 when any check fails; --strict counts warnings as
failures; exit 4 when a check failed for missing configuration or refused
credentials (no NATS host, no or a refused Edgegap key, a refused NATS user).`,
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
	items, missing := runRecording(ctx, o.F)
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
		t := output.NewTable(io, o.F.Format, "Check", "Status", "Detail", "Hint").MaxWidth(2, 60).MaxWidth(3, 50)
		for _, it := range items {
			st := string(it.Status)
			if o.F.Format.IsTable() {
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
		if missing {
			return &factory.SilentError{Code: exitConfig}
		}
		return &factory.SilentError{Code: 1}
	}
	return nil
}

// exitConfig is the exit code for missing configuration or refused
// credentials (cli.ExitAuth).
const exitConfig = 4

// runRecording runs the checks and reports whether one failed for missing
// configuration or refused credentials: no NATS host, a refused NATS user,
// no Edgegap key, or a key Edgegap refused.
func runRecording(ctx context.Context, f *factory.Factory) ([]Item, bool) {
	missing := false
	note := func(err error) error {
		if errors.Is(err, natsconn.ErrNoHost) || errors.Is(err, natsconn.ErrAuth) || errors.Is(err, edgegap.ErrNoAPIKey) {
			missing = true
		}
		var auth *factory.AuthError
		if errors.As(err, &auth) {
			missing = true
		}
		return err
	}
	cfg := f.S()
	names, nerr := f.Names()
	items := checks.Run(ctx, checks.Config{
		Names: func() (state.Names, error) { return names, nerr },
		Connect: func(ctx context.Context) (*nats.Conn, error) {
			nc, err := f.NATS(ctx, "bevygap-check")
			return nc, note(err)
		},
		Edgegap: func() (*edgegap.Client, error) {
			eg, err := f.Edgegap(factory.EdgegapOptions{OnCall: func(_ string, status int) {
				if status == 401 || status == 403 {
					missing = true
				}
			}})
			return eg, note(err)
		},
		AppName: cfg.Matchmaker.AppName, AppVersion: cfg.Matchmaker.AppVersion, Allocator: cfg.Matchmaker.Allocator,
		PrivateKey: cfg.Matchmaker.PrivateKey,
		ProtocolID: func() (uint64, bool, error) {
			return cfg.Matchmaker.ProtocolID, f.Settings.Source("lightyear-protocol-id") == "default", nil
		},
	})
	return items, missing
}

// Run performs every check with the factory's configuration.
func Run(ctx context.Context, f *factory.Factory) []Item {
	items, _ := runRecording(ctx, f)
	return items
}
