package app_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	devstack "github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/client"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7"

type e2e struct {
	t      *testing.T
	st     *devstack.Stack
	key    netcode.PrivateKey
	ws     string
	denied chan simserver.DenyReason // the game servers' refusals
}

// start runs the whole system in-process as `bevygap dev` does: embedded
// NATS, the simulator with simulated game servers on loopback UDP, the
// matchmaker and the gateway (with its webhook sink) on 127.0.0.1:0.
func start(t *testing.T, allocator string, unclaimedTTL time.Duration, deployDelay time.Duration) *e2e {
	t.Helper()
	key, _ := netcode.ParsePrivateKey(testKey)
	denied := make(chan simserver.DenyReason, 100)
	onDeny := func(_ netip.AddrPort, r simserver.DenyReason) {
		select {
		case denied <- r:
		default:
		}
	}
	// The dev preset, as `bevygap dev` runs it, on loopback ports chosen by
	// the system and an in-process-only NATS with a temp store.
	s := devstack.DevSettings()
	s.Matchmaker.Allocator = allocator
	s.Matchmaker.PrivateKey, s.Matchmaker.UnclaimedTTL = testKey, unclaimedTTL
	s.Dev.DeployDelay, s.Dev.Sockets, s.Matchmaker.EmptyTTL = deployDelay, 8, 500*time.Millisecond
	s.Dev.EdgegapListen, s.Gateway.Listen = "127.0.0.1:0", "127.0.0.1:0"
	s.Serve.NATSListen, s.Serve.DataDir = "", t.TempDir()
	// Many seats from one client IP: the gateway's limits relaxed as by
	// `dev --open`.
	s.Dev.Open = true
	if _, err := devstack.DevOpen(&s, func(string) settings.Source { return "default" }); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err := devstack.Dev(s, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	o.GameServers = func(d devstack.GameServerDeps) (devstack.DeployHook, error) {
		return simserver.SimulatorHook(simserver.HookConfig{NC: d.NC, Names: d.Names, PrivateKey: key, ProtocolID: 1982, OnDeny: onDeny}), nil
	}
	st, err := devstack.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return &e2e{t: t, st: st, key: key, ws: "ws" + strings.TrimPrefix(st.Gateway.URL(), "http") + "/matchmaker/ws", denied: denied}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (e *e2e) seat(ctx context.Context) (client.Result, error) {
	return client.Request(ctx, client.Options{URL: e.ws, Game: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion})
}

func (e *e2e) leaks() error {
	st := e.st.Sim.Stats()
	if st.LiveSessions != 0 {
		return fmt.Errorf("%d of %d sessions still live", st.LiveSessions, st.SessionsCreated)
	}
	ks, err := e.st.Store.Unclaimed().ListKeys(context.Background())
	if err == nil {
		n := 0
		for range ks.Keys() {
			n++
		}
		if n != 0 {
			return fmt.Errorf("%d sessions left in unclaimed_sessions", n)
		}
	}
	return nil
}

// The full loop: play -> seat -> UDP connect -> active_connections entry ->
// disconnect -> the simulator shows the session deleted.
func TestFullLoop(t *testing.T) {
	e := start(t, matchmaker.AllocatorSessions, time.Minute, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.seat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := simserver.ConnectBase64(ctx, res.Seat.Token, simserver.ConnectOptions{})
	if err != nil {
		t.Fatalf("game server refused a fresh seat: %v", err)
	}
	tok, err := netcode.ParseBase64(res.Seat.Token)
	if err != nil {
		t.Fatal(err)
	}
	pd, err := tok.Decrypt(e.key, 1982)
	if err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		id, err := e.st.Store.ActiveClient(ctx, res.SessionID)
		if err != nil || id != pd.ClientID {
			return fmt.Errorf("active_connections[%s] = %d, %v", res.SessionID, id, err)
		}
		if ok, _ := e.st.Store.IsUnclaimed(ctx, res.SessionID); ok {
			return errors.New("still unclaimed")
		}
		return nil
	})
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, e.leaks)
	if d := e.st.Sim.Stats().SessionsDeleted; d != 1 {
		t.Fatalf("%d sessions deleted, want 1", d)
	}
}

// The full loop on the deployments allocator: play -> a seat on a
// deployment (ready webhook through the sink, no status call) -> netcode
// handshake with its simulated game server -> the seat connected in the
// ledger -> disconnect -> the seat released -> the empty deployment stopped
// after empty-ttl: nothing left in the simulator or the ledger.
func TestFullLoopDeployments(t *testing.T) {
	e := start(t, matchmaker.AllocatorDeployments, time.Minute, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.seat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	depID := state.DeploymentOfSeat(res.SessionID)
	if depID == "" {
		t.Fatalf("seat id %q names no deployment", res.SessionID)
	}
	ledger, err := state.OpenFleet(ctx, e.st.Store.JS, state.Names{}, state.FleetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ledger.Get(ctx, depID)
	if err != nil || d.State != state.DeploymentReady {
		t.Fatalf("ledger record %+v, %v", d, err)
	}
	// The digest is this deployment's own (by request id), not another
	// server's on the same IP.
	if own, _ := e.st.Store.CertDigest(ctx, d.RequestID); own == "" || own != res.Seat.CertDigest {
		t.Fatalf("seat digest %q, deployment %s published %q", res.Seat.CertDigest, d.RequestID, own)
	}
	conn, err := simserver.ConnectBase64(ctx, res.Seat.Token, simserver.ConnectOptions{})
	if err != nil {
		t.Fatalf("game server refused a fresh seat: %v", err)
	}
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		d, err := ledger.Get(ctx, depID)
		if err != nil {
			return err
		}
		if d.Seats[res.SessionID].State != state.SeatConnected {
			return fmt.Errorf("seat %+v", d.Seats[res.SessionID])
		}
		return nil
	})
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if n := e.st.Sim.Stats().LiveDeployments; n != 0 {
			return fmt.Errorf("%d live deployments", n)
		}
		d, err := ledger.Get(ctx, depID)
		if err != nil {
			return err
		}
		if d.State != state.DeploymentGone || len(d.Seats) != 0 {
			return fmt.Errorf("ledger: %s with %d seats", d.State, len(d.Seats))
		}
		return nil
	})
	st := e.st.Sim.Stats()
	n := 0
	for _, c := range st.Calls["deployment-status-get"] {
		n += c
	}
	if n != 0 || st.DeploymentsCreated != 1 {
		t.Fatalf("%d status calls (want 0: the ready webhook), %d deployments (want 1)", n, st.DeploymentsCreated)
	}
}

// A seat nobody uses is reaped after the unclaimed TTL and deleted.
func TestUnusedSeatIsReaped(t *testing.T) {
	e := start(t, matchmaker.AllocatorSessions, 700*time.Millisecond, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.seat(ctx); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, e.leaks)
}

// Nobody connects without a valid seat.
func TestGameServerRefusesBadTokens(t *testing.T) {
	e := start(t, matchmaker.AllocatorSessions, time.Minute, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.seat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr(res.Seat.IP), res.Seat.Port)
	mint := func(key netcode.PrivateKey, p netcode.Params, now time.Time) string {
		m, _ := netcode.NewMinter(key)
		m.Now = func() time.Time { return now }
		tok, err := m.Mint(p)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Base64()
	}
	forgedKey, _ := netcode.ParsePrivateKey(strings.Replace(testKey, "7", "8", 1))
	raw, _ := base64.StdEncoding.DecodeString(res.Seat.Token)
	tok, _ := netcode.Parse(raw)
	pd, err := tok.Decrypt(e.key, 1982)
	if err != nil {
		t.Fatal(err)
	}
	other := netip.AddrPortFrom(addr.Addr(), addr.Port()+1)
	// refused connects with a token and checks how the game server refused
	// it: with a connection denied packet, or by ignoring it as netcode
	// 1.02 orders (the client gets no answer); either way it reports the
	// reason.
	refused := func(name, token string, want simserver.DenyReason, denied bool) {
		t.Helper()
		for len(e.denied) > 0 {
			<-e.denied
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := simserver.ConnectBase64(cctx, token, simserver.ConnectOptions{Attempts: 2, RetryInterval: 100 * time.Millisecond})
		ccancel()
		switch {
		case err == nil:
			conn.Close()
			t.Errorf("%s token was accepted", name)
			return
		case denied && !errors.Is(err, simserver.ErrDenied):
			t.Errorf("%s token: %v, want a denied packet", name, err)
		case !denied && !errors.Is(err, simserver.ErrNoAnswer):
			t.Errorf("%s token: %v, want no answer", name, err)
		}
		select {
		case r := <-e.denied:
			if r != want {
				t.Errorf("%s token refused for %v, want %v", name, r, want)
			}
		default:
			t.Errorf("%s token: no refusal reported, want %v", name, want)
		}
	}
	for name, c := range map[string]struct {
		token  string
		want   simserver.DenyReason
		denied bool
	}{
		"forged":         {mint(forgedKey, netcode.Params{ServerAddrs: []netip.AddrPort{addr}, ProtocolID: 1982, ClientID: pd.ClientID}, time.Now()), simserver.DenyInvalidToken, false},
		"expired":        {mint(e.key, netcode.Params{ServerAddrs: []netip.AddrPort{addr}, ProtocolID: 1982, ClientID: pd.ClientID}, time.Now().Add(-time.Hour)), simserver.DenyExpired, false},
		"wrong protocol": {mint(e.key, netcode.Params{ServerAddrs: []netip.AddrPort{addr}, ProtocolID: 1983, ClientID: pd.ClientID}, time.Now()), simserver.DenyProtocolID, false},
		"wrong address":  {mint(e.key, netcode.Params{ServerAddrs: []netip.AddrPort{addr}, InternalAddrs: []netip.AddrPort{other}, ProtocolID: 1982, ClientID: pd.ClientID}, time.Now()), simserver.DenyWrongServer, false},
		"no seat":        {mint(e.key, netcode.Params{ServerAddrs: []netip.AddrPort{addr}, ProtocolID: 1982, ClientID: 12345}, time.Now()), simserver.DenyUnknownClient, true},
	} {
		refused(name, c.token, c.want, c.denied)
	}
	// The real token works once; reusing it after a disconnect is refused:
	// the token itself (from another address), and a new token for the
	// same client id.
	c, err := simserver.ConnectBase64(ctx, res.Seat.Token, simserver.ConnectOptions{})
	if err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	c.Close()
	natstest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if _, err := e.st.Store.ActiveClient(ctx, res.SessionID); !errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("active_connections[%s] still set: %v", res.SessionID, err)
		}
		return nil
	})
	refused("reused", res.Seat.Token, simserver.DenyTokenInUse, false)
	refused("seat used", mint(e.key, netcode.Params{ServerAddrs: []netip.AddrPort{addr}, ProtocolID: 1982, ClientID: pd.ClientID}, time.Now()), simserver.DenySeatUsed, true)
}

// 200 players through the whole loop at once: every session deleted at the end.
func TestTwoHundredPlayers(t *testing.T) {
	if testing.Short() {
		t.Skip("200 players")
	}
	e := start(t, matchmaker.AllocatorSessions, time.Minute, 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const n = 200
	begin := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var seatTimes []time.Duration
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.Request(ctx, client.Options{URL: e.ws, Game: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion, ClientIP: fmt.Sprintf("81.2.%d.%d", i/250, i%250+1)})
			if err != nil {
				errs <- fmt.Errorf("player %d: %w", i, err)
				return
			}
			conn, err := simserver.ConnectBase64(ctx, res.Seat.Token, simserver.ConnectOptions{})
			if err != nil {
				errs <- fmt.Errorf("player %d connect: %w", i, err)
				return
			}
			mu.Lock()
			seatTimes = append(seatTimes, res.Elapsed)
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
			if err := conn.Close(); err != nil {
				errs <- fmt.Errorf("player %d disconnect: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	played := time.Since(begin)
	natstest.CheckFor(t, 60*time.Second, 50*time.Millisecond, e.leaks)
	st := e.st.Sim.Stats()
	var worst time.Duration
	for _, d := range seatTimes {
		worst = max(worst, d)
	}
	t.Logf("%d players seated, connected and left in %s; all %d sessions deleted %s later; slowest seat %s; %d deployments",
		len(seatTimes), played.Round(time.Millisecond), st.SessionsDeleted, (time.Since(begin) - played).Round(time.Millisecond), worst.Round(time.Millisecond), st.DeploymentsCreated)
	if st.SessionsCreated != n || st.SessionsDeleted != n {
		t.Fatalf("created %d, deleted %d sessions; want %d", st.SessionsCreated, st.SessionsDeleted, n)
	}
}

// The dev preset is valid and differs from the declared defaults only
// where dev means it to.
func TestDevPresetValid(t *testing.T) {
	s := devstack.DevSettings()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	// The gateway keeps serve's limits (dev is production with known keys).
	if s.Matchmaker.AppName != edgegapsim.DefaultApp || s.Gateway.RatePerMinute != settings.Defaults().Gateway.RatePerMinute || s.Matchmaker.PrivateKey != devstack.DevKey {
		t.Fatalf("dev preset not applied: %+v %+v", s.Matchmaker, s.Gateway)
	}
	// --open's preset is valid and relaxes the rate limit.
	s.Dev.Open = true
	if _, err := devstack.DevOpen(&s, func(string) settings.Source { return "default" }); err != nil || s.Gateway.RatePerMinute != 0 {
		t.Fatalf("open preset: %v, rate %v", err, s.Gateway.RatePerMinute)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}
