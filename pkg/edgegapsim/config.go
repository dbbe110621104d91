package edgegapsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
)

// Defaults for the zero values of Config.
const (
	DefaultAPIKey            = "token bevygap-dev"
	DefaultApp               = "bevygap-spaceships"
	DefaultVersion           = "1"
	DefaultDockerTag         = "v1"
	DefaultSockets           = 4
	DefaultEmptyTTL          = 2 * time.Second
	DefaultPublicIP          = "127.0.0.1"
	DefaultPortName          = "gameport"
	DefaultInternalPort      = 6420
	DefaultPortProtocol      = "UDP"
	DefaultFirstExternalPort = 31000
	DefaultWebhookTimeout    = 5 * time.Second
	DefaultRetryAfter        = time.Second
	DefaultErrorStatus       = http.StatusServiceUnavailable
	DefaultListenAddr        = "127.0.0.1:0"
	DefaultPageSize          = 10
	MaxPageSize              = 100
)

// Config configures a Simulator. The zero value is a usable simulator with
// one active app DefaultApp, version DefaultVersion.
type Config struct {
	// APIKey is the accepted Authorization value. A bare key is normalised
	// to "token <key>"; requests must send exactly the normalised form.
	// Default DefaultAPIKey.
	APIKey string
	// BaseURL is the simulator's own public URL, used to build context and
	// self-stop URLs. Start sets it when empty; see also SetBaseURL.
	BaseURL string
	// ListenAddr is where Start listens. Default DefaultListenAddr.
	ListenAddr string
	// Apps replaces the default app. Versions with Sockets 0 use Sockets.
	Apps []App
	// Sockets is the number of seats per deployment. Default DefaultSockets.
	Sockets int
	// DeployDelay is how long a new deployment takes to become ready after
	// OnDeploy returned. 0 means at once.
	DeployDelay time.Duration
	// EmptyTTL is how long a deployment without sessions keeps running.
	// Default DefaultEmptyTTL.
	EmptyTTL time.Duration
	// PublicIP of every deployment. Default DefaultPublicIP, so simulated
	// game servers can listen there.
	PublicIP string
	// FQDNSuffix: deployments get the FQDN "<request_id>.<suffix>". Default
	// "localhost" (resolves to loopback on most systems).
	FQDNSuffix string
	// PortName, InternalPort and PortProtocol describe the one port of each
	// deployment. Defaults DefaultPortName, DefaultInternalPort,
	// DefaultPortProtocol.
	PortName     string
	InternalPort int
	PortProtocol string
	// FirstExternalPort is where external port numbers are allocated from
	// (when OnDeploy does not report its own). Default
	// DefaultFirstExternalPort.
	FirstExternalPort int
	// Location of every deployment. Default: Montreal, as in Edgegap's
	// examples.
	Location *Location
	// Faults injected from the start; see SetFaults.
	Faults Faults
	// RateLimits per endpoint class. nil means DefaultRateLimits; a zero
	// field disables that class's limit.
	RateLimits *RateLimits
	// Seed makes ids, tokens and fault decisions deterministic. 0 picks a
	// random seed.
	Seed uint64
	// WebhookTimeout bounds each webhook POST. Default
	// DefaultWebhookTimeout.
	WebhookTimeout time.Duration
	// WebhookClient sends webhooks. Default: a client with its own
	// transport, closed on Close.
	WebhookClient *http.Client
	// OnDeploy, if set, is called (on a goroutine the simulator owns) when a
	// deployment is created, with ctx cancelled when the deployment stops
	// or the simulator closes. The deployment becomes ready DeployDelay
	// after OnDeploy returns. An error fails the deployment: its sessions
	// get status "Error" and a webhook. The returned handle's Stop is
	// called once when the deployment stops (also after an error, if set).
	// OnDeploy must return promptly once ctx is cancelled, or Close blocks.
	OnDeploy func(ctx context.Context, info DeploymentInfo) (DeployHandle, error)
	// Logger for debug logs. Default: discard.
	Logger *slog.Logger
}

// App is a simulated Edgegap application.
type App struct {
	Name     string
	Inactive bool
	Versions []Version
}

// Version is a simulated app version.
type Version struct {
	Name string
	// Inactive versions refuse new sessions with 400.
	Inactive bool
	// DockerRepository, DockerImage and DockerTag are reported as given.
	// Defaults "registry.edgegap.com/bevygap", the app name, "v1"
	// (DefaultDockerTag) for the default version, else the version name.
	DockerRepository string
	DockerImage      string
	DockerTag        string
	// Arguments is the docker arguments string ("" = unset).
	Arguments string
	// Sockets overrides Config.Sockets for deployments of this version.
	Sockets int
	// NoSessionConfig makes a version as Edgegap creates them since the
	// 2026 API: without session_config. It is served without one, POST
	// /v1/session refuses it (400) and POST /v2/deployments deploys it.
	NoSessionConfig bool
}

// Faults describes injected failures. Probabilities are in [0, 1].
type Faults struct {
	// ErrorRate is the probability of answering ErrorStatus.
	ErrorRate float64
	// ErrorStatus is the injected 5xx status. Default DefaultErrorStatus.
	ErrorStatus int
	// RateLimitRate is the probability of answering 429 with Retry-After.
	RateLimitRate float64
	// RetryAfter is sent with injected 429s (also those of FailNext).
	// Whole seconds are sent as an integer; a sub-second value is sent as a
	// decimal number of seconds (e.g. "0.05"), a simulator extension that
	// keeps tests fast and that the edgegap client accepts. Default
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Latency is added to every API call.
	Latency time.Duration
	// Endpoints limits ErrorRate, RateLimitRate and Latency to these
	// endpoint names (Edgegap operation ids such as "get-session"); empty
	// means all.
	Endpoints []string
}

// RateLimits are requests per second per endpoint class; 0 disables a
// class's limit. Requests beyond the limit get 429 with Retry-After.
//
// The classes are the client's (edgegap.ClassOf).
type RateLimits struct {
	// Create covers session creation (session-post). Edgegap: 40/s.
	Create float64
	// Status covers get-session and context-get. Edgegap: 10/s.
	Status float64
	// Deploy covers POST /v2/deployments. Edgegap: 40/s.
	Deploy float64
	// DeploymentStatus covers GET /v1/status. Edgegap: 20/s.
	DeploymentStatus float64
	// List covers GET /v1/deployments. Edgegap: 10/s.
	List float64
}

// DefaultRateLimits returns Edgegap's documented limits.
func DefaultRateLimits() RateLimits {
	return RateLimits{Create: 40, Status: 10, Deploy: 40, DeploymentStatus: 20, List: 10}
}

// Location is where a deployment runs: the client's type, so the two can
// never disagree.
type Location = edgegap.Location

// DefaultLocation is Edgegap's example location.
func DefaultLocation() Location {
	return Location{
		City: "Montreal", Country: "Canada", Continent: "North America",
		AdministrativeDivision: "Quebec", Timezone: "Eastern Time",
		Latitude: 45.508888, Longitude: -73.561668,
	}
}

// Port is one port of a deployment.
type Port struct {
	Name     string `json:"name"`
	Internal int    `json:"internal"`
	External int    `json:"external"`
	Protocol string `json:"protocol"`
}

// DeploymentInfo describes a new deployment to Config.OnDeploy: what a game
// server container on Edgegap would learn from its environment.
type DeploymentInfo struct {
	RequestID string
	App       string
	Version   string
	DockerTag string
	// Arguments are the version's docker arguments when it was deployed.
	Arguments string
	PublicIP  string
	FQDN      string
	Sockets   int
	// Ports are the simulator's planned ports, keyed by port name. A hook
	// that binds its own ports reports them in DeployHandle.Ports.
	Ports        map[string]Port
	Location     Location
	ContextURL   string
	ContextToken string
	DeleteURL    string
	DeleteToken  string
	// Env holds the ARBITRIUM_* variables Edgegap injects, built from the
	// fields above.
	Env map[string]string
	// SetPorts lets the hook report the ports it bound before it returns
	// (e.g. before its game server fetches the deployment context, so the
	// context already shows them). DeployHandle.Ports does the same on return.
	SetPorts func(ports map[string]int)
	// SetPublicIP lets the hook report the address its game server bound
	// when it is not PublicIP (e.g. a loopback address of its own), before
	// its game server fetches the deployment context. Invalid addresses
	// are ignored.
	SetPublicIP func(ip string)
	// Fail puts the deployment in error after the hook returned (e.g. its
	// game server process exited on its own): status ERROR, its sessions
	// get status "Error" and their webhooks, and the error webhook is sent,
	// as when OnDeploy returns an error. Nothing happens once the
	// deployment stopped or failed.
	Fail func(err error)
}

// DeployHandle is what Config.OnDeploy returns.
type DeployHandle struct {
	// Ports maps port names to the external port actually used (e.g. a
	// UDP port a simulated game server bound on PublicIP:0). Names not in
	// the map keep the planned port; unknown names are added.
	Ports map[string]int
	// Stop, if set, is called once when the deployment stops or the
	// simulator closes.
	Stop func()
}

// withDefaults returns cfg with its zero values replaced by the defaults,
// or an error naming the setting that is out of range.
func (cfg Config) withDefaults() (Config, error) {
	cfg.fillDefaults()
	if cfg.DeployDelay < 0 {
		return cfg, errors.New("edgegapsim: deploy delay is negative")
	}
	if cfg.InternalPort > 65535 {
		return cfg, fmt.Errorf("edgegapsim: internal port %d out of range 1-65535", cfg.InternalPort)
	}
	if cfg.FirstExternalPort > 65535 {
		return cfg, fmt.Errorf("edgegapsim: first external port %d out of range 1-65535", cfg.FirstExternalPort)
	}
	return cfg, nil
}

func (cfg *Config) fillDefaults() {
	if cfg.Sockets <= 0 {
		cfg.Sockets = DefaultSockets
	}
	if cfg.EmptyTTL <= 0 {
		cfg.EmptyTTL = DefaultEmptyTTL
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
	if cfg.PortProtocol == "" {
		cfg.PortProtocol = DefaultPortProtocol
	}
	if cfg.FirstExternalPort <= 0 {
		cfg.FirstExternalPort = DefaultFirstExternalPort
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
}
