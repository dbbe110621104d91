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
	// Allocator is AllocatorSessions (an Edgegap session per player, the
	// default) or AllocatorDeployments (seats on deployments bevygap runs;
	// see ResolveAllocator for auto).
	Allocator string
	// Fleet configures the deployments allocator.
	Fleet FleetConfig
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
	// DeleteWorkers is how many cleanup jobs (session deletes, deployment
	// stops) each replica runs at once (default DefaultDeleteWorkers).
	DeleteWorkers int
	// ReconcileInterval is the period of the automatic reconciliation of
	// Edgegap's sessions against the ledger, run by one replica at a time
	// (default DefaultReconcileInterval); ReconcileGrace spares sessions
	// younger than it (default DefaultReconcileGrace).
	ReconcileInterval, ReconcileGrace time.Duration
	// PurgeInterval is the period of the purge of old delete markers in
	// active_connections and unclaimed_sessions (default
	// DefaultPurgeInterval); markers younger than the replay window stay.
	PurgeInterval time.Duration
	// GenSessionInstances is how many instances of the gensession micro
	// service run, each answering one request at a time so that micro's
	// stats are true (Rust runs 5; default DefaultGenSessionInstances).
	GenSessionInstances int
	QueueGroup          string // default DefaultQueueGroup

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
	// DefaultDeleteWorkers drains 1,000 queued deletes at 300 ms of Edgegap
	// latency in under 20 s per replica (1000 x 0.3 s / 16), about 53
	// deletes per second: within Edgegap's delete budget.
	DefaultDeleteWorkers = 16
	// The session reconciliation shares the fleet's DefaultReconcileInterval
	// (every session listed once per 2 minutes per app version: a handful
	// of list pages, far within the list budget) and DefaultReconcileGrace
	// (outlasts a create call, edgegap's 30 s attempt timeout, and the write
	// of its ledger entry by far).
	DefaultPurgeInterval       = 5 * time.Minute
	DefaultGenSessionInstances = 8

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
	alloc   allocator
	fleet   *fleet // the deployments allocator, when in use

	inflight chan struct{}
	wg       sync.WaitGroup // request goroutines
	// admit gates new work: a request is counted in wg under RLock only
	// while stopping is false; Run sets stopping under Lock, so wg.Wait
	// never races an Add.
	admit       sync.RWMutex
	stopping    bool
	ready       chan struct{} // closed once Run serves requests
	portOnce    sync.Once     // logs the port choice when a deployment has several
	reqCtx      context.Context
	reqStop     context.CancelFunc
	intents     *state.Intents     // session create intents (sessions allocator)
	checkpoints *state.Checkpoints // how far the watchers got
	leases      *state.Leases      // one reconciler at a time
	holder      string             // this replica's lease holder id
	leak        *leakMetrics
	// deletePullExpiry overrides the delete worker's pull expiry (and so
	// its heartbeat, half of it); tests shorten it. Zero: the default 30s.
	deletePullExpiry time.Duration
	// markerKeep is the age below which delete markers stay (the active
	// watcher's replay window); tests shorten it.
	markerKeep time.Duration
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
		cfg:        cfg,
		log:        cfg.Logger.With("component", "matchmaker", "app", cfg.AppName, "version", cfg.AppVersion),
		minter:     minter,
		metrics:    newMetrics(cfg.Registry),
		waiters:    newWaiters(),
		inflight:   make(chan struct{}, cfg.MaxInFlight),
		markerKeep: recentDeleteWindow,
	}
	m.leak = newLeakMetrics(cfg.Registry)
	if err := m.openLedgers(); err != nil {
		return nil, err
	}
	switch cfg.Allocator {
	case "", AllocatorSessions:
		m.cfg.Allocator = AllocatorSessions
		m.alloc = sessions{m}
	case AllocatorDeployments:
		f, err := newFleet(m)
		if err != nil {
			return nil, err
		}
		m.fleet, m.alloc = f, f
	default:
		return nil, fmt.Errorf("matchmaker: allocator %q: want sessions or deployments (resolve auto with ResolveAllocator)", cfg.Allocator)
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
	def(&cfg.ReconcileInterval, DefaultReconcileInterval)
	def(&cfg.ReconcileGrace, DefaultReconcileGrace)
	def(&cfg.PurgeInterval, DefaultPurgeInterval)
	if cfg.DeleteWorkers <= 0 {
		cfg.DeleteWorkers = DefaultDeleteWorkers
	}
	if cfg.GenSessionInstances <= 0 {
		cfg.GenSessionInstances = DefaultGenSessionInstances
	}
}

// openLedgers opens bevygap's own buckets the cleanup needs: create
// intents, watcher checkpoints and the leases.
func (m *Matchmaker) openLedgers() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, names := m.cfg.Store.JS, m.cfg.Store.Names
	var err error
	if m.intents, err = m.cfg.Store.Intents(ctx); err != nil {
		return fmt.Errorf("matchmaker: %w", err)
	}
	if m.checkpoints, err = m.cfg.Store.Checkpoints(ctx); err != nil {
		return fmt.Errorf("matchmaker: %w", err)
	}
	if m.leases, err = state.OpenLeases(ctx, js, names, m.cfg.Fleet.Replicas, m.cfg.Now); err != nil {
		return fmt.Errorf("matchmaker: %w", err)
	}
	m.holder = state.NewFleetID()
	return nil
}

// OnEdgegapCall is a hook for edgegap.Config.OnCall that counts calls by
// endpoint and status in the matchmaker's metrics.
func OnEdgegapCall(reg prometheus.Registerer) func(endpoint string, status int) {
	c := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bevygap_edgegap_calls_total", Help: "Edgegap API calls by endpoint and HTTP status (0 = transport error).",
	}, []string{"endpoint", "status"}))
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
	if err := m.alloc.prepare(ctx); err != nil {
		return fmt.Errorf("matchmaker: %w", err)
	}
	hookSubs, err := m.alloc.subscribe()
	defer func() {
		for _, s := range hookSubs {
			_ = s.Unsubscribe()
		}
	}()
	if err != nil {
		return err
	}
	subject := m.cfg.Store.Names.MatchmakerRequest(m.cfg.AppName, m.cfg.AppVersion)
	reqSub, err := m.cfg.NC.QueueSubscribe(subject, m.cfg.QueueGroup, m.onRequest)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	svcs, err := m.addGenSession()
	if err != nil {
		_ = reqSub.Unsubscribe()
		return err
	}
	if err := m.cfg.NC.Flush(); err != nil {
		return fmt.Errorf("nats flush: %w", err)
	}
	close(m.ready)
	start("active_watcher", m.watchActive)
	start("marker_purger", m.purgeMarkers)
	if m.cfg.Allocator == AllocatorSessions {
		start("session_reconciler", m.reconcileSessions)
	}
	for _, l := range m.alloc.loops() {
		start(l.name, l.run)
	}
	m.log.Info("matchmaker ready", "subject", subject, "queue_group", m.cfg.QueueGroup, "allocator", m.cfg.Allocator, "webhook", m.cfg.WebhookURL != "" || m.cfg.Fleet.WebhookBase != "")

	<-ctx.Done()
	// Stop taking requests: from here messages still queued are answered 503
	// at once, and the wait group counts only requests already admitted.
	m.admit.Lock()
	m.stopping = true
	m.admit.Unlock()
	_ = reqSub.Drain()
	for _, svc := range svcs {
		_ = svc.Stop()
	}
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
