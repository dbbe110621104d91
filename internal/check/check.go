// Package check is the checklist of everything a deployment of bevygap
// depends on: NATS and JetStream, the state buckets, the Edgegap key, app
// and version, the Edgegap API the version implies and the allocator, and
// the Lightyear settings. `bevygap check` prints it.
//
// The checks are data (Checks): each has a name and a function that looks
// at one thing and may leave what it found for the checks after it (the
// JetStream context, the Edgegap app). A check whose prerequisite failed
// reports Skip.
package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

// Status of one check.
type Status string

// Statuses.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Item is one row of the checklist.
type Item struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
}

// Config is what the checks look at. The constructors are called once,
// by the check that needs them.
type Config struct {
	// Names returns the NATS namespace (an error fails the NATS row).
	Names func() (state.Names, error)
	// Connect dials NATS; Run closes the connection.
	Connect func(ctx context.Context) (*nats.Conn, error)
	// Edgegap returns the API client (an error fails the key row).
	Edgegap func() (*edgegap.Client, error)
	// AppName and AppVersion are the app-name and app-version settings.
	AppName, AppVersion string
	// Allocator is the allocator setting (auto, deployments or sessions;
	// "" is auto).
	Allocator string
	// PrivateKey is the raw lightyear-private-key setting.
	PrivateKey string
	// ProtocolID returns the lightyear-protocol-id setting and whether it
	// is the default.
	ProtocolID func() (id uint64, isDefault bool, err error)
}

// Check is one row of the checklist: Run looks at one thing.
type Check struct {
	Name string
	Run  func(ctx context.Context, p *Probe) Item
}

// Probe is the state of one Run: the configuration and what earlier
// checks found.
type Probe struct {
	cfg     Config
	nc      *nats.Conn
	names   state.Names
	js      jetstream.JetStream // nil unless JetStream answered
	eg      *edgegap.Client     // nil unless the key was accepted
	app     *edgegap.App        // what the key check got for app-name
	appErr  error
	appOK   bool
	version *edgegap.AppVersion // nil unless the version was found
	// api is the Edgegap API the version implies (matchmaker.AllocatorSessions
	// or AllocatorDeployments) and why; "" unless the version was read.
	api, apiWhy string
}

// Checks is the checklist, in order.
var Checks = []Check{
	{"nats reachable", checkNATS},
	{"jetstream enabled", checkJetStream},
	{"buckets compatible", checkBuckets},
	{"edgegap api key", checkEdgegapKey},
	{"app exists and active", checkApp},
	{"version exists and active", checkVersion},
	{"docker tag pinned", checkDockerTag},
	{"edgegap api", checkAPI},
	{"allocator", checkAllocator},
	{"lightyear private key", checkPrivateKey},
	{"lightyear protocol id", checkProtocolID},
}

// Run performs every check of Checks, in order.
func Run(ctx context.Context, cfg Config) []Item {
	p := &Probe{cfg: cfg}
	defer func() {
		if p.nc != nil {
			p.nc.Close()
		}
	}()
	items := make([]Item, 0, len(Checks))
	for _, c := range Checks {
		it := c.Run(ctx, p)
		it.Check = c.Name
		items = append(items, it)
	}
	return items
}

// Failures counts the failed items; strict counts warnings too.
func Failures(items []Item, strict bool) int {
	n := 0
	for _, it := range items {
		if it.Status == Fail || strict && it.Status == Warn {
			n++
		}
	}
	return n
}

func item(st Status, detail, hint string) Item { return Item{Status: st, Detail: detail, Hint: hint} }

func checkNATS(ctx context.Context, p *Probe) Item {
	names, err := p.cfg.Names()
	if err != nil {
		return item(Fail, err.Error(), "fix nats-namespace")
	}
	nc, err := p.cfg.Connect(ctx)
	if err != nil {
		return item(Fail, err.Error(), "set nats-host (and nats-insecure without TLS)")
	}
	p.nc, p.names = nc, names
	return item(OK, nc.ConnectedUrlRedacted(), "")
}

func checkJetStream(ctx context.Context, p *Probe) Item {
	if p.nc == nil {
		return item(Skip, "needs NATS", "")
	}
	js, err := jetstream.New(p.nc)
	if err == nil {
		_, err = js.AccountInfo(ctx)
	}
	if err != nil {
		return item(Fail, err.Error(), "start nats-server with -js (JetStream)")
	}
	p.js = js
	return item(OK, "", "")
}

func checkBuckets(ctx context.Context, p *Probe) Item {
	if p.js == nil {
		return item(Skip, "needs JetStream", "")
	}
	var missing, bad []string
	for _, s := range state.Specs(p.names) {
		err := state.Check(ctx, p.js, s)
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrStreamNotFound):
			missing = append(missing, s.Config.Name)
		default:
			bad = append(bad, err.Error())
		}
	}
	switch {
	case len(bad) > 0:
		return item(Fail, strings.Join(bad, "; "), "a stream differs from what the Rust game servers create: they would fail to start")
	case len(missing) > 0:
		return item(Warn, "missing: "+strings.Join(missing, ", "), "run `bevygap kv init` (the matchmaker and game servers also create them)")
	}
	return item(OK, "5 buckets and the delete stream match the Rust configuration", "")
}

func checkEdgegapKey(ctx context.Context, p *Probe) Item {
	eg, err := p.cfg.Edgegap()
	if err != nil {
		return item(Fail, err.Error(), "set edgegap-api-key")
	}
	// Asking for the app proves the key; a missing app is the next row's.
	a, err := eg.GetApp(ctx, p.cfg.AppName)
	switch {
	case edgegap.IsUnauthorized(err):
		return item(Fail, "refused by "+eg.BaseURL(), "check edgegap-api-key")
	case err != nil && !edgegap.IsNotFound(err) && !errors.Is(err, edgegap.ErrBadRequest):
		return item(Fail, err.Error(), "is edgegap-url right and reachable?")
	}
	p.eg, p.app, p.appErr = eg, a, err
	return item(OK, "accepted by "+eg.BaseURL(), "")
}

func checkApp(_ context.Context, p *Probe) Item {
	if p.eg == nil {
		return item(Skip, "needs the edgegap api key", "")
	}
	app := p.cfg.AppName
	switch {
	case p.appErr != nil:
		return item(Fail, fmt.Sprintf("app %q: %v", app, p.appErr), "set app-name to an app of your Edgegap account")
	case !p.app.Active:
		return item(Fail, fmt.Sprintf("app %q is not active", app), "activate it in the Edgegap dashboard")
	}
	p.appOK = true
	return item(OK, app, "")
}

func checkVersion(ctx context.Context, p *Probe) Item {
	if !p.appOK {
		return item(Skip, "needs the app", "")
	}
	version := p.cfg.AppVersion
	v, err := p.eg.GetAppVersion(ctx, p.cfg.AppName, version)
	if err != nil {
		return item(Fail, fmt.Sprintf("version %q: %v", version, err), "set app-version")
	}
	p.version = v
	if !v.Active {
		return item(Fail, fmt.Sprintf("version %q is not active", version), "sessions cannot be created on an inactive version")
	}
	return item(OK, version, "")
}

func checkDockerTag(_ context.Context, p *Probe) Item {
	switch {
	case !p.appOK:
		return item(Skip, "needs the app", "")
	case p.version == nil:
		return item(Skip, "needs the version", "")
	case p.version.DockerTag == "latest" || p.version.DockerTag == "":
		return item(Warn, fmt.Sprintf("tag %q", p.version.DockerTag), "Edgegap caches images aggressively: 'latest' silently serves an old build; use a version tag")
	}
	return item(OK, p.version.DockerTag, "")
}

// checkAPI says which Edgegap API the version implies (sessions with a Seat
// or Match session_config, else deployments: the rule of allocator auto)
// and whether the key may use it: one listing of that API, one item long.
func checkAPI(ctx context.Context, p *Probe) Item {
	if p.version == nil {
		return item(Skip, "needs the version", "")
	}
	api, why, err := matchmaker.ResolveAllocator(ctx, p.eg, matchmaker.AllocatorAuto, p.cfg.AppName, p.cfg.AppVersion)
	if err != nil {
		return item(Fail, err.Error(), "is edgegap-url right and reachable?")
	}
	p.api, p.apiWhy = api, why
	detail := api + ": " + why
	if api == matchmaker.AllocatorSessions {
		_, err = p.eg.ListSessions(ctx, 1, 1)
	} else {
		_, err = p.eg.ListDeploymentsPage(ctx, edgegap.DeploymentQuery{}, 1, 1)
	}
	switch {
	case edgegap.IsUnauthorized(err) || errors.Is(err, edgegap.ErrForbidden):
		return item(Fail, detail+"; the key may not use the "+api+" API", "use an API key of the organisation that owns the app, with access to "+api)
	case edgegap.IsNotFound(err):
		return item(Fail, detail+"; "+p.eg.BaseURL()+" does not serve the "+api+" API", "Edgegap's 2026 API has no sessions: remove the version's session_config (or set allocator deployments)")
	case err != nil:
		return item(Fail, detail+"; listing "+api+": "+err.Error(), "is edgegap-url right and reachable?")
	}
	return item(OK, detail+"; the key can use it", "")
}

// checkAllocator says which allocator the allocator setting resolves to and
// why (matchmaker.ResolveAllocator), and fails sessions on a version
// without a Seat or Match session_config (Edgegap refuses its sessions).
func checkAllocator(ctx context.Context, p *Probe) Item {
	setting := p.cfg.Allocator
	if setting == "" {
		setting = matchmaker.AllocatorAuto
	}
	var name, why string
	switch {
	case setting != matchmaker.AllocatorAuto:
		var err error
		if name, why, err = matchmaker.ResolveAllocator(ctx, p.eg, setting, p.cfg.AppName, p.cfg.AppVersion); err != nil {
			return item(Fail, err.Error(), "set allocator to auto, deployments or sessions")
		}
	case p.api == "":
		return item(Skip, "auto needs the version", "")
	default:
		name, why = p.api, "auto: "+p.apiWhy
	}
	detail := name + " (" + why + ")"
	if name == matchmaker.AllocatorSessions && p.api == matchmaker.AllocatorDeployments {
		return item(Fail, detail+", but "+p.apiWhy+": Edgegap refuses its sessions", "set allocator to auto or deployments")
	}
	return item(OK, detail, "")
}

func checkPrivateKey(_ context.Context, p *Probe) Item {
	raw := p.cfg.PrivateKey
	k, err := netcode.ParsePrivateKey(raw)
	switch {
	case raw == "":
		return item(Warn, "not set: all zeros, as the Rust default", "anyone can mint tokens for your servers: set lightyear-private-key")
	case err != nil:
		return item(Fail, err.Error(), "32 numbers '1,2,3,...', 64 hex digits or base64")
	case k.IsZero():
		return item(Warn, "all zeros", "anyone can mint tokens for your servers: use a random key")
	}
	return item(OK, "fingerprint "+k.Fingerprint(), "")
}

func checkProtocolID(_ context.Context, p *Probe) Item {
	id, isDefault, err := p.cfg.ProtocolID()
	switch {
	case err != nil:
		return item(Fail, err.Error(), "")
	case isDefault:
		return item(Warn, fmt.Sprintf("%d (the default)", id), "set lightyear-protocol-id to your game's protocol id")
	}
	return item(OK, fmt.Sprint(id), "")
}
