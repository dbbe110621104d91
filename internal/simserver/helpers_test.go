package simserver

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testProtocolID = 1982

var testKey = netcode.PrivateKey{
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
}

var errNotYet = errors.New("not yet")

// digestRE is the format of a certificate digest (gameserver.CertDigest).
var digestRE = regexp.MustCompile(`^([0-9a-f]{2}:){31}[0-9a-f]{2}$`)

// clock is a settable clock for token expiry and timeouts.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_750_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newAgent(t *testing.T, st *state.Store, nc *nats.Conn, env gameserver.Env) *gameserver.Agent {
	t.Helper()
	a, err := gameserver.NewAgent(gameserver.AgentConfig{Store: st, NC: nc, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// mint mints a token; mod may change the parameters.
func mint(t *testing.T, key netcode.PrivateKey, now func() time.Time, server netip.AddrPort, clientID uint64, mod func(*netcode.Params)) *netcode.ConnectToken {
	t.Helper()
	m, err := netcode.NewMinter(key)
	if err != nil {
		t.Fatal(err)
	}
	m.Now = now
	p := netcode.Params{ServerAddrs: []netip.AddrPort{server}, ProtocolID: testProtocolID, ClientID: clientID}
	if mod != nil {
		mod(&p)
	}
	tok, err := m.Mint(p)
	if err != nil {
		t.Fatal(err)
	}
	return &tok
}

// startServer listens on 127.0.0.1:0; it is closed when the test ends.
func startServer(t *testing.T, cfg ServerConfig) *UDPServer {
	t.Helper()
	if cfg.PrivateKey == (netcode.PrivateKey{}) {
		cfg.PrivateKey = testKey
	}
	if cfg.ProtocolID == 0 {
		cfg.ProtocolID = testProtocolID
	}
	s, err := Listen(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return s
}

func connect(t *testing.T, tok *netcode.ConnectToken, o ConnectOptions) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if o.RetryInterval == 0 {
		o.RetryInterval = 100 * time.Millisecond
	}
	c, err := Connect(ctx, tok, o)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// natsOptions builds plain-TCP natsconn options for a test server.
type natsOptions struct{ URL string }

func (o natsOptions) options() *natsconn.Options {
	return &natsconn.Options{Host: o.URL, Insecure: true, Name: "test-game-server"}
}
