// Package serve implements `bevygap serve`: the matchmaker, the gateway and
// the webhook sink in one process, with an embedded nats-server when no NATS
// server is configured.
package serve

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/settings"
)

// Options of `serve`: what it needs, not the whole factory. Settings and
// Logger are read when the command runs (the root loads them after the
// tree is built).
type Options struct {
	Settings func() *settings.Settings
	Logger   func() *slog.Logger
	// Getenv reads XDG_STATE_HOME and HOME for the default data-dir.
	Getenv                       func(string) string
	Matchmaker, Gateway, Webhook bool
}

// NewCmdServe builds `bevygap serve`.
func NewCmdServe(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Settings: f.S, Logger: func() *slog.Logger { return f.Logger }, Getenv: f.Env.Get}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the matchmaker, the gateway and the webhook sink",
		Long: `Run bevygap's services until interrupted (SIGINT/SIGTERM shut down gracefully:
new connections are refused, waiting clients are told and closed with 1001,
in-flight requests finish or have their sessions deleted, NATS is drained).

By default all three parts run in this process; --matchmaker, --gateway and
--webhook select a subset, so each part can also run alone (as the Rust
project's separate binaries did) and scale on its own.

Without a NATS server (nats-host unset), serve starts an embedded nats-server
with JetStream on --nats-listen, storing in --data-dir, and says so: a small
game can run its whole backend from this one binary. Give it --nats-tls-cert
and --nats-tls-key (and NATS_USER/NATS_PASSWORD) when game servers on Edgegap
must reach it over the internet.`,
		Example: `  # everything, embedded NATS, against Edgegap
  EDGEGAP_API_KEY='token ...' LIGHTYEAR_PRIVATE_KEY='...' bevygap serve --app-name my-game --app-version v3

  # only the gateway, against a shared NATS
  NATS_HOST=nats.example.com bevygap serve --gateway`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !o.Matchmaker && !o.Gateway && !o.Webhook {
				o.Matchmaker, o.Gateway, o.Webhook = true, true, true
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return serveRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Matchmaker, "matchmaker", false, "run the matchmaker")
	fl.BoolVar(&o.Gateway, "gateway", false, "run the game-client gateway")
	fl.BoolVar(&o.Webhook, "webhook", false, "run the Edgegap webhook sink")
	settings.AddFlags(fl, app.ServeKeys...)
	return cmd
}

func serveRun(ctx context.Context, o *Options) error {
	parts := app.Parts{Matchmaker: o.Matchmaker, Gateway: o.Gateway, Webhook: o.Webhook}
	log := o.Logger()
	opts, err := app.Serve(*o.Settings(), parts, log, app.StateHome(o.Getenv))
	if err != nil {
		return err
	}
	st, err := app.Start(ctx, opts)
	if err != nil {
		return err
	}
	attrs := []any{"nats", st.NATSURL}
	if st.Gateway != nil {
		attrs = append(attrs, "gateway", st.Gateway.URL(), "webhook", st.Gateway.WebhookURL())
	}
	if st.MetricsURL != "" {
		attrs = append(attrs, "metrics", st.MetricsURL)
	}
	log.Info("bevygap serving", attrs...)
	err = st.Wait(ctx)
	log.Info("bevygap stopped")
	return err
}
