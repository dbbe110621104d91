package gameserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/state"
)

// Admission errors returned by Agent.Authorize and Agent.ClientConnected,
// wrapped with the client and session ids. Test with errors.Is.
var (
	// ErrUnknownClient: sessions_ly2eg has no session for the client id
	// (never issued, or its 30 s entry expired).
	ErrUnknownClient = errors.New("unknown client: no seat for this client id")
	// ErrAlreadyConnected: the client id is connected to this game server,
	// or its session already has an entry in active_connections.
	ErrAlreadyConnected = errors.New("already connected")
	// ErrSeatUsed: the client id connected to this game server before and
	// left; a seat admits one connection, a reconnect needs a new seat (the
	// matchmaker issues a new client id for each).
	ErrSeatUsed = errors.New("seat already used")
)

// Defaults for the zero values of AgentConfig.
const (
	DefaultContextAttempts = 5
	DefaultContextBackoff  = 500 * time.Millisecond
	DefaultMaxRemembered   = 4096
	maxContextBackoff      = 8 * time.Second
	flushTimeout           = 10 * time.Second
)

// AgentConfig configures an Agent.
type AgentConfig struct {
	// Store is the compat buckets (required).
	Store *state.Store
	// NC publishes the deployment context (required).
	NC *nats.Conn
	// Env is the deployment's ARBITRIUM_* environment (required for Start).
	Env Env
	// Edgegap fetches the context. Nil: a client of its own, sending
	// requests with HTTPClient (nil: its own transport), closed by Close.
	Edgegap    *edgegap.Client
	HTTPClient *http.Client
	// CertDigest is the game server's certificate digest, put in
	// cert_digests under the context's public IP. Empty: nothing is put (a
	// game server without WebTransport); the Rust plugin panics instead.
	CertDigest string
	// ContextAttempts bounds the attempts to fetch the context; each one
	// already includes the Edgegap client's own retries of 429 and 5xx
	// answers. Only failures worth retrying (transport errors, 429, 5xx)
	// are retried. Default DefaultContextAttempts.
	ContextAttempts int
	// ContextBackoff is the wait before the second attempt, doubling up to
	// 8 s. Default DefaultContextBackoff.
	ContextBackoff time.Duration
	// MaxRemembered bounds the client ids the agent remembers to refuse a
	// second connection with the same seat; beyond it the oldest
	// disconnected ones are forgotten (by then their sessions_ly2eg entry,
	// kept 30 s, is long gone). Default DefaultMaxRemembered.
	MaxRemembered int
	// Logger receives lifecycle logs. Default: discard.
	Logger *slog.Logger
}

// Agent is the game-server side of bevygap, the Go equivalent of the Rust
// bevygap_server_plugin: it reports the deployment to the matchmaker and
// records which client is connected on which session. It is safe for
// concurrent use.
type Agent struct {
	store    *state.Store
	nc       *nats.Conn
	env      Env
	eg       *edgegap.Client
	ownEG    bool
	digest   string
	attempts int
	backoff  time.Duration
	maxMem   int
	log      *slog.Logger

	mu      sync.Mutex
	context *edgegap.DeploymentContext
	seats   map[uint64]*seat
	gone    []uint64 // disconnected client ids, oldest first
	// pending are the sessions whose disconnect could not be recorded (NATS
	// down, the caller's deadline): the retrier deletes their
	// active_connections entries once NATS answers again, or the session
	// would look connected (and stay billed) forever.
	pending     map[string]struct{}
	retryCancel context.CancelFunc // nil while no retrier runs
	retryDone   chan struct{}
	closed      bool
}

// seat is what the agent remembers of a client id it connected.
type seat struct {
	session   string // "" while ClientConnected is recording it
	connected bool
}

// NewAgent checks cfg and returns an Agent. It does no I/O.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if cfg.Store == nil {
		return nil, errors.New("gameserver agent: Store is required")
	}
	if cfg.NC == nil {
		return nil, errors.New("gameserver agent: NATS connection is required")
	}
	a := &Agent{
		store: cfg.Store, nc: cfg.NC, env: cfg.Env, eg: cfg.Edgegap, digest: cfg.CertDigest,
		attempts: cfg.ContextAttempts, backoff: cfg.ContextBackoff, maxMem: cfg.MaxRemembered,
		log: cfg.Logger, seats: make(map[uint64]*seat), pending: make(map[string]struct{}),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.attempts <= 0 {
		a.attempts = DefaultContextAttempts
	}
	if a.backoff <= 0 {
		a.backoff = DefaultContextBackoff
	}
	if a.maxMem <= 0 {
		a.maxMem = DefaultMaxRemembered
	}
	if a.eg == nil {
		eg, err := edgegap.New(edgegap.Config{HTTPClient: cfg.HTTPClient, Logger: a.log})
		if err != nil {
			return nil, fmt.Errorf("gameserver agent: %w", err)
		}
		a.eg, a.ownEG = eg, true
	}
	return a, nil
}

// Env returns the environment the agent was created with.
func (a *Agent) Env() Env { return a.env }

// Context returns the deployment context Start fetched, or nil.
func (a *Agent) Context() *edgegap.DeploymentContext {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.context
}

// Close stops retrying the disconnects not recorded yet (logging them) and
// releases the agent's own HTTP connections. The agent must not be started
// again afterwards; the connect and disconnect methods keep working, but a
// disconnect that fails after Close is not retried.
func (a *Agent) Close() {
	a.mu.Lock()
	a.closed = true
	cancel, done := a.retryCancel, a.retryDone
	a.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	a.mu.Lock()
	lost := make([]string, 0, len(a.pending))
	for s := range a.pending {
		lost = append(lost, s)
	}
	a.mu.Unlock()
	if len(lost) > 0 {
		slices.Sort(lost)
		a.log.Warn("agent closed with disconnects not recorded: these sessions still look connected", "sessions", lost)
	}
	if a.ownEG {
		a.eg.CloseIdleConnections()
	}
}

// Start reports the deployment, as the Rust plugin does at boot: it fetches
// the deployment context (GET ARBITRIUM_CONTEXT_URL with the context token
// as the authorization header and the user agent bevy_edgegap_gameserver),
// retrying transport errors, 429 and 5xx with backoff within ctx; puts the
// certificate digest in cert_digests under the context's request id and
// under its public IP (the Rust plugin's key); and publishes
// the context JSON, byte for byte as received, on gameserver.contexts. A
// refused context token fails at once with an error saying so.
func (a *Agent) Start(ctx context.Context) error {
	if a.env.ContextURL == "" || a.env.ContextToken == "" {
		return fmt.Errorf("gameserver agent: no %s / %s in the environment", EnvContextURL, EnvContextToken)
	}
	dc, err := a.fetchContext(ctx)
	if err != nil {
		return err
	}
	ip := dc.PublicIP
	if ip == "" {
		if !a.env.PublicIP.IsValid() {
			return errors.New("deployment context has no public_ip")
		}
		ip = a.env.PublicIP.String()
		a.log.WarnContext(ctx, "deployment context has no public_ip, using ARBITRIUM_PUBLIC_IP", "public_ip", ip)
	}
	a.mu.Lock()
	a.context = dc
	a.mu.Unlock()
	a.log.InfoContext(ctx, "deployment context fetched", "request_id", dc.RequestID, "public_ip", ip, "fqdn", dc.FQDN, "sockets", dc.Sockets)

	if a.digest != "" {
		// Under the request id first (the matchmaker looks there first: two
		// deployments on one host IP cannot overwrite each other's), then
		// under the public IP, which is what the Rust plugin writes.
		for _, key := range []string{dc.RequestID, ip} {
			if key == "" {
				continue
			}
			if err := a.store.PutCertDigest(ctx, key, a.digest); err != nil {
				return fmt.Errorf("publish certificate digest: %w", err)
			}
		}
		a.log.InfoContext(ctx, "certificate digest published", "request_id", dc.RequestID, "public_ip", ip, "cert_digest", a.digest)
	} else {
		a.log.WarnContext(ctx, "no certificate digest to publish: WebTransport clients cannot connect", "public_ip", ip)
	}

	subject := a.store.Names.GameServerContexts()
	if err := a.nc.Publish(subject, dc.Raw); err != nil {
		return fmt.Errorf("publish deployment context on %s: %w", subject, err)
	}
	fctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	if err := a.nc.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("publish deployment context on %s: %w", subject, err)
	}
	a.log.InfoContext(ctx, "deployment context published", "subject", subject, "bytes", len(dc.Raw))
	return nil
}

func (a *Agent) fetchContext(ctx context.Context) (*edgegap.DeploymentContext, error) {
	wait := a.backoff
	for attempt := 1; ; attempt++ {
		dc, err := a.eg.GetContext(ctx, a.env.ContextURL, a.env.ContextToken)
		if err == nil {
			return dc, nil
		}
		switch {
		case edgegap.IsUnauthorized(err):
			return nil, fmt.Errorf("fetch deployment context: the context endpoint refused %s: %w", EnvContextToken, err)
		case ctx.Err() != nil || !edgegap.IsRetryable(err) || attempt >= a.attempts:
			return nil, fmt.Errorf("fetch deployment context from %s (attempt %d of %d): %w", EnvContextURL, attempt, a.attempts, err)
		}
		a.log.WarnContext(ctx, "fetching deployment context failed, retrying", "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("fetch deployment context: %w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*2, maxContextBackoff)
	}
}

// Authorize decides whether a connection request with clientID may become
// a connection. It is the admission control the Rust plugin left as a TODO.
// The rules, in order:
//
//  1. A client id this agent connected before is refused: ErrAlreadyConnected
//     while it is connected, ErrSeatUsed after it disconnected. A seat admits
//     one connection; reconnecting needs a new seat, and the matchmaker
//     gives every seat a new client id.
//  2. sessions_ly2eg must map the client id to a session: else
//     ErrUnknownClient (the entry lives 30 s, like the token by default).
//  3. active_connections must have no entry for that session: else
//     ErrAlreadyConnected (the seat is in use, here or on another server).
//
// Authorize only checks; ClientConnected commits, and re-checks rule 1 so
// that two concurrent requests with one client id cannot both connect.
// Other errors (NATS failures) are returned wrapped.
func (a *Agent) Authorize(ctx context.Context, clientID uint64) error {
	if err := a.checkMemory(clientID); err != nil {
		return err
	}
	session, err := a.sessionFor(ctx, clientID)
	if err != nil {
		return err
	}
	switch other, err := a.store.ActiveClient(ctx, session); {
	case err == nil:
		return fmt.Errorf("client %d: session %s already has client %d connected: %w", clientID, session, other, ErrAlreadyConnected)
	case !errors.Is(err, state.ErrNotFound):
		return fmt.Errorf("client %d: check active connection of session %s: %w", clientID, session, err)
	}
	return nil
}

// checkMemory applies rule 1 of Authorize.
func (a *Agent) checkMemory(clientID uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.memoryErrLocked(clientID)
}

func (a *Agent) memoryErrLocked(clientID uint64) error {
	s, ok := a.seats[clientID]
	switch {
	case !ok:
		return nil
	case s.connected:
		return fmt.Errorf("client %d: %w", clientID, ErrAlreadyConnected)
	default:
		return fmt.Errorf("client %d connected before and left: %w", clientID, ErrSeatUsed)
	}
}

func (a *Agent) sessionFor(ctx context.Context, clientID uint64) (string, error) {
	session, err := a.store.SessionForClient(ctx, clientID)
	if errors.Is(err, state.ErrNotFound) {
		return "", fmt.Errorf("client %d: %w", clientID, ErrUnknownClient)
	}
	if err != nil {
		return "", fmt.Errorf("client %d: look up session: %w", clientID, err)
	}
	return session, nil
}

// ClientConnected records a connection as the Rust plugin does: it reads
// sessions_ly2eg[clientID] and puts active_connections[session] = clientID
// (decimal). It refuses a client id this agent connected before
// (ErrAlreadyConnected, ErrSeatUsed) and returns ErrUnknownClient when the
// client id has no session. When recording fails the client id is not
// marked as used, so the client may try again.
func (a *Agent) ClientConnected(ctx context.Context, clientID uint64) error {
	a.mu.Lock()
	if err := a.memoryErrLocked(clientID); err != nil {
		a.mu.Unlock()
		return err
	}
	s := &seat{connected: true}
	a.seats[clientID] = s // reserve, so a concurrent call is refused
	a.mu.Unlock()

	fail := func(err error) error {
		a.mu.Lock()
		if a.seats[clientID] == s {
			delete(a.seats, clientID)
		}
		a.mu.Unlock()
		return err
	}
	session, err := a.sessionFor(ctx, clientID)
	if err != nil {
		return fail(err)
	}
	if err := a.store.PutActive(ctx, session, clientID); err != nil {
		return fail(fmt.Errorf("client %d: record connection: %w", clientID, err))
	}
	a.mu.Lock()
	s.session = session
	a.mu.Unlock()
	a.log.InfoContext(ctx, "client connected", "client_id", clientID, "session_id", session)
	return nil
}

// ClientDisconnected records a disconnect as the Rust plugin does: it
// deletes active_connections[session] for the session the client connected
// on (looked up in sessions_ly2eg when this agent did not connect it;
// ErrUnknownClient when there is none). The client id stays used: it
// cannot connect again. Disconnecting a client twice is not an error.
func (a *Agent) ClientDisconnected(ctx context.Context, clientID uint64) error {
	a.mu.Lock()
	s, ok := a.seats[clientID]
	if ok && !s.connected {
		a.mu.Unlock()
		return nil
	}
	session := ""
	if ok {
		session = s.session
		s.connected = false
	} else {
		s = &seat{}
		a.seats[clientID] = s
	}
	a.gone = append(a.gone, clientID)
	a.forgetLocked()
	a.mu.Unlock()

	if session == "" {
		var err error
		if session, err = a.sessionFor(ctx, clientID); err != nil {
			return err
		}
		a.mu.Lock()
		s.session = session
		a.mu.Unlock()
	}
	if err := a.store.DeleteActive(ctx, session); err != nil {
		if a.retryLater(session) {
			return fmt.Errorf("client %d: record disconnect (retrying in the background until it is recorded or the agent closes): %w", clientID, err)
		}
		return fmt.Errorf("client %d: record disconnect: %w", clientID, err)
	}
	a.log.InfoContext(ctx, "client disconnected", "client_id", clientID, "session_id", session)
	return nil
}

// retryLater remembers a disconnect that could not be recorded and starts
// the retrier if none runs; false once the agent is closed.
func (a *Agent) retryLater(session string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.pending[session] = struct{}{}
	if a.retryCancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		a.retryCancel, a.retryDone = cancel, done
		go a.retryDisconnects(ctx, done) // owner: the agent; Close cancels it and waits
	}
	return true
}

// retryDisconnects deletes the pending sessions' active_connections entries
// with backoff (ContextBackoff, doubling up to 8 s) until none is left or
// ctx ends.
func (a *Agent) retryDisconnects(ctx context.Context, done chan struct{}) {
	defer close(done)
	wait := a.backoff
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		a.mu.Lock()
		sessions := make([]string, 0, len(a.pending))
		for s := range a.pending {
			sessions = append(sessions, s)
		}
		a.mu.Unlock()
		for _, s := range sessions {
			cctx, cancel := context.WithTimeout(ctx, flushTimeout)
			err := a.store.DeleteActive(cctx, s)
			cancel()
			if err != nil {
				a.log.WarnContext(ctx, "recording a disconnect failed again; retrying", "session_id", s, "wait", wait, "err", err)
				continue
			}
			a.mu.Lock()
			delete(a.pending, s)
			a.mu.Unlock()
			a.log.InfoContext(ctx, "client disconnected (recorded on retry)", "session_id", s)
		}
		a.mu.Lock()
		if len(a.pending) == 0 {
			cancel := a.retryCancel
			a.retryCancel, a.retryDone = nil, nil
			a.mu.Unlock()
			cancel()
			return
		}
		a.mu.Unlock()
		wait = min(wait*2, maxContextBackoff)
	}
}

// forgetLocked drops the oldest disconnected client ids beyond maxMem.
func (a *Agent) forgetLocked() {
	for len(a.seats) > a.maxMem && len(a.gone) > 0 {
		id := a.gone[0]
		a.gone = a.gone[1:]
		if s, ok := a.seats[id]; ok && !s.connected {
			delete(a.seats, id)
		}
	}
	if cap(a.gone) > 2*a.maxMem && len(a.gone) < a.maxMem {
		a.gone = append([]uint64(nil), a.gone...)
	}
}
