package edgegapsim

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// world is the simulated Edgegap state: applications, sessions and
// deployments, the ids and ports handed out, and the counts of what was
// created and removed. Everything in it is guarded by mu; the HTTP
// handlers hold mu while they read or change it (answers are buffered, see
// Simulator.endpoint).
type world struct {
	mu          sync.Mutex
	closed      bool
	baseURL     string
	rng         *rand.Rand // ids, tokens, security numbers
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
	counts      lifecycleCounts
}

// lifecycleCounts counts sessions and deployments created and removed.
type lifecycleCounts struct {
	sessionsCreated    int
	sessionsDeleted    int
	deploymentsCreated int
	deploymentsStopped int
}

func newWorld(cfg Config, seed uint64) world {
	return world{
		baseURL:     strings.TrimRight(cfg.BaseURL, "/"),
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		apps:        make(map[string]*app),
		sessions:    make(map[string]*session),
		tombstones:  make(map[string]struct{}),
		deployments: make(map[string]*deployment),
		nextPort:    cfg.FirstExternalPort,
		deployDelay: cfg.DeployDelay,
		emptyTTL:    cfg.EmptyTTL,
	}
}

// isClosed reports whether Close has begun.
func (w *world) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
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
	noSessionConfig  bool // a 2026 app version: deployments only
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
	tags           []string      // deployment tags, in the order added
	stopPending    bool          // a stop came before READY/ERROR (202)
	v2             *deploymentV2 // set for deployments of POST /v2/deployments
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
