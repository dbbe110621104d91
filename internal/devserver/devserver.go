// Package devserver runs a developer's own game server under `bevygap dev`:
// every simulated Edgegap deployment starts the game-server command as a
// child process with the environment Edgegap would give it, and stops it
// when the deployment stops.
//
// The command is a shell string, run with `sh -c`, so that it can be
// `cargo run -p server`, `./target/debug/server --headless` or anything a
// terminal accepts, and can use the variables below ($ARBITRIUM_PUBLIC_IP,
// ...). Its environment is the parent's (PATH, HOME, CARGO_*, ...), without
// any ARBITRIUM_*, NATS_* or BEVYGAP_NATS_* variable of the parent's, plus:
//
//   - the eight ARBITRIUM_* variables (gameserver.EnvNames), pointing at the
//     simulator's context and self-stop endpoints; ARBITRIUM_PUBLIC_IP is a
//     loopback address of the deployment's own (127.0.0.2, 127.0.0.3, ...),
//     and ARBITRIUM_PORTS_MAPPING maps the game port to a free UDP port of
//     that address, with internal = external (there is no container NAT on
//     one machine: the server binds the port clients reach);
//   - BEVYGAP_GAME_ADDR, that address and port (ip:port): where to bind;
//   - NATS_HOST, and NATS_INSECURE=1 when the NATS server has no TLS;
//     NATS_USER and NATS_PASSWORD when it has users; BEVYGAP_NATS_NAMESPACE
//     when a namespace is set;
//   - LIGHTYEAR_PRIVATE_KEY (the Rust "1,2,3,..." format) and
//     BEVYGAP_LIGHTYEAR_PROTOCOL_ID, the key and protocol id the matchmaker
//     mints connect tokens with (on Edgegap you would set them as the app
//     version's environment).
//
// When the NATS server uses TLS, the command gets the process arguments
// Edgegap gives a version with a CA (bevygap ca-args): `--ca_contents
// '<PEM>'`. They are the shell's positional parameters, appended to the
// command, unless the command says itself where they go with "$@".
//
// The deployment becomes ready once the game server published its
// deployment context on gameserver.contexts (the last step of the Rust
// plugin's and the Go agent's boot, after the certificate digest), so a
// seat is never handed out before the server runs. A command that exits
// before that, or does not get there within ReadyTimeout, fails the
// deployment; one that exits later puts it in error (DeploymentInfo.Fail).
// Its standard output and error are copied to Output line by line, each
// prefixed with the deployment's request id. When the deployment stops, the
// command's process group gets SIGTERM, then SIGKILL after Grace.
package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/gameserver/caarg"
	"github.com/bevygap/bevygap/pkg/state"
)

// Names of the variables devserver adds to Edgegap's.
const (
	EnvGameAddr   = "BEVYGAP_GAME_ADDR"
	EnvPrivateKey = "LIGHTYEAR_PRIVATE_KEY"
	EnvProtocolID = "BEVYGAP_LIGHTYEAR_PROTOCOL_ID"
	EnvNamespace  = "BEVYGAP_NATS_NAMESPACE"
)

// Defaults for the zero values of Config.
const (
	DefaultGrace        = 5 * time.Second
	DefaultReadyTimeout = 60 * time.Second
)

// Config configures Hook.
type Config struct {
	// Command is the shell command line (required).
	Command string
	// NC and Names: the hook waits on NC for the game server's context on
	// Names.GameServerContexts().
	NC    *nats.Conn
	Names state.Names
	// NATSHost is NATS_HOST for the game server: host:port (required).
	NATSHost string
	// NATSCA, when set, is the PEM root CA of the NATS server's TLS
	// certificate, passed as --ca_contents; unset means no TLS
	// (NATS_INSECURE=1).
	NATSCA               string
	NATSUser, NATSPasswd string
	// PrivateKey (the Rust "1,2,3,..." format) and ProtocolID go to
	// LIGHTYEAR_PRIVATE_KEY and BEVYGAP_LIGHTYEAR_PROTOCOL_ID.
	PrivateKey string
	ProtocolID uint64
	// PortName is the deployment port the game server serves. Default: the
	// only port, else the one with the smallest name.
	PortName string
	// ReadyTimeout bounds the wait for the context. Default
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL. Default DefaultGrace.
	Grace time.Duration
	// Output receives the command's output lines, prefixed. Default: discard.
	Output io.Writer
	// Logger receives the process's life (started, ready, exited).
	// Default: discard.
	Logger *slog.Logger
	// Environ is the parent environment the child inherits. Default
	// os.Environ.
	Environ func() []string
}

// Hook returns an edgegapsim Config.OnDeploy hook that runs cfg.Command for
// each deployment (see the package documentation).
func Hook(cfg Config) (func(context.Context, edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error), error) {
	if strings.TrimSpace(cfg.Command) == "" {
		return nil, errors.New("gameserver-cmd is empty")
	}
	if cfg.NC == nil {
		return nil, errors.New("game-server command: no NATS connection")
	}
	if cfg.NATSHost == "" {
		return nil, errors.New("gameserver-cmd needs the embedded NATS server on TCP: set nats-listen (e.g. 127.0.0.1:4222)")
	}
	var caArgs []string
	if cfg.NATSCA != "" {
		if _, err := caarg.Encode([]byte(cfg.NATSCA)); err != nil {
			return nil, fmt.Errorf("NATS CA for game servers: %w", err)
		}
		caArgs = []string{caarg.Flag, strings.ReplaceAll(strings.TrimSpace(cfg.NATSCA), "\n", "")}
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Environ == nil {
		cfg.Environ = os.Environ
	}
	h := &hook{cfg: cfg, caArgs: caArgs, out: &lockedWriter{w: cfg.Output}}
	return h.deploy, nil
}

type hook struct {
	cfg    Config
	caArgs []string
	ips    simserver.LoopbackIPs
	out    *lockedWriter
}

func (h *hook) deploy(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
	log := h.cfg.Logger.With("request_id", info.RequestID)
	portName, err := portOf(h.cfg.PortName, info)
	if err != nil {
		return edgegapsim.DeployHandle{}, err
	}
	conn, ip, err := simserver.BindDeployment(ctx, log, &h.ips, info)
	if err != nil {
		return edgegapsim.DeployHandle{}, fmt.Errorf("game server address: %w", err)
	}
	addr := netip.AddrPortFrom(ip, conn.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port())
	_ = conn.Close() // the game server binds it; the address is its own, so nobody else takes it
	if info.SetPublicIP != nil {
		info.SetPublicIP(ip.String())
	}
	ports := map[string]int{portName: int(addr.Port())}
	if info.SetPorts != nil {
		info.SetPorts(ports)
	}
	env, err := h.environ(info, portName, addr)
	if err != nil {
		return edgegapsim.DeployHandle{}, err
	}
	// Subscribe before starting: the context is published once.
	contexts := make(chan *nats.Msg, 16)
	sub, err := h.cfg.NC.ChanSubscribe(h.cfg.Names.GameServerContexts(), contexts)
	if err != nil {
		return edgegapsim.DeployHandle{}, err
	}
	defer func() { _ = sub.Unsubscribe() }()

	p, err := startProcess(h.cfg.Command, h.caArgs, env, newPrefixWriter(h.out, "["+info.RequestID+"] "), h.cfg.Grace)
	if err != nil {
		return edgegapsim.DeployHandle{}, fmt.Errorf("gameserver-cmd: %w", err)
	}
	log.InfoContext(ctx, "game server command started", "pid", p.pid(), "addr", addr.String())
	if err := h.waitReady(ctx, p, info.RequestID, contexts); err != nil {
		p.stop()
		log.ErrorContext(ctx, "game server command failed to start", "err", err)
		return edgegapsim.DeployHandle{}, err
	}
	log.InfoContext(ctx, "game server ready", "addr", addr.String())
	watch := p.watch(func(exitErr error) {
		err := fmt.Errorf("game server command exited: %s", describeExit(exitErr))
		log.Error("game server command exited while its deployment runs: the deployment is in error", "err", err)
		if info.Fail != nil {
			info.Fail(err)
		}
	})
	return edgegapsim.DeployHandle{Ports: ports, Stop: func() {
		p.stop()
		watch()
		log.Info("game server command stopped")
	}}, nil
}

// waitReady returns once the game server published its context, or why not.
func (h *hook) waitReady(ctx context.Context, p *process, requestID string, contexts <-chan *nats.Msg) error {
	t := time.NewTimer(h.cfg.ReadyTimeout)
	defer t.Stop()
	for {
		select {
		case m := <-contexts:
			var c struct {
				RequestID string `json:"request_id"`
			}
			if json.Unmarshal(m.Data, &c) == nil && c.RequestID == requestID {
				return nil
			}
		case <-p.done:
			return fmt.Errorf("game server command exited before its deployment was ready: %s", describeExit(p.err))
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("game server command did not publish its deployment context (gameserver.contexts) within %s: does it run bevygap_server_plugin with the ARBITRIUM_* and NATS_* environment?", h.cfg.ReadyTimeout)
		}
	}
}

// environ is the child's environment: the parent's without its Edgegap and
// NATS variables, then the deployment's.
func (h *hook) environ(info edgegapsim.DeploymentInfo, portName string, addr netip.AddrPort) ([]string, error) {
	ours := make(map[string]string, len(info.Env)+10)
	for k, v := range info.Env {
		ours[k] = v
	}
	pm := make(map[string]edgegapsim.Port, len(info.Ports)+1)
	for name, p := range info.Ports {
		pm[name] = p
	}
	game, ok := pm[portName]
	if !ok {
		game = edgegapsim.Port{Name: portName, Protocol: "UDP"}
	}
	game.Internal, game.External = int(addr.Port()), int(addr.Port())
	pm[portName] = game
	b, err := json.Marshal(struct {
		Ports map[string]edgegapsim.Port `json:"ports"`
	}{pm})
	if err != nil {
		return nil, err
	}
	ours["ARBITRIUM_PUBLIC_IP"] = addr.Addr().String()
	ours["ARBITRIUM_PORTS_MAPPING"] = string(b)
	ours[EnvGameAddr] = addr.String()
	ours["NATS_HOST"] = h.cfg.NATSHost
	if h.cfg.NATSCA == "" {
		ours["NATS_INSECURE"] = "1"
	}
	if h.cfg.NATSUser != "" {
		ours["NATS_USER"], ours["NATS_PASSWORD"] = h.cfg.NATSUser, h.cfg.NATSPasswd
	}
	if h.cfg.Names.Namespace != "" {
		ours[EnvNamespace] = h.cfg.Names.Namespace
	}
	if h.cfg.PrivateKey != "" {
		ours[EnvPrivateKey] = h.cfg.PrivateKey
	}
	ours[EnvProtocolID] = strconv.FormatUint(h.cfg.ProtocolID, 10)

	var env []string
	for _, kv := range h.cfg.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := ours[k]; set || inherited(k) {
			continue
		}
		env = append(env, kv)
	}
	keys := make([]string, 0, len(ours))
	for k := range ours {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+ours[k])
	}
	return env, nil
}

// inherited reports whether the parent's variable k would mislead the game
// server about its deployment or NATS server.
func inherited(k string) bool {
	for _, p := range []string{"ARBITRIUM_", "NATS_", "BEVYGAP_NATS_", "BEVYGAP_LIGHTYEAR_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return k == EnvPrivateKey || k == EnvGameAddr
}

func portOf(name string, info edgegapsim.DeploymentInfo) (string, error) {
	if name != "" {
		return name, nil
	}
	if len(info.Ports) == 0 {
		return "", fmt.Errorf("deployment %s has no ports", info.RequestID)
	}
	names := make([]string, 0, len(info.Ports))
	for k := range info.Ports {
		names = append(names, k)
	}
	slices.Sort(names)
	return names[0], nil
}
