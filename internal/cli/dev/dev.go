// Package dev implements `bevygap dev`: the whole system on one machine, in
// one process, with no external services.
package dev

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	devstack "github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/cli/serve"
	"github.com/bevygap/bevygap/internal/gateway"
	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/output"
	config "github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

// DevKey is the Lightyear private key of `bevygap dev` unless one is given:
// fixed so that a game client and server built for local testing can share
// it, and never all zeros (which the matchmaker refuses).
const DevKey = "98,101,118,121,103,97,112,45,100,101,118,45,107,101,121,45,110,111,116,45,102,111,114,45,112,114,111,100,117,99,116,110"

// DevProtocolID is the protocol id of `bevygap dev` unless one is given
// (the Rust matchmaker's default).
const DevProtocolID = 1982

// Options of `dev`.
type Options struct {
	F             *factory.Factory
	Listen        string
	EdgegapListen string
	NATSListen    string
	DataDir       string
	DeployDelay   time.Duration
	Sockets       int
	UnclaimedTTL  time.Duration
	EmptyTTL      time.Duration
	// GameServers builds the simulated game servers' hook (nil: simulated
	// deployments have no game server).
	GameServers func(nc *nats.Conn, names state.Names, key netcode.PrivateKey, protocolID uint64) func(context.Context, edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error)
}

// NewCmdDev builds `bevygap dev`.
func NewCmdDev(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{F: f}
	o.GameServers = func(nc *nats.Conn, names state.Names, key netcode.PrivateKey, pid uint64) func(context.Context, edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		return simserver.SimulatorHook(simserver.HookConfig{NC: nc, Names: names, PrivateKey: key, ProtocolID: pid, Logger: f.Logger})
	}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system locally: NATS, Edgegap simulator, game servers, matchmaker, gateway",
		Long: `Run the whole bevygap system on this machine, with no Edgegap account, no NATS
install and no game build: an embedded nats-server with JetStream, the Edgegap
simulator (whose deployments start simulated game servers on loopback UDP),
the matchmaker for app bevygap-spaceships version 1, and the gateway with the
webhook sink wired to the simulator's session webhooks.

Then, in another terminal: bevygap play --connect
Ctrl-C stops everything cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Sockets < 1 || o.Sockets > 10000 {
				return factory.UsageErrorf("--sockets must be from 1 to 10000")
			}
			if o.DeployDelay < 0 || o.UnclaimedTTL <= 0 {
				return factory.UsageErrorf("--deploy-delay must not be negative and --unclaimed-ttl must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return devRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Listen, "listen", "127.0.0.1:3000", "gateway address (game clients connect here)")
	fl.StringVar(&o.EdgegapListen, "edgegap-listen", "127.0.0.1:3100", "Edgegap simulator address")
	fl.StringVar(&o.NATSListen, "nats-listen", "127.0.0.1:4222", "embedded nats-server address")
	fl.StringVar(&o.DataDir, "data-dir", "", "JetStream store directory (default: a temporary one, removed on exit)")
	fl.DurationVar(&o.DeployDelay, "deploy-delay", time.Second, "time a simulated deployment takes to become ready")
	fl.IntVar(&o.Sockets, "sockets", edgegapsim.DefaultSockets, "seats per simulated deployment")
	fl.DurationVar(&o.UnclaimedTTL, "unclaimed-ttl", 62*time.Second, "delete a seat no client connected to after this long")
	fl.DurationVar(&o.EmptyTTL, "empty-ttl", 10*time.Second, "stop a simulated deployment this long after its last session")
	config.AddFlagAs(fl, "lightyear-private-key", "private-key")
	config.AddFlagAs(fl, "lightyear-protocol-id", "protocol-id")
	return cmd
}

func devRun(ctx context.Context, o *Options) error {
	cfg := o.F.Config()
	if cfg.String("lightyear-private-key") == "" {
		cfg.Set("lightyear-private-key", DevKey)
	}
	if cfg.Source("lightyear-protocol-id") == "default" {
		cfg.Set("lightyear-protocol-id", fmt.Sprint(DevProtocolID))
	}
	mc, err := serve.MatchmakerConfig(o.F)
	if err != nil {
		return err
	}
	key, pid := mc.PrivateKey, mc.ProtocolID
	mc.AppName, mc.AppVersion = edgegapsim.DefaultApp, edgegapsim.DefaultVersion
	mc.UnclaimedTTL = o.UnclaimedTTL
	mc.RequireCertDigest = o.GameServers != nil
	mc.WebhookURL = "" // the gateway's own webhook sink
	opts := devstack.Options{
		Logger:   o.F.Logger,
		Embedded: natsconn.EmbeddedOptions{Listen: o.NATSListen, StoreDir: o.DataDir},
		Simulator: &edgegapsim.Config{
			ListenAddr: o.EdgegapListen, DeployDelay: o.DeployDelay, Sockets: o.Sockets, EmptyTTL: o.EmptyTTL,
			RateLimits: &edgegapsim.RateLimits{Create: 1000, Status: 1000},
		},
		// The simulator is local: no need to ration calls to it.
		Edgegap:    edgegap.Config{Budget: unlimitedBudget()},
		Matchmaker: mc,
		BootCheck:  true,
		Gateway: &gateway.Config{
			CORSOrigins: []string{"*"}, AllowClientIPOverride: true,
			RatePerMinute: 0, MaxPendingPerIP: 100000, MaxPendingTotal: 100000,
		},
		GatewayAddr: o.Listen, WebhookAddr: o.Listen,
	}
	if o.GameServers != nil {
		opts.GameServers = func(nc *nats.Conn, names state.Names) func(context.Context, edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
			return o.GameServers(nc, names, key, pid)
		}
	}
	start := time.Now()
	st, err := devstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	banner(o, st, key, pid, time.Since(start))
	return st.Wait(ctx)
}

func banner(o *Options, st *devstack.Stack, key netcode.PrivateKey, pid uint64, took time.Duration) {
	io := o.F.IOStreams
	th := output.NewTheme(io)
	ws := "ws" + st.Gateway.URL()[len("http"):] + "/matchmaker/ws"
	lines := []string{
		th.Header.Render("bevygap dev") + th.Muted.Render(fmt.Sprintf("  (ready in %s)", took.Round(time.Millisecond))),
		"",
		th.Bold.Render("gateway    ") + ws,
		th.Bold.Render("edgegap    ") + st.Sim.URL() + "   API key: " + st.Sim.APIKey(),
		th.Bold.Render("nats       ") + st.NATSURL,
		th.Bold.Render("game       ") + fmt.Sprintf("bevygap-spaceships version 1, protocol id %d, key fingerprint %s", pid, key.Fingerprint()),
		"",
		th.Bold.Render("Next, in another terminal:"),
		"  bevygap play --connect",
		fmt.Sprintf("  EDGEGAP_API_KEY='%s' bevygap sessions ls --edgegap-url %s", st.Sim.APIKey(), st.Sim.URL()),
		fmt.Sprintf("  NATS_HOST=%s NATS_INSECURE=1 bevygap kv watch", trimScheme(st.NATSURL)),
		"",
		th.Muted.Render("Ctrl-C stops everything."),
	}
	for _, l := range lines {
		fmt.Fprintln(io.ErrOut, l)
	}
}

func unlimitedBudget() *edgegap.Budget {
	b, _ := edgegap.NewBudget(edgegap.BudgetConfig{}) // the zero config cannot fail
	return b
}

func trimScheme(u string) string {
	if i := len("nats://"); len(u) > i && u[:i] == "nats://" {
		return u[i:]
	}
	return u
}
