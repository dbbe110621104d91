package simserver

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/bevygap/bevygap/pkg/netcode"
)

// Defaults for the zero values of ConnectOptions.
const (
	DefaultConnectAttempts = 5
	DefaultRetryInterval   = 250 * time.Millisecond
	// payloadQueue is how many received payloads wait for Receive; more
	// are dropped, as UDP would.
	payloadQueue = 64
)

// ErrServerDisconnected is returned by Conn.Keepalive, Send and Receive
// once the server sent a disconnect packet (timeout or shutdown).
var ErrServerDisconnected = errors.New("disconnected by the server")

// ErrNoAnswer is returned by Connect and Conn.Keepalive when the server
// did not answer any attempt.
var ErrNoAnswer = errors.New("no answer from the game server")

// ConnectOptions tune Connect.
type ConnectOptions struct {
	// Server is the address to send the request to. Default: the token's
	// first server address.
	Server netip.AddrPort
	// Attempts is how many times each handshake packet (or a keep-alive) is
	// sent before giving up. Default DefaultConnectAttempts.
	Attempts int
	// RetryInterval is how long to wait for an answer before resending.
	// Default DefaultRetryInterval.
	RetryInterval time.Duration
}

// Conn is a netcode 1.02 client connection to a game server: bevygap's
// own client, as `bevygap play --connect` uses it. It speaks the standard,
// so it connects to the simulated game server and to any netcode 1.02
// server (Lightyear's UDP transport). A goroutine reads the server's
// packets until Close.
type Conn struct {
	uc         *net.UDPConn
	server     netip.AddrPort
	protocolID uint64
	send       cipher.AEAD // client to server key
	recv       cipher.AEAD // server to client key
	timeout    time.Duration
	attempts   int
	interval   time.Duration
	index      uint32
	maxClients uint32

	mu           sync.Mutex
	sendSeq      uint64
	replay       replayProtection
	received     uint64        // packets from the server since connecting
	changed      chan struct{} // closed and replaced on every packet
	disconnected bool
	payloads     chan []byte

	readDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// ConnectBase64 parses a base64 connect token (as the matchmaker hands it
// out) and calls Connect.
func ConnectBase64(ctx context.Context, token string, o ConnectOptions) (*Conn, error) {
	t, err := netcode.ParseBase64(token)
	if err != nil {
		return nil, fmt.Errorf("connect token: %w", err)
	}
	return Connect(ctx, t, o)
}

// Connect runs the netcode 1.02 handshake with the game server (the
// token's first server address unless o.Server is set): it sends the
// connection request until a challenge arrives, then the challenge response
// until a keep-alive arrives, each packet every RetryInterval up to
// Attempts times within ctx. A connection denied packet gives a
// *DeniedError (errors.Is ErrDenied); a server that ignores the request (a
// token it does not accept) gives ErrNoAnswer.
func Connect(ctx context.Context, token *netcode.ConnectToken, o ConnectOptions) (*Conn, error) {
	if token == nil {
		return nil, errors.New("connect: no token")
	}
	server := o.Server
	if !server.IsValid() {
		if len(token.ServerAddrs) == 0 {
			return nil, errors.New("connect: the token names no server address")
		}
		server = token.ServerAddrs[0]
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultConnectAttempts
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	c, err := newConn(token, server, o)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", server, err)
	}
	if err := c.handshake(ctx, token); err != nil {
		c.uc.Close()
		return nil, fmt.Errorf("connect to %s: %w", server, err)
	}
	go c.readLoop()
	return c, nil
}

func newConn(token *netcode.ConnectToken, server netip.AddrPort, o ConnectOptions) (*Conn, error) {
	send, err := newAEAD(&token.ClientToServerKey)
	if err != nil {
		return nil, err
	}
	recv, err := newAEAD(&token.ServerToClientKey)
	if err != nil {
		return nil, err
	}
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil, err
	}
	c := &Conn{
		uc: uc, server: server, protocolID: token.ProtocolID, send: send, recv: recv,
		attempts: o.Attempts, interval: o.RetryInterval,
		changed: make(chan struct{}), payloads: make(chan []byte, payloadQueue), readDone: make(chan struct{}),
	}
	if token.TimeoutSeconds > 0 {
		c.timeout = time.Duration(token.TimeoutSeconds) * time.Second
	}
	return c, nil
}

// handshake sends the request, then the challenge response.
func (c *Conn) handshake(ctx context.Context, token *netcode.ConnectToken) error {
	req, _ := token.ConnectionRequest().MarshalBinary()
	var challenge []byte
	err := c.exchange(ctx, func() []byte { return req }, func(typ byte, data []byte) (bool, error) {
		switch typ {
		case packetDenied:
			return true, &DeniedError{}
		case packetChallenge:
			challenge = data
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	return c.exchange(ctx, func() []byte { return c.seal(packetResponse, challenge) }, func(typ byte, data []byte) (bool, error) {
		switch typ {
		case packetDenied:
			return true, &DeniedError{}
		case packetKeepAlive:
			c.index = binary.LittleEndian.Uint32(data)
			c.maxClients = binary.LittleEndian.Uint32(data[4:])
			return true, nil
		}
		return false, nil // payloads before connecting are dropped
	})
}

// seal returns the next packet of type typ to the server.
func (c *Conn) seal(typ byte, data []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := sealPacket(c.send, c.protocolID, typ, c.sendSeq, data)
	c.sendSeq++
	return b
}

// open reads a packet from the server: its type and body.
func (c *Conn) open(b []byte) (byte, []byte, bool) {
	h, err := readHeader(b, func(typ byte) bool { return typ != packetResponse })
	if err != nil {
		return 0, nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := openPacket(c.recv, c.protocolID, h, &c.replay)
	return h.typ, data, err == nil
}

// exchange sends out() and reads packets until match says done, resending
// every interval up to attempts times, within ctx.
func (c *Conn) exchange(ctx context.Context, out func() []byte, match func(typ byte, data []byte) (bool, error)) error {
	stop := context.AfterFunc(ctx, func() { _ = c.uc.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, MaxPacketSize+1)
	var lastErr error
	for range c.attempts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := c.uc.Write(out()); err != nil {
			return err
		}
		deadline := time.Now().Add(c.interval)
		if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
		_ = c.uc.SetReadDeadline(deadline)
		for {
			n, err := c.uc.Read(buf)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
					break
				}
				if errors.Is(err, net.ErrClosed) {
					return err
				}
				// Typically "connection refused": an ICMP answer to an
				// earlier packet, reported once. Packets already queued
				// may follow, so keep reading until the deadline.
				lastErr = err
				continue
			}
			if n > MaxPacketSize {
				continue
			}
			typ, data, ok := c.open(buf[:n])
			if !ok {
				continue
			}
			if done, err := match(typ, data); done {
				_ = c.uc.SetReadDeadline(time.Time{})
				return err
			}
		}
	}
	if lastErr != nil {
		return fmt.Errorf("%w after %d attempts: %w", ErrNoAnswer, c.attempts, lastErr)
	}
	return fmt.Errorf("%w after %d attempts", ErrNoAnswer, c.attempts)
}

// readLoop reads the server's packets until Close.
func (c *Conn) readLoop() {
	defer close(c.readDone)
	buf := make([]byte, MaxPacketSize+1)
	for {
		n, err := c.uc.Read(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			// The handshake's context ended just as it completed.
			_ = c.uc.SetReadDeadline(time.Time{})
			continue
		}
		if err != nil || n > MaxPacketSize {
			continue // an ICMP error, or too large: UDP goes on
		}
		typ, data, ok := c.open(buf[:n])
		if !ok {
			continue
		}
		c.mu.Lock()
		switch typ {
		case packetPayload:
			select {
			case c.payloads <- data:
			default:
			}
		case packetDisconnect:
			c.disconnected = true
		}
		c.received++
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// ClientIndex is the client's slot on the server, from its keep-alive.
func (c *Conn) ClientIndex() uint32 { return c.index }

// MaxClients is the server's number of slots, from its keep-alive.
func (c *Conn) MaxClients() uint32 { return c.maxClients }

// RemoteAddr is the game server's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.server }

// LocalAddr is the client's UDP address.
func (c *Conn) LocalAddr() netip.AddrPort {
	return c.uc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Timeout is the connection timeout from the token: the server disconnects
// a client that sends nothing for this long. 0 means none.
func (c *Conn) Timeout() time.Duration { return c.timeout }

// state returns what the reader saw so far and a channel closed on the
// next packet.
func (c *Conn) state() (received uint64, disconnected bool, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received, c.disconnected, c.changed
}

// Keepalive sends a keep-alive packet and waits until the server sends
// anything, resending as Connect does. It returns ErrServerDisconnected
// once the server disconnected the client.
func (c *Conn) Keepalive(ctx context.Context) error {
	start, _, _ := c.state()
	for range c.attempts {
		if _, gone, _ := c.state(); gone {
			return ErrServerDisconnected
		}
		if _, err := c.uc.Write(c.seal(packetKeepAlive, keepAliveBody(0, 0))); err != nil {
			return err
		}
		t := time.NewTimer(c.interval)
		for waiting := true; waiting; {
			n, gone, changed := c.state()
			switch {
			case gone:
				t.Stop()
				return ErrServerDisconnected
			case n > start:
				t.Stop()
				return nil
			}
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
				waiting = false
			case <-changed:
			}
		}
	}
	return fmt.Errorf("%w after %d attempts", ErrNoAnswer, c.attempts)
}

// Send sends one payload (1 to MaxPayloadSize bytes) to the server.
func (c *Conn) Send(payload []byte) error {
	if len(payload) < 1 || len(payload) > MaxPayloadSize {
		return fmt.Errorf("payload of %d bytes: want 1 to %d", len(payload), MaxPayloadSize)
	}
	if _, gone, _ := c.state(); gone {
		return ErrServerDisconnected
	}
	_, err := c.uc.Write(c.seal(packetPayload, payload))
	return err
}

// Receive returns the next payload from the server.
func (c *Conn) Receive(ctx context.Context) ([]byte, error) {
	for {
		select {
		case p := <-c.payloads:
			return p, nil
		default:
		}
		_, gone, changed := c.state()
		if gone {
			return nil, ErrServerDisconnected
		}
		select {
		case p := <-c.payloads:
			return p, nil
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close sends disconnect packets (a few: UDP may lose one) unless the
// server disconnected the client, closes the socket and waits for the
// reader.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if _, gone, _ := c.state(); !gone {
			for range disconnectRepeats {
				if _, err := c.uc.Write(c.seal(packetDisconnect, nil)); err != nil {
					break
				}
			}
		}
		c.closeErr = c.uc.Close()
		<-c.readDone
	})
	return c.closeErr
}
