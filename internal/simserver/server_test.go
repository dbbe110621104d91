package simserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/simtest"
	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestServerConnectDisconnect(t *testing.T) {
	st, nc := simtest.Store(t)
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
	if c.ClientIndex() != 0 || c.MaxClients() != DefaultMaxClients || c.RemoteAddr() != srv.Addr() || c.Timeout() != 15*time.Second || !c.LocalAddr().IsValid() {
		t.Errorf("conn: index %d of %d, remote %v timeout %v local %v", c.ClientIndex(), c.MaxClients(), c.RemoteAddr(), c.Timeout(), c.LocalAddr())
	}
	if id, err := st.ActiveClient(ctx, "sess-a"); err != nil || id != 1001 {
		t.Errorf("active_connections[sess-a] = %d, %v", id, err)
	}
	if cl := srv.Clients(); len(cl) != 1 || cl[0].ClientID != 1001 || cl[0].Index != 0 || cl[0].Addr.Port() != c.LocalAddr().Port() || cl[0].Timeout != 15*time.Second {
		t.Errorf("Clients() = %+v", cl)
	}
	if err := c.Keepalive(ctx); err != nil {
		t.Errorf("Keepalive = %v", err)
	}
	echo(t, c, "hello, server")
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
	if cl := srv.Clients(); len(cl) != 1 || cl[0].ClientID != 5 {
		t.Errorf("clients %+v, want client 5", cl)
	}
	if _, err := ConnectBase64(ctx, "bm90IGEgdG9rZW4=", ConnectOptions{}); !errors.Is(err, netcode.ErrLength) {
		t.Errorf("bad token: %v", err)
	}
}

// TestServerDenies: every refusal is reported with its reason. As netcode
// 1.02 orders, the server ignores a request whose token it cannot accept
// (the client times out) and a client id that is connected, and answers a
// refused seat or a full server with a connection denied packet.
func TestServerDenies(t *testing.T) {
	st, nc := simtest.Store(t)
	ctx := t.Context()
	otherKey := testKey
	otherKey[0] ^= 0xff
	cases := []struct {
		name   string
		setup  func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions)
		want   DenyReason
		denied bool // a denied packet; else ignored
	}{
		{"forged token (wrong key)", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			return mint(t, otherKey, clk.Now, srv.Addr(), 2001, nil), ConnectOptions{}
		}, DenyInvalidToken, false},
		{"expired", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			tok := mint(t, testKey, clk.Now, srv.Addr(), 2002, func(p *netcode.Params) { p.ExpireSeconds = 30 })
			clk.Add(30 * time.Second)
			return tok, ConnectOptions{}
		}, DenyExpired, false},
		{"wrong protocol id", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			return mint(t, testKey, clk.Now, srv.Addr(), 2003, func(p *netcode.Params) { p.ProtocolID = 7 }), ConnectOptions{}
		}, DenyProtocolID, false},
		{"token for another server", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			other := netip.AddrPortFrom(srv.Addr().Addr(), srv.Addr().Port()+1)
			if srv.Addr().Port() == 65535 {
				other = netip.AddrPortFrom(srv.Addr().Addr(), 1)
			}
			return mint(t, testKey, clk.Now, other, 2004, nil), ConnectOptions{Server: srv.Addr()}
		}, DenyWrongServer, false},
		{"public list names the server, private list does not", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			return mint(t, testKey, clk.Now, srv.Addr(), 2005, func(p *netcode.Params) {
				p.InternalAddrs = []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:5000")}
			}), ConnectOptions{}
		}, DenyWrongServer, false},
		{"unknown client id", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			return mint(t, testKey, clk.Now, srv.Addr(), 2006, nil), ConnectOptions{}
		}, DenyUnknownClient, true},
		{"reused token after disconnect (another address)", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			putSeat(t, st, 2007, "sess-2007")
			tok := mint(t, testKey, clk.Now, srv.Addr(), 2007, nil)
			c, err := connect(t, tok, ConnectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			waitClients(t, srv, 0)
			return tok, ConnectOptions{}
		}, DenyTokenInUse, false},
		{"new token for a client id that connected and left", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			putSeat(t, st, 2012, "sess-2012")
			c, err := connect(t, mint(t, testKey, clk.Now, srv.Addr(), 2012, nil), ConnectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			waitClients(t, srv, 0)
			return mint(t, testKey, clk.Now, srv.Addr(), 2012, nil), ConnectOptions{}
		}, DenySeatUsed, true},
		{"same client id from a second address", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			putSeat(t, st, 2008, "sess-2008")
			if _, err := connect(t, mint(t, testKey, clk.Now, srv.Addr(), 2008, nil), ConnectOptions{}); err != nil {
				t.Fatal(err)
			}
			return mint(t, testKey, clk.Now, srv.Addr(), 2008, nil), ConnectOptions{}
		}, DenyAlreadyConnected, false},
		{"session already connected elsewhere", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			putSeat(t, st, 2009, "sess-2009")
			if err := st.PutActive(ctx, "sess-2009", 1); err != nil {
				t.Fatal(err)
			}
			return mint(t, testKey, clk.Now, srv.Addr(), 2009, nil), ConnectOptions{}
		}, DenyAlreadyConnected, true},
		{"server full", func(t *testing.T, srv *UDPServer, clk *clock) (*netcode.ConnectToken, ConnectOptions) {
			putSeat(t, st, 2010, "sess-2010")
			putSeat(t, st, 2011, "sess-2011")
			if _, err := connect(t, mint(t, testKey, clk.Now, srv.Addr(), 2010, nil), ConnectOptions{}); err != nil {
				t.Fatal(err)
			}
			return mint(t, testKey, clk.Now, srv.Addr(), 2011, nil), ConnectOptions{}
		}, DenyServerFull, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			var reasons denials
			srv := startServer(t, ServerConfig{Admitter: newAgent(t, st, nc, gameserver.Env{}), Now: clk.Now, MaxClients: 1, OnDeny: reasons.add})
			tok, o := c.setup(t, srv, clk)
			o.Attempts = 3
			_, err := connect(t, tok, o)
			if c.denied {
				if de, ok := errors.AsType[*DeniedError](err); !ok || !errors.Is(err, ErrDenied) || de.Error() == "" {
					t.Fatalf("Connect = %v, want denied: %s", err, c.want)
				}
			} else if !errors.Is(err, ErrNoAnswer) {
				t.Fatalf("Connect = %v, want no answer (%s)", err, c.want)
			}
			if got := reasons.all(); len(got) == 0 || slices.ContainsFunc(got, func(r DenyReason) bool { return r != c.want }) {
				t.Fatalf("refusals %v, want %s", got, c.want)
			}
		})
	}
	if s := DenyReason(200).String(); s != "unknown reason 200" {
		t.Errorf("DenyReason(200) = %q", s)
	}
}

// denials collects the reasons a server reports to OnDeny.
type denials struct {
	mu      sync.Mutex
	reasons []DenyReason
}

func (d *denials) add(_ netip.AddrPort, r DenyReason) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons = append(d.reasons, r)
}

func (d *denials) all() []DenyReason {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.reasons)
}

// echo sends a payload and waits for the simulated game's echo of it.
func echo(t *testing.T, c *Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Send([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got, err := c.Receive(ctx)
	if err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
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
	st, nc := simtest.Store(t)
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
	echo(t, c, "still here") // the server has read the keep-alive before the echo
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
	st, nc := simtest.Store(t)
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

// The handshake packet by packet, as a standard client sends it: a resent
// request gets a fresh challenge; the token sent from another address, a
// keep-alive before the response, a forged challenge token, a packet sealed
// with another key, a second response and a replayed packet are ignored.
func TestServerHandshakeByHand(t *testing.T) {
	s, err := newServer(t.Context(), ServerConfig{PublicAddr: netip.MustParseAddrPort("127.0.0.1:6420"), PrivateKey: testKey, ProtocolID: testProtocolID})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, testKey, time.Now, s.public, 7, nil)
	req, _ := tok.ConnectionRequest().MarshalBinary()
	from := netip.MustParseAddrPort("127.0.0.1:50000")
	other := netip.MustParseAddrPort("127.0.0.1:50001")
	send, err := newAEAD(&tok.ClientToServerKey)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := newAEAD(&tok.ServerToClientKey)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, err := newAEAD(&tok.ServerToClientKey) // the server's key, not the client's
	if err != nil {
		t.Fatal(err)
	}
	open := func(what string, r [][]byte) (byte, []byte) {
		t.Helper()
		if len(r) != 1 {
			t.Fatalf("%s: %d packets, want 1", what, len(r))
		}
		h, err := readHeader(r[0], func(byte) bool { return true })
		if err != nil {
			t.Fatalf("%s: %x", what, r[0])
		}
		data, err := openPacket(recv, testProtocolID, h, nil)
		if err != nil {
			t.Fatalf("%s: %x does not decrypt", what, r[0])
		}
		return h.typ, data
	}
	ignored := func(what string, r [][]byte, clients int) {
		t.Helper()
		if r != nil || len(s.Clients()) != clients {
			t.Errorf("%s: answered %x, clients %+v", what, r, s.Clients())
		}
	}
	typ1, ch1 := open("request", s.handle(from, req))
	typ2, ch2 := open("resent request", s.handle(from, req))
	if typ1 != packetChallenge || typ2 != packetChallenge || bytes.Equal(ch1, ch2) {
		t.Errorf("challenges %d %x, %d %x", typ1, ch1, typ2, ch2)
	}
	ignored("token from another address", s.handle(other, req), 0)
	ignored("keep-alive before the response", s.handle(from, sealPacket(send, testProtocolID, packetKeepAlive, 0, keepAliveBody(0, 0))), 0)
	forged := bytes.Clone(ch1)
	forged[20] ^= 1
	ignored("forged challenge token", s.handle(from, sealPacket(send, testProtocolID, packetResponse, 1, forged)), 0)
	ignored("response sealed with another key", s.handle(from, sealPacket(wrongKey, testProtocolID, packetResponse, 2, ch1)), 0)

	typ, ka := open("response", s.handle(from, sealPacket(send, testProtocolID, packetResponse, 3, ch1)))
	if typ != packetKeepAlive || binary.LittleEndian.Uint32(ka) != 0 || binary.LittleEndian.Uint32(ka[4:]) != DefaultMaxClients {
		t.Fatalf("answer to the response: type %d, %x", typ, ka)
	}
	if cl := s.Clients(); len(cl) != 1 || cl[0].ClientID != 7 || cl[0].Addr != from {
		t.Fatalf("clients %+v", cl)
	}
	ignored("second response", s.handle(from, sealPacket(send, testProtocolID, packetResponse, 4, ch2)), 1)

	payload := sealPacket(send, testProtocolID, packetPayload, 5, []byte("ping"))
	if typ, body := open("payload", s.handle(from, payload)); typ != packetPayload || string(body) != "ping" {
		t.Errorf("echo: type %d %q", typ, body)
	}
	ignored("replayed payload", s.handle(from, payload), 1)
	disconnect := sealPacket(send, testProtocolID, packetDisconnect, 6, nil)
	ignored("disconnect from another address", s.handle(other, disconnect), 1)
	ignored("disconnect", s.handle(from, disconnect), 0)
}

func TestServerIgnoresMalformed(t *testing.T) {
	st, nc := simtest.Store(t)
	srv := startServer(t, ServerConfig{Admitter: newAgent(t, st, nc, gameserver.Env{})})
	tok := mint(t, testKey, time.Now, srv.Addr(), 6001, nil)
	req, _ := tok.ConnectionRequest().MarshalBinary()
	key, err := newAEAD(&tok.ClientToServerKey)
	if err != nil {
		t.Fatal(err)
	}
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
		"random 17":          random(minEncryptedSize - 1),
		"random 18":          random(minEncryptedSize),
		"keepalive unknown":  sealPacket(key, testProtocolID, packetKeepAlive, 0, keepAliveBody(0, 0)),
		"disconnect unknown": sealPacket(key, testProtocolID, packetDisconnect, 1, nil),
		"denied":             sealPacket(key, testProtocolID, packetDenied, 2, nil),
		"challenge":          sealPacket(key, testProtocolID, packetChallenge, 3, make([]byte, challengeDataSize)),
		"random max size":    random(MaxPacketSize),
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
	for _, n := range []int{MaxPacketSize + 1, 1500, 9000, 65000} {
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
