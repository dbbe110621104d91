package simserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

// HookConfig configures SimulatorHook.
type HookConfig struct {
	// NC is a NATS connection all simulated game servers share. When nil,
	// each one connects with NATS, as a real game server would, and closes
	// its connection when it stops.
	NC   *nats.Conn
	NATS *natsconn.Options
	// Names are the NATS names (namespace).
	Names state.Names
	// PrivateKey and ProtocolID check connect tokens, as the matchmaker
	// mints them.
	PrivateKey netcode.PrivateKey
	ProtocolID uint64
	// PortName is the deployment port the game server serves. Default:
	// the only port, else the one with the smallest name.
	PortName string
	// MaxClients bounds each game server's clients. Default: the
	// deployment's sockets.
	MaxClients int
	// HTTPClient fetches the deployment context. Default: each agent's own.
	HTTPClient *http.Client
	// Now is the game servers' clock. Default time.Now.
	Now func() time.Time
	// Logger receives the game servers' logs (with a request_id
	// attribute). Default: discard.
	Logger *slog.Logger
}

// SimulatorHook returns an edgegapsim Config.OnDeploy hook that starts an
// in-process simulated game server for every simulated deployment: it binds
// UDP on the deployment's public IP (port 0), starts an Agent from the
// deployment's ARBITRIUM_* environment (its context URL points at the
// simulator) with the digest of a fresh self-signed certificate, and reports
// the bound UDP port as the deployment's game port, so connect tokens the
// matchmaker mints for public_ip:external reach it. The deployment becomes
// ready only after the agent published the certificate digest and the
// context. Stopping the deployment closes the game server (its clients are
// disconnected and their active_connections entries deleted) and the agent.
func SimulatorHook(cfg HookConfig) func(context.Context, edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, info edgegapsim.DeploymentInfo) (h edgegapsim.DeployHandle, err error) {
		log := log.With("request_id", info.RequestID)
		var cleanup []func()
		stop := func() {
			for _, f := range slices.Backward(cleanup) {
				f()
			}
		}
		defer func() {
			if err != nil {
				stop()
				log.ErrorContext(ctx, "simulated game server failed to start", "err", err)
			}
		}()

		env, err := gameserver.EnvFromMap(info.Env)
		if err != nil {
			return h, err
		}
		portName, err := hookPort(cfg.PortName, info)
		if err != nil {
			return h, err
		}
		nc := cfg.NC
		if nc == nil {
			if cfg.NATS == nil {
				return h, errors.New("simulated game server: no NATS connection or options")
			}
			o := *cfg.NATS
			if o.Name == "" {
				o.Name = "bevygap_server_plugin"
			}
			if nc, err = natsconn.Connect(ctx, o); err != nil {
				return h, err
			}
			cleanup = append(cleanup, nc.Close)
		}
		store, err := state.Open(ctx, nc, cfg.Names)
		if err != nil {
			return h, err
		}
		cert, err := gameserver.SelfSignedCert(info.FQDN, info.PublicIP)
		if err != nil {
			return h, err
		}
		maxClients := cfg.MaxClients
		if maxClients <= 0 {
			maxClients = info.Sockets
		}
		agent, err := gameserver.NewAgent(gameserver.AgentConfig{
			Store: store, NC: nc, Env: env, HTTPClient: cfg.HTTPClient,
			CertDigest: cert.Digest, Logger: log,
		})
		if err != nil {
			return h, err
		}
		cleanup = append(cleanup, agent.Close)
		srv, err := Listen(ctx, ServerConfig{
			Addr:       net.JoinHostPort(info.PublicIP, "0"),
			PrivateKey: cfg.PrivateKey, ProtocolID: cfg.ProtocolID,
			Admitter: agent, MaxClients: maxClients, Now: cfg.Now, Logger: log,
		})
		if err != nil {
			return h, err
		}
		cleanup = append(cleanup, func() { _ = srv.Close() })
		if info.SetPorts != nil { // the context the agent fetches shows the bound port
			info.SetPorts(map[string]int{portName: int(srv.Addr().Port())})
		}
		if err = agent.Start(ctx); err != nil {
			return h, err
		}
		log.InfoContext(ctx, "simulated game server ready", "addr", srv.Addr().String(), "port_name", portName, "cert_digest", cert.Digest)
		return edgegapsim.DeployHandle{
			Ports: map[string]int{portName: int(srv.Addr().Port())},
			Stop:  stop,
		}, nil
	}
}

func hookPort(name string, info edgegapsim.DeploymentInfo) (string, error) {
	if name != "" {
		return name, nil
	}
	if len(info.Ports) == 0 {
		return "", fmt.Errorf("simulated game server: deployment %s has no ports", info.RequestID)
	}
	names := make([]string, 0, len(info.Ports))
	for k := range info.Ports {
		names = append(names, k)
	}
	slices.Sort(names)
	return names[0], nil
}
