package edgegapsim

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
)

// Endpoint names, the Edgegap operation ids, as counted in Stats.
const (
	EndpointSessionPost          = edgegap.EndpointSessionPost
	EndpointGetSession           = edgegap.EndpointGetSession
	EndpointSessionDelete        = edgegap.EndpointSessionDelete
	EndpointListSessions         = edgegap.EndpointListSessions
	EndpointSessionsBulkStop     = edgegap.EndpointSessionsBulkStop
	EndpointApplicationGet       = edgegap.EndpointApplicationGet
	EndpointApplicationsGet      = edgegap.EndpointApplicationsGet
	EndpointAppVersionGet        = edgegap.EndpointAppVersionGet
	EndpointAppVersionsPatch     = edgegap.EndpointAppVersionsPatch
	EndpointAppVersionsGet       = edgegap.EndpointAppVersionsGet
	EndpointDeploymentsGet       = edgegap.EndpointDeploymentsGet
	EndpointDeploymentStatusGet  = edgegap.EndpointDeploymentStatusGet
	EndpointDeploymentDelete     = edgegap.EndpointDeploymentDelete
	EndpointContextGet           = edgegap.EndpointContextGet
	EndpointSelfDeploymentDelete = "self-deployment-delete"
	EndpointDeploymentCreate     = edgegap.EndpointDeploymentCreate
	EndpointDeploymentsBulkStop  = edgegap.EndpointDeploymentsBulkStop
	EndpointDeploymentTagCreate  = edgegap.EndpointDeploymentTagCreate
	EndpointDeploymentTagList    = edgegap.EndpointDeploymentTagList
	EndpointDeploymentTagDelete  = edgegap.EndpointDeploymentTagDelete
	// EndpointUnknown counts requests that match no route.
	EndpointUnknown = "unknown"
)

// TimeLayout is Edgegap's timestamp layout.
const TimeLayout = "2006-01-02 15:04:05.000000"

const (
	maxRequestBody    = 1 << 20
	maxTombstones     = 100000
	maxTerminated     = 10000
	perSecondWindow   = 600 // seconds of per-second counters kept
	webhookConcurrent = 64
)

// Simulator is a simulated Edgegap API. It is an http.Handler; create it
// with New, serve it (or use Start), and Close it.
//
// Its parts each own their state and lock: the simulated state (world,
// embedded: apps, sessions, deployments), fault injection, rate limits,
// request counters and webhook delivery.
type Simulator struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	apiKey string
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // deployment and webhook goroutines

	world
	faults   *faultInjector
	epFaults *endpointFaults
	limits   *rateLimiter
	calls    *callStats
	webhooks *webhookSender
}

// New returns a Simulator for cfg.
func New(cfg Config) (*Simulator, error) {
	key, err := normalizeKey(cfg.APIKey)
	if err != nil {
		return nil, err
	}
	if key == "" {
		key = DefaultAPIKey
	}
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	faults, err := newFaultInjector(cfg.Faults, seed)
	if err != nil {
		return nil, err
	}
	s := &Simulator{
		cfg:      cfg,
		log:      cfg.Logger,
		apiKey:   key,
		world:    newWorld(cfg, seed),
		faults:   faults,
		epFaults: newEndpointFaults(seed),
		limits:   &rateLimiter{},
		calls:    newCallStats(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.webhooks = newWebhookSender(cfg, s.log)
	limits := DefaultRateLimits()
	if cfg.RateLimits != nil {
		limits = *cfg.RateLimits
	}
	if err := s.limits.set(limits); err != nil {
		return nil, err
	}
	if err := s.addApps(cfg.Apps); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	return s, nil
}

func normalizeKey(key string) (string, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return "", nil
	}
	bare := key
	if strings.EqualFold(key, "token") {
		bare = ""
	} else if len(key) >= 6 && strings.EqualFold(key[:6], "token ") {
		bare = strings.TrimSpace(key[6:])
	}
	if bare == "" || strings.ContainsFunc(bare, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", errors.New("edgegapsim: api key is empty or contains whitespace or control characters")
	}
	return "token " + bare, nil
}

// Close stops every deployment (calling their stop functions) and webhook
// delivery, and waits for the simulator's goroutines. Requests served after
// Close get 503.
func (s *Simulator) Close() error {
	s.beginClose()
	s.wg.Wait()
	s.webhooks.close()
	return nil
}

// beginClose refuses new work and cancels running work without waiting.
func (s *Simulator) beginClose() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
}

// SetBaseURL sets the simulator's own public URL, used in context and
// self-stop URLs of deployments created afterwards.
func (s *Simulator) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseURL = strings.TrimRight(u, "/")
}

// BaseURL returns the URL set with SetBaseURL or Config.BaseURL.
func (s *Simulator) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// APIKey returns the Authorization value the simulator accepts.
func (s *Simulator) APIKey() string { return s.apiKey }

// SetDeployDelay changes the deploy delay of deployments created afterwards.
func (s *Simulator) SetDeployDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deployDelay = max(d, 0)
}

// SetEmptyTTL changes how long empty deployments keep running (from the
// next time one becomes empty). d <= 0 restores DefaultEmptyTTL.
func (s *Simulator) SetEmptyTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		d = DefaultEmptyTTL
	}
	s.emptyTTL = d
}

// sleep waits d, or returns false early when the request or the simulator
// is done.
func (s *Simulator) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}
