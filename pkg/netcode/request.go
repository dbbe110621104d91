package netcode

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// ConnectionRequestSize is the size of a netcode 1.02 CONNECTION REQUEST
// packet: prefix byte, version info, protocol id, expire timestamp, nonce
// and encrypted private data.
const ConnectionRequestSize = 1 + len(VersionInfo) + 8 + 8 + NonceSize + PrivateDataSize // 1078

// connectionRequestPrefix is the packet prefix byte of a connection request.
const connectionRequestPrefix = 0

// ConnectionRequest is the netcode CONNECTION REQUEST packet a client sends
// to a game server. It carries the still encrypted private part of the
// client's connect token.
type ConnectionRequest struct {
	ProtocolID      uint64
	ExpireTimestamp uint64
	Nonce           [NonceSize]byte
	// PrivateData is the encrypted private part, tag included.
	PrivateData [PrivateDataSize]byte

	ipv6 IPv6Encoding
}

// ConnectionRequest returns the connection request packet for t.
func (t *ConnectToken) ConnectionRequest() *ConnectionRequest {
	r := &ConnectionRequest{
		ProtocolID:      binary.LittleEndian.Uint64(t.raw[offProtocolID:]),
		ExpireTimestamp: binary.LittleEndian.Uint64(t.raw[offExpire:]),
		ipv6:            t.ipv6,
	}
	copy(r.Nonce[:], t.raw[offNonce:offPrivate])
	copy(r.PrivateData[:], t.raw[offPrivate:offTimeout])
	return r
}

// AppendBinary appends the 1078-byte packet to b. It never fails.
func (r *ConnectionRequest) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, connectionRequestPrefix)
	b = append(b, VersionInfo...)
	b = binary.LittleEndian.AppendUint64(b, r.ProtocolID)
	b = binary.LittleEndian.AppendUint64(b, r.ExpireTimestamp)
	b = append(b, r.Nonce[:]...)
	return append(b, r.PrivateData[:]...), nil
}

// MarshalBinary returns the 1078-byte packet. It never fails.
func (r *ConnectionRequest) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, ConnectionRequestSize))
}

// ParseConnectionRequest parses a connection request packet with
// Lightyear's IPv6 encoding. See ParseOptions.ParseConnectionRequest.
func ParseConnectionRequest(b []byte) (*ConnectionRequest, error) {
	return ParseOptions{}.ParseConnectionRequest(b)
}

// ParseConnectionRequest parses a connection request packet, checking its
// length (ErrLength), prefix byte (ErrPacketType) and version info
// (ErrVersion). The server then checks the protocol id and the private part
// with Decrypt, and expiry with Expired.
func (o ParseOptions) ParseConnectionRequest(b []byte) (*ConnectionRequest, error) {
	if !o.IPv6.valid() {
		return nil, fmt.Errorf("netcode: unknown IPv6 encoding %d", uint8(o.IPv6))
	}
	if len(b) != ConnectionRequestSize {
		return nil, fmt.Errorf("%w: connection request is %d bytes, want %d", ErrLength, len(b), ConnectionRequestSize)
	}
	if b[0] != connectionRequestPrefix {
		return nil, fmt.Errorf("%w: prefix byte is %d, want %d", ErrPacketType, b[0], connectionRequestPrefix)
	}
	rd := reader{b: b[1:]}
	if string(rd.next(len(VersionInfo))) != VersionInfo {
		return nil, fmt.Errorf("%w: connection request does not carry %q", ErrVersion, strings.TrimSuffix(VersionInfo, "\x00"))
	}
	r := &ConnectionRequest{ProtocolID: rd.u64(), ExpireTimestamp: rd.u64(), ipv6: o.IPv6}
	rd.array(r.Nonce[:])
	rd.array(r.PrivateData[:])
	return r, nil
}

// Expired reports whether the request's token has expired at now.
func (r *ConnectionRequest) Expired(now time.Time) bool { return expired(r.ExpireTimestamp, now) }

// Decrypt opens the private part of the request's token, exactly as
// ConnectToken.Decrypt does: ErrProtocolID when the request is for another
// protocol id (checked first), ErrDecrypt when the key is wrong or the
// packet was altered.
func (r *ConnectionRequest) Decrypt(key PrivateKey, protocolID uint64) (*PrivateData, error) {
	var ad [adSize]byte
	n := copy(ad[:], VersionInfo)
	binary.LittleEndian.PutUint64(ad[n:], r.ProtocolID)
	binary.LittleEndian.PutUint64(ad[n+8:], r.ExpireTimestamp)
	return decryptPrivate(key, protocolID, ad[:], r.Nonce[:], r.PrivateData[:], r.ipv6)
}
