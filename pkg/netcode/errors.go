package netcode

import "errors"

// Errors returned by the parsing and decryption functions, wrapped with
// details. Test for them with errors.Is.
var (
	// ErrLength: the input is not exactly the size of a connect token
	// (2048 bytes) or of a connection request packet (1078 bytes).
	ErrLength = errors.New("netcode: wrong length")
	// ErrVersion: the version info is not "NETCODE 1.02\x00".
	ErrVersion = errors.New("netcode: unsupported version info")
	// ErrPacketType: a connection request does not start with prefix byte 0.
	ErrPacketType = errors.New("netcode: not a connection request packet")
	// ErrTimestamps: the create timestamp is after the expire timestamp.
	ErrTimestamps = errors.New("netcode: create timestamp after expire timestamp")
	// ErrAddressCount: the server address count is not in 1..32.
	ErrAddressCount = errors.New("netcode: bad server address count")
	// ErrAddressType: an address type is not 1 (IPv4) or 2 (IPv6), or an
	// address cannot be encoded.
	ErrAddressType = errors.New("netcode: bad server address")
	// ErrPadding: the bytes after the public fields are not all zero.
	ErrPadding = errors.New("netcode: non-zero padding")
	// ErrProtocolID: the token is for another protocol id than expected.
	ErrProtocolID = errors.New("netcode: protocol id mismatch")
	// ErrDecrypt: the private part does not authenticate: wrong key, tampered
	// bytes, or a changed protocol id or expire timestamp.
	ErrDecrypt = errors.New("netcode: private data does not decrypt")
)
