// Package app is bevygap's composition root: it builds every domain config
// from settings.Settings (compose.go) and wires the parts into one process
// (Start): NATS (a server to connect to, or an embedded one), the Edgegap
// API (real, or the in-process simulator with simulated game servers), the
// matchmaker and the gateway with its webhook sink. It holds the dev preset.
// `bevygap serve` and `bevygap dev` are thin commands over it, and the
// end-to-end tests run it with the same preset.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bevygap/bevygap/internal/gateway"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

// Options selects and configures the parts. Zero values of the part
// configs are filled in by Start (connections, store, logger, registry).
type Options struct {
	Logger *slog.Logger
	Names  state.Names
	// Replicas of bevygap's own buckets and streams (nats-replicas).
	Replicas int

	// NATS is the server to connect to; nil starts an embedded one with
	// Embedded (a temporary store directory when StoreDir is empty).
	NATS     *natsconn.Options
	Embedded natsconn.EmbeddedOptions

	// Edgegap configures the API client. With Simulator set, the simulator
	// runs in-process and BaseURL and APIKey point at it.
	Edgegap   edgegap.Config
	Simulator *edgegapsim.Config
	// GameServers, with Simulator, builds the hook that gives each
	// simulated deployment a game server (simulated, or a command), once
	// NATS runs.
	GameServers func(GameServerDeps) (DeployHook, error)
	// GameServerOutput receives the output of game-server commands.
	GameServerOutput io.Writer

	// Matchmaker runs the matchmaker when non-nil. WebhookURL empty and a
	// webhook sink running here: the sink's URL is used.
	Matchmaker *matchmaker.Config
	BootCheck  bool
	// Gateway runs the gateway when non-nil, listening on GatewayAddr (and
	// the webhook sink on WebhookAddr when set and different).
	Gateway                  *gateway.Config
	GatewayAddr, WebhookAddr string
	// MetricsAddr, when set, serves /metrics for every part.
	MetricsAddr string
	// ShutdownTimeout bounds the graceful shutdown. Default 15s.
	ShutdownTimeout time.Duration
}

// DeployHook is an edgegapsim Config.OnDeploy hook.
type DeployHook = func(context.Context, edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error)

// GameServerDeps is what a game-server hook gets from the running stack.
type GameServerDeps struct {
	NC    *nats.Conn
	Names state.Names
	// NATSURL is the URL of the NATS server for other processes ("" when
	// it is in-process only).
	NATSURL string
	// Output is Options.GameServerOutput.
	Output io.Writer
}

// Stack is a running set of parts.
type Stack struct {
	Log      *slog.Logger
	NC       *nats.Conn
	Store    *state.Store
	Embedded *natsconn.Embedded
	Sim      *edgegapsim.Server
	Edgegap  *edgegap.Client
	Gateway  *gateway.Server
	MM       *matchmaker.Matchmaker
	Registry *prometheus.Registry
	// NATSURL is the URL game servers and CLI commands use ("" when the
	// embedded server runs in-process only).
	NATSURL    string
	MetricsURL string
	// Allocator is the matchmaker's allocator, resolved at start.
	Allocator string

	tmpDir     string
	metricsSrv *http.Server
	mmCancel   context.CancelFunc
	mmDone     chan error
	errc       chan error
	wg         sync.WaitGroup
	closeOnce  sync.Once
	shutdownTO time.Duration
}

// Start starts the selected parts in dependency order: NATS, the gateway
// (its webhook URL goes to the matchmaker), the Edgegap simulator, the
// matchmaker, then /metrics. On error everything already started is stopped.
func Start(ctx context.Context, o Options) (st *Stack, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stack{Log: log, Registry: prometheus.NewRegistry(), errc: make(chan error, 4), shutdownTO: o.ShutdownTimeout}
	if s.shutdownTO <= 0 {
		s.shutdownTO = 15 * time.Second
	}
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	for _, step := range []func(context.Context, *Options) error{s.startNATS, s.startGateway, s.startSimulator, s.startMatchmaker, s.startMetrics} {
		if err = step(ctx, &o); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// startNATS connects to the configured server or starts the embedded one,
// then opens the buckets.
func (s *Stack) startNATS(ctx context.Context, o *Options) (err error) {
	if o.NATS != nil {
		if s.NC, err = natsconn.Connect(ctx, *o.NATS); err != nil {
			return err
		}
		s.NATSURL = o.NATS.Host
	} else {
		eo := o.Embedded
		if eo.StoreDir == "" {
			if s.tmpDir, err = os.MkdirTemp("", "bevygap-nats-"); err != nil {
				return err
			}
			eo.StoreDir = s.tmpDir
		}
		if eo.Logger == nil {
			eo.Logger = s.Log
		}
		if s.Embedded, err = natsconn.StartEmbedded(eo); err != nil {
			return err
		}
		s.NATSURL = s.Embedded.ClientURL()
		if s.NC, err = s.Embedded.Connect("bevygap"); err != nil {
			return err
		}
		s.Log.Info("embedded nats-server started", "url", s.NATSURL, "store_dir", eo.StoreDir)
	}
	s.Store, err = state.Open(ctx, s.NC, o.Names, state.Replicas(max(o.Replicas, 1)))
	return err
}

func (s *Stack) startGateway(_ context.Context, o *Options) (err error) {
	if o.Gateway == nil {
		return nil
	}
	gc := *o.Gateway
	gc.NATS, gc.Names, gc.Registry = s.NC, o.Names, s.Registry
	if gc.Logger == nil {
		gc.Logger = s.Log
	}
	if s.Gateway, err = gateway.NewServer(gc); err != nil {
		return err
	}
	s.Gateway.Addr = o.GatewayAddr
	if o.WebhookAddr != o.GatewayAddr {
		s.Gateway.WebhookAddr = o.WebhookAddr
	}
	return s.Gateway.Open()
}

// startSimulator starts the in-process Edgegap simulator, attaching the
// simulated game servers, and points the Edgegap client at it.
func (s *Stack) startSimulator(ctx context.Context, o *Options) (err error) {
	if o.Simulator == nil {
		return nil
	}
	sc := *o.Simulator
	if sc.Logger == nil {
		sc.Logger = s.Log.With("component", "edgegapsim")
	}
	if o.GameServers != nil {
		if sc.OnDeploy, err = o.GameServers(GameServerDeps{NC: s.NC, Names: o.Names, NATSURL: s.NATSURL, Output: o.GameServerOutput}); err != nil {
			return err
		}
	}
	if s.Sim, err = edgegapsim.Start(ctx, sc); err != nil {
		return err
	}
	o.Edgegap.BaseURL = s.Sim.URL()
	o.Edgegap.APIKey = s.Sim.APIKey()
	s.Log.Info("edgegap simulator started", "url", s.Sim.URL())
	return nil
}

func (s *Stack) startMatchmaker(ctx context.Context, o *Options) (err error) {
	if o.Matchmaker == nil {
		return nil
	}
	ec := o.Edgegap
	if ec.Logger == nil {
		ec.Logger = s.Log
	}
	ec.OnCall = matchmaker.OnEdgegapCall(s.Registry)
	if s.Edgegap, err = edgegap.New(ec); err != nil {
		return fmt.Errorf("edgegap client: %w", err)
	}
	mc := *o.Matchmaker
	mc.NC, mc.Store, mc.Edgegap, mc.Registry = s.NC, s.Store, s.Edgegap, s.Registry
	if mc.Logger == nil {
		mc.Logger = s.Log
	}
	mc.WebhookURL = s.ownWebhookURL(o, mc.WebhookURL)
	if mc.Fleet.WebhookBase == "" {
		mc.Fleet.WebhookBase = s.ownHookBase(o)
	}
	alloc, why, err := matchmaker.ResolveAllocator(ctx, s.Edgegap, mc.Allocator, mc.AppName, mc.AppVersion)
	if err != nil {
		return err
	}
	mc.Allocator, s.Allocator = alloc, alloc
	s.Log.Info("allocator", "allocator", alloc, "why", why)
	if s.MM, err = matchmaker.New(mc); err != nil {
		return err
	}
	if o.BootCheck {
		if err = s.MM.BootCheck(ctx); err != nil {
			return err
		}
	}
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.mmCancel, s.mmDone = cancel, make(chan error, 1)
	go func() { s.mmDone <- s.MM.Run(mctx) }()
	return s.waitMatchmaker(ctx)
}

// ownWebhookURL wires the webhook to our own sink only for the in-process
// simulator: real Edgegap needs a public URL, which only the operator knows
// (session-webhook-url).
func (s *Stack) ownWebhookURL(o *Options, configured string) string {
	base := s.ownHookBase(o)
	if configured != "" || base == "" {
		return configured
	}
	u := base + "/session"
	if o.Gateway.WebhookSecret != "" {
		u += "?secret=" + url.QueryEscape(o.Gateway.WebhookSecret)
	}
	return u
}

// ownHookBase is this process's webhook sink (…/hook) when the simulator
// runs in-process and can reach it; "" otherwise.
func (s *Stack) ownHookBase(o *Options) string {
	if s.Sim == nil || s.Gateway == nil || o.Gateway.Serve&gateway.ServeWebhook == 0 {
		return ""
	}
	return s.Gateway.WebhookURL() + "/hook"
}

func (s *Stack) startMetrics(_ context.Context, o *Options) error {
	if o.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", o.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listen on %s: %w", o.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	s.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.MetricsURL = "http://" + ln.Addr().String() + "/metrics"
	s.wg.Go(func() {
		if err := s.metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errc <- fmt.Errorf("metrics server: %w", err)
		}
	})
	return nil
}

// waitMatchmaker returns once the matchmaker serves requests, or its Run
// failed.
func (s *Stack) waitMatchmaker(ctx context.Context) error {
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-s.MM.Ready():
		return nil
	case err := <-s.mmDone:
		s.mmDone <- err
		if err == nil {
			err = errors.New("matchmaker stopped at once")
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("matchmaker did not start within 10s")
	}
}

// Wait blocks until ctx ends or a part fails, then shuts everything down.
// It returns the failure, or nil after an interrupt.
func (s *Stack) Wait(ctx context.Context) error {
	var err error
	mmDone := s.mmDone
	if mmDone == nil {
		mmDone = make(chan error)
	}
	select {
	case <-ctx.Done():
	case err = <-s.errc:
	case err = <-mmDone:
		if err == nil {
			err = errors.New("matchmaker stopped")
		}
		mmDone <- nil
	}
	s.Close()
	return err
}

// Close shuts down in reverse order: the gateway stops accepting and tells
// waiting clients it is going away, the matchmaker finishes or abandons its
// requests, then the simulator and NATS stop. Safe to call more than once.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.shutdownTO)
		defer cancel()
		if s.Gateway != nil {
			if err := s.Gateway.Shutdown(ctx); err != nil {
				s.Log.Warn("gateway shutdown", "err", err)
			}
		}
		if s.mmCancel != nil {
			s.mmCancel()
			select {
			case err := <-s.mmDone:
				if err != nil {
					s.Log.Warn("matchmaker stopped with an error", "err", err)
				}
			case <-ctx.Done():
				s.Log.Warn("matchmaker did not stop in time")
			}
		}
		if s.metricsSrv != nil {
			_ = s.metricsSrv.Shutdown(ctx)
		}
		s.wg.Wait()
		if s.Sim != nil {
			_ = s.Sim.Close()
		}
		if s.Edgegap != nil {
			s.Edgegap.CloseIdleConnections()
		}
		if s.NC != nil {
			_ = s.NC.Drain()
			for s.NC.IsDraining() && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			s.NC.Close()
		}
		if s.Embedded != nil {
			s.Embedded.Shutdown()
		}
		if s.tmpDir != "" {
			_ = os.RemoveAll(s.tmpDir)
		}
	})
}
