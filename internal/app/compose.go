package app

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bevygap/bevygap/internal/devserver"
	"github.com/bevygap/bevygap/internal/gateway"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

// This file builds every domain config from settings.Settings: the one
// place where settings become natsconn, edgegap, matchmaker, gateway,
// embedded-NATS and simulator configs.

// NATSOptions are the connection options of client name for s.
func NATSOptions(s settings.NATS, name string, log *slog.Logger) natsconn.Options {
	return natsconn.Options{
		Host: s.Host, User: s.User, Password: s.Password, CAFile: s.CA, CAContents: s.CAContents,
		Insecure: s.Insecure, Name: name, Logger: log,
	}
}

// ServiceNATSOptions are NATSOptions for long-running services (serve,
// gameserver, kv watch): they never give up reconnecting, rather than
// lingering half-alive after the Rust default of 10 attempts.
func ServiceNATSOptions(s settings.NATS, name string, log *slog.Logger) natsconn.Options {
	o := NATSOptions(s, name, log)
	o.MaxReconnects = -1
	return o
}

// Names are the (possibly namespaced) NATS names.
func Names(s settings.NATS) (state.Names, error) { return state.NewNames(s.Namespace) }

// errNoAPIKey wraps edgegap.ErrNoAPIKey with the setting to set.
var errNoAPIKey = fmt.Errorf("%w: set edgegap-api-key (EDGEGAP_API_KEY); for the simulator use 'token bevygap-dev'", edgegap.ErrNoAPIKey)

// Budget is the process-wide Edgegap rate budget (0 = unlimited).
func Budget(s settings.Edgegap) (*edgegap.Budget, error) {
	// The 2026 deployment classes start at Edgegap's documented limits.
	b := edgegap.DefaultBudgetConfig()
	b.Create = edgegap.Limit{PerSecond: s.CreateRate, Burst: 1}
	b.Status = edgegap.Limit{PerSecond: s.StatusRate, Burst: 1}
	b.Deploy = edgegap.Limit{PerSecond: s.DeployRate, Burst: 1}
	b.DeploymentStatus = edgegap.Limit{PerSecond: s.DeploymentStatusRate, Burst: 1}
	b.List = edgegap.Limit{PerSecond: s.ListRate, Burst: 1}
	return edgegap.NewBudget(b)
}

// EdgegapConfig is the Edgegap API client config; a missing key wraps
// edgegap.ErrNoAPIKey.
func EdgegapConfig(s settings.Edgegap, log *slog.Logger) (edgegap.Config, error) {
	if s.APIKey == "" {
		return edgegap.Config{}, errNoAPIKey
	}
	b, err := Budget(s)
	if err != nil {
		return edgegap.Config{}, err
	}
	return edgegap.Config{BaseURL: strings.TrimRight(s.URL, "/"), APIKey: s.APIKey, Logger: log, Budget: b}, nil
}

// PrivateKey parses the Lightyear private key setting (empty: all zeros).
func PrivateKey(raw string) (netcode.PrivateKey, error) {
	if raw == "" {
		return netcode.PrivateKey{}, nil
	}
	k, err := netcode.ParsePrivateKey(raw)
	if err != nil {
		return k, fmt.Errorf("lightyear-private-key: %w", err)
	}
	return k, nil
}

// MatchmakerConfig is the matchmaker config (connections are filled in by
// Start). An all-zero key without allow-insecure-key is
// matchmaker.ErrInsecureKey.
func MatchmakerConfig(all settings.Settings) (*matchmaker.Config, error) {
	s := all.Matchmaker
	key, err := PrivateKey(s.PrivateKey)
	if err != nil {
		return nil, err
	}
	if key.IsZero() && !s.AllowInsecureKey {
		return nil, matchmaker.ErrInsecureKey
	}
	return &matchmaker.Config{
		AppName: s.AppName, AppVersion: s.AppVersion, PrivateKey: key, ProtocolID: s.ProtocolID,
		WebhookURL: s.SessionWebhookURL, PortName: s.PortName,
		ReadyTimeout: s.ReadyTimeout, CertDigestWait: s.CertDigestWait, UnclaimedTTL: s.UnclaimedTTL,
		RequireCertDigest: s.RequireCertDigest, AllowInsecureKey: s.AllowInsecureKey, MaxInFlight: s.MaxInFlight,
		Allocator: s.Allocator, ReconcileInterval: s.ReconcileInterval, ReconcileGrace: s.ReconcileGrace, DeleteWorkers: s.DeleteWorkers,
		Fleet: matchmaker.FleetConfig{
			SeatsPerDeployment: s.SeatsPerDeployment, EmptyTTL: s.EmptyTTL, MaxDeploymentAge: s.MaxDeploymentAge,
			ReconcileInterval: s.ReconcileInterval, ReconcileGrace: s.ReconcileGrace, WebhookBase: hookBase(s.WebhookPublicURL),
			WebhookSecret: all.Gateway.WebhookSecret, Replicas: all.NATS.Replicas,
		},
	}, nil
}

// hookBase is the webhook sink's /hook under its public URL ("" stays "").
func hookBase(public string) string {
	if public == "" {
		return ""
	}
	return strings.TrimRight(public, "/") + "/hook"
}

// GatewayConfig is the gateway config (serving both the client routes and
// the webhook sink; connections are filled in by Start).
func GatewayConfig(s settings.Gateway) *gateway.Config {
	return &gateway.Config{
		CORSOrigins: s.CORS, TrustedProxies: s.TrustedProxies, FakeIP: s.FakeIP, AllowClientIPOverride: s.AllowClientIPOverride,
		RatePerMinute: s.RatePerMinute, RateBurst: s.RateBurst,
		MaxPendingPerIP: s.MaxPendingPerIP, MaxPendingTotal: s.MaxPendingTotal,
		WebhookSecret: s.WebhookSecret,
		Serve:         gateway.ServeMatchmaker | gateway.ServeWebhook,
	}
}

// EmbeddedOptions are the embedded nats-server's options. An empty
// data-dir is the persistent default of serve (DefaultDataDir with
// stateHome) or, when stateHome is nil, a temporary directory (dev).
func EmbeddedOptions(s settings.Settings, stateHome func() (string, error)) (natsconn.EmbeddedOptions, error) {
	dir := s.Serve.DataDir
	if dir == "" && stateHome != nil {
		var err error
		if dir, err = DefaultDataDir(s.Serve.NATSListen, stateHome); err != nil {
			return natsconn.EmbeddedOptions{}, err
		}
	}
	return natsconn.EmbeddedOptions{
		Listen: s.Serve.NATSListen, StoreDir: dir, User: s.NATS.User, Password: s.NATS.Password,
		TLSCert: s.Serve.NATSTLSCert, TLSKey: s.Serve.NATSTLSKey,
	}, nil
}

// StateHome is $XDG_STATE_HOME, else ~/.local/state, read through getenv.
func StateHome(getenv func(string) string) func() (string, error) {
	return func() (string, error) {
		if x := getenv("XDG_STATE_HOME"); x != "" {
			return x, nil
		}
		home := getenv("HOME")
		if home == "" {
			return "", fmt.Errorf("no data-dir given and no home directory (HOME) for the default")
		}
		return filepath.Join(home, ".local", "state"), nil
	}
}

// DefaultDataDir is <state home>/bevygap/nats-<port>: the store holds the
// delete queue and the unclaimed sessions, so it must survive a restart,
// and one directory per listen port keeps two embedded servers apart.
func DefaultDataDir(listen string, stateHome func() (string, error)) (string, error) {
	base, err := stateHome()
	if err != nil {
		return "", err
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

// ServeKeys are the settings `serve` reads, also registered as its flags.
var ServeKeys = []string{
	"nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace", "nats-replicas",
	"nats-listen", "data-dir", "nats-tls-cert", "nats-tls-key",
	"edgegap-url", "edgegap-api-key", "edgegap-create-rate", "edgegap-status-rate",
	"edgegap-deploy-rate", "edgegap-deployment-status-rate", "edgegap-list-rate",
	"app-name", "app-version", "lightyear-private-key", "lightyear-protocol-id", "session-webhook-url",
	"port-name", "ready-timeout", "cert-digest-wait", "require-cert-digest", "unclaimed-ttl", "max-inflight",
	"allow-insecure-key", "skip-edgegap-check",
	"allocator", "seats-per-deployment", "empty-ttl", "max-deployment-age", "reconcile-interval", "reconcile-grace", "webhook-public-url", "delete-workers",
	"gateway-listen", "webhook-listen", "metrics-addr", "fake-ip", "allow-client-ip-override",
	"rate-per-minute", "rate-burst", "max-pending-per-ip", "max-pending-total", "webhook-secret", "cors", "trusted-proxies",
}

// DevKeys are the settings `bevygap dev` reads: every setting serve reads
// except DevIgnores, and the simulator's.
func DevKeys() []string {
	var keys []string
	for _, k := range ServeKeys {
		if !slices.Contains(DevIgnores, k) {
			keys = append(keys, k)
		}
	}
	for _, d := range settings.Defs {
		if d.Section == settings.SectionDev {
			keys = append(keys, d.Key)
		}
	}
	return keys
}

// Parts selects what `serve` runs.
type Parts struct{ Matchmaker, Gateway, Webhook bool }

// Serve builds the Options of `bevygap serve`: a NATS server to connect to
// (nats-host) or an embedded one, and the selected parts against Edgegap.
func Serve(s settings.Settings, parts Parts, log *slog.Logger, stateHome func() (string, error)) (Options, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	names, err := Names(s.NATS)
	if err != nil {
		return Options{}, err
	}
	o := Options{Logger: log, Names: names, Replicas: s.NATS.Replicas, MetricsAddr: s.Gateway.MetricsAddr}
	if s.NATS.Host != "" {
		no := ServiceNATSOptions(s.NATS, "bevygap", log)
		o.NATS = &no
	} else {
		if o.Embedded, err = EmbeddedOptions(s, stateHome); err != nil {
			return Options{}, err
		}
		log.Info("no NATS server configured (nats-host): starting an embedded nats-server", "listen", o.Embedded.Listen, "data_dir", o.Embedded.StoreDir)
	}
	if parts.Gateway || parts.Webhook {
		o.Gateway = GatewayConfig(s.Gateway)
		o.Gateway.Serve = 0
		if parts.Gateway {
			o.Gateway.Serve |= gateway.ServeMatchmaker
		}
		if parts.Webhook {
			o.Gateway.Serve |= gateway.ServeWebhook
		}
		o.GatewayAddr, o.WebhookAddr = s.Gateway.Listen, s.Gateway.WebhookListen
	}
	if parts.Matchmaker {
		if o.Matchmaker, err = MatchmakerConfig(s); err != nil {
			return Options{}, err
		}
		o.BootCheck = !s.Matchmaker.SkipEdgegapCheck
		if o.Edgegap, err = EdgegapConfig(s.Edgegap, log); err != nil {
			return Options{}, err
		}
	}
	return o, nil
}

// DevKey is the Lightyear private key of `bevygap dev` unless one is given:
// fixed so that a game client and server built for local testing can share
// it, and never all zeros (which the matchmaker refuses).
const DevKey = "98,101,118,121,103,97,112,45,100,101,118,45,107,101,121,45,110,111,116,45,102,111,114,45,112,114,111,100,117,99,116,110"

// RustKey writes k in the format of the Rust bevygap's
// LIGHTYEAR_PRIVATE_KEY: its 32 bytes in decimal, comma-separated. It
// reveals the key: only for dev's known key and what dev hands its own
// game-server commands.
func RustKey(k netcode.PrivateKey) string {
	parts := make([]string, len(k))
	for i, b := range k {
		parts[i] = strconv.Itoa(int(b))
	}
	return strings.Join(parts, ",")
}

// DevProtocolID is the protocol id of `bevygap dev` unless one is given
// (the Rust matchmaker's default).
const DevProtocolID = 1982

// DevPreset is `bevygap dev`'s defaults, laid below flags, env and config
// file: the simulator's app, a fixed development key, the gateway on
// loopback, and no Edgegap call budget (the simulator is local). The
// gateway keeps serve's defaults (CORS, rate and pending-request limits):
// dev is production with known keys; `--open` relaxes them (DevOpen).
// `bevygap dev` and the end-to-end tests use it.
var DevPreset = settings.Preset{Name: "dev", Defaults: map[string]string{
	"lightyear-private-key": DevKey,
	"lightyear-protocol-id": fmt.Sprint(DevProtocolID),
	"app-name":              edgegapsim.DefaultApp,
	"app-version":           edgegapsim.DefaultVersion,
	"gateway-listen":        "127.0.0.1:3000",
	"edgegap-create-rate":   "0",
	"edgegap-status-rate":   "0",
	"allocator":             "deployments",
	"empty-ttl":             "10s",
}}

// DevOpenPreset is what `bevygap dev --open` relaxes: any browser origin, no
// rate or pending-request limit per client IP, and the client_ip override.
var DevOpenPreset = settings.Preset{Name: "dev --open", Defaults: map[string]string{
	"cors":                     "*",
	"rate-per-minute":          "0",
	"max-pending-per-ip":       "0",
	"allow-client-ip-override": "true",
}}

// DevOpen applies DevOpenPreset to s when s.Dev.Open is set, to every key
// whose value is a default (source reports "default" or a preset): a value
// set by flag, env or config file wins. It returns the keys it relaxed.
func DevOpen(s *settings.Settings, source func(key string) settings.Source) ([]string, error) {
	if !s.Dev.Open {
		return nil, nil
	}
	p := settings.Preset{Name: DevOpenPreset.Name, Defaults: map[string]string{}}
	var keys []string
	for _, d := range settings.Defs {
		v, ok := DevOpenPreset.Defaults[d.Key]
		if !ok {
			continue
		}
		if src := string(source(d.Key)); src != "default" && src != "" && !strings.HasPrefix(src, "preset ") {
			continue
		}
		p.Defaults[d.Key] = v
		keys = append(keys, d.Key)
	}
	return keys, p.Apply(s)
}

// DevIgnores are the settings `bevygap dev` does not read: it runs its own
// NATS, Edgegap simulator and webhook sink (on the gateway's address).
// nats-ca stays: with nats-tls-cert it is the CA game-server commands get.
var DevIgnores = []string{
	"nats-host", "nats-ca-contents", "nats-insecure",
	"edgegap-url", "edgegap-api-key", "session-webhook-url", "webhook-public-url", "skip-edgegap-check", "webhook-listen",
}

// DevSettings are the declared defaults with DevPreset applied.
func DevSettings() settings.Settings {
	s := settings.Defaults()
	if err := DevPreset.Apply(&s); err != nil {
		panic(err) // the preset is constant; TestDevPresetValid checks it
	}
	return s
}

// Dev builds the Options of `bevygap dev` from s (normally DevSettings,
// overridden by flags, env and file): embedded NATS (a temporary store
// unless data-dir is set), the Edgegap simulator serving app-name and
// app-version whose deployments start simulated game servers, or run
// gameserver-cmd (internal/devserver), the matchmaker and the gateway with
// the webhook sink on the gateway's address, wired to the simulator's
// webhooks as in production.
func Dev(s settings.Settings, log *slog.Logger) (Options, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	names, err := Names(s.NATS)
	if err != nil {
		return Options{}, err
	}
	mc, err := MatchmakerConfig(s)
	if err != nil {
		return Options{}, err
	}
	mc.WebhookURL = "" // the gateway's own webhook sink
	budget, err := Budget(s.Edgegap)
	if err != nil {
		return Options{}, err
	}
	emb, err := EmbeddedOptions(s, nil)
	if err != nil {
		return Options{}, err
	}
	servers, err := devGameServers(s, log)
	if err != nil {
		return Options{}, err
	}
	return Options{
		Logger: log, Names: names, Replicas: s.NATS.Replicas, MetricsAddr: s.Gateway.MetricsAddr,
		Embedded: emb,
		Simulator: &edgegapsim.Config{
			ListenAddr: s.Dev.EdgegapListen, DeployDelay: s.Dev.DeployDelay, Sockets: s.Dev.Sockets, EmptyTTL: s.Matchmaker.EmptyTTL,
			Apps:       []edgegapsim.App{{Name: s.Matchmaker.AppName, Versions: []edgegapsim.Version{{Name: s.Matchmaker.AppVersion, DockerTag: edgegapsim.DefaultDockerTag}}}},
			RateLimits: &edgegapsim.RateLimits{Create: 1000, Status: 1000},
		},
		GameServers: servers,
		Edgegap:     edgegap.Config{Budget: budget},
		Matchmaker:  mc,
		BootCheck:   true,
		Gateway:     GatewayConfig(s.Gateway),
		GatewayAddr: s.Gateway.Listen, WebhookAddr: s.Gateway.Listen,
	}, nil
}

// devGameServers is the hook builder of dev's simulated deployments: the
// built-in simulated game servers, or gameserver-cmd.
func devGameServers(s settings.Settings, log *slog.Logger) (func(GameServerDeps) (DeployHook, error), error) {
	key, err := PrivateKey(s.Matchmaker.PrivateKey)
	if err != nil {
		return nil, err
	}
	pid, portName := s.Matchmaker.ProtocolID, s.Matchmaker.PortName
	if s.Dev.GameserverCmd == "" {
		return func(d GameServerDeps) (DeployHook, error) {
			return simserver.SimulatorHook(simserver.HookConfig{NC: d.NC, Names: d.Names, PrivateKey: key, ProtocolID: pid, PortName: portName, Logger: log}), nil
		}, nil
	}
	ca, err := devNATSCA(s)
	if err != nil {
		return nil, err
	}
	return func(d GameServerDeps) (DeployHook, error) {
		host := d.NATSURL
		if i := strings.Index(host, "://"); i >= 0 {
			host = host[i+3:]
		}
		return devserver.Hook(devserver.Config{
			Command: s.Dev.GameserverCmd, NC: d.NC, Names: d.Names, NATSHost: host, NATSCA: ca,
			NATSUser: s.NATS.User, NATSPasswd: s.NATS.Password,
			PrivateKey: RustKey(key), ProtocolID: pid, PortName: portName,
			ReadyTimeout: s.Matchmaker.ReadyTimeout, Grace: s.Dev.GameserverGrace,
			Output: d.Output, Logger: log.With("component", "gameserver-cmd"),
		})
	}, nil
}

// devNATSCA is the root CA game-server commands trust for dev's NATS when it
// uses TLS (nats-tls-cert): nats-ca, else the certificate itself (a
// self-signed one is its own CA). "" without TLS.
func devNATSCA(s settings.Settings) (string, error) {
	if s.Serve.NATSTLSCert == "" {
		return "", nil
	}
	key, path := "nats-ca", s.NATS.CA
	if path == "" {
		key, path = "nats-tls-cert", s.Serve.NATSTLSCert
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return string(b), nil
}
