// Package edgegapcmd implements `bevygap edgegap`: tools around the Edgegap
// API, starting with a local simulator of it.
package edgegapcmd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// NewCmdEdgegap builds `bevygap edgegap`.
func NewCmdEdgegap(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "edgegap <command>",
		Example: `  bevygap edgegap simulate --listen 127.0.0.1:3100`,
		Short:   "Edgegap tools: a local simulator of the API",
	}
	cmd.AddCommand(NewCmdSimulate(f, nil))
	return cmd
}

// SimulateOptions of `edgegap simulate`.
type SimulateOptions struct {
	IO            *iostreams.IOStreams
	Format        func() output.Format // read when the command runs
	Logger        func() *slog.Logger
	Listen        string
	App, Version  string
	DeployDelay   time.Duration
	Sockets       int
	APIKey        string
	ErrorRate     float64
	RateLimitRate float64
	Latency       time.Duration
	CreateRate    float64
	StatusRate    float64
	Seed          uint64
}

// NewCmdSimulate builds `edgegap simulate`.
func NewCmdSimulate(f *factory.Factory, runF func(context.Context, *SimulateOptions) error) *cobra.Command {
	o := &SimulateOptions{IO: f.IOStreams, Format: func() output.Format { return f.Format }, Logger: func() *slog.Logger { return f.Logger }}
	cmd := &cobra.Command{
		Use: "simulate",
		Example: `  bevygap edgegap simulate
  bevygap edgegap simulate --app-name my-game --app-version v3 --error-rate 0.1 -o json`,
		Short: "Run a local Edgegap API simulator until interrupted",
		Long: `Run a simulator of the Edgegap API on a local address: sessions, apps and
versions, deployments with seats that become ready after --deploy-delay, the
context endpoint, session webhooks, Edgegap's error bodies and rate limits,
and optional fault injection. Point bevygap at it with
--edgegap-url http://127.0.0.1:3100 and EDGEGAP_API_KEY='token bevygap-dev'.
Counters: GET /_sim/stats. Faults per endpoint (error rate and status,
latency, capacity and ghost-create rates), at any time:
PUT /_sim/faults/{endpoint} with e.g. {"error_rate":0.1,"ghost_rate":0.1}
("*" sets every endpoint, {} clears one; GET /_sim/faults lists them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.ErrorRate < 0 || o.ErrorRate > 1 || o.RateLimitRate < 0 || o.RateLimitRate > 1 {
				return factory.UsageErrorf("--error-rate and --rate-limit-rate are probabilities from 0 to 1")
			}
			if o.Sockets < 1 || o.Sockets > 10000 {
				return factory.UsageErrorf("--sockets must be from 1 to 10000")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return simulateRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "app" {
			return "app-name" // the name of this setting everywhere else
		}
		return pflag.NormalizedName(name)
	})
	fl.StringVar(&o.Listen, "listen", "127.0.0.1:3100", "address to serve the API on")
	fl.StringVar(&o.App, "app-name", edgegapsim.DefaultApp, "application the simulator knows (--app is the old name)")
	fl.StringVar(&o.Version, "app-version", edgegapsim.DefaultVersion, "version of that application")
	fl.DurationVar(&o.DeployDelay, "deploy-delay", 2*time.Second, "time a new deployment takes to become ready")
	fl.IntVar(&o.Sockets, "sockets", edgegapsim.DefaultSockets, "seats per deployment")
	fl.StringVar(&o.APIKey, "api-key", edgegapsim.DefaultAPIKey, "API key the simulator accepts (others get 401)")
	fl.Float64Var(&o.ErrorRate, "error-rate", 0, "probability of a 503 answer")
	fl.Float64Var(&o.RateLimitRate, "rate-limit-rate", 0, "probability of a 429 answer with Retry-After")
	fl.DurationVar(&o.Latency, "latency", 0, "added latency per request")
	fl.Float64Var(&o.CreateRate, "create-rate", 40, "session creations per second before 429 (0 = unlimited)")
	fl.Float64Var(&o.StatusRate, "status-rate", 10, "status calls per second before 429 (0 = unlimited)")
	fl.Uint64Var(&o.Seed, "seed", 0, "random seed for reproducible ids and faults (0 = random)")
	return cmd
}

func simulateRun(ctx context.Context, o *SimulateOptions) error {
	srv, err := edgegapsim.Start(ctx, edgegapsim.Config{
		ListenAddr: o.Listen, APIKey: o.APIKey, DeployDelay: o.DeployDelay, Sockets: o.Sockets, Seed: o.Seed,
		Apps:       []edgegapsim.App{{Name: o.App, Versions: []edgegapsim.Version{{Name: o.Version}}}},
		Faults:     edgegapsim.Faults{ErrorRate: o.ErrorRate, RateLimitRate: o.RateLimitRate, Latency: o.Latency},
		RateLimits: &edgegapsim.RateLimits{Create: o.CreateRate, Status: o.StatusRate},
		Logger:     o.Logger(),
	})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	io := o.IO
	if o.Format() == output.JSON {
		_ = output.WriteJSON(io.Out, map[string]string{"url": srv.URL(), "api_key": o.APIKey, "app": o.App, "app_version": o.Version})
	} else {
		th := output.NewTheme(o.IO)
		fmt.Fprintf(io.Out, "%s %s\n%s %s\n%s %s version %s\n", th.Bold.Render("Edgegap simulator:"), srv.URL(),
			th.Bold.Render("API key:          "), o.APIKey, th.Bold.Render("App:              "), o.App, o.Version)
		fmt.Fprintf(io.ErrOut, "\nTry: EDGEGAP_API_KEY='%s' bevygap sessions ls --edgegap-url %s\nCtrl-C stops it.\n", o.APIKey, srv.URL())
	}
	<-ctx.Done()
	return nil
}
