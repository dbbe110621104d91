package simserver

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/bevygap/bevygap/pkg/netcode"
)

// Packet types of netcode 1.02: the low 4 bits of a packet's prefix byte.
const (
	packetRequest    byte = 0
	packetDenied     byte = 1
	packetChallenge  byte = 2
	packetResponse   byte = 3
	packetKeepAlive  byte = 4
	packetPayload    byte = 5
	packetDisconnect byte = 6
	numPacketTypes   byte = 7
)

// Packet sizes.
const (
	// MaxPacketSize is the largest datagram the server and the client read
	// (a payload packet with the largest payload); larger ones are dropped.
	MaxPacketSize = maxPacketHeader + MaxPayloadSize + tagSize
	// MaxPayloadSize is the largest payload of a payload packet.
	MaxPayloadSize = 1200
	// ConnectionRequestSize is netcode's connection request packet.
	ConnectionRequestSize = netcode.ConnectionRequestSize

	// challengeTokenSize is the encrypted challenge token, tag included.
	challengeTokenSize = 300
	// challengeDataSize is the body of challenge and response packets:
	// the challenge token sequence and the encrypted challenge token.
	challengeDataSize = 8 + challengeTokenSize
	// keepAliveDataSize is the body of a keep-alive packet: client index
	// and max clients.
	keepAliveDataSize = 8
	// minEncryptedSize is the smallest encrypted packet the standard reads
	// (prefix byte, one sequence byte, empty body, tag).
	minEncryptedSize = 18
	// tagSize is the Poly1305 tag.
	tagSize = chacha20poly1305.Overhead
	// replayWindow is how many recent sequence numbers replay protection
	// remembers per peer.
	replayWindow = 256
	// maxPacketHeader is the prefix byte and an 8-byte sequence number.
	maxPacketHeader = 1 + 8
)

// errPacket is why an encrypted packet is ignored; never shown to a peer.
var errPacket = errors.New("netcode: bad packet")

// packetNonce is the 96-bit nonce of a packet or challenge token: four
// zero bytes, then the sequence number, little-endian.
func packetNonce(seq uint64) []byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.LittleEndian.PutUint64(n[4:], seq)
	return n[:]
}

// associatedData is what every encrypted packet authenticates besides its
// body: version info, protocol id and the prefix byte.
func associatedData(protocolID uint64, prefix byte) []byte {
	ad := make([]byte, 0, len(netcode.VersionInfo)+8+1)
	ad = append(ad, netcode.VersionInfo...)
	ad = binary.LittleEndian.AppendUint64(ad, protocolID)
	return append(ad, prefix)
}

// sequenceBytes is how many bytes seq needs with its high zero bytes
// omitted (at least one).
func sequenceBytes(seq uint64) int {
	n := 1
	for seq >>= 8; seq != 0; seq >>= 8 {
		n++
	}
	return n
}

// sealPacket returns the encrypted packet of type typ (>= 1) with sequence
// number seq and body data, sealed with key for protocolID.
func sealPacket(key cipher.AEAD, protocolID uint64, typ byte, seq uint64, data []byte) []byte {
	n := sequenceBytes(seq)
	prefix := byte(n<<4) | typ
	b := make([]byte, 0, 1+n+len(data)+tagSize)
	b = append(b, prefix)
	for s, i := seq, 0; i < n; i++ {
		b = append(b, byte(s))
		s >>= 8
	}
	return key.Seal(b, packetNonce(seq), data, associatedData(protocolID, prefix))
}

// packetHeader is what can be read of an encrypted packet before
// decrypting it.
type packetHeader struct {
	typ    byte
	seq    uint64
	prefix byte
	sealed []byte // body and tag
}

// readHeader checks an encrypted packet's size, type and sequence bytes as
// the standard orders (its steps before replay protection and decryption);
// accept says which packet types the reader takes.
func readHeader(b []byte, accept func(typ byte) bool) (packetHeader, error) {
	if len(b) < minEncryptedSize {
		return packetHeader{}, errPacket
	}
	prefix := b[0]
	typ := prefix & 0x0f
	if typ == packetRequest || typ >= numPacketTypes || !accept(typ) {
		return packetHeader{}, errPacket
	}
	n := int(prefix >> 4)
	if n < 1 || n > 8 || len(b) < 1+n+tagSize {
		return packetHeader{}, errPacket
	}
	var seq uint64
	for i := n; i >= 1; i-- {
		seq = seq<<8 | uint64(b[i])
	}
	return packetHeader{typ: typ, seq: seq, prefix: prefix, sealed: b[1+n:]}, nil
}

// openPacket decrypts the body of a packet read with readHeader, applying
// replay protection to the packet types that need it (rp may be nil for a
// peer without one yet), and checks the body's size for its type.
func openPacket(key cipher.AEAD, protocolID uint64, h packetHeader, rp *replayProtection) ([]byte, error) {
	protected := h.typ == packetKeepAlive || h.typ == packetPayload || h.typ == packetDisconnect
	if protected && rp != nil && rp.received(h.seq) {
		return nil, errPacket
	}
	data, err := key.Open(nil, packetNonce(h.seq), h.sealed, associatedData(protocolID, h.prefix))
	if err != nil {
		return nil, errPacket
	}
	if protected && rp != nil {
		rp.advance(h.seq)
	}
	if !bodySizeOK(h.typ, len(data)) {
		return nil, errPacket
	}
	return data, nil
}

// bodySizeOK checks a decrypted body's size for its packet type.
func bodySizeOK(typ byte, n int) bool {
	switch typ {
	case packetDenied, packetDisconnect:
		return n == 0
	case packetChallenge, packetResponse:
		return n == challengeDataSize
	case packetKeepAlive:
		return n == keepAliveDataSize
	case packetPayload:
		return n >= 1 && n <= MaxPayloadSize
	}
	return false
}

// replayProtection remembers which of the last replayWindow sequence
// numbers of a peer arrived, so that a recorded packet replayed later is
// ignored.
type replayProtection struct {
	any    bool // a sequence number arrived
	latest uint64
	seen   [replayWindow]uint64 // seq+1 of the packet in each slot; 0: none
}

// received reports whether seq must be ignored: it is older than the
// window, or it arrived already.
func (r *replayProtection) received(seq uint64) bool {
	if !r.any {
		return false
	}
	if seq+replayWindow <= r.latest {
		return true
	}
	return r.seen[seq%replayWindow] == seq+1
}

// advance records seq after its packet decrypted.
func (r *replayProtection) advance(seq uint64) {
	if !r.any || seq > r.latest {
		r.latest, r.any = seq, true
	}
	r.seen[seq%replayWindow] = seq + 1
}

// challengePlainSize is the challenge token before encryption: client id,
// user data, zero padding.
const challengePlainSize = challengeTokenSize - tagSize

// sealChallenge encrypts a challenge token (client id and user data) with
// the server's challenge key and sequence number; no associated data.
func sealChallenge(key cipher.AEAD, seq, clientID uint64, userData *[netcode.UserDataSize]byte) []byte {
	plain := make([]byte, challengePlainSize)
	binary.LittleEndian.PutUint64(plain, clientID)
	copy(plain[8:], userData[:])
	return key.Seal(plain[:0], packetNonce(seq), plain, nil)
}

// openChallenge decrypts a challenge token sealed by sealChallenge.
func openChallenge(key cipher.AEAD, seq uint64, sealed []byte) (clientID uint64, userData [netcode.UserDataSize]byte, err error) {
	if len(sealed) != challengeTokenSize {
		return 0, userData, errPacket
	}
	plain, err := key.Open(nil, packetNonce(seq), sealed, nil)
	if err != nil {
		return 0, userData, errPacket
	}
	copy(userData[:], plain[8:])
	return binary.LittleEndian.Uint64(plain), userData, nil
}

// challengeBody is the body of a challenge or response packet.
func challengeBody(seq uint64, token []byte) []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, challengeDataSize), seq)
	return append(b, token...)
}

// keepAliveBody is the body of a keep-alive packet.
func keepAliveBody(index, maxClients uint32) []byte {
	b := binary.LittleEndian.AppendUint32(make([]byte, 0, keepAliveDataSize), index)
	return binary.LittleEndian.AppendUint32(b, maxClients)
}

// newAEAD returns the ChaCha20-Poly1305 (IETF) cipher of a key.
func newAEAD(key *[netcode.KeySize]byte) (cipher.AEAD, error) {
	return chacha20poly1305.New(key[:])
}
