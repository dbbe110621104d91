// Package check implements `bevygap check`: a checklist of everything a
// deployment of bevygap depends on.
package check

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

// Options of `check`.
type Options struct {
	F       *factory.Factory
	Strict  bool
	Timeout time.Duration
}

// Status of one check.
type Status string

// Statuses.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Item is one row of the checklist.
type Item struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
}

// NewCmdCheck builds `bevygap check`.
func NewCmdCheck(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check NATS, the buckets, the Edgegap app and version, and the Lightyear settings",
		Long: `Check everything bevygap needs, one row each (ok, warn or fail, with a hint):
NATS reachable, JetStream enabled, the bevygap buckets present and compatible
with the Rust side, the Edgegap API key accepted, the app and version existing
and active, the version's docker tag not "latest", the Lightyear private key
not all zeros and the protocol id set. Exit 1 when any check fails; --strict
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
		"edgegap-url", "edgegap-api-key", "app-name", "app-version", "lightyear-private-key", "lightyear-protocol-id")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	items := Run(ctx, o.F)
	failed := 0
	for i := range items {
		if o.Strict && items[i].Status == Warn {
			items[i].Status = Fail
		}
		if items[i].Status == Fail {
			failed++
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
	var items []Item
	add := func(check string, st Status, detail, hint string) {
		items = append(items, Item{Check: check, Status: st, Detail: detail, Hint: hint})
	}
	cfg := f.S()

	// NATS, JetStream, buckets.
	names, nerr := f.Names()
	nc, err := f.NATS(ctx, "bevygap-check")
	switch {
	case nerr != nil:
		add("nats reachable", Fail, nerr.Error(), "fix nats-namespace")
	case err != nil:
		add("nats reachable", Fail, err.Error(), "set NATS_HOST (NATS_INSECURE=1 without TLS)")
	default:
		defer nc.Close()
		add("nats reachable", OK, nc.ConnectedUrlRedacted(), "")
	}
	var js jetstream.JetStream
	if nc != nil && nerr == nil {
		js, _ = jetstream.New(nc)
		if _, err := js.AccountInfo(ctx); err != nil {
			add("jetstream enabled", Fail, err.Error(), "start nats-server with -js (JetStream)")
			js = nil
		} else {
			add("jetstream enabled", OK, "", "")
		}
	} else {
		add("jetstream enabled", Skip, "needs NATS", "")
	}
	if js != nil {
		var missing, bad []string
		for _, s := range state.Specs(names) {
			err := state.Check(ctx, js, s)
			switch {
			case err == nil:
			case errors.Is(err, jetstream.ErrStreamNotFound):
				missing = append(missing, s.Config.Name)
			default:
				bad = append(bad, err.Error())
			}
		}
		switch {
		case len(bad) > 0:
			add("buckets compatible", Fail, strings.Join(bad, "; "), "a stream differs from what the Rust game servers create: they would fail to start")
		case len(missing) > 0:
			add("buckets compatible", Warn, "missing: "+strings.Join(missing, ", "), "run `bevygap kv init` (the matchmaker and game servers also create them)")
		default:
			add("buckets compatible", OK, "5 buckets and the delete stream match the Rust configuration", "")
		}
	} else {
		add("buckets compatible", Skip, "needs JetStream", "")
	}

	// Edgegap.
	app, version := cfg.Matchmaker.AppName, cfg.Matchmaker.AppVersion
	eg, err := f.Edgegap(factory.EdgegapOptions{})
	var appOK bool
	if err != nil {
		add("edgegap api key", Fail, err.Error(), "set EDGEGAP_API_KEY")
	} else {
		a, err := eg.GetApp(ctx, app)
		switch {
		case edgegap.IsUnauthorized(err):
			add("edgegap api key", Fail, "refused by "+eg.BaseURL(), "check EDGEGAP_API_KEY")
		case err != nil && !edgegap.IsNotFound(err) && !errors.Is(err, edgegap.ErrBadRequest):
			add("edgegap api key", Fail, err.Error(), "is --edgegap-url right and reachable?")
		default:
			add("edgegap api key", OK, "accepted by "+eg.BaseURL(), "")
			if err != nil {
				add("app exists and active", Fail, fmt.Sprintf("app %q: %v", app, err), "set app-name to an app of your Edgegap account")
			} else if !a.Active {
				add("app exists and active", Fail, fmt.Sprintf("app %q is not active", app), "activate it in the Edgegap dashboard")
			} else {
				appOK = true
				add("app exists and active", OK, app, "")
			}
		}
	}
	if appOK {
		v, err := eg.GetAppVersion(ctx, app, version)
		switch {
		case err != nil:
			add("version exists and active", Fail, fmt.Sprintf("version %q: %v", version, err), "set app-version")
			add("docker tag pinned", Skip, "needs the version", "")
		default:
			if v.Active {
				add("version exists and active", OK, version, "")
			} else {
				add("version exists and active", Fail, fmt.Sprintf("version %q is not active", version), "sessions cannot be created on an inactive version")
			}
			if v.DockerTag == "latest" || v.DockerTag == "" {
				add("docker tag pinned", Warn, fmt.Sprintf("tag %q", v.DockerTag), "Edgegap caches images aggressively: 'latest' silently serves an old build; use a version tag")
			} else {
				add("docker tag pinned", OK, v.DockerTag, "")
			}
		}
	} else {
		add("version exists and active", Skip, "needs the app", "")
		add("docker tag pinned", Skip, "needs the app", "")
	}

	// Lightyear.
	raw := cfg.Matchmaker.PrivateKey
	switch k, err := netcode.ParsePrivateKey(raw); {
	case raw == "":
		add("lightyear private key", Warn, "not set: all zeros, as the Rust default", "anyone can mint tokens for your servers: set LIGHTYEAR_PRIVATE_KEY")
	case err != nil:
		add("lightyear private key", Fail, err.Error(), "32 numbers '1,2,3,...', 64 hex digits or base64")
	case k.IsZero():
		add("lightyear private key", Warn, "all zeros", "anyone can mint tokens for your servers: use a random key")
	default:
		add("lightyear private key", OK, "fingerprint "+k.Fingerprint(), "")
	}
	if id := cfg.Matchmaker.ProtocolID; f.Settings.Source("lightyear-protocol-id") == "default" {
		add("lightyear protocol id", Warn, fmt.Sprintf("%d (the default)", id), "set lightyear-protocol-id to your game's protocol id")
	} else {
		add("lightyear protocol id", OK, fmt.Sprint(id), "")
	}
	return items
}
