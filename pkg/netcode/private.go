package netcode

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PrivateData is the decrypted private part of a connect token: what only
// the game server, which holds the private key, can read.
type PrivateData struct {
	ClientID uint64
	// TimeoutSeconds is the connection timeout; negative means none.
	TimeoutSeconds int32
	// ServerAddrs is the private address list: Lightyear's internal
	// addresses when the token was minted with them, else the public list.
	ServerAddrs       []netip.AddrPort
	ClientToServerKey [KeySize]byte
	ServerToClientKey [KeySize]byte
	UserData          [UserDataSize]byte
}

// putPrivate writes the private plaintext of pd at the start of b, which is
// at least plaintextSize long, and returns the number of bytes written. The
// rest of the plaintext must be zero.
func putPrivate(b []byte, pd *PrivateData, enc IPv6Encoding) int {
	binary.LittleEndian.PutUint64(b, pd.ClientID)
	binary.LittleEndian.PutUint32(b[8:], uint32(pd.TimeoutSeconds))
	n := 12 + putAddrs(b[12:], pd.ServerAddrs, enc)
	n += copy(b[n:], pd.ClientToServerKey[:])
	n += copy(b[n:], pd.ServerToClientKey[:])
	return n + copy(b[n:], pd.UserData[:])
}

// parsePrivate reads a private plaintext.
func parsePrivate(b []byte, enc IPv6Encoding) (*PrivateData, error) {
	r := reader{b: b}
	pd := &PrivateData{ClientID: r.u64(), TimeoutSeconds: int32(r.u32())}
	addrs, err := r.addrs("private server address", enc)
	if err != nil {
		return nil, err
	}
	pd.ServerAddrs = addrs
	r.array(pd.ClientToServerKey[:])
	r.array(pd.ServerToClientKey[:])
	r.array(pd.UserData[:])
	if r.short {
		return nil, fmt.Errorf("%w: private data runs past the end", ErrLength)
	}
	return pd, nil
}

// decryptPrivate is the one implementation behind ConnectToken.Decrypt and
// ConnectionRequest.Decrypt. ad is the 29-byte associated data as read from
// the input, sealed the 1024 bytes of encrypted private data.
func decryptPrivate(key PrivateKey, protocolID uint64, ad, nonce, sealed []byte, enc IPv6Encoding) (*PrivateData, error) {
	if got := binary.LittleEndian.Uint64(ad[len(VersionInfo):]); got != protocolID {
		return nil, fmt.Errorf("%w: token is for protocol id %d, want %d", ErrProtocolID, got, protocolID)
	}
	if !enc.valid() {
		return nil, fmt.Errorf("netcode: unknown IPv6 encoding %d", uint8(enc))
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, 0, plaintextSize)
	plain, err = aead.Open(plain, nonce, sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("%w: wrong private key, or the token was altered", ErrDecrypt)
	}
	return parsePrivate(plain, enc)
}
