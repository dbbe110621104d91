// Package gateway is the HTTP side of bevygap: the matchmaker websocket that
// Rust game clients (bevygap_client_plugin) talk to, the chunked and
// wannaplay HTTP variants, and the webhook sink that turns Edgegap's
// session webhooks into NATS messages (PROTOCOL.md sections 4 to 6).
//
// It hardens what the Rust bevygap_matchmaker_httpd did: origins are
// checked for CORS and websockets, X-Forwarded-For is believed only from
// trusted proxies, every IP has a token bucket and a cap on pending
// requests, messages and bodies are size-capped, and gateway-side failures
// reach clients as Error feedback frames they can parse.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Server serves the gateway routes. Build it with NewServer; then either
// mount ClientHandler / WebhookHandler (or Handler) on your own listeners,
// or set Addr (and optionally WebhookAddr) and call Open.
type Server struct {
	// Addr is the listen address of Open (default DefaultAddr, e.g.
	// "127.0.0.1:0" in tests). It serves every selected route group, except
	// the webhook sink when WebhookAddr is set.
	Addr string
	// WebhookAddr, when set, gives the webhook sink its own listener.
	WebhookAddr string

	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	limits  *limiter
	replies *replyMux
	metrics *metrics
	ready   readyCache
	hookSem chan struct{}
	// endGrace is how long to wait for the end message after the final
	// feedback (a field so tests can shorten it).
	endGrace time.Duration

	// stopCtx is cancelled when Shutdown starts (stopping is its Done
	// channel): handlers wrap up (1001 for websockets). hardCtx is cancelled
	// when the shutdown deadline passes: connections are cut.
	stopCtx    context.Context
	stopCancel context.CancelFunc
	stopping   <-chan struct{}
	hardCtx    context.Context
	hardCancel context.CancelFunc

	mu       sync.Mutex
	stopped  bool
	sessions map[*wsSession]struct{}
	wg       sync.WaitGroup
	servers  []*http.Server
	lns      []net.Listener
	url      string
	hookURL  string
	serveWG  sync.WaitGroup
	shutOnce sync.Once
	shutErr  error
}

// NewServer validates cfg and prepares the gateway. It subscribes to its
// reply inbox on cfg.NATS; Close (or Shutdown) releases it.
func NewServer(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr:     DefaultAddr,
		cfg:      cfg,
		log:      cfg.Logger,
		nc:       cfg.NATS,
		limits:   newLimiter(cfg),
		hookSem:  make(chan struct{}, cfg.WebhookConcurrency),
		endGrace: endGrace,
		sessions: make(map[*wsSession]struct{}),
	}
	s.stopCtx, s.stopCancel = context.WithCancel(context.Background())
	s.stopping = s.stopCtx.Done()
	s.hardCtx, s.hardCancel = context.WithCancel(context.Background())
	s.metrics, err = newMetrics(cfg.Registry, func() float64 { return float64(s.limits.pending()) })
	if err != nil {
		return nil, err
	}
	if s.replies, err = newReplyMux(cfg.NATS); err != nil {
		s.metrics.unregister(cfg.Registry)
		return nil, fmt.Errorf("subscribing to the gateway reply inbox: %w", err)
	}
	return s, nil
}

// ClientHandler serves the game-client routes (when ServeMatchmaker is
// selected) plus /healthz, /readyz and /metrics:
//
//	GET  /, /matchmaker                        HTML page with a websocket tester
//	GET  /matchmaker/ws                        websocket session request
//	POST /matchmaker/request/{game}/{version}  the same, streamed as chunked JSON lines
//	POST /matchmaker/wannaplay                 one-shot gensession request
func (s *Server) ClientHandler() http.Handler { return s.handler(s.cfg.Serve &^ ServeWebhook) }

// WebhookHandler serves the webhook sink (POST /hook/{name}) plus /healthz,
// /readyz and /metrics.
func (s *Server) WebhookHandler() http.Handler { return s.handler(ServeWebhook & s.cfg.Serve) }

// Handler serves every selected route group on one mux.
func (s *Server) Handler() http.Handler { return s.handler(s.cfg.Serve) }

func (s *Server) handler(routes Routes) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { s.handleReadyz(w, r, routes) })
	mux.Handle("GET /metrics", s.metrics.handler)
	if routes&ServeMatchmaker != 0 {
		mux.HandleFunc("GET /{$}", s.handleIndex)
		mux.HandleFunc("GET /matchmaker", s.handleIndex)
		mux.HandleFunc("GET /matchmaker/ws", s.handleWS)
		mux.HandleFunc("POST /matchmaker/request/{game}/{version}", s.handleStream)
		mux.HandleFunc("POST /matchmaker/wannaplay", s.handleWannaplay)
	} else if routes&ServeWebhook != 0 {
		mux.HandleFunc("GET /{$}", s.handleHookIndex)
	}
	if routes&ServeWebhook != 0 {
		mux.HandleFunc("POST /hook/{name}", s.handleHook)
	}
	var h http.Handler = mux
	if routes&ServeMatchmaker != 0 {
		h = s.cors(mux)
	}
	return s.recoverer(h)
}

// recoverer turns a handler panic into a 500 and a log line instead of
// net/http's stack dump on stderr; hijacked websocket sessions recover
// themselves.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("gateway handler panic", "path", r.URL.Path, "panic", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Open starts listening on Addr (and WebhookAddr when set) and serves in
// the background until Shutdown or Close.
func (s *Server) Open() error {
	type listener struct {
		addr string
		h    http.Handler
		url  *string
	}
	var ls []listener
	split := s.WebhookAddr != "" && s.cfg.Serve&ServeWebhook != 0
	switch {
	case !split:
		ls = append(ls, listener{s.Addr, s.Handler(), &s.url})
	case s.cfg.Serve&ServeMatchmaker != 0:
		ls = append(ls, listener{s.Addr, s.ClientHandler(), &s.url}, listener{s.WebhookAddr, s.WebhookHandler(), &s.hookURL})
	default:
		ls = append(ls, listener{s.WebhookAddr, s.WebhookHandler(), &s.hookURL})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || len(s.servers) > 0 {
		return errors.New("gateway server already opened or closed")
	}
	for _, l := range ls {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, o := range s.lns {
				o.Close()
			}
			s.lns = nil
			return fmt.Errorf("gateway listen on %s: %w", l.addr, err)
		}
		s.lns = append(s.lns, ln)
		*l.url = "http://" + ln.Addr().String()
		s.servers = append(s.servers, &http.Server{
			Handler:           l.h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		})
	}
	for i, srv := range s.servers {
		s.serveWG.Go(func() {
			if err := srv.Serve(s.lns[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("gateway listener stopped", "addr", s.lns[i].Addr().String(), "err", err)
			}
		})
		s.log.Info("gateway listening", "addr", s.lns[i].Addr().String())
	}
	return nil
}

// URL is the base URL of the main listener after Open ("" before).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// WebhookURL is the base URL of the webhook listener after Open (the main
// URL when the webhook sink shares it).
func (s *Server) WebhookURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hookURL == "" {
		return s.url
	}
	return s.hookURL
}

// Shutdown stops accepting connections, tells every waiting client the
// gateway is going away (Error 503 then close 1001 on websockets) and waits
// for the handlers. When ctx ends first, the remaining connections are cut
// and Shutdown returns ctx's error. It is safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() { s.shutErr = s.shutdown(ctx) })
	return s.shutErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	servers := s.servers
	s.mu.Unlock()
	s.stopCancel()

	var (
		errs   []error
		errMu  sync.Mutex
		httpWG sync.WaitGroup
	)
	for _, srv := range servers {
		httpWG.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
				errMu.Lock()
				errs = append(errs, fmt.Errorf("gateway http shutdown: %w", err))
				errMu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("gateway shutdown deadline passed, cutting connections")
		s.hardCancel()
		s.mu.Lock()
		for ss := range s.sessions {
			if ss.c != nil {
				ss.c.CloseNow()
			}
		}
		s.mu.Unlock()
		<-done
		errMu.Lock()
		errs = append(errs, ctx.Err())
		errMu.Unlock()
	}
	httpWG.Wait()
	s.serveWG.Wait()
	s.hardCancel()
	if err := s.replies.close(); err != nil {
		errs = append(errs, fmt.Errorf("gateway reply inbox: %w", err))
	}
	return errors.Join(errs...)
}

// Close is Shutdown with a five second bound.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}

// track registers a websocket session, or reports false when shutting down.
func (s *Server) track(ss *wsSession) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.wg.Add(1)
	if ss != nil {
		s.sessions[ss] = struct{}{}
	}
	return true
}

func (s *Server) untrack(ss *wsSession) {
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
	s.wg.Done()
}
