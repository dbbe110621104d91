// Package matchmaker turns "I want to play" into a seat: an Edgegap session
// on a ready deployment, a Lightyear connect token for it, and the NATS
// records the game server needs (PROTOCOL.md sections 3, 4, 5 and 7). It
// also deletes every session it created once nobody uses it.
//
// Requests arrive on matchmaker.request.<app>.<version> in a queue group, so
// N replicas share the load and each request is served once. Readiness comes
// from Edgegap's session webhook (through the webhook sink and NATS), with
// budgeted polling as the fallback. Cleanup is driven by KV watches and a
// durable work queue, safe with any number of replicas: enqueueing a delete
// is idempotent (message de-duplication on the session id).
package matchmaker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

// Config configures a Matchmaker. NC, Store, Edgegap, AppName, AppVersion
// and PrivateKey are required; every other zero value picks the default.
type Config struct {
	NC      *nats.Conn
	Store   *state.Store
	Edgegap *edgegap.Client

	AppName, AppVersion string
	PrivateKey          netcode.PrivateKey
	ProtocolID          uint64
	// AllowInsecureKey permits the all-zero private key (development only).
	AllowInsecureKey bool
	// WebhookURL is passed to Edgegap so it POSTs session events to the
	// webhook sink; readiness then needs no polling.
	WebhookURL string
	// PortName selects the deployment port clients connect to; empty picks
	// the only port, or the one with the lowest name.
	PortName string

	ReadyTimeout   time.Duration // default DefaultReadyTimeout
	CertDigestWait time.Duration // default DefaultCertDigestWait
	// RequireCertDigest fails a seat without a certificate digest (the zero
	// value sends an empty digest; DefaultRequireCertDigest is the Rust
	// behaviour).
	RequireCertDigest bool
	UnclaimedTTL      time.Duration // default DefaultUnclaimedTTL
	MaxInFlight       int           // default DefaultMaxInFlight
	// Heartbeat is the progress period while waiting (default
	// DefaultHeartbeat, at most a third of UnclaimedTTL).
	Heartbeat time.Duration
	// PollFirst and PollMax shape the fallback polling: the first status
	// check after PollFirst, then doubling up to PollMax. Defaults 250ms
	// and 3s without a webhook; with a webhook polling starts at 5s.
	PollFirst, PollMax time.Duration
	DeleteMaxDeliver   int           // default DefaultDeleteMaxDeliver
	DeleteBackoffMin   time.Duration // default DefaultDeleteBackoffMin
	DeleteBackoffMax   time.Duration // default DefaultDeleteBackoffMax
	ShutdownGrace      time.Duration // default DefaultShutdownGrace
	// Replicas of the gensession micro service (Rust runs 5). Default 1.
	QueueGroup string // default DefaultQueueGroup

	Logger   *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time
	Rand     io.Reader // client ids and token keys; default crypto/rand
}

// Defaults of Config (the settings declaration refers to these).
const (
	DefaultReadyTimeout      = 60 * time.Second
	DefaultCertDigestWait    = 5 * time.Second
	DefaultRequireCertDigest = true
	DefaultUnclaimedTTL      = 62 * time.Second
	DefaultMaxInFlight       = 1000
	DefaultHeartbeat         = 5 * time.Second
	DefaultDeleteMaxDeliver  = 20
	DefaultDeleteBackoffMin  = time.Second
	DefaultDeleteBackoffMax  = 5 * time.Minute
	DefaultShutdownGrace     = 10 * time.Second
	DefaultQueueGroup        = "matchmaker"

	// Fallback polling of the session status, without and with a webhook.
	defaultPollFirst        = 250 * time.Millisecond
	defaultPollMax          = 3 * time.Second
	defaultWebhookPollFirst = 5 * time.Second
	defaultWebhookPollMax   = 10 * time.Second
)

// Matchmaker serves seat requests. Create with New, run with Run.
type Matchmaker struct {
	cfg     Config
	log     *slog.Logger
	minter  *netcode.Minter
	metrics *metrics
	waiters *waiters

	inflight chan struct{}
	wg       sync.WaitGroup // request goroutines
	// admit gates new work: a request is counted in wg under RLock only
	// while stopping is false; Run sets stopping under Lock, so wg.Wait
	// never races an Add.
	admit    sync.RWMutex
	stopping bool
	ready    chan struct{} // closed once Run serves requests
	portOnce sync.Once     // logs the port choice when a deployment has several
	reqCtx   context.Context
	reqStop  context.CancelFunc
	// deletePullExpiry overrides the delete worker's pull expiry (and so
	// its heartbeat, half of it); tests shorten it. Zero: the default 30s.
	deletePullExpiry time.Duration
}

// ErrInsecureKey refuses the all-zero Lightyear private key.
var ErrInsecureKey = errors.New("the Lightyear private key is all zeros: anyone can mint tokens for your servers (set lightyear-private-key, or allow-insecure-key for local development)")

// New validates cfg and prepares a matchmaker.
func New(cfg Config) (*Matchmaker, error) {
	switch {
	case cfg.NC == nil || cfg.Store == nil || cfg.Edgegap == nil:
		return nil, errors.New("matchmaker: NATS connection, state store and Edgegap client are required")
	case cfg.AppName == "":
		return nil, errors.New("matchmaker: app-name is required")
	case cfg.PrivateKey.IsZero() && !cfg.AllowInsecureKey:
		return nil, ErrInsecureKey
	}
	cfg.fillDefaults()
	if cfg.Heartbeat > cfg.UnclaimedTTL/2 {
		return nil, fmt.Errorf("matchmaker: heartbeat %v must be at most half of unclaimed-ttl %v (heartbeats keep a waiting session from the reaper)", cfg.Heartbeat, cfg.UnclaimedTTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	minter, err := netcode.NewMinter(cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("matchmaker: %w", err)
	}
	minter.Rand, minter.Now = cfg.Rand, cfg.Now
	m := &Matchmaker{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "matchmaker", "app", cfg.AppName, "version", cfg.AppVersion),
		minter:   minter,
		metrics:  newMetrics(cfg.Registry),
		waiters:  newWaiters(),
		inflight: make(chan struct{}, cfg.MaxInFlight),
	}
	m.ready = make(chan struct{})
	// Seat may be called before (or without) Run; Run replaces these.
	m.reqCtx, m.reqStop = context.WithCancel(context.Background())
	return m, nil
}

// fillDefaults replaces zero (or negative) durations and counts by their
// defaults.
func (cfg *Config) fillDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.ReadyTimeout, DefaultReadyTimeout)
	def(&cfg.CertDigestWait, DefaultCertDigestWait)
	def(&cfg.UnclaimedTTL, DefaultUnclaimedTTL)
	def(&cfg.Heartbeat, min(DefaultHeartbeat, cfg.UnclaimedTTL/3))
	if cfg.WebhookURL != "" {
		def(&cfg.PollFirst, defaultWebhookPollFirst)
		def(&cfg.PollMax, defaultWebhookPollMax)
	} else {
		def(&cfg.PollFirst, defaultPollFirst)
		def(&cfg.PollMax, defaultPollMax)
	}
	def(&cfg.DeleteBackoffMin, DefaultDeleteBackoffMin)
	def(&cfg.DeleteBackoffMax, DefaultDeleteBackoffMax)
	def(&cfg.ShutdownGrace, DefaultShutdownGrace)
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.DeleteMaxDeliver <= 0 {
		cfg.DeleteMaxDeliver = DefaultDeleteMaxDeliver
	}
	if cfg.QueueGroup == "" {
		cfg.QueueGroup = DefaultQueueGroup
	}
}

// OnEdgegapCall is a hook for edgegap.Config.OnCall that counts calls by
// endpoint and status in the matchmaker's metrics.
func OnEdgegapCall(reg prometheus.Registerer) func(endpoint string, status int) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bevygap_edgegap_calls_total", Help: "Edgegap API calls by endpoint and HTTP status (0 = transport error).",
	}, []string{"endpoint", "status"})
	if reg != nil {
		c = register(reg, c)
	}
	return func(endpoint string, status int) { c.WithLabelValues(endpoint, fmt.Sprint(status)).Inc() }
}

// Ready is closed once Run has subscribed and serves requests.
func (m *Matchmaker) Ready() <-chan struct{} { return m.ready }

// admitRequest counts a new request in the wait group unless the
// matchmaker is stopping; done must be called when it finishes.
func (m *Matchmaker) admitRequest() (done func(), ok bool) {
	m.admit.RLock()
	defer m.admit.RUnlock()
	if m.stopping {
		return nil, false
	}
	m.wg.Add(1)
	return m.wg.Done, true
}

// BootCheck verifies that the configured Edgegap app and version exist and
// that the version is active.
func (m *Matchmaker) BootCheck(ctx context.Context) error {
	app, err := m.cfg.Edgegap.GetApp(ctx, m.cfg.AppName)
	if err != nil {
		return fmt.Errorf("edgegap app %q: %w", m.cfg.AppName, err)
	}
	if !app.Active {
		return fmt.Errorf("edgegap app %q is not active", m.cfg.AppName)
	}
	if m.cfg.AppVersion == "" {
		return nil
	}
	v, err := m.cfg.Edgegap.GetAppVersion(ctx, m.cfg.AppName, m.cfg.AppVersion)
	if err != nil {
		return fmt.Errorf("edgegap app %q version %q: %w", m.cfg.AppName, m.cfg.AppVersion, err)
	}
	if !v.Active {
		return fmt.Errorf("edgegap app %q version %q is not active: sessions cannot be created", m.cfg.AppName, m.cfg.AppVersion)
	}
	return nil
}

// Run serves requests and runs the cleanup loops until ctx is cancelled,
// then shuts down: it stops taking requests, lets in-flight ones finish
// within ShutdownGrace and queues the sessions of interrupted ones for
// deletion. A cleanup loop that fails is logged and restarted with backoff
// (metric bevygap_matchmaker_loop_restarts_total); Run returns an error
// only when it cannot start.
func (m *Matchmaker) Run(ctx context.Context) error {
	m.reqCtx, m.reqStop = context.WithCancel(context.WithoutCancel(ctx))
	defer m.reqStop()

	loopsCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	var loops sync.WaitGroup
	start := func(name string, f func(context.Context) error) {
		loops.Add(1)
		go func() { // owner: Run, which cancels loopsCtx and waits
			defer loops.Done()
			m.supervise(loopsCtx, name, f)
		}()
	}

	// Subscriptions first, so that no webhook is missed once requests flow.
	hookSub, err := m.cfg.NC.Subscribe(m.cfg.Store.Names.Webhook("session"), m.onWebhook)
	if err != nil {
		return fmt.Errorf("subscribe to session webhooks: %w", err)
	}
	defer func() { _ = hookSub.Unsubscribe() }()
	subject := m.cfg.Store.Names.MatchmakerRequest(m.cfg.AppName, m.cfg.AppVersion)
	reqSub, err := m.cfg.NC.QueueSubscribe(subject, m.cfg.QueueGroup, m.onRequest)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	svc, err := m.addGenSession()
	if err != nil {
		_ = reqSub.Unsubscribe()
		return err
	}
	if err := m.cfg.NC.Flush(); err != nil {
		return fmt.Errorf("nats flush: %w", err)
	}
	close(m.ready)
	start("active_watcher", m.watchActive)
	start("unclaimed_reaper", m.reap)
	start("delete_worker", m.deleteWorker)
	m.log.Info("matchmaker ready", "subject", subject, "queue_group", m.cfg.QueueGroup, "webhook", m.cfg.WebhookURL != "")

	<-ctx.Done()
	// Stop taking requests: from here messages still queued are answered 503
	// at once, and the wait group counts only requests already admitted.
	m.admit.Lock()
	m.stopping = true
	m.admit.Unlock()
	_ = reqSub.Drain()
	_ = svc.Stop()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(m.cfg.ShutdownGrace):
		m.log.Warn("shutdown grace over: interrupting in-flight requests", "grace", m.cfg.ShutdownGrace)
		m.reqStop() // interrupted requests queue their sessions for deletion
		<-done
	}
	stopLoops()
	loops.Wait()
	return nil
}

// Loop restart backoff: a failed cleanup loop is restarted after
// loopBackoffMin, doubling up to loopBackoffMax; a run that lasted
// loopHealthy resets it.
const (
	loopBackoffMin = 500 * time.Millisecond
	loopBackoffMax = 30 * time.Second
	loopHealthy    = time.Minute
)

// supervise runs a cleanup loop until ctx ends, restarting it with backoff
// whenever it fails. The loops are what makes cleanup leak-free, so a
// transient NATS failure (a missed consumer heartbeat, a deleted consumer,
// a watch that closed) must never stop them for good, nor take the
// matchmaker down with it.
func (m *Matchmaker) supervise(ctx context.Context, name string, f func(context.Context) error) {
	backoff := loopBackoffMin
	for {
		began := time.Now()
		err := f(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		if time.Since(began) > loopHealthy {
			backoff = loopBackoffMin
		}
		m.metrics.loopRestarts.WithLabelValues(name).Inc()
		m.log.Error("matchmaker loop failed; restarting", "loop", name, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, loopBackoffMax)
	}
}
