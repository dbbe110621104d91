package netcode

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes and limits of the netcode 1.02 connect token.
const (
	// TokenSize is the size of an encoded connect token.
	TokenSize = 2048
	// TokenBase64Size is the length of [ConnectToken.Base64].
	TokenBase64Size = (TokenSize + 2) / 3 * 4
	// NonceSize is the size of the XChaCha20-Poly1305 nonce.
	NonceSize = chacha20poly1305.NonceSizeX
	// PrivateDataSize is the size of the encrypted private part, tag included.
	PrivateDataSize = 1024
	// UserDataSize is the size of the user data in the private part.
	UserDataSize = 256
	// MaxServerAddresses is the most server addresses a token can hold.
	MaxServerAddresses = 32
	// VersionInfo starts every token and connection request.
	VersionInfo = "NETCODE 1.02\x00"

	// DefaultExpireSeconds is the token lifetime used when
	// Params.ExpireSeconds is zero (Lightyear's default).
	DefaultExpireSeconds = 30
	// DefaultTimeoutSeconds is the connection timeout used when
	// Params.TimeoutSeconds is zero (Lightyear's default).
	DefaultTimeoutSeconds = 15
)

// Offsets in the token.
const (
	offProtocolID = len(VersionInfo)         // 13
	offCreate     = offProtocolID + 8        // 21
	offExpire     = offCreate + 8            // 29
	offNonce      = offExpire + 8            // 37
	offPrivate    = offNonce + NonceSize     // 61
	offTimeout    = offPrivate + privateSize // 1085
	offAddrs      = offTimeout + 4           // 1089

	privateSize   = PrivateDataSize
	plaintextSize = PrivateDataSize - chacha20poly1305.Overhead // 1008
	adSize        = len(VersionInfo) + 8 + 8                    // 29
	randomSize    = 2*KeySize + NonceSize                       // 88
)

// ConnectToken is a netcode 1.02 connect token: the public fields, the
// encoded bytes and, for a minted token, the private part.
//
// The exported fields are a decoded copy of the bytes, like the fields of an
// x509.Certificate: changing them changes neither [ConnectToken.Bytes] nor
// what [ConnectToken.Decrypt] and [ConnectToken.Expired] see, which always
// work on the bytes. The zero value is not a valid token.
//
// A token is about 2.6 KB. [Minter.Mint] returns it by value so that minting
// does not allocate it; [Parse] returns a pointer.
type ConnectToken struct {
	ProtocolID      uint64
	CreateTimestamp uint64 // unix seconds
	ExpireTimestamp uint64 // unix seconds; math.MaxUint64 means never
	Nonce           [NonceSize]byte
	// TimeoutSeconds is the connection timeout; negative means none.
	TimeoutSeconds int32
	// ServerAddrs is the public server address list the client connects to.
	ServerAddrs       []netip.AddrPort
	ClientToServerKey [KeySize]byte
	ServerToClientKey [KeySize]byte

	// Private is the private part as minted. Only Mint sets it: Parse
	// leaves it zero, because only the private key opens it (see Decrypt).
	Private PrivateData

	ipv6 IPv6Encoding
	raw  [TokenSize]byte
}

// Params describes a token to mint. The zero value of each optional field
// selects Lightyear's default.
type Params struct {
	// ServerAddrs is the public address list (1 to 32 addresses, IPv4 or
	// IPv6) that the client tries in order. IPv4-mapped IPv6 addresses
	// (::ffff:a.b.c.d) are written as IPv4; IPv6 zones are refused.
	ServerAddrs []netip.AddrPort
	// InternalAddrs, when set, is written into the private part instead of
	// ServerAddrs (Lightyear's internal_addresses): the addresses the game
	// server knows itself by, for example behind NAT.
	InternalAddrs []netip.AddrPort
	ProtocolID    uint64
	ClientID      uint64
	// ExpireSeconds is the token lifetime after its creation. Zero means
	// DefaultExpireSeconds (30); negative means the token never expires
	// (expire timestamp math.MaxUint64).
	ExpireSeconds int64
	// TimeoutSeconds is the connection timeout. Zero means
	// DefaultTimeoutSeconds (15); negative means no timeout and is written
	// as is (for example -1).
	TimeoutSeconds int32
	// UserData is carried in the private part for the game server.
	UserData [UserDataSize]byte
	// IPv6 selects the IPv6 address encoding; the zero value is
	// IPv6Lightyear.
	IPv6 IPv6Encoding
}

// Minter mints connect tokens sealed with one private key. It is safe for
// concurrent use as long as Rand is (crypto/rand is).
type Minter struct {
	// Rand supplies 88 random bytes per token: the client-to-server key
	// (32), the server-to-client key (32) and the nonce (24), in that order.
	// Nil means crypto/rand.
	Rand io.Reader
	// Now gives the create timestamp. Nil means time.Now.
	Now func() time.Time

	aead cipher.AEAD
}

// NewMinter returns a Minter for key. It prepares the cipher once, so create
// one Minter per key and reuse it. It fails only when XChaCha20-Poly1305 is
// unavailable (FIPS 140-only mode).
func NewMinter(key PrivateKey) (*Minter, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Minter{aead: aead}, nil
}

func newAEAD(key PrivateKey) (cipher.AEAD, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("netcode: %w", err)
	}
	return aead, nil
}

// scratch is per-mint working space, pooled so that minting does not
// allocate it. The plaintext is built and sealed here rather than in the
// token because slices passed to the cipher.AEAD interface escape: sealing
// in the token would force every token onto the heap.
type scratch struct {
	rnd    [randomSize]byte
	ad     [adSize]byte
	sealed [PrivateDataSize]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Mint creates a token from p with fresh keys and nonce. Errors name the
// offending parameter; address problems wrap ErrAddressCount or
// ErrAddressType.
//
// It returns the token by value: minting without a heap allocation for the
// 2.6 KB token keeps its cost close to that of the cryptography. The only
// allocation is the address lists.
func (m *Minter) Mint(p Params) (t ConnectToken, err error) {
	if m.aead == nil {
		return t, errors.New("netcode: Minter not created by NewMinter")
	}
	if err := checkAddrs("server address", p.ServerAddrs); err != nil {
		return t, err
	}
	if len(p.InternalAddrs) > 0 {
		if err := checkAddrs("internal address", p.InternalAddrs); err != nil {
			return t, err
		}
	}
	if !p.IPv6.valid() {
		return t, fmt.Errorf("netcode: unknown IPv6 encoding %d", uint8(p.IPv6))
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	create := now().Unix()
	if create < 0 {
		return t, fmt.Errorf("netcode: create time %d is before 1970", create)
	}
	expire := uint64(math.MaxUint64)
	switch {
	case p.ExpireSeconds == 0:
		expire = uint64(create) + DefaultExpireSeconds
	case p.ExpireSeconds > 0:
		expire = uint64(create) + uint64(p.ExpireSeconds) // both < 2^63: no overflow
	}
	timeout := p.TimeoutSeconds
	if timeout == 0 {
		timeout = DefaultTimeoutSeconds
	}

	s := scratchPool.Get().(*scratch)
	defer func() {
		clear(s.rnd[:]) // the per-token keys
		scratchPool.Put(s)
	}()
	if m.Rand == nil {
		_, _ = rand.Read(s.rnd[:]) // never fails: the program crashes instead
	} else if _, err := io.ReadFull(m.Rand, s.rnd[:]); err != nil {
		return t, fmt.Errorf("netcode: reading random bytes: %w", err)
	}

	// One backing array for both lists; the private list shares the public
	// one when no internal addresses are given.
	addrs := make([]netip.AddrPort, len(p.ServerAddrs)+len(p.InternalAddrs))
	public := addrs[:len(p.ServerAddrs):len(p.ServerAddrs)]
	copyUnmapped(public, p.ServerAddrs)
	private := public
	if len(p.InternalAddrs) > 0 {
		private = addrs[len(p.ServerAddrs):]
		copyUnmapped(private, p.InternalAddrs)
	}

	t.ProtocolID = p.ProtocolID
	t.CreateTimestamp = uint64(create)
	t.ExpireTimestamp = expire
	t.TimeoutSeconds = timeout
	t.ServerAddrs = public
	copy(t.ClientToServerKey[:], s.rnd[0:KeySize])
	copy(t.ServerToClientKey[:], s.rnd[KeySize:2*KeySize])
	copy(t.Nonce[:], s.rnd[2*KeySize:])
	t.ipv6 = p.IPv6
	pd := &t.Private
	pd.ClientID = p.ClientID
	pd.TimeoutSeconds = timeout
	pd.ServerAddrs = private
	pd.ClientToServerKey = t.ClientToServerKey
	pd.ServerToClientKey = t.ServerToClientKey
	pd.UserData = p.UserData

	putPublic(&t.raw, &t)
	plain := s.sealed[:plaintextSize]
	clear(plain[putPrivate(plain, pd, p.IPv6):])
	m.aead.Seal(plain[:0], s.rnd[2*KeySize:], plain, putAD(&s.ad, &t.raw))
	copy(t.raw[offPrivate:offTimeout], s.sealed[:])
	return t, nil
}

// copyUnmapped copies src to dst, turning IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d, as net.UDPAddr often holds them) into IPv4 ones.
func copyUnmapped(dst, src []netip.AddrPort) {
	for i, a := range src {
		if a.Addr().Is4In6() {
			a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		}
		dst[i] = a
	}
}

// putPublic writes every public field of t into raw. The padding must
// already be zero and the private part is left alone.
func putPublic(raw *[TokenSize]byte, t *ConnectToken) {
	copy(raw[:], VersionInfo)
	binary.LittleEndian.PutUint64(raw[offProtocolID:], t.ProtocolID)
	binary.LittleEndian.PutUint64(raw[offCreate:], t.CreateTimestamp)
	binary.LittleEndian.PutUint64(raw[offExpire:], t.ExpireTimestamp)
	copy(raw[offNonce:offPrivate], t.Nonce[:])
	binary.LittleEndian.PutUint32(raw[offTimeout:], uint32(t.TimeoutSeconds))
	n := offAddrs + putAddrs(raw[offAddrs:], t.ServerAddrs, t.ipv6)
	n += copy(raw[n:], t.ClientToServerKey[:])
	copy(raw[n:], t.ServerToClientKey[:])
}

// putAD writes the associated data (version info, protocol id, expire
// timestamp) of the token in raw into ad and returns it as a slice.
func putAD(ad *[adSize]byte, raw *[TokenSize]byte) []byte {
	n := copy(ad[:], raw[:offCreate])
	copy(ad[n:], raw[offExpire:offNonce])
	return ad[:]
}

// Bytes returns a copy of the 2048 encoded bytes.
func (t *ConnectToken) Bytes() []byte {
	b := make([]byte, TokenSize)
	copy(b, t.raw[:])
	return b
}

// MarshalBinary returns a copy of the 2048 encoded bytes. It never fails.
func (t *ConnectToken) MarshalBinary() ([]byte, error) { return t.Bytes(), nil }

// AppendBinary appends the 2048 encoded bytes to b. It never fails.
func (t *ConnectToken) AppendBinary(b []byte) ([]byte, error) { return append(b, t.raw[:]...), nil }

// Base64 returns the token as standard base64 with padding, the form the
// matchmaker hands to game clients.
func (t *ConnectToken) Base64() string {
	var buf [TokenBase64Size]byte
	base64.StdEncoding.Encode(buf[:], t.raw[:])
	return string(buf[:])
}

// Expired reports whether the token has expired at now: its expire
// timestamp is not after now. A token with expire timestamp
// math.MaxUint64 never expires.
func (t *ConnectToken) Expired(now time.Time) bool {
	return expired(binary.LittleEndian.Uint64(t.raw[offExpire:]), now)
}

func expired(expire uint64, now time.Time) bool {
	n := now.Unix()
	return n >= 0 && uint64(n) >= expire
}

// Decrypt opens the private part with key and checks its layout. It returns
// an error wrapping ErrProtocolID, without decrypting, when the token's
// protocol id is not protocolID, and one wrapping ErrDecrypt when the key is
// wrong or the token was altered. Decrypt does not check expiry; see
// Expired.
func (t *ConnectToken) Decrypt(key PrivateKey, protocolID uint64) (*PrivateData, error) {
	var ad [adSize]byte
	return decryptPrivate(key, protocolID, putAD(&ad, &t.raw),
		t.raw[offNonce:offPrivate], t.raw[offPrivate:offTimeout], t.ipv6)
}

// ParseOptions are options for parsing tokens and connection requests. The
// zero value matches Lightyear.
type ParseOptions struct {
	// IPv6 is the IPv6 address encoding of the input; the zero value is
	// IPv6Lightyear.
	IPv6 IPv6Encoding
}

// Parse parses and validates the public part of a 2048-byte token with
// Lightyear's IPv6 encoding. See ParseOptions.Parse.
func Parse(b []byte) (*ConnectToken, error) { return ParseOptions{}.Parse(b) }

// ParseBase64 parses a token in standard base64 with Lightyear's IPv6
// encoding. See ParseOptions.ParseBase64.
func ParseBase64(s string) (*ConnectToken, error) { return ParseOptions{}.ParseBase64(s) }

// Parse parses and validates the public part of a 2048-byte token: the
// length (ErrLength), the version info (ErrVersion), create <= expire
// (ErrTimestamps), the address count (ErrAddressCount) and types
// (ErrAddressType), and zero padding after the keys (ErrPadding). The
// private part stays encrypted; see ConnectToken.Decrypt.
func (o ParseOptions) Parse(b []byte) (*ConnectToken, error) {
	if !o.IPv6.valid() {
		return nil, fmt.Errorf("netcode: unknown IPv6 encoding %d", uint8(o.IPv6))
	}
	if len(b) != TokenSize {
		return nil, fmt.Errorf("%w: connect token is %d bytes, want %d", ErrLength, len(b), TokenSize)
	}
	t := &ConnectToken{ipv6: o.IPv6}
	copy(t.raw[:], b)
	r := reader{b: t.raw[:]}
	if string(r.next(len(VersionInfo))) != VersionInfo {
		return nil, fmt.Errorf("%w: connect token does not start with %q", ErrVersion, strings.TrimSuffix(VersionInfo, "\x00"))
	}
	t.ProtocolID = r.u64()
	t.CreateTimestamp = r.u64()
	t.ExpireTimestamp = r.u64()
	if t.CreateTimestamp > t.ExpireTimestamp {
		return nil, fmt.Errorf("%w: create %d, expire %d", ErrTimestamps, t.CreateTimestamp, t.ExpireTimestamp)
	}
	r.array(t.Nonce[:])
	r.next(privateSize)
	t.TimeoutSeconds = int32(r.u32())
	addrs, err := r.addrs("server address", o.IPv6)
	if err != nil {
		return nil, err
	}
	t.ServerAddrs = addrs
	r.array(t.ClientToServerKey[:])
	r.array(t.ServerToClientKey[:])
	if r.short {
		return nil, fmt.Errorf("%w: server addresses and keys run past the end of the token", ErrLength)
	}
	for i := r.off; i < TokenSize; i++ {
		if t.raw[i] != 0 {
			return nil, fmt.Errorf("%w: connect token byte %d is not zero", ErrPadding, i)
		}
	}
	return t, nil
}

// ParseBase64 parses a token in standard base64 with padding (surrounding
// white space is ignored) and then as Parse does.
func (o ParseOptions) ParseBase64(s string) (*ConnectToken, error) {
	s = strings.TrimSpace(s)
	if len(s) != TokenBase64Size {
		return nil, fmt.Errorf("%w: base64 connect token is %d characters, want %d", ErrLength, len(s), TokenBase64Size)
	}
	var raw [TokenSize + 3]byte
	n, err := base64.StdEncoding.Strict().Decode(raw[:], []byte(s))
	if err != nil {
		return nil, fmt.Errorf("netcode: connect token is not standard base64: %w", err)
	}
	return o.Parse(raw[:n])
}
