package simserver

import (
	"context"
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
	disconnectRepeats      = 3
)

// ErrServerDisconnected is returned by Conn.Keepalive when the server sent
// a disconnect packet (timeout or shutdown).
var ErrServerDisconnected = errors.New("disconnected by the server")

// ErrNoAnswer is returned by Connect and Conn.Keepalive when the server
// did not answer any attempt.
var ErrNoAnswer = errors.New("no answer from the game server")

// ConnectOptions tune Connect.
type ConnectOptions struct {
	// Server is the address to send the request to. Default: the token's
	// first server address.
	Server netip.AddrPort
	// Attempts is how many times the request (or a keepalive) is sent
	// before giving up. Default DefaultConnectAttempts.
	Attempts int
	// RetryInterval is how long to wait for an answer before resending.
	// Default DefaultRetryInterval.
	RetryInterval time.Duration
}

// Conn is a client connection to a simulated game server.
type Conn struct {
	uc       *net.UDPConn
	server   netip.AddrPort
	clientID uint64
	tag      [tagSize]byte
	timeout  time.Duration
	attempts int
	interval time.Duration

	mu        sync.Mutex // one exchange at a time
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

// Connect sends the netcode connection request of token to the game server
// (the token's first server address unless o.Server is set), resending it
// every RetryInterval up to Attempts times within ctx, and waits for the
// server's accept (a *Conn) or deny (a *DeniedError, errors.Is ErrDenied).
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
	req, _ := token.ConnectionRequest().MarshalBinary()
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", server, err)
	}
	c := &Conn{uc: uc, server: server, attempts: o.Attempts, interval: o.RetryInterval}
	if token.TimeoutSeconds > 0 {
		c.timeout = time.Duration(token.TimeoutSeconds) * time.Second
	}
	var accepted bool
	err = c.exchange(ctx, req, func(b []byte) (bool, error) {
		if len(b) == denyPacketSize && b[0] == PacketDeny {
			return true, &DeniedError{Reason: DenyReason(b[1])}
		}
		p, ok := parseControl(b)
		if !ok || p.typ != PacketAccept {
			return false, nil
		}
		c.clientID, c.tag, accepted = p.clientID, p.tag, true
		return true, nil
	})
	if err != nil || !accepted {
		uc.Close()
		if err == nil {
			err = ErrNoAnswer
		}
		return nil, fmt.Errorf("connect to %s: %w", server, err)
	}
	return c, nil
}

// exchange sends out and reads answers until match says done, resending
// every interval up to attempts times, within ctx.
func (c *Conn) exchange(ctx context.Context, out []byte, match func([]byte) (bool, error)) error {
	stop := context.AfterFunc(ctx, func() { _ = c.uc.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, MaxPacketSize+1)
	var lastErr error
	for range c.attempts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := c.uc.Write(out); err != nil {
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
			if done, err := match(buf[:n]); done {
				return err
			}
		}
	}
	if lastErr != nil {
		return fmt.Errorf("%w after %d attempts: %w", ErrNoAnswer, c.attempts, lastErr)
	}
	return fmt.Errorf("%w after %d attempts", ErrNoAnswer, c.attempts)
}

// ClientID is the client id the server accepted (from the token's private
// part, which only the server can read).
func (c *Conn) ClientID() uint64 { return c.clientID }

// RemoteAddr is the game server's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.server }

// LocalAddr is the client's UDP address.
func (c *Conn) LocalAddr() netip.AddrPort {
	return c.uc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Timeout is the connection timeout from the token: the server disconnects
// a client that sends nothing for this long. 0 means none.
func (c *Conn) Timeout() time.Duration { return c.timeout }

// Keepalive sends a keepalive packet and waits for the server's answer,
// resending as Connect does. It returns ErrServerDisconnected when the
// server says the client is disconnected.
func (c *Conn) Keepalive(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := control{typ: PacketKeepalive, clientID: c.clientID, tag: c.tag}.marshal()
	return c.exchange(ctx, out, func(b []byte) (bool, error) {
		p, ok := parseControl(b)
		if !ok || p.clientID != c.clientID || p.tag != c.tag {
			return false, nil
		}
		switch p.typ {
		case PacketKeepalive:
			return true, nil
		case PacketDisconnect:
			return true, ErrServerDisconnected
		}
		return false, nil
	})
}

// Close sends the disconnect packet (a few times: UDP may lose one) and
// closes the socket.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		out := control{typ: PacketDisconnect, clientID: c.clientID, tag: c.tag}.marshal()
		for range disconnectRepeats {
			if _, err := c.uc.Write(out); err != nil {
				break
			}
		}
		c.closeErr = c.uc.Close()
	})
	return c.closeErr
}
