package settings

import (
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/bevygap/bevygap/pkg/netcode"
)

// Settings is every setting bevygap reads, typed and grouped by section.
// Commands and the composition root (internal/app) read its fields; the
// single declaration of keys, env names, defaults, help and limits is Defs.
type Settings struct {
	NATS       NATS
	Edgegap    Edgegap
	Matchmaker Matchmaker
	Gateway    Gateway
	Serve      Serve
	Dev        Dev
	Tools      Tools
}

// NATS is how to reach the NATS server (PROTOCOL.md section 2).
type NATS struct {
	Host       string
	User       string
	Password   string
	CA         string
	CAContents string
	Insecure   bool
	Namespace  string
	Replicas   int
}

// Edgegap is the Edgegap API (PROTOCOL.md section 10).
type Edgegap struct {
	URL        string
	APIKey     string
	CreateRate float64 // per second, 0 = unlimited
	StatusRate float64 // per second, 0 = unlimited
	// The 2026 deployment API's classes, per second, 0 = unlimited.
	DeployRate           float64
	DeploymentStatusRate float64
	ListRate             float64
}

// Matchmaker configures the matchmaker (PROTOCOL.md section 7).
type Matchmaker struct {
	AppName           string
	AppVersion        string
	PrivateKey        string // raw; netcode.ParsePrivateKey checks it in Validate
	ProtocolID        uint64
	SessionWebhookURL string
	PortName          string
	ReadyTimeout      time.Duration
	CertDigestWait    time.Duration
	RequireCertDigest bool
	UnclaimedTTL      time.Duration
	MaxInFlight       int
	AllowInsecureKey  bool
	SkipEdgegapCheck  bool

	// The allocator and its fleet (FLEET.md).
	Allocator          string
	SeatsPerDeployment int
	EmptyTTL           time.Duration
	MaxDeploymentAge   time.Duration
	ReconcileInterval  time.Duration
	WebhookPublicURL   string
	ReconcileGrace     time.Duration
	DeleteWorkers      int
}

// Gateway configures the game-client gateway and the webhook sink
// (PROTOCOL.md section 6).
type Gateway struct {
	Listen                string
	WebhookListen         string
	MetricsAddr           string
	CORS                  []string
	TrustedProxies        []netip.Prefix
	AllowClientIPOverride bool
	FakeIP                netip.Addr
	RatePerMinute         float64 // 0 = unlimited
	RateBurst             int
	MaxPendingPerIP       int // 0 = unlimited
	MaxPendingTotal       int // 0 = unlimited
	WebhookSecret         string
}

// Serve configures `serve`'s embedded nats-server (used when NATS.Host is
// empty, and by dev).
type Serve struct {
	NATSListen  string
	DataDir     string
	NATSTLSCert string
	NATSTLSKey  string
}

// Dev configures `bevygap dev`'s Edgegap simulator.
type Dev struct {
	EdgegapListen string
	DeployDelay   time.Duration
	Sockets       int
	// GameserverCmd, when set, is the shell command each simulated
	// deployment runs as its game server (internal/devserver).
	GameserverCmd   string
	GameserverGrace time.Duration
	// Open relaxes the gateway's production defaults (internal/app.DevOpen).
	Open bool
}

// Section names, in the order of Defs.
const (
	SectionNATS       = "NATS"
	SectionEdgegap    = "Edgegap"
	SectionMatchmaker = "matchmaker"
	SectionGateway    = "gateway"
	SectionServe      = "embedded NATS (serve, dev)"
	SectionDev        = "dev"
	SectionTools      = "tools (play, top)"
)

const maxPort = 65535

// Defs declares every setting once: key (flag name, config-file key and
// BEVYGAP_ env suffix), section, typed field, default, Rust env names, help
// text, secrecy and limits. Defaults equal the Rust bevygap defaults where
// it has one.
var Defs = []Def{
	// NATS (PROTOCOL.md section 2)
	{Key: "nats-host", Section: SectionNATS, Legacy: []string{"NATS_HOST"}, Usage: "NATS server: host, host:port or nats:// / tls:// URL",
		check: optional(natsHost), field: func(s *Settings) any { return &s.NATS.Host }},
	{Key: "nats-user", Section: SectionNATS, Legacy: []string{"NATS_USER"}, Usage: "NATS user",
		field: func(s *Settings) any { return &s.NATS.User }},
	{Key: "nats-password", Section: SectionNATS, Legacy: []string{"NATS_PASSWORD"}, Usage: "NATS password", Secret: true,
		field: func(s *Settings) any { return &s.NATS.Password }},
	{Key: "nats-ca", Section: SectionNATS, Legacy: []string{"NATS_CA"}, Usage: "path to a PEM root CA for the NATS server certificate",
		field: func(s *Settings) any { return &s.NATS.CA }},
	{Key: "nats-ca-contents", Section: SectionNATS, Legacy: []string{"NATS_CA_CONTENTS"}, Usage: "PEM text of the NATS root CA", Secret: true,
		field: func(s *Settings) any { return &s.NATS.CAContents }},
	{Key: "nats-insecure", Section: SectionNATS, Legacy: []string{"NATS_INSECURE"}, Default: "false", Usage: "connect to NATS without TLS", PresenceTrue: true,
		field: func(s *Settings) any { return &s.NATS.Insecure }},
	{Key: "nats-namespace", Section: SectionNATS, Usage: "prefix for every bucket, stream and subject (empty = Rust compatible)",
		field: func(s *Settings) any { return &s.NATS.Namespace }},
	{Key: "nats-replicas", Section: SectionNATS, Default: "1", Usage: "copies of bevygap's own buckets and streams on a NATS cluster (3 on a 3-node cluster); the Rust-compatible buckets stay at 1 unless nats-namespace is set", check: intIn(1, 5),
		field: func(s *Settings) any { return &s.NATS.Replicas }},

	// Edgegap (PROTOCOL.md section 10)
	{Key: "edgegap-url", Section: SectionEdgegap, Default: "https://api.edgegap.com", Usage: "Edgegap API base URL", check: httpURL,
		field: func(s *Settings) any { return &s.Edgegap.URL }},
	{Key: "edgegap-api-key", Section: SectionEdgegap, Legacy: []string{"EDGEGAP_API_KEY"}, Usage: "Edgegap API key ('token XXX' or 'XXX')", Secret: true,
		field: func(s *Settings) any { return &s.Edgegap.APIKey }},
	{Key: "edgegap-create-rate", Section: SectionEdgegap, Default: "40", Usage: "session creations per second this process sends to Edgegap (Edgegap documents 40; 0 = unlimited)", check: floatIn(0, 100000),
		field: func(s *Settings) any { return &s.Edgegap.CreateRate }},
	{Key: "edgegap-status-rate", Section: SectionEdgegap, Default: "10", Usage: "status calls per second this process sends to Edgegap (Edgegap documents 10; 0 = unlimited)", check: floatIn(0, 100000),
		field: func(s *Settings) any { return &s.Edgegap.StatusRate }},
	{Key: "edgegap-deploy-rate", Section: SectionEdgegap, Default: "40", Usage: "deployment creations per second this process sends to Edgegap (Edgegap documents 40; 0 = unlimited)", check: floatIn(0, 100000),
		field: func(s *Settings) any { return &s.Edgegap.DeployRate }},
	{Key: "edgegap-deployment-status-rate", Section: SectionEdgegap, Default: "20", Usage: "deployment status calls per second this process sends to Edgegap (Edgegap documents 20; 0 = unlimited)", check: floatIn(0, 100000),
		field: func(s *Settings) any { return &s.Edgegap.DeploymentStatusRate }},
	{Key: "edgegap-list-rate", Section: SectionEdgegap, Default: "10", Usage: "deployment list calls per second this process sends to Edgegap (Edgegap documents 10; 0 = unlimited)", check: floatIn(0, 100000),
		field: func(s *Settings) any { return &s.Edgegap.ListRate }},

	// Matchmaker (PROTOCOL.md section 7)
	{Key: "app-name", Section: SectionMatchmaker, Default: "spacepit_server", Usage: "Edgegap application name",
		field: func(s *Settings) any { return &s.Matchmaker.AppName }},
	{Key: "app-version", Section: SectionMatchmaker, Default: "v0.0.1", Usage: "Edgegap application version",
		field: func(s *Settings) any { return &s.Matchmaker.AppVersion }},
	{Key: "lightyear-private-key", Section: SectionMatchmaker, Legacy: []string{"LIGHTYEAR_PRIVATE_KEY"}, Usage: "Lightyear private key: 32 numbers '1,2,3,...', 64 hex digits or base64", Secret: true, Aliases: []string{"private-key"}, check: optional(privateKey),
		field: func(s *Settings) any { return &s.Matchmaker.PrivateKey }},
	{Key: "lightyear-protocol-id", Section: SectionMatchmaker, Default: "1982", Usage: "Lightyear protocol id (u64)", Aliases: []string{"protocol-id"},
		field: func(s *Settings) any { return &s.Matchmaker.ProtocolID }},
	{Key: "session-webhook-url", Section: SectionMatchmaker, Usage: "public URL Edgegap POSTs session events to: the webhook sink's /hook/session, with ?secret=<webhook-secret> when one is set", Secret: true, check: optional(httpURL),
		field: func(s *Settings) any { return &s.Matchmaker.SessionWebhookURL }},
	{Key: "port-name", Section: SectionMatchmaker, Usage: "deployment port clients connect to (default: the only port, else the lowest name)",
		field: func(s *Settings) any { return &s.Matchmaker.PortName }},
	{Key: "ready-timeout", Section: SectionMatchmaker, Default: "60s", Usage: "give up on a session that is not ready after this long (Error 408)", check: positiveDuration,
		field: func(s *Settings) any { return &s.Matchmaker.ReadyTimeout }},
	{Key: "cert-digest-wait", Section: SectionMatchmaker, Default: "5s", Usage: "how long to wait for the game server's certificate digest", check: positiveDuration,
		field: func(s *Settings) any { return &s.Matchmaker.CertDigestWait }},
	{Key: "require-cert-digest", Section: SectionMatchmaker, Default: "true", Usage: "fail a seat without a certificate digest (Rust behaviour); false sends an empty digest",
		field: func(s *Settings) any { return &s.Matchmaker.RequireCertDigest }},
	{Key: "unclaimed-ttl", Section: SectionMatchmaker, Default: "62s", Usage: "delete a seat no client connected to after this long", check: positiveDuration,
		field: func(s *Settings) any { return &s.Matchmaker.UnclaimedTTL }},
	{Key: "max-inflight", Section: SectionMatchmaker, Default: "1000", Usage: "requests served at once; beyond it the matchmaker answers 503 busy", check: intIn(1, 1_000_000),
		field: func(s *Settings) any { return &s.Matchmaker.MaxInFlight }},
	{Key: "allow-insecure-key", Section: SectionMatchmaker, Default: "false", Usage: "allow the all-zero Lightyear private key (local development only)",
		field: func(s *Settings) any { return &s.Matchmaker.AllowInsecureKey }},
	{Key: "skip-edgegap-check", Section: SectionMatchmaker, Default: "false", Usage: "start without checking that the Edgegap app and version exist",
		field: func(s *Settings) any { return &s.Matchmaker.SkipEdgegapCheck }},
	{Key: "allocator", Section: SectionMatchmaker, Default: "auto", Usage: "how players get a server: deployments (seats on Edgegap deployments bevygap runs), sessions (an Edgegap session per player), or auto (sessions only when the app version has a Seat or Match session_config)", check: oneOf("auto", "deployments", "sessions"),
		field: func(s *Settings) any { return &s.Matchmaker.Allocator }},
	{Key: "seats-per-deployment", Section: SectionMatchmaker, Default: "6", Usage: "players one deployment takes (deployments allocator)", check: intIn(1, 256),
		field: func(s *Settings) any { return &s.Matchmaker.SeatsPerDeployment }},
	{Key: "empty-ttl", Section: SectionMatchmaker, Default: "10m", Usage: "stop a deployment this long after its last player left (deployments allocator; dev: also the simulator's session deployments)", check: positiveDuration,
		field: func(s *Settings) any { return &s.Matchmaker.EmptyTTL }},
	{Key: "max-deployment-age", Section: SectionMatchmaker, Default: "23h", Usage: "a deployment this old takes no new players and stops once empty (Edgegap ends deployments at 24h)", check: positiveDuration,
		field: func(s *Settings) any { return &s.Matchmaker.MaxDeploymentAge }},
	{Key: "reconcile-interval", Section: SectionMatchmaker, Default: "2m", Usage: "how often the matchmaker compares Edgegap's list of its deployments with the NATS ledger, adopting or stopping what no record explains", check: positiveDuration,
		field: func(s *Settings) any { return &s.Matchmaker.ReconcileInterval }},
	{Key: "reconcile-grace", Section: SectionMatchmaker, Default: "2m", Usage: "reconciliation leaves alone a session or deployment younger than this, and one an unfinished create of this age may explain (keep it above Edgegap's 30s call timeout)", check: positiveDuration,
		field: func(s *Settings) any { return &s.Matchmaker.ReconcileGrace }},
	{Key: "webhook-public-url", Section: SectionMatchmaker, Usage: "public base URL of the webhook sink (https://host[:port]); Edgegap POSTs deployment events to its /hook/deployment-* with ?secret=<webhook-secret>", check: optional(httpURL),
		field: func(s *Settings) any { return &s.Matchmaker.WebhookPublicURL }},
	{Key: "delete-workers", Section: SectionMatchmaker, Default: "16", Usage: "session deletes and deployment stops each replica sends to Edgegap at once", check: intIn(1, 256),
		field: func(s *Settings) any { return &s.Matchmaker.DeleteWorkers }},

	// Gateway (PROTOCOL.md section 6)
	{Key: "gateway-listen", Section: SectionGateway, Default: "0.0.0.0:3000", Usage: "address of the game-client gateway", Aliases: []string{"listen"}, check: hostPort,
		field: func(s *Settings) any { return &s.Gateway.Listen }},
	{Key: "webhook-listen", Section: SectionGateway, Default: "0.0.0.0:3001", Usage: "address of the Edgegap webhook sink", check: hostPort,
		field: func(s *Settings) any { return &s.Gateway.WebhookListen }},
	{Key: "metrics-addr", Section: SectionGateway, Usage: "address serving Prometheus /metrics (empty: only the gateway's /metrics)", check: optional(hostPort),
		field: func(s *Settings) any { return &s.Gateway.MetricsAddr }},
	{Key: "cors", Section: SectionGateway, Default: "http://localhost:8000", Usage: "allowed browser origin (repeatable; * allows any)",
		field: func(s *Settings) any { return &s.Gateway.CORS }},
	{Key: "trusted-proxies", Section: SectionGateway, Usage: "CIDRs whose X-Forwarded-For is trusted (repeatable)",
		field: func(s *Settings) any { return &s.Gateway.TrustedProxies }},
	{Key: "allow-client-ip-override", Section: SectionGateway, Default: "false", Usage: "honour the client_ip query parameter (development)",
		field: func(s *Settings) any { return &s.Gateway.AllowClientIPOverride }},
	{Key: "fake-ip", Section: SectionGateway, Default: "81.128.157.100", Usage: "client IP used instead of loopback addresses",
		field: func(s *Settings) any { return &s.Gateway.FakeIP }},
	{Key: "rate-per-minute", Section: SectionGateway, Default: "6", Usage: "seat requests per minute per client IP (0 = unlimited)", check: floatIn(0, 1_000_000),
		field: func(s *Settings) any { return &s.Gateway.RatePerMinute }},
	{Key: "rate-burst", Section: SectionGateway, Default: "3", Usage: "requests a client IP may make back to back", check: intIn(1, 1_000_000),
		field: func(s *Settings) any { return &s.Gateway.RateBurst }},
	{Key: "max-pending-per-ip", Section: SectionGateway, Default: "4", Usage: "requests one client IP may have waiting at once (0 = unlimited)", check: intIn(0, 1_000_000),
		field: func(s *Settings) any { return &s.Gateway.MaxPendingPerIP }},
	{Key: "max-pending-total", Section: SectionGateway, Default: "10000", Usage: "requests the gateway holds waiting at once (0 = unlimited)", check: intIn(0, 10_000_000),
		field: func(s *Settings) any { return &s.Gateway.MaxPendingTotal }},
	{Key: "webhook-secret", Section: SectionGateway, Usage: "shared secret Edgegap must send (?secret= or X-Bevygap-Webhook-Secret)", Secret: true,
		field: func(s *Settings) any { return &s.Gateway.WebhookSecret }},

	// Embedded NATS (serve without a NATS server; dev)
	{Key: "nats-listen", Section: SectionServe, Default: "127.0.0.1:4222", Usage: "address of the embedded nats-server (empty: in-process connections only)", check: optional(hostPort),
		field: func(s *Settings) any { return &s.Serve.NATSListen }},
	{Key: "data-dir", Section: SectionServe, Usage: "JetStream store of the embedded nats-server (serve default: $XDG_STATE_HOME/bevygap/nats-<port>, kept across restarts; dev: a temporary one)",
		field: func(s *Settings) any { return &s.Serve.DataDir }},
	{Key: "nats-tls-cert", Section: SectionServe, Usage: "PEM certificate for the embedded nats-server (TLS for game servers)",
		field: func(s *Settings) any { return &s.Serve.NATSTLSCert }},
	{Key: "nats-tls-key", Section: SectionServe, Usage: "PEM key file for the embedded nats-server",
		field: func(s *Settings) any { return &s.Serve.NATSTLSKey }},

	// dev: the Edgegap simulator
	{Key: "edgegap-listen", Section: SectionDev, Default: "127.0.0.1:3100", Usage: "Edgegap simulator address", check: hostPort,
		field: func(s *Settings) any { return &s.Dev.EdgegapListen }},
	{Key: "deploy-delay", Section: SectionDev, Default: "1s", Usage: "time a simulated deployment takes to become ready", check: nonNegativeDuration,
		field: func(s *Settings) any { return &s.Dev.DeployDelay }},
	{Key: "sockets", Section: SectionDev, Default: "4", Usage: "seats per simulated deployment", check: intIn(1, 10000),
		field: func(s *Settings) any { return &s.Dev.Sockets }},
	{Key: "gameserver-cmd", Section: SectionDev, Usage: "shell command (sh -c) each simulated deployment runs as its game server, with Edgegap's ARBITRIUM_* and the NATS_* environment (empty: built-in simulated game servers)",
		field: func(s *Settings) any { return &s.Dev.GameserverCmd }},
	{Key: "gameserver-grace", Section: SectionDev, Default: "5s", Usage: "time a game-server command has to exit after SIGTERM before SIGKILL", check: positiveDuration,
		field: func(s *Settings) any { return &s.Dev.GameserverGrace }},
	{Key: "open", Section: SectionDev, Default: "false", Usage: "relax the gateway's production defaults for local experiments: any CORS origin, no rate or pending-request limits, client_ip override (values set by flag, env or file still win)",
		field: func(s *Settings) any { return &s.Dev.Open }},
	// Tools: where the admin tools find a running system (contexts set them).
	{Key: "gateway-url", Section: SectionTools, Default: "ws://127.0.0.1:3000/matchmaker/ws", Usage: "gateway play asks for seats and top reads /metrics from: ws(s):// or http(s):// URL, or host:port", check: gatewayURL,
		field: func(s *Settings) any { return &s.Tools.GatewayURL }},
	{Key: "metrics-url", Section: SectionTools, Usage: "further Prometheus /metrics URLs top reads, e.g. each matchmaker's --metrics-addr (repeatable; the gateway's is always read)",
		field: func(s *Settings) any { return &s.Tools.MetricsURLs }},
}

// Tools is where the admin tools (play, top) find a running system.
type Tools struct {
	GatewayURL  string
	MetricsURLs []string
}

// privateKey checks a Lightyear private key the way the matchmaker and
// token commands parse it, so a bad key is a usage error everywhere.
func privateKey(v any) string {
	if _, err := netcode.ParsePrivateKey(v.(string)); err != nil {
		return "32 comma-separated numbers, 64 hex digits or 44 base64 characters"
	}
	return ""
}

// gatewayURL accepts a ws://, wss://, http:// or https:// URL with a
// host, or a bare host:port (play adds ws:// and /matchmaker/ws).
func gatewayURL(v any) string {
	raw := v.(string)
	if !strings.Contains(raw, "://") {
		if hostPort(raw) == "" {
			return ""
		}
		return "a ws://, wss://, http:// or https:// URL with a host, or host:port"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") {
		return "a ws://, wss://, http:// or https:// URL with a host, or host:port"
	}
	return ""
}
