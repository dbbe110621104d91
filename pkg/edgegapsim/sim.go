package edgegapsim

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

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

type rateClass int

const (
	classNone rateClass = iota
	classCreate
	classStatus
)

func classOf(endpoint string) rateClass {
	switch endpoint {
	case EndpointSessionPost:
		return classCreate
	case EndpointGetSession, EndpointDeploymentStatusGet, EndpointContextGet:
		return classStatus
	}
	return classNone
}

// Simulator is a simulated Edgegap API. It is an http.Handler; create it
// with New, serve it (or use Start), and Close it.
type Simulator struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	hooks   chan struct{} // webhook concurrency
	hc      *http.Client
	ownHC   bool
	apiKey  string
	timeout time.Duration

	mu          sync.Mutex
	closed      bool
	baseURL     string
	rng         *rand.Rand
	apps        map[string]*app
	nextVerID   int
	sessions    map[string]*session
	tombstones  map[string]struct{}
	tombOrder   []string
	deployments map[string]*deployment
	termOrder   []string
	seq         int64
	nextPort    int
	deployDelay time.Duration
	emptyTTL    time.Duration
	faults      Faults
	failNext    map[string][]int
	limits      RateLimits
	createLim   *rate.Limiter
	statusLim   *rate.Limiter
	stats       counters
}

type counters struct {
	calls              map[string]map[int]int
	perSecond          map[string]map[int64]int
	sessionsCreated    int
	sessionsDeleted    int
	deploymentsCreated int
	deploymentsStopped int
	webhooksSent       int
	webhooksFailed     int
}

type app struct {
	name     string
	inactive bool
	created  time.Time
	updated  time.Time
	versions []*version
}

func (a *app) version(name string) *version {
	for _, v := range a.versions {
		if v.name == name {
			return v
		}
	}
	return nil
}

type version struct {
	id               int
	name             string
	inactive         bool
	dockerRepository string
	dockerImage      string
	dockerTag        string
	arguments        *string
	sockets          int
	created          time.Time
	updated          time.Time
}

type session struct {
	seq        int64
	id         string
	app        string
	version    string
	versionID  int
	ips        []string
	seats      int
	created    time.Time
	webhookURL string
	dep        *deployment
	notified   bool
}

type deployment struct {
	seq            int64
	id             string
	app            string
	version        string
	dockerTag      string
	arguments      string
	securityNumber int
	accessPoint    int
	contextToken   string
	deleteToken    string
	publicIP       string
	fqdn           string
	ports          map[string]Port
	portOrder      []string
	sockets        int
	used           int
	sessions       map[string]*session
	started        time.Time
	removed        time.Time
	emptySince     time.Time
	ready          bool
	failed         bool
	errDetail      string
	stopped        bool
	ctx            context.Context
	cancel         context.CancelFunc
	kick           chan struct{}
}

func (d *deployment) status() string {
	switch {
	case d.stopped:
		return "Status.TERMINATED"
	case d.failed:
		return "Status.ERROR"
	case d.ready:
		return "Status.READY"
	}
	return "Status.DEPLOYING"
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
	if cfg.Sockets <= 0 {
		cfg.Sockets = DefaultSockets
	}
	if cfg.EmptyTTL <= 0 {
		cfg.EmptyTTL = DefaultEmptyTTL
	}
	if cfg.DeployDelay < 0 {
		return nil, errors.New("edgegapsim: deploy delay is negative")
	}
	if cfg.PublicIP == "" {
		cfg.PublicIP = DefaultPublicIP
	}
	if cfg.FQDNSuffix == "" {
		cfg.FQDNSuffix = "localhost"
	}
	if cfg.PortName == "" {
		cfg.PortName = DefaultPortName
	}
	if cfg.InternalPort <= 0 {
		cfg.InternalPort = DefaultInternalPort
	}
	if cfg.InternalPort > 65535 {
		return nil, fmt.Errorf("edgegapsim: internal port %d out of range 1-65535", cfg.InternalPort)
	}
	if cfg.PortProtocol == "" {
		cfg.PortProtocol = DefaultPortProtocol
	}
	if cfg.FirstExternalPort <= 0 {
		cfg.FirstExternalPort = DefaultFirstExternalPort
	}
	if cfg.FirstExternalPort > 65535 {
		return nil, fmt.Errorf("edgegapsim: first external port %d out of range 1-65535", cfg.FirstExternalPort)
	}
	if cfg.Location == nil {
		l := DefaultLocation()
		cfg.Location = &l
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = DefaultWebhookTimeout
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = DefaultListenAddr
	}
	limits := DefaultRateLimits()
	if cfg.RateLimits != nil {
		limits = *cfg.RateLimits
	}
	faults, err := checkFaults(cfg.Faults)
	if err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	s := &Simulator{
		cfg:         cfg,
		log:         cfg.Logger,
		apiKey:      key,
		timeout:     cfg.WebhookTimeout,
		hooks:       make(chan struct{}, webhookConcurrent),
		hc:          cfg.WebhookClient,
		baseURL:     strings.TrimRight(cfg.BaseURL, "/"),
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		apps:        make(map[string]*app),
		sessions:    make(map[string]*session),
		tombstones:  make(map[string]struct{}),
		deployments: make(map[string]*deployment),
		nextPort:    cfg.FirstExternalPort,
		deployDelay: cfg.DeployDelay,
		emptyTTL:    cfg.EmptyTTL,
		faults:      faults,
		failNext:    make(map[string][]int),
		stats: counters{
			calls:     make(map[string]map[int]int),
			perSecond: make(map[string]map[int64]int),
		},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		s.hc = &http.Client{Transport: tr}
		s.ownHC = true
	}
	if err := s.setLimitsLocked(limits); err != nil {
		return nil, err
	}
	apps := cfg.Apps
	if len(apps) == 0 {
		apps = []App{{Name: DefaultApp, Versions: []Version{{Name: DefaultVersion, DockerTag: DefaultDockerTag}}}}
	}
	for _, a := range apps {
		if err := s.AddApp(a); err != nil {
			return nil, err
		}
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

func checkFaults(f Faults) (Faults, error) {
	for _, p := range []float64{f.ErrorRate, f.RateLimitRate} {
		if math.IsNaN(p) || p < 0 || p > 1 {
			return Faults{}, fmt.Errorf("edgegapsim: fault probability %v out of range [0, 1]", p)
		}
	}
	if f.ErrorStatus == 0 {
		f.ErrorStatus = DefaultErrorStatus
	}
	if f.ErrorStatus < 500 || f.ErrorStatus > 599 {
		return Faults{}, fmt.Errorf("edgegapsim: fault error status %d is not a 5xx", f.ErrorStatus)
	}
	if f.RetryAfter <= 0 {
		f.RetryAfter = DefaultRetryAfter
	}
	if f.Latency < 0 {
		return Faults{}, errors.New("edgegapsim: fault latency is negative")
	}
	f.Endpoints = slices.Clone(f.Endpoints)
	return f, nil
}

// Close stops every deployment (calling their stop functions) and webhook
// delivery, and waits for the simulator's goroutines. Requests served after
// Close get 503.
func (s *Simulator) Close() error {
	s.beginClose()
	s.wg.Wait()
	if s.ownHC {
		s.hc.CloseIdleConnections()
	}
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

// SetFaults replaces the injected faults.
func (s *Simulator) SetFaults(f Faults) error {
	f, err := checkFaults(f)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	return nil
}

// FailNext makes the next len(statuses) requests to endpoint answer with
// these statuses, in order, before any other processing (a 429 carries
// Faults.RetryAfter). Statuses must be 4xx or 5xx.
func (s *Simulator) FailNext(endpoint string, statuses ...int) error {
	for _, st := range statuses {
		if st < 400 || st > 599 {
			return fmt.Errorf("edgegapsim: fail status %d is not a 4xx or 5xx", st)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[endpoint] = append(s.failNext[endpoint], statuses...)
	return nil
}

// SetRateLimits replaces the per-class rate limits (0 disables a class).
func (s *Simulator) SetRateLimits(l RateLimits) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setLimitsLocked(l)
}

func (s *Simulator) setLimitsLocked(l RateLimits) error {
	mk := func(r float64) (*rate.Limiter, error) {
		if math.IsNaN(r) || r < 0 {
			return nil, fmt.Errorf("edgegapsim: rate limit %v is negative", r)
		}
		if r == 0 || math.IsInf(r, 1) {
			return nil, nil
		}
		return rate.NewLimiter(rate.Limit(r), max(1, int(math.Ceil(r)))), nil
	}
	c, err := mk(l.Create)
	if err != nil {
		return err
	}
	st, err := mk(l.Status)
	if err != nil {
		return err
	}
	s.limits, s.createLim, s.statusLim = l, c, st
	return nil
}

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

// AddApp adds an application with its versions.
func (s *Simulator) AddApp(a App) error {
	if err := checkName("app name", a.Name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[a.Name]; ok {
		return fmt.Errorf("edgegapsim: app %q already exists", a.Name)
	}
	now := time.Now()
	na := &app{name: a.Name, inactive: a.Inactive, created: now, updated: now}
	s.apps[a.Name] = na
	for _, v := range a.Versions {
		if err := s.addVersionLocked(na, v); err != nil {
			delete(s.apps, a.Name)
			return err
		}
	}
	return nil
}

// AddVersion adds a version to an existing application.
func (s *Simulator) AddVersion(appName string, v Version) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return fmt.Errorf("edgegapsim: app %q not found", appName)
	}
	return s.addVersionLocked(a, v)
}

func (s *Simulator) addVersionLocked(a *app, v Version) error {
	if err := checkName("version name", v.Name); err != nil {
		return err
	}
	if a.version(v.Name) != nil {
		return fmt.Errorf("edgegapsim: version %q of app %q already exists", v.Name, a.name)
	}
	if v.Sockets < 0 {
		return fmt.Errorf("edgegapsim: version %q: sockets %d is negative", v.Name, v.Sockets)
	}
	now := time.Now()
	s.nextVerID++
	nv := &version{
		id:               s.nextVerID,
		name:             v.Name,
		inactive:         v.Inactive,
		dockerRepository: v.DockerRepository,
		dockerImage:      v.DockerImage,
		dockerTag:        v.DockerTag,
		sockets:          v.Sockets,
		created:          now,
		updated:          now,
	}
	if nv.dockerRepository == "" {
		nv.dockerRepository = "registry.edgegap.com/bevygap"
	}
	if nv.dockerImage == "" {
		nv.dockerImage = a.name
	}
	if nv.dockerTag == "" {
		nv.dockerTag = v.Name
	}
	if v.Arguments != "" {
		args := v.Arguments
		nv.arguments = &args
	}
	a.versions = append(a.versions, nv)
	a.updated = now
	return nil
}

// SetAppActive activates or deactivates an application.
func (s *Simulator) SetAppActive(appName string, active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return fmt.Errorf("edgegapsim: app %q not found", appName)
	}
	a.inactive = !active
	a.updated = time.Now()
	return nil
}

// SetVersionActive activates or deactivates an app version.
func (s *Simulator) SetVersionActive(appName, versionName string, active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return fmt.Errorf("edgegapsim: app %q not found", appName)
	}
	v := a.version(versionName)
	if v == nil {
		return fmt.Errorf("edgegapsim: version %q of app %q not found", versionName, appName)
	}
	v.inactive = !active
	v.updated = time.Now()
	return nil
}

// VersionArguments returns the docker arguments stored on an app version.
func (s *Simulator) VersionArguments(appName, versionName string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appName]
	if a == nil {
		return "", fmt.Errorf("edgegapsim: app %q not found", appName)
	}
	v := a.version(versionName)
	if v == nil {
		return "", fmt.Errorf("edgegapsim: version %q of app %q not found", versionName, appName)
	}
	if v.arguments == nil {
		return "", nil
	}
	return *v.arguments, nil
}

func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("edgegapsim: %s is empty", what)
	}
	if len(name) > 64 {
		return fmt.Errorf("edgegapsim: %s %q is longer than 64 characters", what, name)
	}
	if strings.ContainsAny(name, "/?#%") || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("edgegapsim: %s %q contains '/', '?', '#', '%%', spaces or control characters", what, name)
	}
	return nil
}

// Stats is a snapshot of the simulator's counters.
type Stats struct {
	// Calls counts requests per endpoint name and HTTP status.
	Calls map[string]map[int]int `json:"calls"`
	// PerSecond counts requests per endpoint name and arrival second (unix
	// seconds, the simulator's clock), for the last 10 minutes.
	PerSecond          map[string]map[int64]int `json:"per_second"`
	LiveSessions       int                      `json:"live_sessions"`
	LiveDeployments    int                      `json:"live_deployments"`
	SessionsCreated    int                      `json:"sessions_created"`
	SessionsDeleted    int                      `json:"sessions_deleted"`
	DeploymentsCreated int                      `json:"deployments_created"`
	DeploymentsStopped int                      `json:"deployments_stopped"`
	WebhooksSent       int                      `json:"webhooks_sent"`
	WebhooksFailed     int                      `json:"webhooks_failed"`
}

// Count returns the number of requests to endpoint answered with status.
func (st Stats) Count(endpoint string, status int) int { return st.Calls[endpoint][status] }

// Total returns the number of requests to endpoint.
func (st Stats) Total(endpoint string) int {
	n := 0
	for _, c := range st.Calls[endpoint] {
		n += c
	}
	return n
}

// MaxPerSecond returns the largest number of requests to endpoint that
// arrived within one calendar second.
func (st Stats) MaxPerSecond(endpoint string) int {
	m := 0
	for _, c := range st.PerSecond[endpoint] {
		m = max(m, c)
	}
	return m
}

// Stats returns a snapshot of the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Calls:              make(map[string]map[int]int, len(s.stats.calls)),
		PerSecond:          make(map[string]map[int64]int, len(s.stats.perSecond)),
		LiveSessions:       len(s.sessions),
		SessionsCreated:    s.stats.sessionsCreated,
		SessionsDeleted:    s.stats.sessionsDeleted,
		DeploymentsCreated: s.stats.deploymentsCreated,
		DeploymentsStopped: s.stats.deploymentsStopped,
		WebhooksSent:       s.stats.webhooksSent,
		WebhooksFailed:     s.stats.webhooksFailed,
	}
	for k, v := range s.stats.calls {
		st.Calls[k] = maps(v)
	}
	for k, v := range s.stats.perSecond {
		st.PerSecond[k] = maps(v)
	}
	for _, d := range s.deployments {
		if !d.stopped {
			st.LiveDeployments++
		}
	}
	return st
}

func maps[K comparable](m map[K]int) map[K]int {
	out := make(map[K]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Simulator) record(endpoint string, status int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats.calls[endpoint]
	if c == nil {
		c = make(map[int]int)
		s.stats.calls[endpoint] = c
	}
	c[status]++
	sec := at.Unix()
	ps := s.stats.perSecond[endpoint]
	if ps == nil {
		ps = make(map[int64]int)
		s.stats.perSecond[endpoint] = ps
	}
	ps[sec]++
	if len(ps) > perSecondWindow {
		for k := range ps {
			if k < sec-perSecondWindow {
				delete(ps, k)
			}
		}
	}
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

type authMode int

const (
	authNone authMode = iota
	authAPIKey
)

func (s *Simulator) routes() {
	m := http.NewServeMux()
	api := func(pattern, endpoint string, auth authMode, h http.HandlerFunc) {
		m.Handle(pattern, s.endpoint(endpoint, auth, h))
	}
	api("POST /v1/session", EndpointSessionPost, authAPIKey, s.handleSessionPost)
	api("GET /v1/session/{id}", EndpointGetSession, authAPIKey, s.handleSessionGet)
	api("DELETE /v1/session/{id}", EndpointSessionDelete, authAPIKey, s.handleSessionDelete)
	api("GET /v1/sessions", EndpointListSessions, authAPIKey, s.handleSessionsList)
	api("POST /v1/sessions/bulk-stop", EndpointSessionsBulkStop, authAPIKey, s.handleBulkStop)
	api("GET /v1/apps", EndpointApplicationsGet, authAPIKey, s.handleAppsList)
	api("GET /v1/app/{app}", EndpointApplicationGet, authAPIKey, s.handleAppGet)
	api("GET /v1/app/{app}/versions", EndpointAppVersionsGet, authAPIKey, s.handleVersionsList)
	api("GET /v1/app/{app}/version/{version}", EndpointAppVersionGet, authAPIKey, s.handleVersionGet)
	api("PATCH /v1/app/{app}/version/{version}", EndpointAppVersionsPatch, authAPIKey, s.handleVersionPatch)
	api("GET /v1/deployments", EndpointDeploymentsGet, authAPIKey, s.handleDeploymentsList)
	api("GET /v1/status/{id}", EndpointDeploymentStatusGet, authAPIKey, s.handleStatus)
	api("DELETE /v1/stop/{id}", EndpointDeploymentDelete, authAPIKey, s.handleStop)
	api("GET /v1/context/{id}/{n}", EndpointContextGet, authNone, s.handleContext)
	api("DELETE /v1/self/stop/{id}/{n}", EndpointSelfDeploymentDelete, authNone, s.handleSelfStop)
	m.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	m.Handle("/", s.endpoint(EndpointUnknown, authNone, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	}))
	s.mux = m
}

// recorder remembers the status written.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// endpoint wraps a handler with stats, faults, auth and rate limits.
func (s *Simulator) endpoint(name string, auth authMode, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrival := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			st := rec.status
			if st == 0 {
				st = http.StatusOK
			}
			s.record(name, st, arrival)
		}()
		latency, injected, retryAfter, closed := s.decideFault(name)
		if closed {
			writeError(rec, http.StatusServiceUnavailable, "simulator closed")
			return
		}
		if latency > 0 && !s.sleep(r.Context(), latency) {
			writeError(rec, http.StatusServiceUnavailable, "request cancelled")
			return
		}
		if injected != 0 {
			if injected == http.StatusTooManyRequests {
				rec.Header().Set("Retry-After", formatRetryAfter(retryAfter))
				writeError(rec, injected, "Too Many Requests")
				return
			}
			writeError(rec, injected, fmt.Sprintf("injected fault: %s", http.StatusText(injected)))
			return
		}
		if auth == authAPIKey && r.Header.Get("Authorization") != s.apiKey {
			writeError(rec, http.StatusUnauthorized, "invalid or missing API token")
			return
		}
		if wait, ok := s.allow(name); !ok {
			rec.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(rec, http.StatusTooManyRequests, "Too Many Requests: rate limit exceeded")
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, maxRequestBody)
		// Handlers answer while holding the simulator's lock; buffer the
		// answer so that a slow client never blocks the lock.
		buf := &bufferedWriter{header: make(http.Header)}
		h(buf, r)
		buf.flush(rec)
	})
}

// bufferedWriter is an http.ResponseWriter that keeps the response in
// memory until flush.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// decideFault consumes FailNext or draws the configured fault probabilities.
func (s *Simulator) decideFault(endpoint string) (latency time.Duration, status int, retryAfter time.Duration, closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, 0, true
	}
	f := s.faults
	applies := len(f.Endpoints) == 0 || slices.Contains(f.Endpoints, endpoint)
	if applies {
		latency = f.Latency
	}
	if q := s.failNext[endpoint]; len(q) > 0 {
		status = q[0]
		if len(q) == 1 {
			delete(s.failNext, endpoint)
		} else {
			s.failNext[endpoint] = q[1:]
		}
		return latency, status, f.RetryAfter, false
	}
	if !applies || endpoint == EndpointUnknown {
		return latency, 0, 0, false
	}
	if f.RateLimitRate > 0 && s.rng.Float64() < f.RateLimitRate {
		return latency, http.StatusTooManyRequests, f.RetryAfter, false
	}
	if f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate {
		return latency, f.ErrorStatus, 0, false
	}
	return latency, 0, 0, false
}

// allow applies the class rate limit; when exceeded it returns how long
// until a request would be allowed.
func (s *Simulator) allow(endpoint string) (time.Duration, bool) {
	s.mu.Lock()
	var lim *rate.Limiter
	switch classOf(endpoint) {
	case classCreate:
		lim = s.createLim
	case classStatus:
		lim = s.statusLim
	}
	s.mu.Unlock()
	if lim == nil {
		return 0, true
	}
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

func formatRetryAfter(d time.Duration) string {
	if d >= time.Second || d <= 0 {
		return strconv.Itoa(int(math.Ceil(max(d, time.Second).Seconds())))
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

// decodeBody decodes a bounded JSON request body.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("request body larger than %d bytes", maxRequestBody)
		}
		return fmt.Errorf("invalid JSON body: %v", err)
	}
	if dec.More() {
		return errors.New("invalid JSON body: trailing data")
	}
	return nil
}

// pageParams reads page and limit query parameters.
func pageParams(r *http.Request) (page, limit int, err error) {
	page, limit = 1, DefaultPageSize
	q := r.URL.Query()
	if v := q.Get("page"); v != "" {
		page, err = strconv.Atoi(v)
		if err != nil || page < 1 {
			return 0, 0, fmt.Errorf("page %q: want an integer >= 1", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 {
			return 0, 0, fmt.Errorf("limit %q: want an integer >= 1", v)
		}
		limit = min(limit, MaxPageSize)
	}
	return page, limit, nil
}

// servePage answers a paginated list call with Edgegap's envelope: the page
// of list() (called under s.mu) the query asks for, each item converted.
func servePage[T, U any](s *Simulator, w http.ResponseWriter, r *http.Request, list func() []T, item func(T) U) {
	page, limit, err := pageParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := list()
	start, end, p := pageBounds(len(all), page, limit)
	data := make([]U, 0, end-start)
	for _, v := range all[start:end] {
		data = append(data, item(v))
	}
	writeJSON(w, http.StatusOK, struct {
		Data       []U        `json:"data"`
		TotalCount int        `json:"total_count"`
		Pagination pagination `json:"pagination"`
	}{data, len(all), p})
}

// pageBounds returns the slice bounds of a page and Edgegap's pagination
// object.
func pageBounds(total, page, limit int) (start, end int, p pagination) {
	numPages := max(1, (total+limit-1)/limit)
	start = min((page-1)*limit, total)
	end = min(start+limit, total)
	p = pagination{
		Number:      page,
		Paginator:   paginator{NumPages: numPages},
		HasNext:     page < numPages,
		HasPrevious: page > 1,
	}
	if p.HasNext {
		n := page + 1
		p.NextPageNumber = &n
	}
	if p.HasPrevious {
		n := min(page-1, numPages)
		p.PreviousPageNumber = &n
	}
	return start, end, p
}

// pagination is Edgegap's pagination object; unlike the generated model it
// writes null for absent page numbers, as Edgegap's examples do.
type pagination struct {
	Number             int       `json:"number"`
	NextPageNumber     *int      `json:"next_page_number"`
	PreviousPageNumber *int      `json:"previous_page_number"`
	Paginator          paginator `json:"paginator"`
	HasNext            bool      `json:"has_next"`
	HasPrevious        bool      `json:"has_previous"`
}

type paginator struct {
	NumPages int `json:"num_pages"`
}

func ptr[T any](v T) *T { return &v }

func validWebhookURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
