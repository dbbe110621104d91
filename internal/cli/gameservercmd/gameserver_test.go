package gameservercmd

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/settings"

	"github.com/spf13/cobra"
	"go.uber.org/goleak"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testKey = netcode.PrivateKey{
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
}

const testDigest = "e3:76:4d:00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13:14:15:16:17:18:19:1a:1b:1c"

var errNotYet = errors.New("not yet")

// newFactory is a factory whose commands see only vars as their environment.
func newFactory(t *testing.T, vars map[string]string) (*factory.Factory, *clitest.Buffer) {
	ios, _, _, _ := iostreams.Test()
	f := factory.New(ios, settings.MapEnv(t.TempDir(), vars))
	logs := &clitest.Buffer{}
	f.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return f, logs
}

// execute runs `gameserver args...` under a minimal root that loads the
// configuration as the real root command does.
func execute(ctx context.Context, f *factory.Factory, runF func(context.Context, *Options) error, args ...string) error {
	root := &cobra.Command{
		Use: "bevygap", SilenceErrors: true, SilenceUsage: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			loaded, err := settings.Load(settings.LoadOptions{Env: f.Env, Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			f.Settings = loaded
			return nil
		},
	}
	root.AddCommand(NewCmd(f, runF))
	root.SetArgs(append([]string{"gameserver"}, args...))
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	return root.ExecuteContext(ctx)
}

func TestFlags(t *testing.T) {
	t.Parallel()
	f, _ := newFactory(t, nil)
	var got *Options
	capture := func(_ context.Context, o *Options) error { got = o; return nil }
	err := execute(t.Context(), f, capture, "--simulate", "--listen", "127.0.0.1:0", "--public-addr", "127.0.0.1:9",
		"--ca_contents", "'-----BEGIN CERTIFICATE-----abc-----END CERTIFICATE-----'", "--cert-digest", testDigest,
		"--max-clients", "3", "--port-name", "gameport", "--protocol-id", "7")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Simulate || got.Listen != "127.0.0.1:0" || got.PublicAddr != "127.0.0.1:9" || got.CertDigest != testDigest ||
		got.MaxClients != 3 || !strings.Contains(got.CAContents, "BEGIN CERTIFICATE") {
		t.Errorf("options %+v", got)
	}
	if s := f.S(); s.Matchmaker.PortName != "gameport" || s.Matchmaker.ProtocolID != 7 {
		t.Errorf("settings: port-name %q protocol id %d", s.Matchmaker.PortName, s.Matchmaker.ProtocolID)
	}
	if err := execute(t.Context(), f, capture, "--ca_contents=x"); err != nil || got.CAContents != "x" {
		t.Errorf("--ca_contents=x: %v, %q", err, got.CAContents)
	}
	// A value split on spaces (no shell ran to honour the quotes) is accepted
	// and rejoined; other stray arguments are a usage error.
	if err := execute(t.Context(), f, capture, "--ca_contents", "'-----BEGIN", "CERTIFICATE-----MIIB-----END", "CERTIFICATE-----'"); err != nil ||
		strings.Join(append([]string{got.CAContents}, got.CARest...), " ") != "'-----BEGIN CERTIFICATE-----MIIB-----END CERTIFICATE-----'" {
		t.Errorf("split --ca_contents: %v, %q %q", err, got.CAContents, got.CARest)
	}
	for _, args := range [][]string{
		{"stray"},
		{"--ca_contents", "'complete'", "stray"},
		{"--ca_contents", "'-----BEGIN", "CERT'", "stray"},
		{"--ca_contents", "'-----BEGIN", "never-closed"},
	} {
		if err := execute(t.Context(), f, capture, args...); err == nil {
			t.Errorf("%q: stray arguments accepted", args)
		}
	}

	for _, args := range [][]string{
		{"--cert", "a.pem", "--cert-digest", testDigest},
		{"--listen", "127.0.0.1:0"},
		{"--public-addr", "127.0.0.1:9"},
		{"--max-clients", "-1"},
	} {
		err := execute(t.Context(), f, capture, args...)
		if _, ok := errors.AsType[*factory.UsageError](err); !ok {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if err := execute(t.Context(), f, capture, "extra"); err == nil {
		t.Error("a positional argument was accepted")
	}
}

// freeUDPPort returns a port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// deployment starts the simulator and returns a deployment's environment.
func deployment(t *testing.T) map[string]string {
	t.Helper()
	infos := make(chan edgegapsim.DeploymentInfo, 1)
	sim, err := edgegapsim.Start(t.Context(), edgegapsim.Config{
		RateLimits: &edgegapsim.RateLimits{},
		OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
			infos <- info
			return edgegapsim.DeployHandle{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	api, err := edgegap.New(edgegap.Config{BaseURL: sim.URL(), APIKey: sim.APIKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	if _, err := api.CreateSession(t.Context(), edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, IPList: []string{"81.128.157.100"}}); err != nil {
		t.Fatal(err)
	}
	var info edgegapsim.DeploymentInfo
	select {
	case info = <-infos:
	case <-time.After(10 * time.Second):
		t.Fatal("no deployment")
	}
	return info.Env
}

func TestRunSimulate(t *testing.T) {
	t.Parallel()
	ns := natstest.RunJetStream(t)
	st, err := state.Open(t.Context(), ns.Conn(t), state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	env := deployment(t)
	port := freeUDPPort(t)
	addr := netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(port))

	f, logs := newFactory(t, map[string]string{"NATS_HOST": ns.URL, "NATS_INSECURE": "1"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- execute(ctx, f, func(ctx context.Context, o *Options) error {
			o.Getenv = func(k string) string { return env[k] }
			return run(ctx, o)
		}, "--simulate", "--listen", addr.String(), "--public-addr", addr.String(),
			"--private-key", hex.EncodeToString(testKey[:]), "--protocol-id", "1982", "--cert-digest", strings.ToUpper(strings.ReplaceAll(testDigest, ":", "")))
	}()

	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		select {
		case err := <-done:
			t.Fatalf("gameserver ended early: %v\n%s", err, logs)
		default:
		}
		if d, err := st.CertDigest(t.Context(), env[gameserver.EnvPublicIP]); err != nil || d != testDigest {
			return errNotYet
		}
		return nil
	})

	const clientID = 99
	if err := st.PutSeat(t.Context(), clientID, "sess-99"); err != nil {
		t.Fatal(err)
	}
	m, err := netcode.NewMinter(testKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint(netcode.Params{ServerAddrs: []netip.AddrPort{addr}, ProtocolID: 1982, ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer ccancel()
	c, err := simserver.ConnectBase64(cctx, tok.Base64(), simserver.ConnectOptions{})
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, logs)
	}
	if id, err := st.ActiveClient(t.Context(), "sess-99"); err != nil || id != clientID {
		t.Errorf("active_connections[sess-99] = %d, %v", id, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if _, err := st.ActiveClient(t.Context(), "sess-99"); !errors.Is(err, state.ErrNotFound) {
			return errNotYet
		}
		return nil
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("gameserver returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gameserver did not stop")
	}
	for _, want := range []string{"deployment context published", "game server listening", "game server agent running", "game server agent stopping", "client_id=99"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	for _, k := range gameserver.EnvNames {
		env[k] = "x"
	}
	good := map[string]string{
		gameserver.EnvRequestID:          "f0000000000f",
		gameserver.EnvDeleteURL:          "http://127.0.0.1:1/v1/self/stop/f0000000000f/1",
		gameserver.EnvDeleteToken:        "secret-delete",
		gameserver.EnvDeploymentLocation: `{"city":"Montreal","country":"Canada"}`,
		gameserver.EnvContextURL:         "http://127.0.0.1:1/v1/context/f0000000000f/1",
		gameserver.EnvContextToken:       "secret-context",
		gameserver.EnvPublicIP:           "127.0.0.1",
		gameserver.EnvPortsMapping:       `{"ports":{"gameport":{"name":"gameport","internal":6420,"external":31000,"protocol":"UDP"}}}`,
	}
	pemFile := filepath.Join(t.TempDir(), "not-a-cert.pem")
	if err := os.WriteFile(pemFile, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
		auth bool
	}{
		{"no environment", nil, nil, "ARBITRIUM_REQUEST_ID is not set", false},
		{"bad environment", env, nil, "ARBITRIUM_PUBLIC_IP is malformed", false},
		{"simulate without key", good, []string{"--simulate"}, "private key", true},
		{"bad cert digest", good, []string{"--cert-digest", "abc"}, "--cert-digest", false},
		{"cert file not PEM", good, []string{"--cert", pemFile}, "no PEM CERTIFICATE", false},
		{"bad public addr", good, []string{"--simulate", "--private-key", hex.EncodeToString(testKey[:]), "--public-addr", "x"}, "--public-addr", false},
		// --ca_contents reaches the NATS settings: garbage fails the TLS setup.
		{"ca_contents applied", good, []string{"--ca_contents", "not a certificate"}, "nats-ca-contents", false},
	}
	// The commands' whole environment: no NATS_INSECURE, CA or private key.
	vars := map[string]string{"NATS_HOST": "127.0.0.1:1"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, _ := newFactory(t, vars)
			err := execute(t.Context(), f, func(ctx context.Context, o *Options) error {
				o.Getenv = func(k string) string { return c.env[k] }
				return run(ctx, o)
			}, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if _, ok := errors.AsType[*factory.AuthError](err); ok != c.auth {
				t.Errorf("auth error: %v, want %v", ok, c.auth)
			}
			if strings.Contains(err.Error(), "secret-") {
				t.Errorf("error shows a token: %v", err)
			}
		})
	}
}

func TestNormalizeDigest(t *testing.T) {
	t.Parallel()
	plain := strings.ReplaceAll(testDigest, ":", "")
	for _, in := range []string{testDigest, plain, strings.ToUpper(plain), " " + strings.ToUpper(testDigest) + "\n"} {
		if got, err := normalizeDigest(in); err != nil || got != testDigest {
			t.Errorf("normalizeDigest(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "abc", plain + "00", strings.Replace(plain, "e", "g", 1)} {
		if _, err := normalizeDigest(in); err == nil {
			t.Errorf("normalizeDigest(%q) accepted", in)
		}
	}
}
