//go:build unix

package devserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/devserver"
	"github.com/bevygap/bevygap/internal/devserver/devservertest"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

const (
	testKey        = "7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7"
	testProtocolID = 4242
)

type fixture struct {
	t     *testing.T
	nc    *nats.Conn
	store *state.Store
	sim   *edgegapsim.Server
	api   *edgegap.Client
	out   *clitest.Buffer
}

// setup runs a nats-server on loopback TCP and the simulator whose
// deployments run cfg.Command through the hook.
func setup(t *testing.T, cfg devserver.Config, sc edgegapsim.Config) *fixture {
	t.Helper()
	ns := natstest.RunJetStream(t)
	nc := ns.Conn(t)
	store, err := state.Open(t.Context(), nc, state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	out := &clitest.Buffer{}
	cfg.NC, cfg.Output = nc, out
	cfg.NATSHost = strings.TrimPrefix(ns.URL, "nats://")
	if cfg.PrivateKey == "" {
		cfg.PrivateKey, cfg.ProtocolID = testKey, testProtocolID
	}
	hook, err := devserver.Hook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc.OnDeploy, sc.RateLimits = hook, &edgegapsim.RateLimits{}
	sim, err := edgegapsim.Start(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	api, err := edgegap.New(edgegap.Config{BaseURL: sim.URL(), APIKey: sim.APIKey(), MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	return &fixture{t: t, nc: nc, store: store, sim: sim, api: api, out: out}
}

// session creates a session and waits until it is ready or in error.
func (f *fixture) session() *edgegap.Session {
	f.t.Helper()
	cs, err := f.api.CreateSession(f.t.Context(), edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"81.128.157.100"}})
	if err != nil {
		f.t.Fatal(err)
	}
	var s *edgegap.Session
	natstest.CheckFor(f.t, 30*time.Second, 20*time.Millisecond, func() error {
		got, err := f.api.GetSession(f.t.Context(), cs.ID)
		if err != nil {
			return err
		}
		if (!got.Ready && got.Status != "Error") || got.Deployment == nil {
			return fmt.Errorf("session %s: %s", cs.ID, got.Status)
		}
		s = got
		return nil
	})
	return s
}

// gone waits until process pid no longer runs.
func gone(t *testing.T, pid int) {
	t.Helper()
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if devservertest.Running(pid) {
			return fmt.Errorf("process %d still runs", pid)
		}
		return nil
	})
}

// Each deployment runs its own game server process, on an address of its
// own, which publishes its own certificate digest, takes a netcode client,
// and is stopped (SIGTERM) when the deployment stops.
func TestCommandPerDeployment(t *testing.T) {
	dir := t.TempDir()
	f := setup(t, devserver.Config{Command: gameServerBin + ` -pidfile "` + dir + `/$ARBITRIUM_REQUEST_ID.pid"`},
		edgegapsim.Config{Sockets: 1, EmptyTTL: 200 * time.Millisecond})
	s1, s2 := f.session(), f.session()
	d1, d2 := s1.Deployment, s2.Deployment
	if !s1.Ready || !s2.Ready || d1.RequestID == d2.RequestID {
		t.Fatalf("sessions %+v %+v: want two ready deployments", s1, s2)
	}
	if d1.PublicIP == d2.PublicIP || !netip.MustParseAddr(d1.PublicIP).IsLoopback() || d1.PublicIP == "127.0.0.1" {
		t.Fatalf("public IPs %s and %s: want distinct loopback addresses of their own", d1.PublicIP, d2.PublicIP)
	}
	g1, _ := f.store.CertDigest(t.Context(), d1.PublicIP)
	g2, _ := f.store.CertDigest(t.Context(), d2.PublicIP)
	if g1 == "" || g2 == "" || g1 == g2 {
		t.Fatalf("cert digests %q %q: want one per game server", g1, g2)
	}
	out := f.out.String()
	for _, d := range []*edgegap.Deployment{d1, d2} {
		p, ok := d.GamePort("")
		want := fmt.Sprintf("[%s] listening on udp %s:%d", d.RequestID, d.PublicIP, p.External)
		if !ok || !strings.Contains(out, want) {
			t.Errorf("dev's log lacks %q:\n%s", want, out)
		}
	}

	// A netcode client reaches the first game server with a token minted
	// for its public address.
	key, _ := netcode.ParsePrivateKey(testKey)
	p1, _ := d1.GamePort("")
	addr := netip.AddrPortFrom(netip.MustParseAddr(d1.PublicIP), uint16(p1.External))
	minter, err := netcode.NewMinter(key)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := minter.Mint(netcode.Params{ClientID: 77, ProtocolID: testProtocolID, ServerAddrs: []netip.AddrPort{addr}, TimeoutSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutSeat(t.Context(), 77, s1.ID); err != nil { // the matchmaker's record of the seat
		t.Fatal(err)
	}
	conn, err := simserver.Connect(t.Context(), &tok, simserver.ConnectOptions{})
	if err != nil {
		t.Fatalf("connect to the command's game server: %v", err)
	}
	conn.Close()

	pid1, pid2 := devservertest.ReadPID(t, filepath.Join(dir, d1.RequestID+".pid")), devservertest.ReadPID(t, filepath.Join(dir, d2.RequestID+".pid"))
	if err := f.api.DeleteSession(t.Context(), s1.ID); err != nil {
		t.Fatal(err)
	}
	gone(t, pid1)
	if err := syscall.Kill(pid2, 0); err != nil {
		t.Fatalf("the other deployment's game server stopped too: %v", err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(f.out.String(), "["+d1.RequestID+"] stopping on SIGTERM") {
			return errors.New("no SIGTERM line")
		}
		return nil
	})
	_ = f.sim.Close() // stops the other deployment
	gone(t, pid2)
}

// A command that exits before its game server is up fails the deployment,
// with its exit status; its output reaches dev's log, the last line too.
func TestEarlyExitFailsDeployment(t *testing.T) {
	f := setup(t, devserver.Config{Command: `echo "cannot open assets"; printf 'no newline'; exit 7`}, edgegapsim.Config{})
	s := f.session()
	if s.Ready || s.Status != "Error" || !strings.Contains(s.Error, "exit status 7") || !strings.Contains(s.Error, "before its deployment was ready") {
		t.Fatalf("session %+v: want Error with the exit status", s)
	}
	out := f.out.String()
	rid := s.Deployment.RequestID
	if !strings.Contains(out, "["+rid+"] cannot open assets\n["+rid+"] no newline\n") {
		t.Fatalf("dev's log:\n%s", out)
	}
}

// A game server that dies while its deployment runs puts the deployment in
// error.
func TestExitAfterReadyPutsDeploymentInError(t *testing.T) {
	f := setup(t, devserver.Config{Command: gameServerBin + " -exit-after 300ms"}, edgegapsim.Config{})
	s := f.session()
	if !s.Ready {
		t.Fatalf("session %+v: want ready first", s)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		st, err := f.api.DeploymentStatus(t.Context(), s.Deployment.RequestID)
		if err != nil {
			return err
		}
		if st.CurrentStatus != "Status.ERROR" || !strings.Contains(st.ErrorDetail, "exit status 3") {
			return fmt.Errorf("deployment %s: %s %q", st.RequestID, st.CurrentStatus, st.ErrorDetail)
		}
		return nil
	})
}

// A game server that ignores SIGTERM is killed after the grace.
func TestKillAfterGrace(t *testing.T) {
	dir := t.TempDir()
	f := setup(t, devserver.Config{Command: gameServerBin + " -ignore-term -pidfile " + dir + "/pid", Grace: 200 * time.Millisecond},
		edgegapsim.Config{EmptyTTL: 50 * time.Millisecond})
	s := f.session()
	pid := devservertest.ReadPID(t, filepath.Join(dir, "pid"))
	if err := f.api.DeleteSession(t.Context(), s.ID); err != nil {
		t.Fatal(err)
	}
	gone(t, pid)
	if strings.Contains(f.out.String(), "stopping on SIGTERM") {
		t.Fatalf("the game server saw SIGTERM it ignores:\n%s", f.out.String())
	}
}

// A command that never publishes its context fails after ReadyTimeout and
// is stopped.
func TestReadyTimeout(t *testing.T) {
	dir := t.TempDir()
	f := setup(t, devserver.Config{Command: `echo $$ > ` + dir + `/pid; exec sleep 60`, ReadyTimeout: 300 * time.Millisecond}, edgegapsim.Config{})
	s := f.session()
	if s.Status != "Error" || !strings.Contains(s.Error, "did not publish its deployment context") {
		t.Fatalf("session %+v", s)
	}
	gone(t, devservertest.ReadPID(t, filepath.Join(dir, "pid")))
}

// The command's environment: Edgegap's variables for its own deployment,
// the NATS and Lightyear settings, the parent's other variables but none of
// its NATS or Edgegap ones; with a NATS CA, --ca_contents as "$@" and no
// NATS_INSECURE.
func TestEnvironmentAndCAArgument(t *testing.T) {
	ca := selfSignedPEM(t)
	parent := []string{"PATH=" + os.Getenv("PATH"), "GAME_ASSETS=/srv/assets", "NATS_CA=/etc/wrong.pem", "ARBITRIUM_REQUEST_ID=stale", "LIGHTYEAR_PRIVATE_KEY=0,0"}
	f := setup(t, devserver.Config{
		Command:  `env | sort; echo "args: $# $1"; echo "ca: $2"; exit 1`,
		NATSCA:   ca,
		Environ:  func() []string { return parent },
		PortName: "gameport",
	}, edgegapsim.Config{})
	s := f.session()
	rid := s.Deployment.RequestID
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(f.out.String(), "["+rid+"] ca: ") {
			return errors.New("no output yet")
		}
		return nil
	})
	vars := map[string]string{}
	for l := range strings.Lines(f.out.String()) {
		l = strings.TrimPrefix(strings.TrimSuffix(l, "\n"), "["+rid+"] ")
		if k, v, ok := strings.Cut(l, "="); ok && !strings.Contains(k, " ") {
			vars[k] = v
		}
	}
	for _, k := range []string{"ARBITRIUM_DELETE_URL", "ARBITRIUM_DELETE_TOKEN", "ARBITRIUM_DEPLOYMENT_LOCATION", "ARBITRIUM_CONTEXT_URL", "ARBITRIUM_CONTEXT_TOKEN"} {
		if vars[k] == "" {
			t.Errorf("%s not set", k)
		}
	}
	if vars["ARBITRIUM_REQUEST_ID"] != rid || vars["GAME_ASSETS"] != "/srv/assets" || vars["NATS_CA"] != "" || vars["NATS_INSECURE"] != "" ||
		vars["LIGHTYEAR_PRIVATE_KEY"] != testKey || vars["BEVYGAP_LIGHTYEAR_PROTOCOL_ID"] != strconv.Itoa(testProtocolID) || vars["NATS_HOST"] == "" {
		t.Errorf("environment %v", vars)
	}
	if !strings.HasPrefix(vars["ARBITRIUM_CONTEXT_URL"], f.sim.URL()+"/v1/context/"+rid+"/") {
		t.Errorf("context URL %q: want the simulator's", vars["ARBITRIUM_CONTEXT_URL"])
	}
	ip := netip.MustParseAddr(vars["ARBITRIUM_PUBLIC_IP"])
	game := netip.MustParseAddrPort(vars["BEVYGAP_GAME_ADDR"])
	port := strconv.Itoa(int(game.Port()))
	if !ip.IsLoopback() || game.Addr() != ip || !strings.Contains(vars["ARBITRIUM_PORTS_MAPPING"], `"gameport":{"name":"gameport","internal":`+port+`,"external":`+port) {
		t.Errorf("public IP %s, game address %s, ports %s", ip, game, vars["ARBITRIUM_PORTS_MAPPING"])
	}
	out := f.out.String()
	if !strings.Contains(out, "args: 2 --ca_contents") || !strings.Contains(out, "ca: -----BEGIN CERTIFICATE-----") {
		t.Errorf("no --ca_contents argument:\n%s", out)
	}
}

func TestHookRefusesBadConfig(t *testing.T) {
	nc := natstest.RunJetStream(t).Conn(t)
	for _, c := range []struct {
		cfg  devserver.Config
		want string
	}{
		{devserver.Config{Command: "  ", NC: nc, NATSHost: "127.0.0.1:4222"}, "gameserver-cmd is empty"},
		{devserver.Config{Command: "x", NC: nc}, "set nats-listen"},
		{devserver.Config{Command: "x", NC: nc, NATSHost: "127.0.0.1:4222", NATSCA: "not a pem"}, "NATS CA for game servers: no PEM block"},
	} {
		if _, err := devserver.Hook(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Hook(%+v): %v, want %q", c.cfg, err, c.want)
		}
	}
}

func selfSignedPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dev nats"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
