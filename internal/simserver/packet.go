package simserver

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bevygap/bevygap/pkg/netcode"
)

// Packet types of the simulated game server's protocol (see the package
// documentation). The connection request is netcode's, prefix byte 0.
const (
	PacketAccept     byte = 0xB0
	PacketDeny       byte = 0xB1
	PacketDisconnect byte = 0xB2
	PacketKeepalive  byte = 0xB3
)

// Packet sizes.
const (
	// MaxPacketSize is the largest datagram the server and the client read;
	// larger ones are dropped.
	MaxPacketSize = 1200
	// ConnectionRequestSize is netcode's connection request packet.
	ConnectionRequestSize = netcode.ConnectionRequestSize
	// controlPacketSize is the size of accept, disconnect and keepalive.
	controlPacketSize = 1 + 8 + tagSize
	denyPacketSize    = 2
	tagSize           = 8
)

// DenyReason says why the server refused a connection request. It is the
// second byte of a deny packet.
type DenyReason uint8

// Deny reasons.
const (
	// DenyInvalidToken: the private part does not decrypt (a token minted
	// with another key, or altered bytes).
	DenyInvalidToken DenyReason = 1
	// DenyExpired: the token's expire timestamp has passed.
	DenyExpired DenyReason = 2
	// DenyProtocolID: the token is for another protocol id.
	DenyProtocolID DenyReason = 3
	// DenyWrongServer: the token's private address list does not contain
	// this server's public address.
	DenyWrongServer DenyReason = 4
	// DenyUnknownClient: no seat (sessions_ly2eg) for the client id.
	DenyUnknownClient DenyReason = 5
	// DenyAlreadyConnected: the client id, or its session, is connected.
	DenyAlreadyConnected DenyReason = 6
	// DenySeatUsed: the client id connected before and left; a reconnect
	// needs a new seat (a new client id).
	DenySeatUsed DenyReason = 7
	// DenyServerFull: the server has its maximum number of clients.
	DenyServerFull DenyReason = 8
	// DenyInternal: the server could not check or record the seat (for
	// example NATS is unreachable).
	DenyInternal DenyReason = 9
)

var denyNames = map[DenyReason]string{
	DenyInvalidToken:     "invalid token",
	DenyExpired:          "token expired",
	DenyProtocolID:       "wrong protocol id",
	DenyWrongServer:      "token is for another server",
	DenyUnknownClient:    "unknown client",
	DenyAlreadyConnected: "already connected",
	DenySeatUsed:         "seat already used",
	DenyServerFull:       "server full",
	DenyInternal:         "internal server error",
}

// String describes the reason in a few words.
func (r DenyReason) String() string {
	if s, ok := denyNames[r]; ok {
		return s
	}
	return fmt.Sprintf("unknown reason %d", uint8(r))
}

// ErrDenied matches every *DeniedError.
var ErrDenied = errors.New("connection denied")

// DeniedError is returned by Connect when the server answers with a deny
// packet.
type DeniedError struct {
	Reason DenyReason
}

// Error implements error.
func (e *DeniedError) Error() string {
	return fmt.Sprintf("connection denied: %s", e.Reason)
}

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// control is the body shared by accept, disconnect and keepalive packets.
type control struct {
	typ      byte
	clientID uint64
	tag      [tagSize]byte
}

func (c control) marshal() []byte {
	b := make([]byte, controlPacketSize)
	b[0] = c.typ
	binary.LittleEndian.PutUint64(b[1:], c.clientID)
	copy(b[9:], c.tag[:])
	return b
}

// parseControl parses an accept, disconnect or keepalive packet.
func parseControl(b []byte) (control, bool) {
	if len(b) != controlPacketSize {
		return control{}, false
	}
	switch b[0] {
	case PacketAccept, PacketDisconnect, PacketKeepalive:
	default:
		return control{}, false
	}
	c := control{typ: b[0], clientID: binary.LittleEndian.Uint64(b[1:])}
	copy(c.tag[:], b[9:])
	return c, true
}

func denyPacket(r DenyReason) []byte { return []byte{PacketDeny, byte(r)} }
