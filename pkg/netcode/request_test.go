package netcode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestConnectionRequestRoundTrip(t *testing.T) {
	public := []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:5000")}
	internal := []netip.AddrPort{netip.MustParseAddrPort("[fd00::1234:5678]:5000")}
	for _, enc := range []IPv6Encoding{IPv6Lightyear, IPv6Standard} {
		t.Run(enc.String(), func(t *testing.T) {
			tok, err := newTestMinter(t, testKey).Mint(Params{
				ServerAddrs: public, InternalAddrs: internal, ProtocolID: 1982, ClientID: 1234, IPv6: enc,
			})
			if err != nil {
				t.Fatal(err)
			}
			pkt, err := tok.ConnectionRequest().AppendBinary([]byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if pkt[0] != 'x' {
				t.Fatal("AppendBinary dropped the prefix")
			}
			pkt = pkt[1:]
			raw := tok.Bytes()
			// prefix, version, protocol id, expire, nonce, private data.
			want := append([]byte{0}, raw[:offCreate]...)
			want = append(want, raw[offExpire:offTimeout]...)
			if len(pkt) != ConnectionRequestSize || ConnectionRequestSize != 1078 || !bytes.Equal(pkt, want) {
				t.Fatalf("packet of %d bytes differs from the layout at byte %d", len(pkt), firstDiff(pkt, want))
			}

			req, err := ParseOptions{IPv6: enc}.ParseConnectionRequest(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if req.ProtocolID != 1982 || req.ExpireTimestamp != tok.ExpireTimestamp || req.Nonce != tok.Nonce {
				t.Fatalf("request fields %d %d", req.ProtocolID, req.ExpireTimestamp)
			}
			pd, err := req.Decrypt(testKey, 1982)
			if err != nil {
				t.Fatal(err)
			}
			if pd.ClientID != 1234 || !equalAddrs(pd.ServerAddrs, internal) || pd.ClientToServerKey != tok.ClientToServerKey {
				t.Fatalf("decrypted %v %v", pd.ClientID, pd.ServerAddrs)
			}
			if again, _ := req.MarshalBinary(); !bytes.Equal(again, pkt) {
				t.Fatal("MarshalBinary of a parsed request differs")
			}
		})
	}
}

func TestConnectionRequestErrors(t *testing.T) {
	tok, err := newTestMinter(t, testKey).Mint(Params{
		ServerAddrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6420")}, ProtocolID: 1982,
	})
	if err != nil {
		t.Fatal(err)
	}
	good := mustMarshal(t, tok.ConnectionRequest())
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	parseCases := []struct {
		name string
		in   []byte
		is   error
		msg  string
	}{
		{"empty", nil, ErrLength, "netcode: wrong length: connection request is 0 bytes, want 1078"},
		{"short", good[:1077], ErrLength, "1077 bytes"},
		{"long", append(bytes.Clone(good), 0), ErrLength, "1079 bytes"},
		{"a whole token", tok.Bytes(), ErrLength, "2048 bytes"},
		{"prefix", edit(func(b []byte) []byte { b[0] = 1; return b }), ErrPacketType, "netcode: not a connection request packet: prefix byte is 1, want 0"},
		{"version", edit(func(b []byte) []byte { b[1] = 'n'; return b }), ErrVersion, "NETCODE 1.02"},
	}
	for _, c := range parseCases {
		t.Run(c.name, func(t *testing.T) {
			req, err := ParseConnectionRequest(c.in)
			if err == nil || req != nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q, want %v containing %q", err, c.is, c.msg)
			}
		})
	}
	if _, err := (ParseOptions{IPv6: 2}).ParseConnectionRequest(good); err == nil {
		t.Error("an unknown encoding was accepted")
	}

	decryptCases := []struct {
		name string
		in   []byte
		pid  uint64
		is   error
	}{
		{"other protocol", good, 1983, ErrProtocolID},
		{"rewritten protocol", edit(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[14:], 1983); return b }), 1983, ErrDecrypt},
		{"extended expiry", edit(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[22:], tok.ExpireTimestamp+60); return b }), 1982, ErrDecrypt},
		{"nonce", edit(func(b []byte) []byte { b[30] ^= 1; return b }), 1982, ErrDecrypt},
		{"ciphertext", edit(func(b []byte) []byte { b[100] ^= 0x80; return b }), 1982, ErrDecrypt},
		{"tag", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), 1982, ErrDecrypt},
	}
	for _, c := range decryptCases {
		t.Run(c.name, func(t *testing.T) {
			req, err := ParseConnectionRequest(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := req.Decrypt(testKey, c.pid); !errors.Is(err, c.is) {
				t.Fatalf("Decrypt: %v, want %v", err, c.is)
			}
		})
	}
}
