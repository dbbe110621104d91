package simserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestServerConnectDisconnect(t *testing.T) {
	st, nc := newStore(t)
	srv := startServer(t, ServerConfig{Admitter: newAgent(t, st, nc, gameserver.Env{})})
	ctx := t.Context()
	if err := st.PutSeat(ctx, 1001, "sess-a"); err != nil {
		t.Fatal(err)
	}
	tok := mint(t, testKey, time.Now, srv.Addr(), 1001, nil)
	c, err := connect(t, tok, ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientID() != 1001 || c.RemoteAddr() != srv.Addr() || c.Timeout() != 15*time.Second || !c.LocalAddr().IsValid() {
		t.Errorf("conn: id %d remote %v timeout %v local %v", c.ClientID(), c.RemoteAddr(), c.Timeout(), c.LocalAddr())
	}
	if id, err := st.ActiveClient(ctx, "sess-a"); err != nil || id != 1001 {
		t.Errorf("active_connections[sess-a] = %d, %v", id, err)
	}
	if cl := srv.Clients(); len(cl) != 1 || cl[0].ClientID != 1001 || cl[0].Addr.Port() != c.LocalAddr().Port() || cl[0].Timeout != 15*time.Second {
		t.Errorf("Clients() = %+v", cl)
	}
	if err := c.Keepalive(ctx); err != nil {
		t.Errorf("Keepalive = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if _, err := st.ActiveClient(ctx, "sess-a"); !errors.Is(err, state.ErrNotFound) {
			return errNotYet
		}
		return nil
	})
	if cl := srv.Clients(); len(cl) != 0 {
		t.Errorf("after disconnect: %+v", cl)
	}
}

func TestConnectBase64(t *testing.T) {
	srv := startServer(t, ServerConfig{})
	tok := mint(t, testKey, time.Now, srv.Addr(), 5, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := ConnectBase64(ctx, tok.Base64(), ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ClientID() != 5 {
		t.Errorf("client id %d", c.ClientID())
	}
	if _, err := ConnectBase64(ctx, "bm90IGEgdG9rZW4=", ConnectOptions{}); !errors.Is(err, netcode.ErrLength) {
		t.Errorf("bad token: %v", err)
	}
}

func TestServerDenies(t *testing.T) {
	st, nc := newStore(t)
	ctx := t.Context()
	otherKey := testKey
	otherKey[0] ^= 0xff
	cases := []struct {
		name  string
		setup func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions)
		want  DenyReason
	}{
		{"forged token (wrong key)", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			return mint(t, otherKey, clk.Now, srv.Addr(), 2001, nil), ConnectOptions{}
		}, DenyInvalidToken},
		{"expired", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			tok := mint(t, testKey, clk.Now, srv.Addr(), 2002, func(p *netcode.Params) { p.ExpireSeconds = 30 })
			clk.Add(30 * time.Second)
			return tok, ConnectOptions{}
		}, DenyExpired},
		{"wrong protocol id", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			return mint(t, testKey, clk.Now, srv.Addr(), 2003, func(p *netcode.Params) { p.ProtocolID = 7 }), ConnectOptions{}
		}, DenyProtocolID},
		{"token for another server", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			other := netip.AddrPortFrom(srv.Addr().Addr(), srv.Addr().Port()+1)
			if srv.Addr().Port() == 65535 {
				other = netip.AddrPortFrom(srv.Addr().Addr(), 1)
			}
			return mint(t, testKey, clk.Now, other, 2004, nil), ConnectOptions{Server: srv.Addr()}
		}, DenyWrongServer},
		{"public list names the server, private list does not", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			return mint(t, testKey, clk.Now, srv.Addr(), 2005, func(p *netcode.Params) {
				p.InternalAddrs = []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:5000")}
			}), ConnectOptions{}
		}, DenyWrongServer},
		{"unknown client id", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			return mint(t, testKey, clk.Now, srv.Addr(), 2006, nil), ConnectOptions{}
		}, DenyUnknownClient},
		{"reused token after disconnect", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			putSeat(t, st, 2007, "sess-2007")
			tok := mint(t, testKey, clk.Now, srv.Addr(), 2007, nil)
			c, err := connect(t, tok, ConnectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			waitClients(t, srv, 0)
			return tok, ConnectOptions{}
		}, DenySeatUsed},
		{"same client id from a second address", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			putSeat(t, st, 2008, "sess-2008")
			tok := mint(t, testKey, clk.Now, srv.Addr(), 2008, nil)
			if _, err := connect(t, tok, ConnectOptions{}); err != nil {
				t.Fatal(err)
			}
			return tok, ConnectOptions{}
		}, DenyAlreadyConnected},
		{"session already connected elsewhere", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			putSeat(t, st, 2009, "sess-2009")
			if err := st.PutActive(ctx, "sess-2009", 1); err != nil {
				t.Fatal(err)
			}
			return mint(t, testKey, clk.Now, srv.Addr(), 2009, nil), ConnectOptions{}
		}, DenyAlreadyConnected},
		{"server full", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			putSeat(t, st, 2010, "sess-2010")
			putSeat(t, st, 2011, "sess-2011")
			if _, err := connect(t, mint(t, testKey, clk.Now, srv.Addr(), 2010, nil), ConnectOptions{}); err != nil {
				t.Fatal(err)
			}
			return mint(t, testKey, clk.Now, srv.Addr(), 2011, nil), ConnectOptions{}
		}, DenyServerFull},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			srv := startServer(t, ServerConfig{Admitter: newAgent(t, st, nc, gameserver.Env{}), Now: clk.Now, MaxClients: 1})
			tok, o := c.setup(t, srv, clk)
			_, err := connect(t, tok, o)
			de, ok := errors.AsType[*DeniedError](err)
			if !ok || de.Reason != c.want || !errors.Is(err, ErrDenied) {
				t.Fatalf("Connect = %v, want denied: %s", err, c.want)
			}
		})
	}
	if s := DenyReason(200).String(); s != "unknown reason 200" {
		t.Errorf("DenyReason(200) = %q", s)
	}
}

func putSeat(t *testing.T, st *state.Store, id uint64, session string) {
	t.Helper()
	if err := st.PutSeat(t.Context(), id, session); err != nil {
		t.Fatal(err)
	}
}

func waitClients(t *testing.T, srv *UDPServer, n int) {
	t.Helper()
	natstest.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if len(srv.Clients()) != n {
			return errNotYet
		}
		return nil
	})
}

// The sweep is driven by hand (expire) so that the test is deterministic.
func TestServerTimeout(t *testing.T) {
	st, nc := newStore(t)
	clk := newClock()
	srv := startServer(t, ServerConfig{Admitter: newAgent(t, st, nc, gameserver.Env{}), Now: clk.Now, SweepInterval: time.Hour})
	ctx := t.Context()
	putSeat(t, st, 3001, "sess-3001")
	c, err := connect(t, mint(t, testKey, clk.Now, srv.Addr(), 3001, func(p *netcode.Params) { p.TimeoutSeconds = 2 }), ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout() != 2*time.Second {
		t.Errorf("Timeout() = %v", c.Timeout())
	}
	clk.Add(1500 * time.Millisecond)
	srv.expire()
	if err := c.Keepalive(ctx); err != nil { // resets the timeout
		t.Fatal(err)
	}
	clk.Add(1500 * time.Millisecond)
	srv.expire()
	if len(srv.Clients()) != 1 {
		t.Fatal("disconnected although a keepalive came 1.5 s ago")
	}
	clk.Add(500 * time.Millisecond)
	srv.expire()
	if len(srv.Clients()) != 0 {
		t.Fatal("still connected after 2 s of silence")
	}
	if _, err := st.ActiveClient(ctx, "sess-3001"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("active_connections after timeout: %v", err)
	}
	if err := c.Keepalive(ctx); !errors.Is(err, ErrServerDisconnected) {
		t.Errorf("Keepalive after timeout = %v", err)
	}

	// A negative timeout means none.
	putSeat(t, st, 3002, "sess-3002")
	c2, err := connect(t, mint(t, testKey, clk.Now, srv.Addr(), 3002, func(p *netcode.Params) { p.TimeoutSeconds = -1 }), ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Timeout() != 0 {
		t.Errorf("Timeout() = %v", c2.Timeout())
	}
	clk.Add(24 * time.Hour)
	srv.expire()
	if cl := srv.Clients(); len(cl) != 1 || cl[0].Timeout != 0 {
		t.Errorf("no-timeout client: %+v", cl)
	}
}

// The sweeper goroutine notices timeouts by itself.
func TestServerSweeper(t *testing.T) {
	clk := newClock()
	srv := startServer(t, ServerConfig{Now: clk.Now, SweepInterval: 5 * time.Millisecond})
	c, err := connect(t, mint(t, testKey, clk.Now, srv.Addr(), 4001, func(p *netcode.Params) { p.TimeoutSeconds = 1 }), ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	waitClients(t, srv, 0)
	if err := c.Keepalive(t.Context()); !errors.Is(err, ErrServerDisconnected) {
		t.Errorf("Keepalive = %v", err)
	}
}

func TestServerCloseDisconnectsClients(t *testing.T) {
	st, nc := newStore(t)
	srv, err := Listen(t.Context(), ServerConfig{PrivateKey: testKey, ProtocolID: testProtocolID, Admitter: newAgent(t, st, nc, gameserver.Env{})})
	if err != nil {
		t.Fatal(err)
	}
	putSeat(t, st, 5001, "sess-5001")
	c, err := connect(t, mint(t, testKey, time.Now, srv.Addr(), 5001, nil), ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := st.ActiveClient(t.Context(), "sess-5001"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("active_connections after Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Keepalive(ctx); !errors.Is(err, ErrServerDisconnected) {
		t.Errorf("Keepalive after server Close = %v", err)
	}
}

func TestServerStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := Listen(ctx, ServerConfig{PrivateKey: testKey, ProtocolID: testProtocolID})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestListenErrors(t *testing.T) {
	if _, err := Listen(t.Context(), ServerConfig{Addr: "0.0.0.0:0"}); err == nil {
		t.Error("an unspecified address without a public address")
	}
	if _, err := Listen(t.Context(), ServerConfig{Addr: "nonsense"}); err == nil {
		t.Error("a bad address")
	}
	srv := startServer(t, ServerConfig{Addr: "0.0.0.0:0", PublicAddr: netip.MustParseAddrPort("[::ffff:203.0.113.5]:31000")})
	if srv.PublicAddr() != netip.MustParseAddrPort("203.0.113.5:31000") || srv.Addr().Port() == 0 {
		t.Errorf("public %v bound %v", srv.PublicAddr(), srv.Addr())
	}
}

// A resent request (the accept was lost) gets the same accept; the same
// client id from another address is refused.
func TestServerResendsAccept(t *testing.T) {
	s := newServer(t.Context(), ServerConfig{PublicAddr: netip.MustParseAddrPort("127.0.0.1:6420"), PrivateKey: testKey, ProtocolID: testProtocolID})
	tok := mint(t, testKey, time.Now, s.public, 7, nil)
	req, _ := tok.ConnectionRequest().MarshalBinary()
	from := netip.MustParseAddrPort("127.0.0.1:50000")
	a1 := s.handle(from, req)
	a2 := s.handle(from, req)
	if len(a1) != controlPacketSize || a1[0] != PacketAccept || !bytes.Equal(a1, a2) {
		t.Errorf("accepts %x, %x", a1, a2)
	}
	if d := s.handle(netip.MustParseAddrPort("127.0.0.1:50001"), req); !bytes.Equal(d, denyPacket(DenyAlreadyConnected)) {
		t.Errorf("second address: %x", d)
	}
	// A keepalive or disconnect with the wrong tag or id, or from another
	// address, is ignored.
	p, _ := parseControl(a1)
	for _, bad := range []struct {
		from netip.AddrPort
		c    control
	}{
		{from, control{typ: PacketKeepalive, clientID: 7}},
		{from, control{typ: PacketDisconnect, clientID: 8, tag: p.tag}},
		{netip.MustParseAddrPort("127.0.0.1:50001"), control{typ: PacketDisconnect, clientID: 7, tag: p.tag}},
		{from, control{typ: PacketAccept, clientID: 7, tag: p.tag}},
	} {
		if r := s.handle(bad.from, bad.c.marshal()); r != nil {
			t.Errorf("%+v answered %x", bad, r)
		}
	}
	if len(s.Clients()) != 1 {
		t.Fatal("client dropped by a bad packet")
	}
	if r := s.handle(from, control{typ: PacketKeepalive, clientID: 7, tag: p.tag}.marshal()); len(r) != controlPacketSize || r[0] != PacketKeepalive {
		t.Errorf("keepalive answer %x", r)
	}
	if r := s.handle(from, control{typ: PacketDisconnect, clientID: 7, tag: p.tag}.marshal()); r != nil || len(s.Clients()) != 0 {
		t.Errorf("disconnect: %x, clients %v", r, s.Clients())
	}
}

func TestServerIgnoresMalformed(t *testing.T) {
	st, nc := newStore(t)
	srv := startServer(t, ServerConfig{Admitter: newAgent(t, st, nc, gameserver.Env{})})
	tok := mint(t, testKey, time.Now, srv.Addr(), 6001, nil)
	req, _ := tok.ConnectionRequest().MarshalBinary()
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	badVersion := bytes.Clone(req)
	badVersion[5] = 'X'
	zeroRequest := make([]byte, ConnectionRequestSize)
	randomRequest := random(ConnectionRequestSize)
	randomRequest[0] = 0
	packets := map[string][]byte{
		"empty":              {},
		"one zero byte":      {0},
		"short request":      req[:ConnectionRequestSize-1],
		"long request":       append(bytes.Clone(req), 0),
		"bad version":        badVersion,
		"zero request":       zeroRequest,
		"random request":     randomRequest,
		"random 17":          random(controlPacketSize),
		"keepalive unknown":  control{typ: PacketKeepalive, clientID: 6001}.marshal(),
		"disconnect unknown": control{typ: PacketDisconnect, clientID: 6001}.marshal(),
		"deny":               denyPacket(DenyServerFull),
		"random 1200":        random(MaxPacketSize),
		"oversized request":  append(bytes.Clone(req), random(MaxPacketSize+1-len(req))...),
	}
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	for name, p := range packets {
		if r := srv.handle(from, p); r != nil {
			t.Errorf("%s: answered %x", name, r)
		}
	}

	// Over the wire, with datagrams up to 64 KB, the server survives and
	// still admits a valid client.
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for _, p := range packets {
		_, _ = uc.Write(p)
	}
	for _, n := range []int{1201, 1500, 9000, 65000} {
		_, _ = uc.Write(random(n))
	}
	if len(srv.Clients()) != 0 {
		t.Fatal("a malformed packet made a client")
	}
	putSeat(t, st, 6001, "sess-6001")
	if _, err := connect(t, tok, ConnectOptions{}); err != nil {
		t.Fatalf("valid client after garbage: %v", err)
	}
}

func TestConnectNoServer(t *testing.T) {
	// A port nobody listens on: the attempts run out (or ctx ends).
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	tok := mint(t, testKey, time.Now, addr, 1, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := Connect(ctx, tok, ConnectOptions{Attempts: 2, RetryInterval: 10 * time.Millisecond}); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("Connect to nothing = %v", err)
	}
	cctx, ccancel := context.WithCancel(t.Context())
	ccancel()
	if _, err := Connect(cctx, tok, ConnectOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Connect with a cancelled context = %v", err)
	}
	if _, err := Connect(ctx, nil, ConnectOptions{}); err == nil {
		t.Error("Connect(nil)")
	}
}
