// Package dev implements `bevygap dev`: the whole system on one machine, in
// one process, with no external services. It is a thin command over the
// composition root (internal/app): the dev preset, the wiring and the
// simulated game servers live there.
package dev

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/cli/contextcmd"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/netcode"
)

// Options of `dev`: what the command needs, not the whole factory.
// Settings and Logger are read when the command runs (the root loads
// them after the tree is built).
type Options struct {
	IO       *iostreams.IOStreams
	Settings func() *settings.Settings
	Logger   func() *slog.Logger
	Now      func() time.Time
}

// NewCmdDev builds `bevygap dev`.
func NewCmdDev(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{IO: f.IOStreams, Settings: f.S, Logger: func() *slog.Logger { return f.Logger }, Now: f.Now}
	cmd := &cobra.Command{
		Use: "dev",
		Example: `  bevygap dev
  bevygap dev --listen 127.0.0.1:3000 --deploy-delay 3s --sockets 8`,
		Short: "Run the whole system locally: NATS, Edgegap simulator, game servers, matchmaker, gateway",
		Long: `Run the whole bevygap system on this machine, with no Edgegap account, no NATS
install and no game build: an embedded nats-server with JetStream, the Edgegap
simulator (whose deployments start simulated game servers on loopback UDP),
the matchmaker for app bevygap-spaceships version 1, and the gateway with the
webhook sink wired to the simulator's session webhooks.

dev reads every setting serve reads (flags below, BEVYGAP_* and Rust env names,
config file), over its own defaults (the dev preset: a fixed development key,
the simulator's app, no rate limits, any CORS origin), except those naming
the services it runs itself:
` + wrap(strings.Join(app.DevIgnores, ", ")+".", 78) + `

Then, in another terminal: bevygap play --connect
Ctrl-C stops everything cleanly.`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{factory.AnnotationPreset: app.DevPreset.Name, factory.AnnotationKeys: strings.Join(app.DevKeys(), ",")},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return devRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	p := app.DevPreset
	p.AddFlagAs(fl, "gateway-listen", "listen")
	p.AddFlags(fl, "gateway-listen") // serve's name for it works too
	p.AddFlags(fl, "edgegap-listen", "nats-listen")
	fl.Lookup("listen").Usage = "gateway and webhook-sink address (game clients connect here; config gateway-listen; env BEVYGAP_GATEWAY_LISTEN)"
	p.AddFlags(fl, "data-dir", "deploy-delay", "sockets", "unclaimed-ttl", "empty-ttl", "allocator", "seats-per-deployment")
	fl.Lookup("data-dir").Usage = "JetStream store directory (default: a temporary one, removed on exit; env BEVYGAP_DATA_DIR)"
	p.AddFlagAs(fl, "lightyear-private-key", "private-key")
	p.AddFlagAs(fl, "lightyear-protocol-id", "protocol-id")
	return cmd
}

func devRun(ctx context.Context, o *Options) error {
	s := o.Settings()
	opts, err := app.Dev(*s, o.Logger())
	if err != nil {
		return err
	}
	start := o.Now()
	st, err := app.Start(ctx, opts)
	if err != nil {
		return err
	}
	banner(o.IO, st, opts.Matchmaker.PrivateKey, opts.Matchmaker.ProtocolID, s, o.Now().Sub(start))
	return st.Wait(ctx)
}

func banner(io *iostreams.IOStreams, st *app.Stack, key netcode.PrivateKey, pid uint64, s *settings.Settings, took time.Duration) {
	th := output.NewErrTheme(io) // the banner goes to stderr: colour only when it is a terminal
	ws := "ws" + st.Gateway.URL()[len("http"):] + "/matchmaker/ws"
	lines := []string{
		th.Header.Render("bevygap dev") + th.Muted.Render(fmt.Sprintf("  (ready in %s)", took.Round(time.Millisecond))),
		"",
		th.Bold.Render("gateway    ") + ws,
		th.Bold.Render("edgegap    ") + st.Sim.URL() + "   API key: " + st.Sim.APIKey(),
		th.Bold.Render("nats       ") + st.NATSURL,
		th.Bold.Render("game       ") + fmt.Sprintf("%s version %s, protocol id %d, key fingerprint %s", s.Matchmaker.AppName, s.Matchmaker.AppVersion, pid, key.Fingerprint()),
		"",
		th.Bold.Render("Next, in another terminal:"),
		"  bevygap play --connect",
		fmt.Sprintf("  EDGEGAP_API_KEY='%s' bevygap sessions ls --edgegap-url %s", st.Sim.APIKey(), st.Sim.URL()),
		fmt.Sprintf("  NATS_HOST=%s NATS_INSECURE=1 bevygap kv watch", strings.TrimPrefix(st.NATSURL, "nats://")),
		"",
		th.Bold.Render("Or save it as a context, then run any command (kv ls, sessions ls, top) bare:"),
		"  " + contextcmd.AddLine("dev", st.NATSURL, st.Sim.URL(), st.Sim.APIKey(), s.Matchmaker.AppName, s.Matchmaker.AppVersion, ws),
		"",
		th.Muted.Render("Ctrl-C stops everything."),
	}
	for _, l := range lines {
		fmt.Fprintln(io.ErrOut, l)
	}
}

// wrap breaks s into lines of at most width columns at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		if i > 0 && n+1+len(w) > width {
			b.WriteByte('\n')
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
