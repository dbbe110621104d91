// Package gameservercmd implements `bevygap gameserver`: the game-server
// agent (the Go equivalent of the Rust bevygap_server_plugin) for a real
// Edgegap deployment, optionally with a simulated UDP game server.
package gameservercmd

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/gameserver/caarg"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

// Options of `gameserver`.
type Options struct {
	// Settings and Logger are read when the command runs (the root loads
	// them after the tree is built); Store connects to NATS (reconnecting
	// forever) and opens the buckets.
	Settings func() *settings.Settings
	Logger   func() *slog.Logger
	Store    func(ctx context.Context, name string) (*state.Store, *nats.Conn, error)
	// Getenv reads the ARBITRIUM_* variables (the command's environment).
	Getenv func(string) string

	CAContents string
	// CARest holds the pieces of a --ca_contents value that reached us split
	// on spaces (a docker argument quoted for a shell that never ran).
	CARest     []string
	CertDigest string
	CertFile   string
	Simulate   bool
	Listen     string
	PublicAddr string
	MaxClients int
}

// natsKeys are the NATS settings, registered as flags.
var natsKeys = []string{"nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace"}

// splitCA accepts extra arguments only as the continuation of a quoted
// --ca_contents value that arrived split on spaces: the value must open a
// quote that only the last argument closes (caarg.Value).
func splitCA(value string, rest []string) error {
	if len(rest) == 0 {
		return nil
	}
	if _, joined, closed := caarg.Value(value, rest); !closed || joined != len(rest) {
		return factory.UsageErrorf("unexpected arguments %q (only a quoted --ca_contents value split on spaces may continue over several arguments)", rest)
	}
	return nil
}

// NewCmdGameserver builds `bevygap gameserver`.
func NewCmdGameserver(f *factory.Factory) *cobra.Command { return NewCmd(f, nil) }

// NewCmd builds `bevygap gameserver`; runF, when set, replaces the run
// function (tests check flag parsing with it).
func NewCmd(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Settings: f.S, Logger: func() *slog.Logger { return f.Logger }, Store: f.ServiceStore, Getenv: f.Env.Get}
	cmd := &cobra.Command{
		Use:   "gameserver [flags]",
		Short: "Run the game-server agent inside an Edgegap deployment",
		Long: `Run the game-server side of bevygap inside an Edgegap deployment, as the Rust
bevygap_server_plugin does: read the ARBITRIUM_* environment Edgegap injects,
fetch the deployment context, publish the certificate digest in cert_digests
under the deployment's public IP and the context on gameserver.contexts.

The digest is that of --cert (a PEM certificate file), or --cert-digest as
given, or else of a self-signed certificate generated at start.

With --simulate it also runs a simulated game server on UDP (--listen,
default the game port's internal port on all interfaces): it accepts netcode
connection requests made from the matchmaker's connect tokens, admits only
client ids with a seat in sessions_ly2eg that are not connected yet, and
records connections in active_connections, so the whole bevygap flow can be
tried on Edgegap without a Bevy game server.

A NATS root CA can come as the docker argument --ca_contents '<PEM>' (see
bevygap ca-args), as the Rust plugin reads it. Runs until interrupted.`,
		Example: `  # inside a deployment (the ARBITRIUM_* variables are set by Edgegap)
  bevygap gameserver --nats-host nats.example.com --ca_contents "$(cat rootCA.pem)"

  # a simulated game server on the deployment's game port
  LIGHTYEAR_PRIVATE_KEY='1,2,3,...' bevygap gameserver --simulate --port-name gameport`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := splitCA(o.CAContents, args); err != nil {
				return err
			}
			o.CARest = args
			if o.CertDigest != "" && o.CertFile != "" {
				return factory.UsageErrorf("use --cert or --cert-digest, not both")
			}
			if !o.Simulate && (o.Listen != "" || o.PublicAddr != "") {
				return factory.UsageErrorf("--listen and --public-addr need --simulate")
			}
			if o.MaxClients < 0 {
				return factory.UsageErrorf("--max-clients %d: want 0 (the deployment's sockets) or more", o.MaxClients)
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return run(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.CAContents, "ca_contents", "", "PEM text of the NATS root CA, newlines optional (the Rust plugin's docker argument; overrides nats-ca-contents)")
	fl.StringVar(&o.CertDigest, "cert-digest", "", "certificate digest to publish (SHA-256, hex, colons optional)")
	fl.StringVar(&o.CertFile, "cert", "", "PEM certificate file whose SHA-256 digest to publish")
	fl.BoolVar(&o.Simulate, "simulate", false, "also run a simulated UDP game server")
	fl.StringVar(&o.Listen, "listen", "", "UDP address of the simulated game server (default 0.0.0.0:<internal game port>)")
	fl.StringVar(&o.PublicAddr, "public-addr", "", "address connect tokens name (default ARBITRIUM_PUBLIC_IP:<external game port>)")
	fl.IntVar(&o.MaxClients, "max-clients", 0, "clients the simulated game server admits at once (default: the deployment's sockets)")
	settings.AddFlags(fl, natsKeys...)
	settings.AddFlags(fl, "port-name")
	settings.AddFlagAs(fl, "lightyear-private-key", "private-key")
	settings.AddFlagAs(fl, "lightyear-protocol-id", "protocol-id")
	return cmd
}

// simSettings are what --simulate needs, resolved before connecting.
type simSettings struct {
	listen     string
	public     netip.AddrPort
	key        netcode.PrivateKey
	protocolID uint64
}

func run(ctx context.Context, o *Options) error {
	log := o.Logger()
	s := o.Settings()
	env, err := gameserver.ReadEnv(o.Getenv)
	if err != nil {
		return err
	}
	if o.CAContents != "" {
		ca, ok := gameserver.CAFromArgs(append([]string{"--ca_contents", o.CAContents}, o.CARest...))
		if !ok {
			return factory.UsageErrorf("--ca_contents is empty")
		}
		s.NATS.CAContents = ca
		log.InfoContext(ctx, "NATS root CA from --ca_contents", "bytes", len(ca))
	}
	digest, err := certDigest(o, env)
	if err != nil {
		return err
	}
	portName := s.Matchmaker.PortName
	var sim *simSettings
	if o.Simulate {
		if sim, err = simulate(o, env, portName); err != nil {
			return err
		}
	}

	store, nc, err := o.Store(ctx, "bevygap_server_plugin")
	if err != nil {
		return err
	}
	defer nc.Close()
	agent, err := gameserver.NewAgent(gameserver.AgentConfig{Store: store, NC: nc, Env: env, CertDigest: digest, Logger: log})
	if err != nil {
		return err
	}
	defer agent.Close()

	if sim != nil {
		srv, err := simserver.Listen(ctx, simserver.ServerConfig{
			Addr: sim.listen, PublicAddr: sim.public, PrivateKey: sim.key, ProtocolID: sim.protocolID,
			Admitter: agent, MaxClients: o.MaxClients, Logger: log,
		})
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if err := agent.Start(ctx); err != nil {
		return err
	}
	log.InfoContext(ctx, "game server agent running", "request_id", env.RequestID, "simulate", o.Simulate)
	<-ctx.Done()
	log.InfoContext(ctx, "game server agent stopping")
	return nil
}

// certDigest resolves the digest to publish.
func certDigest(o *Options, env gameserver.Env) (string, error) {
	switch {
	case o.CertDigest != "":
		d, err := normalizeDigest(o.CertDigest)
		if err != nil {
			return "", factory.UsageErrorf("--cert-digest: %v", err)
		}
		return d, nil
	case o.CertFile != "":
		b, err := os.ReadFile(o.CertFile)
		if err != nil {
			return "", fmt.Errorf("--cert: %w", err)
		}
		block, _ := pem.Decode(b)
		if block == nil || block.Type != "CERTIFICATE" {
			return "", fmt.Errorf("--cert %s: no PEM CERTIFICATE block", o.CertFile)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return "", fmt.Errorf("--cert %s: %w", o.CertFile, err)
		}
		return gameserver.CertDigest(block.Bytes), nil
	}
	c, err := gameserver.SelfSignedCert("localhost", env.PublicIP.String())
	if err != nil {
		return "", err
	}
	o.Logger().Info("generated a self-signed certificate", "cert_digest", c.Digest)
	return c.Digest, nil
}

// normalizeDigest accepts 64 hex digits, with or without colons, and
// returns the colon-separated lowercase form.
func normalizeDigest(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("want a SHA-256 digest: 32 bytes of hex, colons optional")
	}
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = hex.EncodeToString([]byte{c})
	}
	return strings.Join(parts, ":"), nil
}

// simulate resolves the simulated game server's settings.
func simulate(o *Options, env gameserver.Env, portName string) (*simSettings, error) {
	st := o.Settings()
	raw := st.Matchmaker.PrivateKey
	if raw == "" {
		return nil, &factory.AuthError{Err: fmt.Errorf("--simulate needs the Lightyear private key: set --private-key or LIGHTYEAR_PRIVATE_KEY")}
	}
	key, err := netcode.ParsePrivateKey(raw)
	if err != nil {
		return nil, err
	}
	if key.IsZero() {
		o.Logger().Warn("the Lightyear private key is all zeros: anyone can mint tokens for this game server")
	}
	protocolID := st.Matchmaker.ProtocolID
	s := &simSettings{listen: o.Listen, key: key, protocolID: protocolID}
	port, hasPort := env.GamePort(portName)
	if s.listen == "" {
		if !hasPort || port.Internal < 1 {
			return nil, factory.UsageErrorf("--listen is required: %s names no game port with an internal port", gameserver.EnvPortsMapping)
		}
		s.listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(port.Internal))
	}
	if o.PublicAddr != "" {
		a, err := netip.ParseAddrPort(o.PublicAddr)
		if err != nil {
			return nil, factory.UsageErrorf("--public-addr %q: want ip:port", o.PublicAddr)
		}
		s.public = a
	} else {
		a, ok := env.PublicAddr(portName)
		if !ok {
			return nil, factory.UsageErrorf("--public-addr is required: %s names no game port with an external port", gameserver.EnvPortsMapping)
		}
		s.public = a
	}
	return s, nil
}
