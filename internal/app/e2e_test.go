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

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	devstack "github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/client"
	"github.com/bevygap/bevygap/internal/gateway"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/edgegap"
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
func start(t *testing.T, unclaimedTTL time.Duration, deployDelay time.Duration) *e2e {
	t.Helper()
	key, _ := netcode.ParsePrivateKey(testKey)
	denied := make(chan simserver.DenyReason, 100)
	onDeny := func(_ netip.AddrPort, r simserver.DenyReason) {
		select {
		case denied <- r:
		default:
		}
	}
	unlimited, _ := edgegap.NewBudget(edgegap.BudgetConfig{}) // as bevygap dev: the simulator is local
	st, err := devstack.Start(context.Background(), devstack.Options{
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Embedded:  natsOpts(t),
		Simulator: &edgegapsim.Config{DeployDelay: deployDelay, Sockets: 8, EmptyTTL: 500 * time.Millisecond, RateLimits: &edgegapsim.RateLimits{Create: 1000, Status: 1000}},
		GameServers: func(nc *nats.Conn, names state.Names) func(context.Context, edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
			return simserver.SimulatorHook(simserver.HookConfig{NC: nc, Names: names, PrivateKey: key, ProtocolID: 1982, OnDeny: onDeny})
		},
		Edgegap: edgegap.Config{Budget: unlimited},
		Matchmaker: &matchmaker.Config{
			AppName: edgegapsim.DefaultApp, AppVersion: edgegapsim.DefaultVersion, PrivateKey: key, ProtocolID: 1982,
			RequireCertDigest: true, UnclaimedTTL: unclaimedTTL, MaxInFlight: 1000,
		},
		BootCheck:   true,
		Gateway:     &gateway.Config{RatePerMinute: 0, MaxPendingPerIP: 10000, MaxPendingTotal: 10000, AllowClientIPOverride: true},
		GatewayAddr: "127.0.0.1:0", WebhookAddr: "127.0.0.1:0",
	})
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
	e := start(t, time.Minute, 50*time.Millisecond)
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

// A seat nobody uses is reaped after the unclaimed TTL and deleted.
func TestUnusedSeatIsReaped(t *testing.T) {
	e := start(t, 700*time.Millisecond, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.seat(ctx); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, e.leaks)
}

// Nobody connects without a valid seat.
func TestGameServerRefusesBadTokens(t *testing.T) {
	e := start(t, time.Minute, 0)
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
	e := start(t, time.Minute, 100*time.Millisecond)
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
