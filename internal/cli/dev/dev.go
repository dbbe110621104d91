// Package dev implements `bevygap dev`: the whole system on one machine, in
// one process, with no external services. It is a thin command over the
// composition root (internal/app): the dev preset, the wiring and the
// simulated game servers live there, running a developer's own game server
// in internal/devserver.
package dev

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/cli/contextcmd"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
)

// Options of `dev`: what the command needs, not the whole factory.
// Settings, Source, Logger and Format are read when the command runs (the
// root loads them after the tree is built).
type Options struct {
	IO       *iostreams.IOStreams
	Settings func() *settings.Settings
	// Source says where a setting's value came from (settings.Loaded.Source).
	Source func(key string) settings.Source
	Logger func() *slog.Logger
	Format func() output.Format
	Now    func() time.Time
	// Prog is how the banner's commands start bevygap ("bevygap", "go run
	// ./cmd/bevygap", "./bevygap").
	Prog func() string
}

// NewCmdDev builds `bevygap dev`.
func NewCmdDev(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{
		IO: f.IOStreams, Settings: f.S, Now: f.Now,
		Source: func(k string) settings.Source { return f.Settings.Source(k) },
		Logger: func() *slog.Logger { return f.Logger },
		Format: func() output.Format { return f.Format },
		Prog:   func() string { exe, _ := os.Executable(); return Invocation(os.Args[0], exe, dirExists) },
	}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system locally: NATS, Edgegap simulator, game servers, matchmaker, gateway",
		Long: `Run the whole bevygap system on this machine, with no Edgegap account and no
NATS install: an embedded nats-server with JetStream, the Edgegap simulator,
the matchmaker for app bevygap-spaceships version 1, and the gateway with the
webhook sink, to which the simulator sends its session and deployment
webhooks exactly as Edgegap does in production.

Each simulated deployment gets its own loopback address (127.0.0.2, ...) and
runs either a built-in simulated game server (netcode 1.02 over UDP), or your
own game server: --gameserver-cmd '<shell command>' starts it (sh -c) with the
environment Edgegap gives a deployment (ARBITRIUM_*, the public IP and ports
mapping; BEVYGAP_GAME_ADDR is the UDP address to bind) plus NATS_HOST,
NATS_INSECURE=1 (or, when the NATS server uses TLS, the --ca_contents '<PEM>'
argument, appended unless the command places "$@" itself),
LIGHTYEAR_PRIVATE_KEY and BEVYGAP_LIGHTYEAR_PROTOCOL_ID. The deployment is
ready once the server published its deployment context (bevygap_server_plugin
does at boot); its output appears here prefixed with the deployment's request
id; when the deployment stops it gets SIGTERM, then SIGKILL after
--gameserver-grace; if it exits on its own the deployment is in error.

dev is production with known keys: the gateway has serve's defaults (CORS
origin http://localhost:8000, 6 seat requests per minute and 4 pending per
client IP). --open relaxes them for local experiments (any origin, no rate or
pending limits, the client_ip override); values set by flag, env or config
file still win. The Lightyear key is a fixed development key (printed in the
banner, in the Rust format) unless --private-key gives one.

dev reads every setting serve reads (flags below, BEVYGAP_* and Rust env names,
config file), over its own defaults (the dev preset), except those naming the
services it runs itself:
` + wrap(strings.Join(app.DevIgnores, ", ")+".", 78) + `

Default addresses that are in use (127.0.0.1:3000, :3100, :4222) fall back to
free ports, with a warning; an address given by flag, env or config file that
is in use fails at once, naming the setting.

With -o json, dev prints one line of JSON once ready (gateway_url,
edgegap_url, edgegap_api_key, nats_url, protocol_id, private_key for the dev
key, ...) and nothing else on standard output; logs go to standard error.
Ctrl-C stops everything cleanly.`,
		Example: `  bevygap dev
  bevygap dev --gameserver-cmd './target/debug/server'
  bevygap dev --open --listen 127.0.0.1:8080
  bevygap dev -o json | head -1 | jq -r .gateway_url
  bevygap dev --allocator sessions --deploy-delay 3s --sockets 8`,
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
	p.AddFlags(fl, "gameserver-cmd", "gameserver-grace", "open")
	p.AddFlags(fl, "app-name", "app-version")
	p.AddFlagAs(fl, "lightyear-private-key", "private-key")
	p.AddFlagAs(fl, "lightyear-protocol-id", "protocol-id")
	p.AddFlags(fl, "data-dir", "deploy-delay", "sockets", "unclaimed-ttl", "empty-ttl", "allocator", "seats-per-deployment")
	fl.Lookup("data-dir").Usage = "JetStream store directory (default: a temporary one, removed on exit; env BEVYGAP_DATA_DIR)"
	return cmd
}

func devRun(ctx context.Context, o *Options) error {
	s := *o.Settings()
	log := o.Logger()
	relaxed, err := app.DevOpen(&s, o.Source)
	if err != nil {
		return err
	}
	if len(relaxed) > 0 {
		log.Warn("--open: the gateway is relaxed, unlike serve", "settings", strings.Join(relaxed, ","))
	}
	if err := freePorts(&s, o.Source, log); err != nil {
		return err
	}
	opts, err := app.Dev(s, log)
	if err != nil {
		return err
	}
	opts.GameServerOutput = o.IO.ErrOut
	start := o.Now()
	st, err := app.Start(ctx, opts)
	if err != nil {
		return err
	}
	info := describe(st, opts.Matchmaker.PrivateKey, &s, o.Now().Sub(start))
	if o.Format() == output.JSON {
		enc := json.NewEncoder(o.IO.Out) // one line: `dev -o json | head -1` is the whole object
		if err := enc.Encode(info); err != nil {
			st.Close()
			return err
		}
	} else {
		banner(o.IO, info, o.Prog())
	}
	return st.Wait(ctx)
}

// Info is what `dev -o json` prints once ready, and what the banner shows.
type Info struct {
	GatewayURL     string `json:"gateway_url"`
	GatewayHTTPURL string `json:"gateway_http_url"`
	WebhookURL     string `json:"webhook_url"`
	MetricsURL     string `json:"metrics_url"`
	EdgegapURL     string `json:"edgegap_url"`
	EdgegapAPIKey  string `json:"edgegap_api_key"`
	NATSURL        string `json:"nats_url"`
	NATSHost       string `json:"nats_host"`
	AppName        string `json:"app_name"`
	AppVersion     string `json:"app_version"`
	ProtocolID     uint64 `json:"protocol_id"`
	// PrivateKey is the dev key in the Rust format; empty when the key was
	// given (it is a secret then: only its fingerprint is shown).
	PrivateKey     string  `json:"private_key"`
	DevKey         bool    `json:"dev_key"`
	KeyFingerprint string  `json:"key_fingerprint"`
	Allocator      string  `json:"allocator"`
	Open           bool    `json:"open"`
	GameserverCmd  string  `json:"gameserver_cmd"`
	ReadyMS        float64 `json:"ready_ms"`

	// For the banner.
	cors      []string
	rate      float64
	pendingIP int
	tls       bool
	natsUser  string
}

func describe(st *app.Stack, key netcode.PrivateKey, s *settings.Settings, took time.Duration) Info {
	gw := st.Gateway.URL()
	natsHost := st.NATSURL
	if i := strings.Index(natsHost, "://"); i >= 0 {
		natsHost = natsHost[i+3:]
	}
	dev, _ := app.PrivateKey(app.DevKey)
	in := Info{
		GatewayURL: "ws" + strings.TrimPrefix(gw, "http") + "/matchmaker/ws", GatewayHTTPURL: gw,
		WebhookURL: st.Gateway.WebhookURL() + "/hook", MetricsURL: gw + "/metrics",
		EdgegapURL: st.Sim.URL(), EdgegapAPIKey: st.Sim.APIKey(),
		NATSURL: st.NATSURL, NATSHost: natsHost,
		AppName: s.Matchmaker.AppName, AppVersion: s.Matchmaker.AppVersion, ProtocolID: s.Matchmaker.ProtocolID,
		DevKey: key == dev, KeyFingerprint: key.Fingerprint(),
		Allocator: st.Allocator, Open: s.Dev.Open, GameserverCmd: s.Dev.GameserverCmd,
		ReadyMS: float64(took.Microseconds()) / 1000,
		cors:    s.Gateway.CORS, rate: s.Gateway.RatePerMinute, pendingIP: s.Gateway.MaxPendingPerIP,
		tls: s.Serve.NATSTLSCert != "", natsUser: s.NATS.User,
	}
	if st.MetricsURL != "" {
		in.MetricsURL = st.MetricsURL
	}
	if in.DevKey {
		in.PrivateKey = app.RustKey(key)
	}
	return in
}

func banner(io *iostreams.IOStreams, in Info, prog string) {
	th := output.NewErrTheme(io) // the banner goes to stderr: colour only when it is a terminal
	label := func(s string) string { return th.Bold.Render(fmt.Sprintf("%-13s", s)) }
	lines := []string{
		th.Header.Render("bevygap dev") + th.Muted.Render(fmt.Sprintf("  (ready in %s)", time.Duration(in.ReadyMS*float64(time.Millisecond)).Round(time.Millisecond))),
		"",
		label("gateway") + in.GatewayURL,
		label("") + th.Muted.Render(limits(in)),
		label("edgegap") + in.EdgegapURL + "   API key: " + in.EdgegapAPIKey,
		label("nats") + in.NATSURL,
		label("game") + fmt.Sprintf("%s version %s, protocol id %d, allocator %s", in.AppName, in.AppVersion, in.ProtocolID, in.Allocator),
		label("game servers") + servers(in),
		"",
	}
	natsEnv := "NATS_HOST=" + in.NATSHost + " NATS_INSECURE=1"
	if in.tls {
		natsEnv = "NATS_HOST=" + in.NATSHost + " NATS_CA=<nats-ca or nats-tls-cert>"
	}
	if in.natsUser != "" {
		natsEnv += " NATS_USER=" + in.natsUser + " NATS_PASSWORD=<nats-password>"
	}
	if in.DevKey {
		lines = append(lines,
			th.Bold.Render("Lightyear key")+" (a DEV key, known to anyone who reads bevygap's source: never use it in production):",
			"  LIGHTYEAR_PRIVATE_KEY='"+in.PrivateKey+"'",
		)
	} else {
		lines = append(lines, th.Bold.Render("Lightyear key")+": yours (fingerprint "+in.KeyFingerprint+")")
	}
	key := "LIGHTYEAR_PRIVATE_KEY='" + in.PrivateKey + "'"
	if !in.DevKey {
		key = "LIGHTYEAR_PRIVATE_KEY=<your key>"
	}
	lines = append(lines,
		th.Bold.Render("Rust game server")+" (bevygap_server_plugin; --gameserver-cmd adds the ARBITRIUM_* variables):",
		"  "+natsEnv+" "+key,
		th.Bold.Render("Rust game client")+" (bevygap_client_plugin, protocol id "+fmt.Sprint(in.ProtocolID)+"):",
		"  matchmaker_url "+in.GatewayURL+", game_name "+in.AppName+", game_version "+in.AppVersion,
		"",
		th.Bold.Render("Next, in another terminal:"),
		"  "+playCommand(prog, in.GatewayURL, in.AppName, in.AppVersion),
		fmt.Sprintf("  EDGEGAP_API_KEY='%s' %s %s ls --edgegap-url %s", in.EdgegapAPIKey, prog, lsNoun(in.Allocator), in.EdgegapURL),
		fmt.Sprintf("  %s %s kv watch", natsEnv, prog),
		"",
		th.Bold.Render("Or save it as a context, then run any command (kv ls, fleet, top) bare:"),
		"  "+prog+strings.TrimPrefix(contextcmd.AddLine("dev", in.NATSURL, in.EdgegapURL, in.EdgegapAPIKey, in.AppName, in.AppVersion, in.GatewayURL), "bevygap"),
		"",
		th.Muted.Render("Ctrl-C stops everything."),
	)
	for _, l := range lines {
		fmt.Fprintln(io.ErrOut, l)
	}
}

// lsNoun is what Edgegap calls what the allocator pays for.
func lsNoun(allocator string) string {
	if allocator == "sessions" {
		return "sessions"
	}
	return "deployments"
}

// playDefaultURL is play's default gateway (play.DefaultURL).
const playDefaultURL = "ws://127.0.0.1:3000/matchmaker/ws"

// playCommand is the play command for dev's gateway and game (play's
// defaults are left out).
func playCommand(prog, gateway, game, version string) string {
	c := prog + " play"
	if gateway != playDefaultURL {
		c += " " + gateway
	}
	if game != edgegapsim.DefaultApp {
		c += " --game " + quote(game)
	}
	if version != edgegapsim.DefaultVersion {
		c += " --game-version " + quote(version)
	}
	return c + " --connect"
}

func limits(in Info) string {
	if in.Open {
		return "--open: any origin allowed, no rate or pending limits per client IP (serve does not do this)"
	}
	rate := "no rate limit"
	if in.rate > 0 {
		rate = fmt.Sprintf("%g seat requests/min", in.rate)
	}
	pending := "no pending limit"
	if in.pendingIP > 0 {
		pending = fmt.Sprintf("%d pending", in.pendingIP)
	}
	return fmt.Sprintf("serve's limits: CORS %s; %s and %s per client IP (--open relaxes them)", strings.Join(in.cors, ","), rate, pending)
}

func servers(in Info) string {
	if in.GameserverCmd == "" {
		return "simulated (netcode 1.02 on UDP, 127.0.0.2 and up); --gameserver-cmd runs yours"
	}
	return "sh -c " + quote(in.GameserverCmd) + " (output below, prefixed with the deployment id)"
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Invocation is how the banner's commands start bevygap: `go run
// ./cmd/bevygap` when dev runs from `go run` (its executable lives in a
// go-build directory) in the bevygap checkout, the module path elsewhere,
// else the program as it was started (`./bevygap`, `/usr/bin/bevygap`, or
// `bevygap` found on PATH).
func Invocation(arg0, exe string, isDir func(string) bool) string {
	if strings.Contains(filepath.ToSlash(exe), "/go-build") {
		if isDir(filepath.Join("cmd", "bevygap")) {
			return "go run ./cmd/bevygap"
		}
		return "go run github.com/bevygap/bevygap/cmd/bevygap@latest"
	}
	if arg0 == "" {
		return "bevygap"
	}
	return arg0
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// listenSettings are dev's listen addresses: key, flag, field.
func listenSettings(s *settings.Settings) []struct {
	key, flag string
	addr      *string
} {
	return []struct {
		key, flag string
		addr      *string
	}{
		{"gateway-listen", "--listen", &s.Gateway.Listen},
		{"edgegap-listen", "--edgegap-listen", &s.Dev.EdgegapListen},
		{"nats-listen", "--nats-listen", &s.Serve.NATSListen},
	}
}

// freePorts checks dev's listen addresses before anything starts: a default
// one in use is replaced by a free port of the same host, with a warning;
// one given by flag, env or file fails at once, naming the setting.
func freePorts(s *settings.Settings, source func(string) settings.Source, log *slog.Logger) error {
	for _, l := range listenSettings(s) {
		addr := *l.addr
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port == "0" || port == "-1" || addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			_ = ln.Close()
			continue
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			continue // Start reports it
		}
		src := string(source(l.key))
		if src != "default" && src != "" && !strings.HasPrefix(src, "preset ") {
			return fmt.Errorf("%s %s (from %s) is in use by another program: choose a free address with %s, or stop that program", l.key, addr, src, l.flag)
		}
		*l.addr = net.JoinHostPort(host, "0")
		log.Warn("default address in use: taking a free port instead (the banner shows it; "+l.flag+" chooses one)", "setting", l.key, "addr", addr)
	}
	return nil
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
