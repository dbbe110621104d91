// Package serve implements `bevygap serve`: the matchmaker, the gateway and
// the webhook sink in one process, with an embedded nats-server when no NATS
// server is configured.
package serve

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	devstack "github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/gateway"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/natsconn"
	config "github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/netcode"
)

// Options of `serve`.
type Options struct {
	F                            *factory.Factory
	Matchmaker, Gateway, Webhook bool
}

// Keys are the settings serve reads, also registered as its flags.
var Keys = []string{
	"nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace",
	"nats-listen", "data-dir", "nats-tls-cert", "nats-tls-key",
	"edgegap-url", "edgegap-api-key", "edgegap-create-rate", "edgegap-status-rate",
	"app-name", "app-version", "lightyear-private-key", "lightyear-protocol-id", "session-webhook-url",
	"port-name", "ready-timeout", "cert-digest-wait", "require-cert-digest", "unclaimed-ttl", "max-inflight",
	"allow-insecure-key", "skip-edgegap-check",
	"gateway-listen", "webhook-listen", "metrics-addr", "fake-ip", "allow-client-ip-override",
	"rate-per-minute", "rate-burst", "max-pending-per-ip", "max-pending-total", "webhook-secret",
}

// NewCmdServe builds `bevygap serve`.
func NewCmdServe(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{F: f}
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
	config.AddFlags(fl, Keys...)
	config.AddListFlag(fl, "cors")
	config.AddListFlag(fl, "trusted-proxies")
	return cmd
}

func serveRun(ctx context.Context, o *Options) error {
	cfg := o.F.Config()
	names, err := o.F.Names()
	if err != nil {
		return err
	}
	opts := devstack.Options{Logger: o.F.Logger, Names: names, MetricsAddr: cfg.String("metrics-addr"), BootCheck: true}
	if cfg.String("nats-host") != "" {
		no, err := o.F.ServiceNATSOptions("bevygap")
		if err != nil {
			return err
		}
		opts.NATS = &no
	} else {
		opts.Embedded, err = EmbeddedNATS(o.F)
		if err != nil {
			return err
		}
		o.F.Logger.Info("no NATS server configured (nats-host): starting an embedded nats-server", "listen", opts.Embedded.Listen, "data_dir", opts.Embedded.StoreDir)
	}
	if o.Gateway || o.Webhook {
		gc, err := GatewayConfig(o.F)
		if err != nil {
			return err
		}
		gc.Serve = 0
		if o.Gateway {
			gc.Serve |= gateway.ServeMatchmaker
		}
		if o.Webhook {
			gc.Serve |= gateway.ServeWebhook
		}
		opts.Gateway = gc
		opts.GatewayAddr, opts.WebhookAddr = cfg.String("gateway-listen"), cfg.String("webhook-listen")
	}
	if o.Matchmaker {
		mc, err := MatchmakerConfig(o.F)
		if err != nil {
			return err
		}
		opts.Matchmaker = mc
		skip, err := cfg.Bool("skip-edgegap-check")
		if err != nil {
			return err
		}
		opts.BootCheck = !skip
		eg, err := o.F.Edgegap(factory.EdgegapOptions{})
		if err != nil {
			return err
		}
		opts.Edgegap.BaseURL, opts.Edgegap.APIKey, opts.Edgegap.Budget = eg.BaseURL(), cfg.String("edgegap-api-key"), eg.Budget()
		eg.CloseIdleConnections()
	}
	st, err := devstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	log := o.F.Logger
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

// EmbeddedNATS builds the embedded nats-server options from the settings.
func EmbeddedNATS(f *factory.Factory) (natsconn.EmbeddedOptions, error) {
	cfg := f.Config()
	no, err := f.NATSOptions("bevygap")
	if err != nil {
		return natsconn.EmbeddedOptions{}, err
	}
	dir := cfg.String("data-dir")
	if dir == "" {
		// The store holds the delete queue and the unclaimed sessions: it
		// must survive a restart, or queued deletes are lost with it. One
		// directory per listen port, so two embedded servers never share one.
		if dir, err = defaultDataDir(cfg.String("nats-listen")); err != nil {
			return natsconn.EmbeddedOptions{}, err
		}
	}
	return natsconn.EmbeddedOptions{
		Listen: cfg.String("nats-listen"), StoreDir: dir,
		User: no.User, Password: no.Password,
		TLSCert: cfg.String("nats-tls-cert"), TLSKey: cfg.String("nats-tls-key"),
	}, nil
}

// defaultDataDir is $XDG_STATE_HOME/bevygap/nats-<port> (~/.local/state/...).
func defaultDataDir(listen string) (string, error) {
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no data-dir given and no home directory for the default: %w", err)
		}
		base = filepath.Join(home, ".local", "state")
	}
	port := "embedded"
	if _, p, err := net.SplitHostPort(listen); err == nil && p != "" && p != "0" && p != "-1" {
		port = p
	}
	dir := filepath.Join(base, "bevygap", "nats-"+port)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("data-dir %s: %w", dir, err)
	}
	return dir, nil
}

// MatchmakerConfig builds the matchmaker settings (connections are filled
// in by devstack).
func MatchmakerConfig(f *factory.Factory) (*matchmaker.Config, error) {
	cfg := f.Config()
	var key netcode.PrivateKey
	if raw := cfg.String("lightyear-private-key"); raw != "" {
		k, err := netcode.ParsePrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("lightyear-private-key: %w", err)
		}
		key = k
	}
	pid, err := cfg.Uint64("lightyear-protocol-id")
	if err != nil {
		return nil, err
	}
	mc := &matchmaker.Config{
		AppName: cfg.String("app-name"), AppVersion: cfg.String("app-version"),
		PrivateKey: key, ProtocolID: pid, WebhookURL: cfg.String("session-webhook-url"), PortName: cfg.String("port-name"),
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{{"ready-timeout", &mc.ReadyTimeout}, {"cert-digest-wait", &mc.CertDigestWait}, {"unclaimed-ttl", &mc.UnclaimedTTL}} {
		if *d.dst, err = positiveDuration(f, d.key); err != nil {
			return nil, err
		}
	}
	if mc.RequireCertDigest, err = cfg.Bool("require-cert-digest"); err != nil {
		return nil, err
	}
	if mc.AllowInsecureKey, err = cfg.Bool("allow-insecure-key"); err != nil {
		return nil, err
	}
	if mc.MaxInFlight, err = cfg.Int("max-inflight", 1, 1_000_000); err != nil {
		return nil, err
	}
	if key.IsZero() && !mc.AllowInsecureKey {
		return nil, &factory.AuthError{Err: matchmaker.ErrInsecureKey}
	}
	return mc, nil
}

func positiveDuration(f *factory.Factory, key string) (time.Duration, error) {
	d, err := f.Config().Duration(key)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, &config.InvalidError{Key: key, Source: string(f.Config().Source(key)), Want: "a positive duration"}
	}
	return d, nil
}

// GatewayConfig builds the gateway settings.
func GatewayConfig(f *factory.Factory) (*gateway.Config, error) {
	cfg := f.Config()
	gc := &gateway.Config{CORSOrigins: cfg.List("cors"), WebhookSecret: cfg.String("webhook-secret")}
	for _, p := range cfg.List("trusted-proxies") {
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			if a, aerr := netip.ParseAddr(p); aerr == nil {
				pre = netip.PrefixFrom(a, a.BitLen())
			} else {
				return nil, &config.InvalidError{Key: "trusted-proxies", Source: string(cfg.Source("trusted-proxies")) + fmt.Sprintf(", value %q", p), Want: "CIDRs like 10.0.0.0/8 or addresses"}
			}
		}
		gc.TrustedProxies = append(gc.TrustedProxies, pre)
	}
	fake, err := netip.ParseAddr(cfg.String("fake-ip"))
	if err != nil {
		return nil, &config.InvalidError{Key: "fake-ip", Source: string(cfg.Source("fake-ip")), Want: "an IP address"}
	}
	gc.FakeIP = fake
	if gc.AllowClientIPOverride, err = cfg.Bool("allow-client-ip-override"); err != nil {
		return nil, err
	}
	rpm, err := cfg.Int("rate-per-minute", 0, 1_000_000)
	if err != nil {
		return nil, err
	}
	gc.RatePerMinute = float64(rpm) // 0 = unlimited, as in the gateway
	if gc.RateBurst, err = cfg.Int("rate-burst", 1, 1_000_000); err != nil {
		return nil, err
	}
	if gc.MaxPendingPerIP, err = cfg.Int("max-pending-per-ip", 1, 1_000_000); err != nil {
		return nil, err
	}
	if gc.MaxPendingTotal, err = cfg.Int("max-pending-total", 1, 10_000_000); err != nil {
		return nil, err
	}
	return gc, nil
}
