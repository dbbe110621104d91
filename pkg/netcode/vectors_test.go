package netcode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
)

// vectorFile is a copy of shared/vectors/connect_tokens.json, kept in
// testdata so the module stands alone.
const vectorFile = "testdata/connect_tokens.json"

type vector struct {
	Name           string `json:"name"`
	ExpectedResult string `json:"expected_result"`
	Conforms       bool   `json:"conforms_to_standard"`
	DerivedFrom    string `json:"derived_from"`
	Inputs         struct {
		PrivateKeyHex           string      `json:"private_key_hex"`
		PrivateKeyBytes         string      `json:"private_key_bytes"`
		ProtocolID              json.Number `json:"protocol_id"`
		ProtocolIDHex           string      `json:"protocol_id_hex"`
		CreateTimestamp         json.Number `json:"create_timestamp"`
		ExpireSeconds           json.Number `json:"expire_seconds"`
		ExpireTimestamp         json.Number `json:"expire_timestamp"`
		NonceHex                string      `json:"nonce_hex"`
		ClientID                json.Number `json:"client_id"`
		ClientIDHex             string      `json:"client_id_hex"`
		TimeoutSeconds          json.Number `json:"timeout_seconds"`
		ServerAddresses         []string    `json:"server_addresses"`
		InternalServerAddresses []string    `json:"internal_server_addresses"`
		ClientToServerKeyHex    string      `json:"client_to_server_key_hex"`
		ServerToClientKeyHex    string      `json:"server_to_client_key_hex"`
		UserDataHex             string      `json:"user_data_hex"`
		IPv6Encoding            string      `json:"ipv6_encoding"`
	} `json:"inputs"`
	Intermediate struct {
		PrivatePlaintextHex string `json:"private_plaintext_hex"`
		AssociatedDataHex   string `json:"associated_data_hex"`
	} `json:"intermediate"`
	TokenHex    string `json:"token_hex"`
	TokenBase64 string `json:"token_base64"`
	VerifyWith  struct {
		PrivateKeyBytes string      `json:"private_key_bytes"`
		ProtocolID      json.Number `json:"protocol_id"`
	} `json:"verify_with"`
}

// decoded holds a vector's inputs in Go types.
type decoded struct {
	key           PrivateKey
	protocolID    uint64
	create        uint64
	expireSeconds int64
	expire        uint64
	nonce         [NonceSize]byte
	clientID      uint64
	timeout       int32
	public        []netip.AddrPort
	internal      []netip.AddrPort
	c2s, s2c      [KeySize]byte
	userData      [UserDataSize]byte
	ipv6          IPv6Encoding
	token         []byte
	verifyKey     PrivateKey
	verifyPID     uint64
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	var file struct {
		Vectors []vector `json:"vectors"`
	}
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("decoding %s: %v", vectorFile, err)
	}
	if len(file.Vectors) == 0 {
		t.Fatalf("%s holds no vectors", vectorFile)
	}
	return file.Vectors
}

func vectorByName(t testing.TB, name string) vector {
	t.Helper()
	for _, v := range loadVectors(t) {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no vector %q", name)
	return vector{}
}

func mustU64(t testing.TB, what string, n json.Number) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(n.String(), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func mustI64(t testing.TB, what string, n json.Number, bits int) int64 {
	t.Helper()
	v, err := strconv.ParseInt(n.String(), 10, bits)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func mustHex(t testing.TB, what, s string, size int) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if size >= 0 && len(b) != size {
		t.Fatalf("%s: %d bytes, want %d", what, len(b), size)
	}
	return b
}

func mustAddrs(t testing.TB, ss []string) []netip.AddrPort {
	t.Helper()
	out := make([]netip.AddrPort, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParseAddrPort(s))
	}
	return out
}

func mustKey(t testing.TB, s string) PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func decodeVector(t testing.TB, v vector) decoded {
	t.Helper()
	var d decoded
	d.token = mustHex(t, "token_hex", v.TokenHex, TokenSize)
	d.verifyKey = mustKey(t, v.VerifyWith.PrivateKeyBytes)
	d.verifyPID = mustU64(t, "verify_with.protocol_id", v.VerifyWith.ProtocolID)
	if v.ExpectedResult != "must_decode" {
		return d
	}
	in := v.Inputs
	d.key = mustKey(t, in.PrivateKeyBytes)
	if hk := mustKey(t, in.PrivateKeyHex); hk != d.key {
		t.Fatal("private_key_hex and private_key_bytes differ")
	}
	d.protocolID = mustU64(t, "protocol_id", in.ProtocolID)
	if got := strconv.FormatUint(d.protocolID, 16); hex.EncodeToString(mustHex(t, "protocol_id_hex", in.ProtocolIDHex, 8)) != padHex(got) {
		t.Fatalf("protocol_id %d does not match protocol_id_hex %s", d.protocolID, in.ProtocolIDHex)
	}
	d.create = mustU64(t, "create_timestamp", in.CreateTimestamp)
	d.expireSeconds = mustI64(t, "expire_seconds", in.ExpireSeconds, 64)
	d.expire = mustU64(t, "expire_timestamp", in.ExpireTimestamp)
	copy(d.nonce[:], mustHex(t, "nonce_hex", in.NonceHex, NonceSize))
	d.clientID = mustU64(t, "client_id", in.ClientID)
	if got := strconv.FormatUint(d.clientID, 16); in.ClientIDHex != padHex(got) {
		t.Fatalf("client_id %d does not match client_id_hex %s", d.clientID, in.ClientIDHex)
	}
	d.timeout = int32(mustI64(t, "timeout_seconds", in.TimeoutSeconds, 32))
	d.public = mustAddrs(t, in.ServerAddresses)
	d.internal = mustAddrs(t, in.InternalServerAddresses)
	copy(d.c2s[:], mustHex(t, "client_to_server_key_hex", in.ClientToServerKeyHex, KeySize))
	copy(d.s2c[:], mustHex(t, "server_to_client_key_hex", in.ServerToClientKeyHex, KeySize))
	copy(d.userData[:], mustHex(t, "user_data_hex", in.UserDataHex, UserDataSize))
	switch in.IPv6Encoding {
	case "groups_le":
		d.ipv6 = IPv6Standard
	case "octets":
		d.ipv6 = IPv6Lightyear
	default:
		t.Fatalf("unknown ipv6_encoding %q", in.IPv6Encoding)
	}
	return d
}

func padHex(s string) string {
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}

// fixedRand returns the 88 bytes a Minter reads, in its documented order.
func (d decoded) rand() *bytes.Reader {
	b := make([]byte, 0, randomSize)
	b = append(b, d.c2s[:]...)
	b = append(b, d.s2c[:]...)
	b = append(b, d.nonce[:]...)
	return bytes.NewReader(b)
}

// params returns the Params that rebuild the vector. Internal addresses are
// passed only when they differ from the public ones.
func (d decoded) params() Params {
	p := Params{
		ServerAddrs:    d.public,
		ProtocolID:     d.protocolID,
		ClientID:       d.clientID,
		ExpireSeconds:  d.expireSeconds,
		TimeoutSeconds: d.timeout,
		UserData:       d.userData,
		IPv6:           d.ipv6,
	}
	if !equalAddrs(d.public, d.internal) {
		p.InternalAddrs = d.internal
	}
	return p
}

func (d decoded) minter(t testing.TB) *Minter {
	t.Helper()
	m, err := NewMinter(d.key)
	if err != nil {
		t.Fatal(err)
	}
	m.Rand = d.rand()
	m.Now = func() time.Time { return time.Unix(int64(d.create), 0) }
	return m
}

func equalAddrs(a, b []netip.AddrPort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestVectorsRebuild(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.ExpectedResult != "must_decode" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			d := decodeVector(t, v)
			tok, err := d.minter(t).Mint(d.params())
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Bytes(); !bytes.Equal(got, d.token) {
				t.Fatalf("minted token differs from token_hex at byte %d", firstDiff(got, d.token))
			}
			if got := tok.Base64(); got != v.TokenBase64 {
				t.Fatal("Base64 differs from token_base64")
			}
			var ad [adSize]byte
			if got := hex.EncodeToString(putAD(&ad, &tok.raw)); got != v.Intermediate.AssociatedDataHex {
				t.Fatalf("associated data %s, want %s", got, v.Intermediate.AssociatedDataHex)
			}
			var plain [PrivateDataSize]byte
			putPrivate(plain[:], &tok.Private, d.ipv6)
			if got := hex.EncodeToString(plain[:]); got != v.Intermediate.PrivatePlaintextHex {
				t.Fatal("private plaintext differs from intermediate.private_plaintext_hex")
			}
			checkPublic(t, &tok, d)
			checkPrivate(t, &tok.Private, d)
		})
	}
}

// TestVectorsLightyearDefault checks that the default IPv6 encoding
// reproduces Lightyear's output for the inputs of b_ipv4_ipv6_userdata.
func TestVectorsLightyearDefault(t *testing.T) {
	d := decodeVector(t, vectorByName(t, "b_ipv4_ipv6_userdata"))
	want := decodeVector(t, vectorByName(t, "b_lightyear_ipv6_octets"))
	p := d.params()
	p.IPv6 = 0 // the default
	tok, err := d.minter(t).Mint(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Bytes(); !bytes.Equal(got, want.token) {
		t.Fatalf("default encoding differs from b_lightyear_ipv6_octets at byte %d", firstDiff(got, want.token))
	}
	if bytes.Equal(d.token, want.token) {
		t.Fatal("the standard and Lightyear vectors should differ")
	}
}

// TestVectorsCrossEncoding reads each IPv6 vector with the other encoding:
// the groups come out byte-swapped, as the reference reads Lightyear's
// [::1] as [::100].
func TestVectorsCrossEncoding(t *testing.T) {
	for _, c := range []struct {
		vector string
		opts   ParseOptions
		want   string
	}{
		{"b_lightyear_ipv6_octets", ParseOptions{IPv6: IPv6Standard}, "[::100]:5000"},
		{"b_ipv4_ipv6_userdata", ParseOptions{}, "[::100]:5000"},
		{"d_extra_negative_timeout_internal_addresses", ParseOptions{}, "[120:b80d::3412]:40000"},
	} {
		d := decodeVector(t, vectorByName(t, c.vector))
		tok, err := c.opts.Parse(d.token)
		if err != nil {
			t.Fatal(err)
		}
		last := tok.ServerAddrs[len(tok.ServerAddrs)-1]
		if last.String() != c.want {
			t.Errorf("%s read as %s: %v, want %s", c.vector, c.opts.IPv6, last, c.want)
		}
	}
}

func TestVectorsDecode(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.ExpectedResult != "must_decode" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			d := decodeVector(t, v)
			opts := ParseOptions{IPv6: d.ipv6}
			tok, err := opts.Parse(d.token)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Private.ClientID != 0 || tok.Private.ServerAddrs != nil {
				t.Error("Parse set Private")
			}
			checkPublic(t, tok, d)
			b64, err := opts.ParseBase64(v.TokenBase64)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b64.Bytes(), d.token) {
				t.Fatal("ParseBase64 and Parse disagree")
			}
			pd, err := tok.Decrypt(d.verifyKey, d.verifyPID)
			if err != nil {
				t.Fatal(err)
			}
			checkPrivate(t, pd, d)

			// The same private part through a connection request.
			pkt, err := tok.ConnectionRequest().MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(pkt) != ConnectionRequestSize || pkt[0] != 0 {
				t.Fatalf("connection request is %d bytes with prefix %d", len(pkt), pkt[0])
			}
			if !bytes.Equal(pkt[1:], connectionRequestFromToken(d.token)) {
				t.Fatal("connection request does not match the token bytes")
			}
			req, err := opts.ParseConnectionRequest(pkt)
			if err != nil {
				t.Fatal(err)
			}
			pd, err = req.Decrypt(d.verifyKey, d.verifyPID)
			if err != nil {
				t.Fatal(err)
			}
			checkPrivate(t, pd, d)
			if req.ProtocolID != d.protocolID || req.ExpireTimestamp != d.expire || req.Nonce != d.nonce {
				t.Errorf("connection request fields %d %d %x", req.ProtocolID, req.ExpireTimestamp, req.Nonce)
			}
		})
	}
}

// connectionRequestFromToken builds the packet body (after the prefix byte)
// straight from the token layout: version, protocol id, expire, nonce,
// private data.
func connectionRequestFromToken(tok []byte) []byte {
	var b []byte
	b = append(b, tok[:offCreate]...)
	b = append(b, tok[offExpire:offTimeout]...)
	return b
}

func TestVectorsMustFail(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if v.ExpectedResult != "must_fail_decrypt" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			d := decodeVector(t, v)
			tok, err := Parse(d.token)
			if err != nil {
				t.Fatalf("the public part should parse: %v", err)
			}
			if _, err := tok.Decrypt(d.verifyKey, d.verifyPID); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Decrypt: %v, want ErrDecrypt", err)
			}
			req, err := ParseConnectionRequest(mustMarshal(t, tok.ConnectionRequest()))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := req.Decrypt(d.verifyKey, d.verifyPID); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("connection request Decrypt: %v, want ErrDecrypt", err)
			}
		})
	}
	if n != 4 {
		t.Fatalf("%d must_fail_decrypt vectors, want 4", n)
	}
}

func TestDecryptProtocolIDMismatch(t *testing.T) {
	d := decodeVector(t, vectorByName(t, "a_ipv4_single"))
	tok, err := Parse(d.token)
	if err != nil {
		t.Fatal(err)
	}
	// The right key, but the server expects another protocol: rejected before
	// decrypting.
	_, err = tok.Decrypt(d.key, d.protocolID+1)
	if !errors.Is(err, ErrProtocolID) || errors.Is(err, ErrDecrypt) {
		t.Fatalf("Decrypt: %v, want ErrProtocolID", err)
	}
	req := tok.ConnectionRequest()
	if _, err := req.Decrypt(d.key, d.protocolID+1); !errors.Is(err, ErrProtocolID) {
		t.Fatalf("connection request Decrypt: %v, want ErrProtocolID", err)
	}
	// A wrong key with the wrong protocol still reports the protocol first.
	if _, err := tok.Decrypt(PrivateKey{}, d.protocolID+1); !errors.Is(err, ErrProtocolID) {
		t.Fatalf("Decrypt: %v, want ErrProtocolID", err)
	}
}

func TestVectorsExpiry(t *testing.T) {
	for _, name := range []string{"a_ipv4_single", "b_ipv4_ipv6_userdata", "d_extra_negative_timeout_internal_addresses"} {
		d := decodeVector(t, vectorByName(t, name))
		tok, err := ParseOptions{IPv6: d.ipv6}.Parse(d.token)
		if err != nil {
			t.Fatal(err)
		}
		req := tok.ConnectionRequest()
		for _, c := range []struct {
			at   int64
			want bool
		}{
			{int64(d.create), false},
			{int64(d.expire) - 1, false},
			{int64(d.expire), true},
			{int64(d.expire) + 3600, true},
			{-1, false},
		} {
			if got := tok.Expired(time.Unix(c.at, 0)); got != c.want {
				t.Errorf("%s: Expired(%d) = %v, want %v", name, c.at, got, c.want)
			}
			if got := req.Expired(time.Unix(c.at, 0)); got != c.want {
				t.Errorf("%s: request Expired(%d) = %v, want %v", name, c.at, got, c.want)
			}
		}
	}
	d := decodeVector(t, vectorByName(t, "c_never_expires_max_client_id"))
	tok, err := Parse(d.token)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpireTimestamp != 1<<64-1 {
		t.Fatalf("expire %d", tok.ExpireTimestamp)
	}
	if tok.Expired(time.Unix(1<<62, 0)) {
		t.Fatal("a never-expiring token expired")
	}
}

func checkPublic(t *testing.T, tok *ConnectToken, d decoded) {
	t.Helper()
	if tok.ProtocolID != d.protocolID || tok.CreateTimestamp != d.create || tok.ExpireTimestamp != d.expire {
		t.Errorf("protocol id %d create %d expire %d, want %d %d %d",
			tok.ProtocolID, tok.CreateTimestamp, tok.ExpireTimestamp, d.protocolID, d.create, d.expire)
	}
	if tok.Nonce != d.nonce {
		t.Errorf("nonce %x, want %x", tok.Nonce, d.nonce)
	}
	if tok.TimeoutSeconds != d.timeout {
		t.Errorf("timeout %d, want %d", tok.TimeoutSeconds, d.timeout)
	}
	if !equalAddrs(tok.ServerAddrs, d.public) {
		t.Errorf("server addresses %v, want %v", tok.ServerAddrs, d.public)
	}
	if tok.ClientToServerKey != d.c2s || tok.ServerToClientKey != d.s2c {
		t.Error("public keys differ")
	}
}

func checkPrivate(t *testing.T, pd *PrivateData, d decoded) {
	t.Helper()
	if pd == nil {
		t.Fatal("no private data")
	}
	if pd.ClientID != d.clientID {
		t.Errorf("client id %d, want %d", pd.ClientID, d.clientID)
	}
	if pd.TimeoutSeconds != d.timeout {
		t.Errorf("private timeout %d, want %d", pd.TimeoutSeconds, d.timeout)
	}
	if !equalAddrs(pd.ServerAddrs, d.internal) {
		t.Errorf("private addresses %v, want %v", pd.ServerAddrs, d.internal)
	}
	if pd.ClientToServerKey != d.c2s || pd.ServerToClientKey != d.s2c {
		t.Error("private keys differ")
	}
	if pd.UserData != d.userData {
		t.Error("user data differs")
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func mustMarshal(t testing.TB, r *ConnectionRequest) []byte {
	t.Helper()
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
