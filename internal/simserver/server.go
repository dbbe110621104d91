package simserver

import (
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/bevygap/bevygap/pkg/netcode"
)

// Admitter decides on and records the connections of a UDPServer.
// *gameserver.Agent implements it.
type Admitter interface {
	// Authorize returns nil when clientID may connect;
	// gameserver.ErrUnknownClient, gameserver.ErrAlreadyConnected and
	// gameserver.ErrSeatUsed give the deny reason. The server asks it on a
	// connection request and again on the challenge response.
	Authorize(ctx context.Context, clientID uint64) error
	// ClientConnected commits a connection (after a valid challenge
	// response); an error refuses it.
	ClientConnected(ctx context.Context, clientID uint64) error
	// ClientDisconnected records the end of a connection.
	ClientDisconnected(ctx context.Context, clientID uint64) error
}

// Defaults for the zero values of ServerConfig.
const (
	DefaultListenAddr    = "127.0.0.1:0"
	DefaultMaxClients    = 64
	DefaultSweepInterval = 100 * time.Millisecond
	DefaultAdmitTimeout  = 5 * time.Second
	// DefaultKeepAliveInterval is netcode's usual 10 Hz.
	DefaultKeepAliveInterval = 100 * time.Millisecond
	// pendingTimeout bounds how long the server keeps the keys of a client
	// that sent a connection request but never completed the handshake,
	// when its token has no timeout.
	pendingTimeout = 10 * time.Second
	// maxPending bounds those clients: more requests are ignored.
	maxPending = 1024
	// maxUsedTokens bounds the memory of tokens seen (per address).
	maxUsedTokens = 16384
	// disconnectRepeats is how many disconnect packets are sent (UDP may
	// lose one).
	disconnectRepeats = 3
)

// ServerConfig configures a UDPServer.
type ServerConfig struct {
	// Addr is the UDP address to listen on. Default DefaultListenAddr; port
	// 0 picks a free port (see UDPServer.Addr).
	Addr string
	// PublicAddr is the address connect tokens must name in their private
	// server address list: the address the token was minted for, i.e. the
	// deployment's public IP and the game port's external port. Default:
	// the bound address (which then must not be an unspecified IP).
	PublicAddr netip.AddrPort
	// PrivateKey opens the tokens; ProtocolID is the game's protocol id.
	PrivateKey netcode.PrivateKey
	ProtocolID uint64
	// Admitter decides on and records connections. Nil admits every valid
	// token whose client id is not connected (no NATS: local tests).
	Admitter Admitter
	// MaxClients bounds the connected clients (the deployment's sockets).
	// Default DefaultMaxClients.
	MaxClients int
	// Now is the clock for token expiry and timeouts. Default time.Now.
	Now func() time.Time
	// SweepInterval is how often timeouts are checked. Default
	// DefaultSweepInterval.
	SweepInterval time.Duration
	// AdmitTimeout bounds each Admitter call. Default DefaultAdmitTimeout.
	AdmitTimeout time.Duration
	// KeepAliveInterval is how often the server sends each connected
	// client a keep-alive packet. Default DefaultKeepAliveInterval.
	KeepAliveInterval time.Duration
	// OnDeny, when set, is called (on the server's read goroutine) for
	// every connection the server refuses, with the reason it logs.
	OnDeny func(from netip.AddrPort, r DenyReason)
	// Logger receives connection events. Default: discard.
	Logger *slog.Logger
}

// ClientInfo describes a connected client.
type ClientInfo struct {
	ClientID uint64
	// Index is the client's slot, as the keep-alive packets tell it.
	Index uint32
	Addr  netip.AddrPort
	// Timeout is the token's timeout; 0 means none.
	Timeout time.Duration
}

// peer is the server's encryption mapping for one address: the keys of the
// connect token it sent, and, once it answered the challenge, its client
// slot.
type peer struct {
	addr     netip.AddrPort
	clientID uint64
	recv     cipher.AEAD // client to server key
	send     cipher.AEAD // server to client key
	sendSeq  uint64
	replay   replayProtection
	timeout  time.Duration // 0: none
	lastRecv time.Time
	expires  time.Time // while pending: when the mapping ends
	denied   bool      // the server denied it: repeat the denied packet

	connected bool
	index     uint32
	confirmed bool // the client sent a keep-alive or payload since connecting
}

// seal returns the next packet of type typ to the peer.
func (p *peer) seal(protocolID uint64, typ byte, data []byte) []byte {
	b := sealPacket(p.send, protocolID, typ, p.sendSeq, data)
	p.sendSeq++
	return b
}

// usedToken remembers which address first sent a connect token.
type usedToken struct {
	addr  netip.AddrPort
	until time.Time
}

// UDPServer is a simulated game server speaking netcode 1.02 over UDP: it
// checks a connection request's connect token (protocol id, expiry, the
// private key, its own public address), asks its Admitter, sends a
// challenge, and connects the client when the challenge response is valid;
// then it exchanges keep-alive, payload (it echoes each payload) and
// disconnect packets, encrypted with the token's keys. See the package
// documentation.
type UDPServer struct {
	conn     *net.UDPConn
	addr     netip.AddrPort
	public   netip.AddrPort
	key      netcode.PrivateKey
	protoID  uint64
	admitter Admitter
	max      int
	now      func() time.Time
	sweep    time.Duration
	keepEach time.Duration
	admitTO  time.Duration
	onDeny   func(netip.AddrPort, DenyReason)
	log      *slog.Logger

	challengeKey cipher.AEAD // random per server

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	base   context.Context // ctx given to Listen, for the final disconnects
	wg     sync.WaitGroup

	mu           sync.Mutex
	byAddr       map[netip.AddrPort]*peer // pending and connected
	byID         map[uint64]*peer         // connected
	slots        []*peer                  // connected, by index
	used         map[[tagSize]byte]usedToken
	challengeSeq uint64
	closing      bool

	closeOnce sync.Once
	closeErr  error
}

// newServer builds a server without a socket (Listen adds it; the fuzz
// test uses it bare).
func newServer(ctx context.Context, cfg ServerConfig) (*UDPServer, error) {
	var ck [netcode.KeySize]byte
	if _, err := rand.Read(ck[:]); err != nil {
		return nil, fmt.Errorf("game server: challenge key: %w", err)
	}
	challengeKey, err := newAEAD(&ck)
	if err != nil {
		return nil, fmt.Errorf("game server: challenge key: %w", err)
	}
	s := &UDPServer{
		public: cfg.PublicAddr, key: cfg.PrivateKey, protoID: cfg.ProtocolID, admitter: cfg.Admitter,
		max: cfg.MaxClients, now: cfg.Now, sweep: cfg.SweepInterval, keepEach: cfg.KeepAliveInterval,
		admitTO: cfg.AdmitTimeout, onDeny: cfg.OnDeny, log: cfg.Logger, challengeKey: challengeKey,
		base: ctx, byAddr: make(map[netip.AddrPort]*peer), byID: make(map[uint64]*peer),
		used: make(map[[tagSize]byte]usedToken),
	}
	s.applyDefaults()
	s.slots = make([]*peer, s.max)
	s.ctx, s.cancel = context.WithCancel(ctx)
	return s, nil
}

func (s *UDPServer) applyDefaults() {
	if s.max <= 0 {
		s.max = DefaultMaxClients
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sweep <= 0 {
		s.sweep = DefaultSweepInterval
	}
	if s.keepEach <= 0 {
		s.keepEach = DefaultKeepAliveInterval
	}
	if s.admitTO <= 0 {
		s.admitTO = DefaultAdmitTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
}

// Listen binds cfg.Addr and serves until Close (call it in any case) or
// until ctx is cancelled, which stops serving; Close then still disconnects
// the clients and releases the socket.
func Listen(ctx context.Context, cfg ServerConfig) (*UDPServer, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultListenAddr
	}
	conn, err := bindUDP(ctx, addr)
	if err != nil {
		return nil, err
	}
	return serve(ctx, conn, cfg)
}

// bindUDP binds a UDP socket on addr.
func bindUDP(ctx context.Context, addr string) (*net.UDPConn, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("game server: listen on udp %s: %w", addr, err)
	}
	return pc.(*net.UDPConn), nil
}

// serve serves on a bound socket, which it owns from now on.
func serve(ctx context.Context, conn *net.UDPConn, cfg ServerConfig) (*UDPServer, error) {
	bound := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	bound = netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())
	if !cfg.PublicAddr.IsValid() {
		if bound.Addr().IsUnspecified() {
			conn.Close()
			return nil, fmt.Errorf("game server: listening on %s: set the public address connect tokens name (ip:port)", bound)
		}
		cfg.PublicAddr = bound
	}
	cfg.PublicAddr = netip.AddrPortFrom(cfg.PublicAddr.Addr().Unmap(), cfg.PublicAddr.Port())
	s, err := newServer(ctx, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s.conn, s.addr = conn, bound
	s.wg.Add(2)
	go s.readLoop()
	go s.timerLoop()
	s.log.InfoContext(ctx, "game server listening", "addr", bound.String(), "public_addr", s.public.String(), "max_clients", s.max)
	return s, nil
}

// Addr is the bound UDP address.
func (s *UDPServer) Addr() netip.AddrPort { return s.addr }

// PublicAddr is the address connect tokens must name.
func (s *UDPServer) PublicAddr() netip.AddrPort { return s.public }

// Clients lists the connected clients, by client id. A client that sent a
// connection request but no valid challenge response is not connected.
func (s *UDPServer) Clients() []ClientInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ClientInfo, 0, len(s.byID))
	for _, p := range s.byID {
		out = append(out, ClientInfo{ClientID: p.clientID, Index: p.index, Addr: p.addr, Timeout: p.timeout})
	}
	slices.SortFunc(out, func(a, b ClientInfo) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out
}

// Close stops the server: it sends every connected client disconnect
// packets, closes the socket, waits for its goroutines and reports each
// client's disconnect to the Admitter (bounded by AdmitTimeout each).
func (s *UDPServer) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.cancel()
		if s.conn != nil {
			_ = s.conn.SetReadDeadline(time.Now())
		}
		s.wg.Wait()

		s.mu.Lock()
		clients := make([]*peer, 0, len(s.byID))
		var out []outPacket
		for _, p := range s.byID {
			clients = append(clients, p)
			out = append(out, s.disconnectPacketsLocked(p)...)
		}
		clear(s.byID)
		clear(s.byAddr)
		clear(s.slots)
		s.mu.Unlock()
		if s.conn != nil {
			s.write(out)
			s.closeErr = s.conn.Close()
		}
		for _, p := range clients {
			s.disconnected(p, "server shutting down")
		}
		s.log.InfoContext(s.base, "game server stopped", "addr", s.addr.String(), "clients_disconnected", len(clients))
	})
	return s.closeErr
}

// outPacket is a packet to send.
type outPacket struct {
	to netip.AddrPort
	b  []byte
}

// write sends packets, ignoring errors as UDP does.
func (s *UDPServer) write(out []outPacket) {
	for _, o := range out {
		if _, err := s.conn.WriteToUDPAddrPort(o.b, o.to); err != nil {
			s.log.DebugContext(s.ctx, "game server write", "to", o.to.String(), "err", err)
		}
	}
}

func (s *UDPServer) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, MaxPacketSize+1)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors and the like: nothing to do but go on. A
			// deadline only comes from Close or ctx, handled above.
			s.log.DebugContext(s.ctx, "game server read", "err", err)
			continue
		}
		if n > MaxPacketSize {
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		for _, reply := range s.handle(from, buf[:n]) {
			s.write([]outPacket{{from, reply}})
		}
	}
}

// timerLoop expires clients and sends keep-alive packets.
func (s *UDPServer) timerLoop() {
	defer s.wg.Done()
	sweep := time.NewTicker(s.sweep)
	defer sweep.Stop()
	keep := time.NewTicker(s.keepEach)
	defer keep.Stop()
	for {
		select {
		case <-s.ctx.Done():
			// Unblock the read loop when ctx (not Close) ended serving.
			_ = s.conn.SetReadDeadline(time.Now())
			return
		case <-sweep.C:
			s.expire()
		case <-keep.C:
			s.write(s.keepAlives())
		}
	}
}

// keepAlives returns a keep-alive packet for every connected client.
func (s *UDPServer) keepAlives() []outPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]outPacket, 0, len(s.byID))
	for _, p := range s.byID {
		out = append(out, outPacket{p.addr, s.keepAliveLocked(p)})
	}
	return out
}

func (s *UDPServer) keepAliveLocked(p *peer) []byte {
	return p.seal(s.protoID, packetKeepAlive, keepAliveBody(p.index, uint32(s.max)))
}

func (s *UDPServer) disconnectPacketsLocked(p *peer) []outPacket {
	out := make([]outPacket, disconnectRepeats)
	for i := range out {
		out[i] = outPacket{p.addr, p.seal(s.protoID, packetDisconnect, nil)}
	}
	return out
}

// expire disconnects the clients that sent nothing for their timeout and
// forgets handshakes and tokens whose time is up.
func (s *UDPServer) expire() {
	now := s.now()
	var gone []*peer
	var out []outPacket
	s.mu.Lock()
	for addr, p := range s.byAddr {
		switch {
		case !p.connected:
			if !now.Before(p.expires) {
				delete(s.byAddr, addr)
			}
		case p.timeout > 0 && !now.Before(p.lastRecv.Add(p.timeout)):
			gone = append(gone, p)
			out = append(out, s.disconnectPacketsLocked(p)...)
			s.removeLocked(p)
		}
	}
	for mac, u := range s.used {
		if !now.Before(u.until) {
			delete(s.used, mac)
		}
	}
	s.mu.Unlock()
	if s.conn != nil {
		s.write(out)
	}
	for _, p := range gone {
		s.disconnected(p, "timed out")
	}
}

func (s *UDPServer) removeLocked(p *peer) {
	delete(s.byAddr, p.addr)
	if p.connected && s.byID[p.clientID] == p {
		delete(s.byID, p.clientID)
		s.slots[p.index] = nil
	}
}

// disconnected reports a disconnect to the Admitter, even while closing.
func (s *UDPServer) disconnected(p *peer, why string) {
	s.log.InfoContext(s.base, "game client disconnected", "client_id", p.clientID, "addr", p.addr.String(), "reason", why)
	if s.admitter == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.base), s.admitTO)
	defer cancel()
	if err := s.admitter.ClientDisconnected(ctx, p.clientID); err != nil {
		s.log.WarnContext(ctx, "recording disconnect failed", "client_id", p.clientID, "err", err)
	}
}
