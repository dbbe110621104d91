package simserver

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/netcode"
)

// Admitter decides on and records the connections of a UDPServer. *Agent
// implements it.
type Admitter interface {
	// Authorize returns nil when clientID may connect; gameserver.ErrUnknownClient,
	// gameserver.ErrAlreadyConnected and gameserver.ErrSeatUsed give the deny reason.
	Authorize(ctx context.Context, clientID uint64) error
	// ClientConnected commits a connection; an error refuses it.
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
	// Logger receives connection events. Default: discard.
	Logger *slog.Logger
}

// ClientInfo describes a connected client.
type ClientInfo struct {
	ClientID uint64
	Addr     netip.AddrPort
	// Timeout is the token's timeout; 0 means none.
	Timeout time.Duration
}

// client is a connected client.
type client struct {
	id       uint64
	addr     netip.AddrPort
	tag      [tagSize]byte
	timeout  time.Duration // 0: none
	lastRecv time.Time
}

func (c *client) packet(typ byte) []byte {
	return control{typ: typ, clientID: c.id, tag: c.tag}.marshal()
}

// UDPServer is a simulated game server: it accepts netcode 1.02 connection
// requests over UDP, checks the connect token (protocol id, expiry, the
// private key, its own public address) and asks its Admitter, then keeps
// the client connected until it leaves or times out (see the package
// documentation for the wire format). Per-address state exists only for
// connected clients, at most MaxClients.
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
	admitTO  time.Duration
	log      *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	base   context.Context // ctx given to Listen, for the final disconnects
	wg     sync.WaitGroup

	mu      sync.Mutex
	byAddr  map[netip.AddrPort]*client
	byID    map[uint64]*client
	closing bool

	closeOnce sync.Once
	closeErr  error
}

// newServer builds a server without a socket (Listen adds it; the fuzz
// test uses it bare).
func newServer(ctx context.Context, cfg ServerConfig) *UDPServer {
	s := &UDPServer{
		public: cfg.PublicAddr, key: cfg.PrivateKey, protoID: cfg.ProtocolID, admitter: cfg.Admitter,
		max: cfg.MaxClients, now: cfg.Now, sweep: cfg.SweepInterval, admitTO: cfg.AdmitTimeout, log: cfg.Logger,
		base: ctx, byAddr: make(map[netip.AddrPort]*client), byID: make(map[uint64]*client),
	}
	if s.max <= 0 {
		s.max = DefaultMaxClients
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sweep <= 0 {
		s.sweep = DefaultSweepInterval
	}
	if s.admitTO <= 0 {
		s.admitTO = DefaultAdmitTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	return s
}

// Listen binds cfg.Addr and serves until Close (call it in any case) or
// until ctx is cancelled, which stops serving; Close then still disconnects
// the clients and releases the socket.
func Listen(ctx context.Context, cfg ServerConfig) (*UDPServer, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultListenAddr
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("game server: listen on udp %s: %w", addr, err)
	}
	conn := pc.(*net.UDPConn)
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
	s := newServer(ctx, cfg)
	s.conn, s.addr = conn, bound
	s.wg.Add(2)
	go s.readLoop()
	go s.sweepLoop()
	s.log.InfoContext(ctx, "game server listening", "addr", bound.String(), "public_addr", s.public.String(), "max_clients", s.max)
	return s, nil
}

// Addr is the bound UDP address.
func (s *UDPServer) Addr() netip.AddrPort { return s.addr }

// PublicAddr is the address connect tokens must name.
func (s *UDPServer) PublicAddr() netip.AddrPort { return s.public }

// Clients lists the connected clients, by client id.
func (s *UDPServer) Clients() []ClientInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ClientInfo, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, ClientInfo{ClientID: c.id, Addr: c.addr, Timeout: c.timeout})
	}
	slices.SortFunc(out, func(a, b ClientInfo) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out
}

// Close stops the server: it sends every connected client a disconnect
// packet, closes the socket, waits for its goroutines and reports each
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
		clients := make([]*client, 0, len(s.byID))
		for _, c := range s.byID {
			clients = append(clients, c)
		}
		clear(s.byID)
		clear(s.byAddr)
		s.mu.Unlock()
		if s.conn != nil {
			for _, c := range clients {
				_, _ = s.conn.WriteToUDPAddrPort(c.packet(PacketDisconnect), c.addr)
			}
			s.closeErr = s.conn.Close()
		}
		for _, c := range clients {
			s.disconnected(c, "server shutting down")
		}
		s.log.InfoContext(s.base, "game server stopped", "addr", s.addr.String(), "clients_disconnected", len(clients))
	})
	return s.closeErr
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
		if reply := s.handle(from, buf[:n]); reply != nil {
			if _, err := s.conn.WriteToUDPAddrPort(reply, from); err != nil {
				s.log.DebugContext(s.ctx, "game server write", "to", from.String(), "err", err)
			}
		}
	}
}

func (s *UDPServer) sweepLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.sweep)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			// Unblock the read loop when ctx (not Close) ended serving.
			_ = s.conn.SetReadDeadline(time.Now())
			return
		case <-t.C:
			s.expire()
		}
	}
}

// expire disconnects the clients that sent nothing for their timeout.
func (s *UDPServer) expire() {
	now := s.now()
	var gone []*client
	s.mu.Lock()
	for _, c := range s.byID {
		if c.timeout > 0 && !now.Before(c.lastRecv.Add(c.timeout)) {
			gone = append(gone, c)
			s.removeLocked(c)
		}
	}
	s.mu.Unlock()
	for _, c := range gone {
		if s.conn != nil {
			_, _ = s.conn.WriteToUDPAddrPort(c.packet(PacketDisconnect), c.addr)
		}
		s.disconnected(c, "timed out")
	}
}

func (s *UDPServer) removeLocked(c *client) {
	delete(s.byID, c.id)
	delete(s.byAddr, c.addr)
}

// disconnected reports a disconnect to the Admitter, even while closing.
func (s *UDPServer) disconnected(c *client, why string) {
	s.log.InfoContext(s.base, "game client disconnected", "client_id", c.id, "addr", c.addr.String(), "reason", why)
	if s.admitter == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.base), s.admitTO)
	defer cancel()
	if err := s.admitter.ClientDisconnected(ctx, c.id); err != nil {
		s.log.WarnContext(ctx, "recording disconnect failed", "client_id", c.id, "err", err)
	}
}

// handle processes one datagram from a peer and returns the reply, or nil.
// It never panics on any input.
func (s *UDPServer) handle(from netip.AddrPort, b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if b[0] == 0 {
		if len(b) != ConnectionRequestSize {
			return nil
		}
		return s.handleRequest(from, b)
	}
	c, ok := parseControl(b)
	if !ok || c.typ == PacketAccept {
		return nil
	}
	s.mu.Lock()
	cl := s.byAddr[from]
	if cl == nil || cl.id != c.clientID || cl.tag != c.tag {
		s.mu.Unlock()
		return nil
	}
	if c.typ == PacketKeepalive {
		cl.lastRecv = s.now()
		s.mu.Unlock()
		return cl.packet(PacketKeepalive)
	}
	s.removeLocked(cl) // PacketDisconnect
	s.mu.Unlock()
	s.disconnected(cl, "client left")
	return nil
}

func (s *UDPServer) deny(from netip.AddrPort, r DenyReason, attrs ...any) []byte {
	s.log.DebugContext(s.ctx, "connection request denied", append([]any{"addr", from.String(), "reason", r.String()}, attrs...)...)
	return denyPacket(r)
}

func (s *UDPServer) handleRequest(from netip.AddrPort, b []byte) []byte {
	req, err := netcode.ParseConnectionRequest(b)
	if err != nil {
		return nil // not a netcode 1.02 request: not for us
	}
	if req.ProtocolID != s.protoID {
		return s.deny(from, DenyProtocolID, "protocol_id", req.ProtocolID)
	}
	now := s.now()
	if req.Expired(now) {
		return s.deny(from, DenyExpired)
	}
	pd, err := req.Decrypt(s.key, s.protoID)
	if err != nil {
		return s.deny(from, DenyInvalidToken, "err", err)
	}
	if !slices.ContainsFunc(pd.ServerAddrs, func(a netip.AddrPort) bool {
		return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) == s.public
	}) {
		return s.deny(from, DenyWrongServer, "client_id", pd.ClientID)
	}
	id := pd.ClientID

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	if c := s.byAddr[from]; c != nil {
		if c.id == id { // the accept was lost: say it again
			c.lastRecv = now
			s.mu.Unlock()
			return c.packet(PacketAccept)
		}
		s.mu.Unlock()
		return s.deny(from, DenyAlreadyConnected, "client_id", id)
	}
	if _, ok := s.byID[id]; ok {
		s.mu.Unlock()
		return s.deny(from, DenyAlreadyConnected, "client_id", id)
	}
	if len(s.byID) >= s.max {
		s.mu.Unlock()
		return s.deny(from, DenyServerFull, "client_id", id)
	}
	s.mu.Unlock()

	if r, err := s.admit(id); err != nil {
		return s.deny(from, r, "client_id", id, "err", err)
	}
	c := &client{id: id, addr: from, lastRecv: now}
	if pd.TimeoutSeconds > 0 {
		c.timeout = time.Duration(pd.TimeoutSeconds) * time.Second
	}
	_, _ = rand.Read(c.tag[:])
	s.mu.Lock()
	s.byID[id] = c
	s.byAddr[from] = c
	s.mu.Unlock()
	s.log.InfoContext(s.ctx, "game client connected", "client_id", id, "addr", from.String(), "timeout_seconds", pd.TimeoutSeconds)
	return c.packet(PacketAccept)
}

// admit asks the Admitter; the reason is meaningful only with an error.
func (s *UDPServer) admit(id uint64) (DenyReason, error) {
	if s.admitter == nil {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.admitTO)
	defer cancel()
	err := s.admitter.Authorize(ctx, id)
	if err == nil {
		err = s.admitter.ClientConnected(ctx, id)
	}
	switch {
	case err == nil:
		return 0, nil
	case errors.Is(err, gameserver.ErrUnknownClient):
		return DenyUnknownClient, err
	case errors.Is(err, gameserver.ErrAlreadyConnected):
		return DenyAlreadyConnected, err
	case errors.Is(err, gameserver.ErrSeatUsed):
		return DenySeatUsed, err
	}
	s.log.WarnContext(ctx, "admitting a client failed", "client_id", id, "err", err)
	return DenyInternal, err
}
