package simserver

import (
	"errors"
	"fmt"
)

// DenyReason says why the server refused a connection. netcode 1.02 has no
// room for it on the wire: the server ignores requests the standard tells it
// to ignore (a standard client then times out) and answers the others with
// a connection denied packet; either way it logs the reason and reports it
// to ServerConfig.OnDeny.
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
	// DenyTokenInUse: the connect token was sent from another address
	// first.
	DenyTokenInUse DenyReason = 10
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
	DenyTokenInUse:       "token in use from another address",
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

// DeniedError is returned by Connect when the server answers with a
// connection denied packet (an unknown or used seat, a full server).
type DeniedError struct{}

// Error implements error.
func (e *DeniedError) Error() string { return "connection denied by the game server" }

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }
