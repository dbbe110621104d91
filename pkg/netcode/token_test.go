package netcode

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

var fixedNow = time.Unix(1_800_000_000, 0)

func newTestMinter(t testing.TB, key PrivateKey) *Minter {
	t.Helper()
	m, err := NewMinter(key)
	if err != nil {
		t.Fatal(err)
	}
	m.Now = func() time.Time { return fixedNow }
	return m
}

func TestMintDefaults(t *testing.T) {
	m := newTestMinter(t, testKey)
	addr := netip.MustParseAddrPort("203.0.113.7:31337")
	tok, err := m.Mint(Params{ServerAddrs: []netip.AddrPort{addr}, ProtocolID: 1982, ClientID: 99})
	if err != nil {
		t.Fatal(err)
	}
	if tok.CreateTimestamp != uint64(fixedNow.Unix()) || tok.ExpireTimestamp != tok.CreateTimestamp+DefaultExpireSeconds {
		t.Errorf("create %d expire %d", tok.CreateTimestamp, tok.ExpireTimestamp)
	}
	if tok.TimeoutSeconds != DefaultTimeoutSeconds || tok.Private.TimeoutSeconds != DefaultTimeoutSeconds {
		t.Errorf("timeout %d / %d", tok.TimeoutSeconds, tok.Private.TimeoutSeconds)
	}
	if tok.ClientToServerKey == tok.ServerToClientKey || tok.ClientToServerKey == ([KeySize]byte{}) {
		t.Error("keys are not random")
	}
	b := tok.Bytes()
	if len(b) != TokenSize {
		t.Fatalf("%d bytes", len(b))
	}
	if mb, _ := tok.MarshalBinary(); !bytes.Equal(mb, b) {
		t.Fatal("MarshalBinary differs from Bytes")
	}
	if ab, _ := tok.AppendBinary([]byte{1}); !bytes.Equal(ab[1:], b) || ab[0] != 1 {
		t.Fatal("AppendBinary is wrong")
	}
	if s := tok.Base64(); len(s) != TokenBase64Size || !strings.HasSuffix(s, "=") {
		t.Fatalf("base64 of %d characters", len(s))
	}
	b[0] = 'X' // Bytes returns a copy
	if tok.Bytes()[0] != 'N' {
		t.Fatal("Bytes shares the token's memory")
	}

	parsed, err := ParseBase64(tok.Base64())
	if err != nil {
		t.Fatal(err)
	}
	pd, err := parsed.Decrypt(testKey, 1982)
	if err != nil {
		t.Fatal(err)
	}
	if pd.ClientID != 99 || !equalAddrs(pd.ServerAddrs, []netip.AddrPort{addr}) ||
		pd.ClientToServerKey != tok.ClientToServerKey || pd.ServerToClientKey != tok.ServerToClientKey {
		t.Fatalf("decrypted %+v", pd)
	}
	if tok.Expired(fixedNow) || !tok.Expired(fixedNow.Add(DefaultExpireSeconds*time.Second)) {
		t.Fatal("expiry is wrong")
	}
}

func TestMintFields(t *testing.T) {
	v4 := netip.MustParseAddrPort("127.0.0.1:6420")
	v6 := netip.MustParseAddrPort("[2001:db8::1234]:40000")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(netip.MustParseAddr("10.0.0.1").As16()), 7)
	many := make([]netip.AddrPort, MaxServerAddresses)
	for i := range many {
		many[i] = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 15: byte(i)}), uint16(1000+i))
	}
	var ud [UserDataSize]byte
	copy(ud[:], "hello")
	cases := []struct {
		name          string
		p             Params
		expire        uint64
		timeout       int32
		wantPrivAddrs []netip.AddrPort
		wantPubAddrs  []netip.AddrPort
	}{
		{"never expires", Params{ServerAddrs: []netip.AddrPort{v4}, ExpireSeconds: -1}, math.MaxUint64, 15, nil, nil},
		{"long expiry", Params{ServerAddrs: []netip.AddrPort{v4}, ExpireSeconds: 3600}, uint64(fixedNow.Unix()) + 3600, 15, nil, nil},
		{"no timeout", Params{ServerAddrs: []netip.AddrPort{v4}, TimeoutSeconds: -1}, uint64(fixedNow.Unix()) + 30, -1, nil, nil},
		{"internal", Params{ServerAddrs: []netip.AddrPort{v6}, InternalAddrs: []netip.AddrPort{v4}, UserData: ud}, uint64(fixedNow.Unix()) + 30, 15, []netip.AddrPort{v4}, nil},
		{"32 IPv6 standard", Params{ServerAddrs: many, InternalAddrs: many, IPv6: IPv6Standard, TimeoutSeconds: 5}, uint64(fixedNow.Unix()) + 30, 5, nil, nil},
		{"32 IPv6 lightyear", Params{ServerAddrs: many, ClientID: math.MaxUint64, ProtocolID: math.MaxUint64}, uint64(fixedNow.Unix()) + 30, 15, nil, nil},
		{"IPv4-mapped IPv6 written as IPv4", Params{ServerAddrs: []netip.AddrPort{mapped, v4}}, uint64(fixedNow.Unix()) + 30, 15,
			nil, []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:7"), v4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := newTestMinter(t, testKey).Mint(c.p)
			if err != nil {
				t.Fatal(err)
			}
			wantPub := c.wantPubAddrs
			if wantPub == nil {
				wantPub = c.p.ServerAddrs
			}
			want := c.wantPrivAddrs
			if want == nil {
				want = wantPub
			}
			parsed, err := ParseOptions{IPv6: c.p.IPv6}.Parse(tok.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range []*ConnectToken{&tok, parsed} {
				if got.ExpireTimestamp != c.expire || got.TimeoutSeconds != c.timeout || got.ProtocolID != c.p.ProtocolID {
					t.Errorf("expire %d timeout %d protocol %d", got.ExpireTimestamp, got.TimeoutSeconds, got.ProtocolID)
				}
				if !equalAddrs(got.ServerAddrs, wantPub) {
					t.Errorf("server addresses %v", got.ServerAddrs)
				}
			}
			if c.timeout < 0 && binary.LittleEndian.Uint32(tok.raw[offTimeout:]) != 0xffffffff {
				t.Error("negative timeout not written as i32")
			}
			for _, pd := range []*PrivateData{&tok.Private, mustDecrypt(t, parsed, c.p.ProtocolID)} {
				if pd.ClientID != c.p.ClientID || pd.TimeoutSeconds != c.timeout || pd.UserData != c.p.UserData {
					t.Errorf("private %d %d", pd.ClientID, pd.TimeoutSeconds)
				}
				if !equalAddrs(pd.ServerAddrs, want) {
					t.Errorf("private addresses %v, want %v", pd.ServerAddrs, want)
				}
			}
		})
	}
}

func mustDecrypt(t *testing.T, tok *ConnectToken, pid uint64) *PrivateData {
	t.Helper()
	pd, err := tok.Decrypt(testKey, pid)
	if err != nil {
		t.Fatal(err)
	}
	return pd
}

// TestMintCopiesAddresses checks that the token does not alias the
// caller's slices.
func TestMintCopiesAddresses(t *testing.T) {
	addrs := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")}
	internal := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:2")}
	tok, err := newTestMinter(t, testKey).Mint(Params{ServerAddrs: addrs, InternalAddrs: internal})
	if err != nil {
		t.Fatal(err)
	}
	addrs[0], internal[0] = netip.AddrPort{}, netip.AddrPort{}
	if tok.ServerAddrs[0].Port() != 1 || tok.Private.ServerAddrs[0].Port() != 2 {
		t.Fatal("the token aliases the caller's address slices")
	}
	// Appending to the public list must not overwrite the private one.
	_ = append(tok.ServerAddrs, netip.AddrPort{})
	if tok.Private.ServerAddrs[0].Port() != 2 {
		t.Fatal("the public list can grow into the private one")
	}
}

func TestMintErrors(t *testing.T) {
	ok := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6420")}
	zoned := netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 1)
	cases := []struct {
		name string
		p    Params
		is   error
		msg  string
	}{
		{"no addresses", Params{}, ErrAddressCount, "netcode: bad server address count: server address list has 0, want 1 to 32"},
		{"33 addresses", Params{ServerAddrs: make([]netip.AddrPort, 33)}, ErrAddressCount, "server address list has 33"},
		{"33 internal", Params{ServerAddrs: ok, InternalAddrs: make([]netip.AddrPort, 33)}, ErrAddressCount, "internal address list has 33"},
		{"unset address", Params{ServerAddrs: []netip.AddrPort{ok[0], {}}}, ErrAddressType, "netcode: bad server address: server address 1 is not set"},
		{"zone", Params{ServerAddrs: []netip.AddrPort{zoned}}, ErrAddressType, "zone"},
		{"unset internal", Params{ServerAddrs: ok, InternalAddrs: []netip.AddrPort{{}}}, ErrAddressType, "internal address 0 is not set"},
		{"encoding", Params{ServerAddrs: ok, IPv6: 7}, nil, "unknown IPv6 encoding 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := newTestMinter(t, testKey).Mint(c.p)
			if err == nil || tok.ServerAddrs != nil || tok.ProtocolID != 0 {
				t.Fatal("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q lacks %q", err, c.msg)
			}
		})
	}

	m := newTestMinter(t, testKey)
	m.Rand = io.LimitReader(bytes.NewReader(make([]byte, 100)), 87)
	if _, err := m.Mint(Params{ServerAddrs: ok}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short random source: %v", err)
	}
	m = newTestMinter(t, testKey)
	m.Now = func() time.Time { return time.Unix(-1, 0) }
	if _, err := m.Mint(Params{ServerAddrs: ok}); err == nil {
		t.Error("a clock before 1970 was accepted")
	}
	var zero Minter
	if _, err := zero.Mint(Params{ServerAddrs: ok}); err == nil {
		t.Error("the zero Minter minted")
	}
}

func TestMintConcurrent(t *testing.T) {
	m, err := NewMinter(testKey)
	if err != nil {
		t.Fatal(err)
	}
	p := Params{ServerAddrs: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6420")}, ProtocolID: 7}
	var wg sync.WaitGroup
	toks := make([]ConnectToken, 16)
	for i := range toks {
		wg.Go(func() {
			pp := p
			pp.ClientID = uint64(i)
			tok, err := m.Mint(pp)
			if err != nil {
				t.Error(err)
				return
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	seen := map[[NonceSize]byte]bool{}
	for i, tok := range toks {
		if tok.ServerAddrs == nil {
			t.FailNow()
		}
		if seen[tok.Nonce] {
			t.Fatal("nonce reused")
		}
		seen[tok.Nonce] = true
		pd, err := tok.Decrypt(testKey, 7)
		if err != nil || pd.ClientID != uint64(i) {
			t.Fatalf("token %d: %v", i, err)
		}
	}
}

// validToken returns the bytes of vector a_ipv4_single.
func validToken(t testing.TB) []byte {
	t.Helper()
	return decodeVector(t, vectorByName(t, "a_ipv4_single")).token
}

func TestParseErrors(t *testing.T) {
	edit := func(f func(b []byte) []byte) func(testing.TB) []byte {
		return func(t testing.TB) []byte { return f(validToken(t)) }
	}
	put32 := func(off int, v uint32) func(testing.TB) []byte {
		return edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b })
	}
	cases := []struct {
		name  string
		input func(testing.TB) []byte
		is    error
		msg   string
	}{
		{"empty", func(testing.TB) []byte { return nil }, ErrLength, "netcode: wrong length: connect token is 0 bytes, want 2048"},
		{"short", edit(func(b []byte) []byte { return b[:2047] }), ErrLength, "2047 bytes"},
		{"long", edit(func(b []byte) []byte { return append(b, 0) }), ErrLength, "2049 bytes"},
		{"version", edit(func(b []byte) []byte { b[11] = '1'; return b }), ErrVersion, `netcode: unsupported version info: connect token does not start with "NETCODE 1.02"`},
		{"version nul", edit(func(b []byte) []byte { b[12] = ' '; return b }), ErrVersion, "version"},
		{"timestamps", edit(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[offCreate:], 1700000031)
			return b
		}), ErrTimestamps, "create 1700000031, expire 1700000030"},
		{"zero addresses", put32(offAddrs, 0), ErrAddressCount, "server address list has 0, want 1 to 32"},
		{"33 addresses", put32(offAddrs, 33), ErrAddressCount, "server address list has 33"},
		{"huge count", put32(offAddrs, math.MaxUint32), ErrAddressCount, "server address list has 4294967295"},
		{"address type 0", edit(func(b []byte) []byte { b[offAddrs+4] = 0; return b }), ErrAddressType, "netcode: bad server address: server address 0 has type 0, want 1 (IPv4) or 2 (IPv6)"},
		{"address type 3", edit(func(b []byte) []byte { b[offAddrs+4] = 3; return b }), ErrAddressType, "type 3"},
		{"padding", edit(func(b []byte) []byte { b[TokenSize-1] = 1; return b }), ErrPadding, "netcode: non-zero padding: connect token byte 2047 is not zero"},
		{"padding after keys", edit(func(b []byte) []byte { b[offAddrs+4+7+64] = 1; return b }), ErrPadding, "byte 1164"},
		// Two addresses where one was: the second reads the keys as an
		// address and the padding as keys; its type byte (0x40) is invalid.
		{"count 2", put32(offAddrs, 2), ErrAddressType, "server address 1 has type 64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := Parse(c.input(t))
			if err == nil || tok != nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q lacks %q", err, c.msg)
			}
		})
	}
	if _, err := (ParseOptions{IPv6: 9}).Parse(validToken(t)); err == nil {
		t.Error("an unknown encoding was accepted")
	}
}

func TestParseBase64Errors(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(validToken(t))
	if _, err := ParseBase64(" \n" + good + "\n"); err != nil {
		t.Fatalf("white space around the token: %v", err)
	}
	cases := []struct {
		name, in string
		is       error
		msg      string
	}{
		{"empty", "", ErrLength, "base64 connect token is 0 characters, want 2732"},
		{"short", good[:2728], ErrLength, "2728 characters"},
		{"bad character", "*" + good[1:], nil, "netcode: connect token is not standard base64: illegal base64 data at input byte 0"},
		{"url alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(good), nil, "not standard base64"},
		{"inner newline", good[:100] + "\n" + good[101:], nil, "not standard base64"},
		{"2049 bytes", base64.StdEncoding.EncodeToString(append(validToken(t), 0))[:2732], ErrLength, "connect token is 2049 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := ParseBase64(c.in)
			if err == nil || tok != nil {
				t.Fatal("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q lacks %q", err, c.msg)
			}
		})
	}
}

// TestParseDoesNotRetainInput checks that a parsed token owns its bytes.
func TestParseDoesNotRetainInput(t *testing.T) {
	b := validToken(t)
	tok, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if _, err := tok.Decrypt(decodeVector(t, vectorByName(t, "a_ipv4_single")).key, 80085); err != nil {
		t.Fatal(err)
	}
}

// TestDecryptUsesBytes checks that the exported fields are a copy: editing
// them does not change what Decrypt authenticates.
func TestDecryptUsesBytes(t *testing.T) {
	d := decodeVector(t, vectorByName(t, "a_ipv4_single"))
	tok, err := Parse(d.token)
	if err != nil {
		t.Fatal(err)
	}
	tok.ExpireTimestamp += 3600
	tok.ProtocolID = 1
	if _, err := tok.Decrypt(d.key, d.protocolID); err != nil {
		t.Fatal(err)
	}
	if tok.Expired(time.Unix(int64(d.expire)+10, 0)) != true {
		t.Fatal("Expired used the edited field")
	}
}

func TestZeroValues(t *testing.T) {
	var tok ConnectToken
	if _, err := tok.Decrypt(PrivateKey{}, 0); !errors.Is(err, ErrDecrypt) {
		t.Errorf("zero token: %v", err)
	}
	var req ConnectionRequest
	if _, err := req.Decrypt(PrivateKey{}, 0); !errors.Is(err, ErrDecrypt) {
		t.Errorf("zero request: %v", err)
	}
	if IPv6Lightyear.String() != "lightyear" || IPv6Standard.String() != "standard" || IPv6Encoding(5).String() != "IPv6Encoding(5)" {
		t.Error("IPv6Encoding.String")
	}
}
