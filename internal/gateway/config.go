package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bevygap/bevygap/pkg/state"
)

// Routes selects the route groups a Server serves.
type Routes uint8

// Route groups.
const (
	// ServeMatchmaker is the game-client side: the websocket, chunked and
	// wannaplay routes plus the index page.
	ServeMatchmaker Routes = 1 << iota
	// ServeWebhook is the webhook sink: POST /hook/{name}.
	ServeWebhook
	// ServeAll is both groups (the zero value of Config.Serve means this).
	ServeAll = ServeMatchmaker | ServeWebhook
)

// Defaults.
const (
	// DefaultAddr is where the gateway listens (the Rust httpd's default).
	DefaultAddr = "0.0.0.0:3000"
	// DefaultCORSOrigin is the one browser origin allowed by default.
	DefaultCORSOrigin = "http://localhost:8000"
	// DefaultFakeIP replaces loopback client addresses (near London, as in the Rust httpd).
	DefaultFakeIP = "81.128.157.100"

	// DefaultRatePerMinute, DefaultMaxPendingPerIP and DefaultMaxPendingTotal
	// are the limits `bevygap serve` applies; a Config that leaves them 0
	// has none (0 = unlimited).
	DefaultRatePerMinute   = 6
	DefaultMaxPendingPerIP = 4
	DefaultMaxPendingTotal = 10000

	DefaultRateBurst           = 3
	DefaultMaxTrackedIPs       = 100000
	DefaultFirstMessageTimeout = 10 * time.Second
	DefaultMaxRequestDuration  = 90 * time.Second
	// DefaultMatchmakerSilence is three of the matchmaker's progress
	// heartbeats (matchmaker.DefaultHeartbeat, 5s): a matchmaker silent that
	// long has died.
	DefaultMatchmakerSilence  = 15 * time.Second
	DefaultWebsocketReadLimit = 4 << 10
	DefaultPingInterval       = 20 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultWannaplayTimeout   = 60 * time.Second
	DefaultReadyTimeout       = 2 * time.Second
	DefaultWebhookMaxBody     = 64 << 10
	DefaultWebhookConcurrency = 64
	// endGrace is how long the gateway waits for the matchmaker's empty end
	// message after a SessionReady or Error feedback before closing anyway.
	endGrace = 5 * time.Second
)

// Config configures a gateway Server. The zero value of a size or timeout
// selects the default named in its comment; the zero value of a limit
// (RatePerMinute, MaxPendingPerIP, MaxPendingTotal) means unlimited, and a
// negative one is refused.
type Config struct {
	// NATS is the connection used for matchmaker requests and webhook
	// publishes (required). The Server does not close it.
	NATS *nats.Conn
	// Names namespaces every subject (zero value: the Rust layout).
	Names state.Names
	// Logger receives the gateway's logs (nil: discard).
	Logger *slog.Logger
	// Registry receives the gateway's metrics. When it is also a
	// prometheus.Gatherer (a *prometheus.Registry is), /metrics serves it;
	// nil uses a private registry. The global registry is never touched.
	Registry prometheus.Registerer
	// Serve selects the route groups (zero: ServeAll).
	Serve Routes

	// CORSOrigins are the browser origins allowed to call the client routes
	// and open the websocket (default [DefaultCORSOrigin]). "*" allows any
	// origin and only applies when listed explicitly. Requests without an
	// Origin header (native clients) and same-origin requests are always allowed.
	CORSOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For header is believed.
	TrustedProxies []netip.Prefix
	// AllowClientIPOverride lets clients choose the IP sent to Edgegap with a
	// client_ip query parameter (or the client_ip field of the websocket
	// request). For development and load tests only.
	AllowClientIPOverride bool
	// FakeIP replaces a loopback client address (default DefaultFakeIP).
	FakeIP netip.Addr

	// RatePerMinute is the per-IP token refill rate for session requests
	// (0: no rate limit; serve uses DefaultRatePerMinute). RateBurst is the
	// bucket size (default 3).
	RatePerMinute float64
	RateBurst     int
	// MaxPendingPerIP caps concurrent requests from one IP (IPv6: one /64)
	// (0: no cap; serve uses DefaultMaxPendingPerIP). MaxPendingTotal caps
	// them in total (0: no cap; serve uses DefaultMaxPendingTotal).
	MaxPendingPerIP int
	MaxPendingTotal int
	// MaxTrackedIPs bounds the per-IP state kept in memory (default 100000).
	MaxTrackedIPs int

	// FirstMessageTimeout is how long a websocket client has to send its
	// request (default 10s).
	FirstMessageTimeout time.Duration
	// MaxRequestDuration bounds one session request end to end (default 90s).
	MaxRequestDuration time.Duration
	// MatchmakerSilence fails a request with 503 "matchmaker stopped
	// answering" when the matchmaker sent nothing for this long (default
	// DefaultMatchmakerSilence; keep it at least 3 matchmaker heartbeats).
	MatchmakerSilence time.Duration
	// WebsocketReadLimit is the largest websocket message accepted (default 4 KiB);
	// larger ones close the connection with 1009.
	WebsocketReadLimit int64
	// PingInterval is the websocket keepalive period (default 20s; negative: none).
	PingInterval time.Duration
	// WriteTimeout bounds each write to a client (default 10s).
	WriteTimeout time.Duration
	// WannaplayTimeout bounds POST /matchmaker/wannaplay (default 60s).
	WannaplayTimeout time.Duration
	// ReadyTimeout bounds the /readyz matchmaker probe (default 2s).
	ReadyTimeout time.Duration

	// WebhookSecret, when set, must be given as the secret query parameter or
	// the X-Bevygap-Webhook-Secret header of every webhook POST.
	WebhookSecret string
	// WebhookMaxBody caps a webhook body (default 64 KiB; 413 beyond).
	WebhookMaxBody int64
	// WebhookConcurrency caps webhook requests in flight (default 64; 503 beyond).
	WebhookConcurrency int
}

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.NATS == nil {
		return c, errors.New("gateway config: a NATS connection is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Serve == 0 {
		c.Serve = ServeAll
	}
	if c.Serve&^ServeAll != 0 {
		return c, fmt.Errorf("gateway config: unknown route groups %#x", uint8(c.Serve))
	}
	if err := c.normalizeOrigins(); err != nil {
		return c, err
	}
	if err := c.checkAddresses(); err != nil {
		return c, err
	}
	c.fillDefaults()
	if err := c.checkLimits(); err != nil {
		return c, err
	}
	return c, nil
}

// normalizeOrigins copies CORSOrigins (default [DefaultCORSOrigin]),
// trims each and checks it is scheme://host[:port], "*" or "null".
func (c *Config) normalizeOrigins() error {
	if c.CORSOrigins == nil {
		c.CORSOrigins = []string{DefaultCORSOrigin}
	} else {
		c.CORSOrigins = slices.Clone(c.CORSOrigins)
	}
	for i, o := range c.CORSOrigins {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		c.CORSOrigins[i] = o
		if o == "*" || o == "null" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return fmt.Errorf("gateway config: cors: origin %q: want scheme://host[:port], e.g. %s", o, DefaultCORSOrigin)
		}
	}
	return nil
}

// checkAddresses fills in FakeIP and checks it and the trusted proxies.
func (c *Config) checkAddresses() error {
	c.TrustedProxies = slices.Clone(c.TrustedProxies)
	if !c.FakeIP.IsValid() {
		c.FakeIP = netip.MustParseAddr(DefaultFakeIP)
	}
	if c.FakeIP.IsLoopback() {
		return fmt.Errorf("gateway config: fake-ip %s must not be a loopback address", c.FakeIP)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return errors.New("gateway config: trusted-proxies: invalid prefix")
		}
	}
	return nil
}

// fillDefaults replaces the zero values of the sizes and timeouts by their
// defaults. The limits RatePerMinute, MaxPendingPerIP and MaxPendingTotal
// keep 0: unlimited.
func (c *Config) fillDefaults() {
	setDefault(&c.RateBurst, DefaultRateBurst)
	setDefault(&c.MaxTrackedIPs, DefaultMaxTrackedIPs)
	setDefault(&c.FirstMessageTimeout, DefaultFirstMessageTimeout)
	setDefault(&c.MaxRequestDuration, DefaultMaxRequestDuration)
	setDefault(&c.MatchmakerSilence, DefaultMatchmakerSilence)
	setDefault(&c.WebsocketReadLimit, DefaultWebsocketReadLimit)
	setDefault(&c.PingInterval, DefaultPingInterval)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.WannaplayTimeout, DefaultWannaplayTimeout)
	setDefault(&c.ReadyTimeout, DefaultReadyTimeout)
	setDefault(&c.WebhookMaxBody, DefaultWebhookMaxBody)
	setDefault(&c.WebhookConcurrency, DefaultWebhookConcurrency)
}

// checkLimits refuses negative limits and timeouts and sizes out of range.
func (c *Config) checkLimits() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"first message timeout", c.FirstMessageTimeout}, {"max request duration", c.MaxRequestDuration},
		{"matchmaker silence", c.MatchmakerSilence},
		{"write timeout", c.WriteTimeout}, {"wannaplay timeout", c.WannaplayTimeout}, {"ready timeout", c.ReadyTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("gateway config: %s %v must not be negative", d.name, d.v)
		}
	}
	if c.RatePerMinute < 0 {
		return fmt.Errorf("gateway config: rate-per-minute %v must not be negative (0 = unlimited)", c.RatePerMinute)
	}
	for _, l := range []struct {
		name string
		v    int
	}{{"max-pending-per-ip", c.MaxPendingPerIP}, {"max-pending-total", c.MaxPendingTotal}} {
		if l.v < 0 {
			return fmt.Errorf("gateway config: %s %d must not be negative (0 = unlimited)", l.name, l.v)
		}
	}
	if c.RateBurst < 1 {
		return fmt.Errorf("gateway config: rate-burst %d must be at least 1", c.RateBurst)
	}
	if c.MaxTrackedIPs < 1 || c.WebsocketReadLimit < 64 || c.WebhookMaxBody < 1 || c.WebhookConcurrency < 1 {
		return errors.New("gateway config: max tracked ips, websocket read limit (>= 64), webhook max body and webhook concurrency must be positive")
	}
	return nil
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}
