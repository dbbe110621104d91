// Package natsconn connects bevygap to NATS the way the Rust bevygap
// components do (PROTOCOL.md section 2) and embeds a nats-server with
// JetStream for `bevygap serve` and `bevygap dev`.
package natsconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/pkg/gameserver/caarg"
)

// Options are the settings needed to reach a NATS server.
type Options struct {
	// Host is the nats-host setting (NATS_HOST for the Rust components): "host", "host:port" or a nats:// / tls:// URL
	// (several separated by commas).
	Host string
	// User and Password are nats-user / nats-password; both or neither.
	User     string
	Password string
	// CAFile is NATS_CA: a PEM root CA to trust for the server certificate.
	CAFile string
	// CAContents is NATS_CA_CONTENTS: the PEM text of that CA.
	CAContents string
	// Insecure is NATS_INSECURE: plain TCP, no TLS. Otherwise TLS is required.
	Insecure bool
	// Name is the client name shown by the server (e.g. "matchmaker").
	Name string
	// MaxReconnects bounds reconnect attempts (-1 forever). Zero means 10, as the Rust.
	MaxReconnects int
	// ConnectTimeout bounds the initial dial. Zero means 5 s.
	ConnectTimeout time.Duration
	// Logger receives connection events (disconnects, reconnects). Nil discards.
	Logger *slog.Logger
}

// Sentinel errors; Connect wraps one of them so callers can map them to exit codes.
var (
	ErrNoHost      = errors.New("no NATS server configured")
	ErrAuth        = errors.New("nats authorization failed")
	ErrTLS         = errors.New("nats tls failed")
	ErrUnreachable = errors.New("nats server unreachable")
	ErrConfig      = errors.New("invalid nats settings")
)

// URLs turns Host into the server URL list handed to nats.go: one entry per
// comma-separated server of a cluster, in order (nats.go picks one at random
// and reconnects to any other). Errors name the nats-host setting and the
// entry at fault, without its credentials.
func (o Options) URLs() ([]string, error) {
	if strings.TrimSpace(o.Host) == "" {
		return nil, fmt.Errorf("%w: set nats-host", ErrNoHost)
	}
	entries := strings.Split(o.Host, ",")
	var out []string
	ws := 0
	for i, raw := range entries {
		u, err := o.hostURL(strings.TrimSpace(raw))
		if err != nil {
			where := ""
			if len(entries) > 1 {
				where = fmt.Sprintf(" (server %d of %d)", i+1, len(entries))
			}
			return nil, fmt.Errorf("%w: nats-host entry %q%s: %s", ErrConfig, redactEntry(strings.TrimSpace(raw)), where, err)
		}
		if u.Scheme == "ws" || u.Scheme == "wss" {
			ws++
		}
		out = append(out, u.String())
	}
	if ws != 0 && ws != len(out) {
		return nil, fmt.Errorf("%w: nats-host %q mixes websocket (ws://, wss://) and nats/tls servers; use one kind", ErrConfig, redactEntry(o.Host))
	}
	return out, nil
}

// CheckHost checks a nats-host value (one server or a comma-separated
// cluster) without connecting; the error names the entry at fault, its
// credentials redacted. Settings validation calls it at start.
func CheckHost(host string) error {
	_, err := Options{Host: host, Insecure: true}.URLs()
	return err
}

// RedactHost hides the user:password@ part of every URL of a nats-host
// value.
func RedactHost(host string) string { return redactEntry(host) }

// hostURL parses one NATS_HOST entry: host, host:port or a URL.
func (o Options) hostURL(h string) (*url.URL, error) {
	if h == "" {
		return nil, errors.New("empty (a stray comma?)")
	}
	if !strings.Contains(h, "://") {
		scheme := "nats"
		if !o.Insecure {
			scheme = "tls"
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "4222")
		}
		h = scheme + "://" + h
	}
	u, err := url.Parse(h)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("not host, host:port or a nats:// / tls:// URL")
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return nil, fmt.Errorf("scheme %q not supported (use nats:// or tls://)", u.Scheme)
	}
	if u.Port() != "" {
		if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("port %q must be 1..65535", u.Port())
		}
	}
	u.User = nil // credentials only through NATS_USER/NATS_PASSWORD
	return u, nil
}

// redactEntry hides the user:password@ part of a URL in an error message.
func redactEntry(s string) string {
	var b strings.Builder
	for i, e := range strings.Split(s, ",") {
		if i > 0 {
			b.WriteString(",")
		}
		if at := strings.LastIndex(e, "@"); at >= 0 {
			start := strings.Index(e, "://") + 3
			if start < 3 || start > at {
				start = 0
			}
			e = e[:start] + "[redacted]" + e[at:]
		}
		b.WriteString(e)
	}
	return b.String()
}

// TLSConfig returns the TLS configuration implied by the options, or nil when
// Insecure is set.
func (o Options) TLSConfig() (*tls.Config, error) {
	if o.Insecure {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var pem []byte
	switch {
	case o.CAContents != "" && o.CAFile != "":
		return nil, fmt.Errorf("%w: set nats-ca or nats-ca-contents, not both", ErrConfig)
	case o.CAContents != "":
		pem = []byte(caarg.NormalizePEM(o.CAContents)) // it often travels on one line (--ca_contents)
	case o.CAFile != "":
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: reading nats-ca: %v", ErrConfig, err)
		}
		pem = b
	}
	if pem != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			which := "nats-ca"
			if o.CAContents != "" {
				which = "nats-ca-contents"
			}
			return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrConfig, which)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Connect dials NATS. Errors name the server, the user and whether TLS, auth or
// the network failed; they never contain the password.
func Connect(ctx context.Context, o Options) (*nats.Conn, error) {
	urls, err := o.URLs()
	if err != nil {
		return nil, err
	}
	if (o.User == "") != (o.Password == "") {
		return nil, fmt.Errorf("%w: nats-user and nats-password go together (one is empty)", ErrConfig)
	}
	tlsCfg, err := o.TLSConfig()
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxRe := o.MaxReconnects
	if maxRe == 0 {
		maxRe = 10
	}
	timeout := o.ConnectTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.Timeout(timeout),
		nats.MaxReconnects(maxRe),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.CustomReconnectDelay(backoff),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("nats async error", "err", err) }),
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if tlsCfg != nil {
		opts = append(opts, nats.Secure(tlsCfg))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		return nil, describe(err, urls, o)
	}
	return nc, nil
}

// backoff is an exponential reconnect delay: 250 ms doubling to 8 s.
func backoff(attempts int) time.Duration {
	d := 250 * time.Millisecond
	for i := 1; i < attempts && d < 8*time.Second; i++ {
		d *= 2
	}
	return min(d, 8*time.Second)
}

func describe(err error, urls []string, o Options) error {
	where := strings.Join(urls, ",")
	user := ""
	if o.User != "" {
		user = fmt.Sprintf(" as user %q", o.User)
	}
	msg := err.Error()
	if o.Password != "" {
		msg = strings.ReplaceAll(msg, o.Password, "[redacted]")
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(msg), "authorization violation"):
		return fmt.Errorf("%w: %s refused the credentials%s (check nats-user and nats-password)", ErrAuth, where, user)
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr):
		return fmt.Errorf("%w: certificate of %s not trusted: %s (set nats-ca or nats-ca-contents)", ErrTLS, where, msg)
	case errors.Is(err, nats.ErrSecureConnRequired):
		return fmt.Errorf("%w: %s requires TLS but nats-insecure is set", ErrTLS, where)
	case errors.Is(err, nats.ErrSecureConnWanted) || strings.Contains(msg, "tls: first record") || strings.Contains(msg, "TLS handshake"):
		return fmt.Errorf("%w: TLS handshake with %s failed: %s (server without TLS? set nats-insecure)", ErrTLS, where, msg)
	case errors.Is(err, nats.ErrNoServers) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, nats.ErrTimeout) || isNetErr(err):
		return fmt.Errorf("%w: cannot reach NATS at %s%s: %s", ErrUnreachable, where, user, msg)
	}
	return fmt.Errorf("connecting to NATS at %s%s: %s", where, user, msg)
}

func isNetErr(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}
