package simserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync/atomic"
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
	// OnDeny is each game server's ServerConfig.OnDeny.
	OnDeny func(from netip.AddrPort, r DenyReason)
	// OnReady, when set, is called with each game server once its
	// deployment is ready.
	OnReady func(GameServer)
}

// GameServer describes a simulated game server SimulatorHook started.
type GameServer struct {
	RequestID string
	// Addr is the UDP address it serves (its public address).
	Addr netip.AddrPort
	// Cert is the certificate whose digest it published in cert_digests.
	Cert *gameserver.Cert
}

// LoopbackIPs hands out loopback addresses for simulated game servers,
// 127.0.0.2 upwards (127.0.0.1 is left to everything else). The zero value
// is ready; bevygap dev's game-server commands (internal/devserver) use it
// too.
type LoopbackIPs struct{ n atomic.Uint32 }

// hosts is how many addresses LoopbackIPs cycles through: 127.0.0.2 to
// 127.255.255.254.
const loopbackHosts = 1<<24 - 3

// Next returns the next address.
func (l *LoopbackIPs) Next() netip.Addr {
	h := 2 + (l.n.Add(1)-1)%loopbackHosts
	return netip.AddrFrom4([4]byte{127, byte(h >> 16), byte(h >> 8), byte(h)})
}

// SimulatorHook returns an edgegapsim Config.OnDeploy hook that starts an
// in-process simulated game server for every simulated deployment: it binds
// UDP port 0 on an address of the deployment's own (when the simulator's
// public IP is a loopback address, each deployment gets the next of
// 127.0.0.2, 127.0.0.3, ..., as deployments on Edgegap have distinct
// public IPs, so that their cert_digests entries are distinct; where such
// an address cannot be bound, the simulator's public IP, with a warning),
// reports it as the deployment's public IP, starts an Agent from the
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
	var ips LoopbackIPs
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
		nc, closeNC, err := hookNATS(ctx, cfg)
		if err != nil {
			return h, err
		}
		cleanup = append(cleanup, closeNC)
		store, err := state.Open(ctx, nc, cfg.Names)
		if err != nil {
			return h, err
		}
		conn, ip, err := BindDeployment(ctx, log, &ips, info)
		if err != nil {
			return h, err
		}
		served := false // then the server owns the socket
		defer func() {
			if !served {
				conn.Close()
			}
		}()
		if env.PublicIP = ip; ip.String() != info.PublicIP && info.SetPublicIP != nil {
			info.SetPublicIP(ip.String()) // the context the agent fetches shows it
		}
		cert, err := gameserver.SelfSignedCert(info.FQDN, ip.String())
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
		served = true // serve closes the socket when it fails
		srv, err := serve(ctx, conn, ServerConfig{
			PrivateKey: cfg.PrivateKey, ProtocolID: cfg.ProtocolID,
			Admitter: agent, MaxClients: maxClients, Now: cfg.Now, Logger: log, OnDeny: cfg.OnDeny,
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
		if cfg.OnReady != nil {
			cfg.OnReady(GameServer{RequestID: info.RequestID, Addr: srv.Addr(), Cert: cert})
		}
		return edgegapsim.DeployHandle{
			Ports: map[string]int{portName: int(srv.Addr().Port())},
			Stop:  stop,
		}, nil
	}
}

// hookNATS returns the NATS connection of a simulated game server and what
// closes it (nothing when it is shared).
func hookNATS(ctx context.Context, cfg HookConfig) (*nats.Conn, func(), error) {
	if cfg.NC != nil {
		return cfg.NC, func() {}, nil
	}
	if cfg.NATS == nil {
		return nil, nil, errors.New("simulated game server: no NATS connection or options")
	}
	o := *cfg.NATS
	if o.Name == "" {
		o.Name = "bevygap_server_plugin"
	}
	nc, err := natsconn.Connect(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	return nc, nc.Close, nil
}

// BindDeployment binds UDP port 0 for a deployment's game server: on a
// loopback address of its own (ips.Next) when the deployment's public IP is
// a loopback address, else (or when that fails, with a warning) on the
// public IP. It returns the socket and the IP it is bound to.
func BindDeployment(ctx context.Context, log *slog.Logger, ips *LoopbackIPs, info edgegapsim.DeploymentInfo) (*net.UDPConn, netip.Addr, error) {
	if a, err := netip.ParseAddr(info.PublicIP); err == nil && a.IsLoopback() {
		own := ips.Next()
		conn, err := bindUDP(ctx, netip.AddrPortFrom(own, 0).String())
		if err == nil {
			return conn, own, nil
		}
		log.WarnContext(ctx, "simulated game server: cannot bind an address of its own, sharing the simulator's public IP; cert_digests entries of deployments will overwrite each other",
			"addr", own.String(), "public_ip", info.PublicIP, "err", err)
	}
	conn, err := bindUDP(ctx, net.JoinHostPort(info.PublicIP, "0"))
	if err != nil {
		return nil, netip.Addr{}, err
	}
	return conn, conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
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
