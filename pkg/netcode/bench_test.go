package netcode

import (
	"crypto/rand"
	"net/netip"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// BenchmarkFloor is the cost no mint can avoid: reading 88 random bytes from
// crypto/rand and sealing 1008 bytes with XChaCha20-Poly1305, with the AEAD
// and buffers created beforehand. BenchmarkMint should stay within 1.3x.
func BenchmarkFloor(b *testing.B) {
	aead, err := chacha20poly1305.NewX(testKey[:])
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, PrivateDataSize)
	rnd := make([]byte, randomSize)
	ad := make([]byte, adSize)
	b.ReportAllocs()
	b.SetBytes(TokenSize)
	for b.Loop() {
		_, _ = rand.Read(rnd)
		aead.Seal(buf[:0], rnd[2*KeySize:], buf[:plaintextSize], ad)
	}
}

// BenchmarkMint mints a token for one IPv4 server address, the Edgegap
// case, with crypto/rand and the wall clock.
func BenchmarkMint(b *testing.B) {
	m, err := NewMinter(testKey)
	if err != nil {
		b.Fatal(err)
	}
	p := Params{
		ServerAddrs: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.7:31337")},
		ProtocolID:  1982,
		ClientID:    0x0123456789abcdef,
	}
	b.ReportAllocs()
	b.SetBytes(TokenSize)
	for b.Loop() {
		if _, err := m.Mint(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMintBase64 is the matchmaker's whole path: mint, then base64.
func BenchmarkMintBase64(b *testing.B) {
	m, err := NewMinter(testKey)
	if err != nil {
		b.Fatal(err)
	}
	p := Params{ServerAddrs: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.7:31337")}, ProtocolID: 1982}
	b.ReportAllocs()
	for b.Loop() {
		tok, err := m.Mint(p)
		if err != nil {
			b.Fatal(err)
		}
		_ = tok.Base64()
	}
}

// BenchmarkParseDecrypt is the game server's side: parse a connection
// request and open its private part.
func BenchmarkParseDecrypt(b *testing.B) {
	m, err := NewMinter(testKey)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := m.Mint(Params{ServerAddrs: []netip.AddrPort{netip.MustParseAddrPort("203.0.113.7:31337")}, ProtocolID: 1982})
	if err != nil {
		b.Fatal(err)
	}
	pkt := mustMarshal(b, tok.ConnectionRequest())
	b.ReportAllocs()
	for b.Loop() {
		req, err := ParseConnectionRequest(pkt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := req.Decrypt(testKey, 1982); err != nil {
			b.Fatal(err)
		}
	}
}
