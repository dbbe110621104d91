package simserver

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/netcode"
)

// handle processes one datagram from a peer and returns the packets to send
// back, in order. It runs only on the read goroutine and never panics on
// any input.
func (s *UDPServer) handle(from netip.AddrPort, b []byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	if b[0] == packetRequest {
		if len(b) != ConnectionRequestSize {
			return nil
		}
		return s.handleRequest(from, b)
	}
	h, err := readHeader(b, func(typ byte) bool {
		return typ == packetResponse || typ == packetKeepAlive || typ == packetPayload || typ == packetDisconnect
	})
	if err != nil {
		return nil
	}
	s.mu.Lock()
	p := s.byAddr[from]
	if p == nil || s.closing {
		s.mu.Unlock()
		return nil
	}
	data, err := openPacket(p.recv, s.protoID, h, &p.replay)
	if err != nil {
		s.mu.Unlock()
		return nil
	}
	if h.typ == packetResponse {
		s.mu.Unlock()
		return s.handleResponse(p, data)
	}
	reply, left := s.connectedPacketLocked(p, h.typ, data)
	s.mu.Unlock()
	if left {
		s.disconnected(p, "client left")
	}
	return reply
}

// connectedPacketLocked handles a keep-alive, payload or disconnect packet
// of p; left means p disconnected.
func (s *UDPServer) connectedPacketLocked(p *peer, typ byte, data []byte) (reply [][]byte, left bool) {
	if !p.connected {
		return nil, false // sent before connecting: ignore
	}
	switch typ {
	case packetKeepAlive:
		p.lastRecv, p.confirmed = s.now(), true
	case packetPayload:
		p.lastRecv, p.confirmed = s.now(), true
		return [][]byte{p.seal(s.protoID, packetPayload, data)}, false // the simulated game echoes
	case packetDisconnect:
		s.removeLocked(p)
		return nil, true
	}
	return nil, false
}

// refuse logs and reports why the server refuses a connection.
func (s *UDPServer) refuse(from netip.AddrPort, r DenyReason, attrs ...any) {
	s.log.DebugContext(s.ctx, "connection refused", append([]any{"addr", from.String(), "reason", r.String()}, attrs...)...)
	if s.onDeny != nil {
		s.onDeny(from, r)
	}
}

// checkRequest applies the standard's checks of a connection request that
// need no server state: it returns the private connect token data, or nil
// when the request is to be ignored.
func (s *UDPServer) checkRequest(from netip.AddrPort, b []byte) (*netcode.ConnectionRequest, *netcode.PrivateData) {
	req, err := netcode.ParseConnectionRequest(b)
	if err != nil {
		return nil, nil // not a netcode 1.02 request: not for us
	}
	if req.ProtocolID != s.protoID {
		s.refuse(from, DenyProtocolID, "protocol_id", req.ProtocolID)
		return nil, nil
	}
	if req.Expired(s.now()) {
		s.refuse(from, DenyExpired)
		return nil, nil
	}
	pd, err := req.Decrypt(s.key, s.protoID)
	if err != nil {
		s.refuse(from, DenyInvalidToken, "err", err)
		return nil, nil
	}
	if !slices.ContainsFunc(pd.ServerAddrs, func(a netip.AddrPort) bool {
		return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) == s.public
	}) {
		s.refuse(from, DenyWrongServer, "client_id", pd.ClientID)
		return nil, nil
	}
	return req, pd
}

// handleRequest answers a connection request with a challenge, a denied
// packet, or nothing, as netcode 1.02 orders.
func (s *UDPServer) handleRequest(from netip.AddrPort, b []byte) [][]byte {
	req, pd := s.checkRequest(from, b)
	if pd == nil {
		return nil
	}
	var mac [tagSize]byte
	copy(mac[:], req.PrivateData[len(req.PrivateData)-tagSize:])
	now := s.now()

	s.mu.Lock()
	p, reply, done := s.requestLocked(from, pd, mac, tokenExpiry(req.ExpireTimestamp, now), now)
	s.mu.Unlock()
	if done {
		return reply
	}
	reason, err := s.authorize(pd.ClientID)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || len(s.byAddr)-len(s.byID) >= maxPending {
		return nil
	}
	s.byAddr[from] = p
	if err != nil {
		s.refuse(from, reason, "client_id", pd.ClientID, "err", err)
		p.denied = true
		return [][]byte{p.seal(s.protoID, packetDenied, nil)}
	}
	return [][]byte{s.challengeLocked(p)}
}

// tokenExpiry is when a token expiring at the unix second expire stops
// being remembered (at most a day from now: never-expiring dev tokens).
func tokenExpiry(expire uint64, now time.Time) time.Time {
	limit := now.Add(24 * time.Hour)
	if expire >= uint64(math.MaxInt64) || time.Unix(int64(expire), 0).After(limit) {
		return limit
	}
	return time.Unix(int64(expire), 0)
}

// requestLocked applies the checks of a connection request against the
// server's state. done means reply is the whole answer; otherwise p is a
// new handshake for from, to be authorized and stored.
func (s *UDPServer) requestLocked(from netip.AddrPort, pd *netcode.PrivateData, mac [tagSize]byte, until, now time.Time) (p *peer, reply [][]byte, done bool) {
	if s.closing {
		return nil, nil, true
	}
	existing := s.byAddr[from]
	if existing != nil && existing.connected {
		return nil, nil, true // this address is connected: ignore
	}
	if _, ok := s.byID[pd.ClientID]; ok {
		s.refuse(from, DenyAlreadyConnected, "client_id", pd.ClientID)
		return nil, nil, true
	}
	if u, ok := s.used[mac]; ok && u.addr != from {
		s.refuse(from, DenyTokenInUse, "client_id", pd.ClientID)
		return nil, nil, true
	}
	if _, ok := s.used[mac]; !ok && len(s.used) < maxUsedTokens {
		s.used[mac] = usedToken{addr: from, until: until}
	}
	if existing != nil && existing.clientID == pd.ClientID {
		// A resent request: answer as before, without asking again.
		if existing.denied {
			return nil, [][]byte{existing.seal(s.protoID, packetDenied, nil)}, true
		}
		return nil, [][]byte{s.challengeLocked(existing)}, true
	}
	p, err := newPeer(from, pd, now)
	if err != nil {
		return nil, nil, true
	}
	if len(s.byID) >= s.max {
		s.refuse(from, DenyServerFull, "client_id", pd.ClientID)
		p.denied = true
		s.byAddr[from] = p
		return nil, [][]byte{p.seal(s.protoID, packetDenied, nil)}, true
	}
	return p, nil, false
}

// newPeer makes the encryption mapping of a connect token's private data.
func newPeer(from netip.AddrPort, pd *netcode.PrivateData, now time.Time) (*peer, error) {
	recv, err := newAEAD(&pd.ClientToServerKey)
	if err != nil {
		return nil, err
	}
	send, err := newAEAD(&pd.ServerToClientKey)
	if err != nil {
		return nil, err
	}
	p := &peer{addr: from, clientID: pd.ClientID, recv: recv, send: send, lastRecv: now, expires: now.Add(pendingTimeout)}
	if pd.TimeoutSeconds > 0 {
		p.timeout = time.Duration(pd.TimeoutSeconds) * time.Second
		p.expires = now.Add(p.timeout)
	}
	return p, nil
}

// challengeLocked returns a challenge packet for p with a new challenge
// token.
func (s *UDPServer) challengeLocked(p *peer) []byte {
	seq := s.challengeSeq
	s.challengeSeq++
	var userData [netcode.UserDataSize]byte // the simulated game has none
	token := sealChallenge(s.challengeKey, seq, p.clientID, &userData)
	return p.seal(s.protoID, packetChallenge, challengeBody(seq, token))
}

// handleResponse connects the client of a valid challenge response: the
// Admitter records it (active_connections) and the server answers with a
// keep-alive packet.
func (s *UDPServer) handleResponse(p *peer, data []byte) [][]byte {
	seq := binary.LittleEndian.Uint64(data)
	id, _, err := openChallenge(s.challengeKey, seq, data[8:])
	s.mu.Lock()
	switch {
	case err != nil || id != p.clientID || p.connected || p.denied || s.byAddr[p.addr] != p:
		s.mu.Unlock()
		return nil
	case s.byID[id] != nil:
		s.mu.Unlock()
		s.refuse(p.addr, DenyAlreadyConnected, "client_id", id)
		return nil
	case len(s.byID) >= s.max:
		defer s.mu.Unlock()
		s.refuse(p.addr, DenyServerFull, "client_id", id)
		p.denied = true
		return [][]byte{p.seal(s.protoID, packetDenied, nil)}
	}
	s.mu.Unlock()

	reason, err := s.admit(id)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.refuse(p.addr, reason, "client_id", id, "err", err)
		p.denied = true
		return [][]byte{p.seal(s.protoID, packetDenied, nil)}
	}
	if s.closing || s.byAddr[p.addr] != p {
		// Closed or expired meanwhile: undo the record.
		s.mu.Unlock()
		s.disconnected(p, "handshake abandoned")
		s.mu.Lock()
		return nil
	}
	p.index = uint32(slices.Index(s.slots, nil))
	s.slots[p.index] = p
	s.byID[id] = p
	p.connected, p.lastRecv = true, s.now()
	s.log.InfoContext(s.ctx, "game client connected", "client_id", id, "addr", p.addr.String(), "client_index", p.index, "timeout", p.timeout)
	return [][]byte{s.keepAliveLocked(p)}
}

// authorize asks the Admitter whether a client may connect; the reason is
// meaningful only with an error.
func (s *UDPServer) authorize(id uint64) (DenyReason, error) {
	if s.admitter == nil {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.admitTO)
	defer cancel()
	return s.denyReason(ctx, id, s.admitter.Authorize(ctx, id))
}

// admit asks the Admitter again and records the connection.
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
	return s.denyReason(ctx, id, err)
}

func (s *UDPServer) denyReason(ctx context.Context, id uint64, err error) (DenyReason, error) {
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
