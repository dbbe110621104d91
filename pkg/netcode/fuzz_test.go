package netcode

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus under testdata/fuzz")

// seedTokens returns the token bytes of every vector.
func seedTokens(t testing.TB) [][]byte {
	var out [][]byte
	for _, v := range loadVectors(t) {
		out = append(out, mustHex(t, v.Name, v.TokenHex, TokenSize))
	}
	return out
}

// fuzzKeys are the private keys of the vectors.
func fuzzKeys(t testing.TB) []PrivateKey {
	return []PrivateKey{
		decodeVector(t, vectorByName(t, "a_ipv4_single")).key,
		decodeVector(t, vectorByName(t, "b_ipv4_ipv6_userdata")).key,
	}
}

var bothEncodings = []ParseOptions{{IPv6: IPv6Lightyear}, {IPv6: IPv6Standard}}

func FuzzParse(f *testing.F) {
	for _, b := range seedTokens(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, o := range bothEncodings {
			tok, err := o.Parse(b)
			if err != nil {
				if tok != nil {
					t.Fatal("a token and an error")
				}
				continue
			}
			if n := len(tok.ServerAddrs); n < 1 || n > MaxServerAddresses {
				t.Fatalf("%d addresses accepted", n)
			}
			if tok.CreateTimestamp > tok.ExpireTimestamp {
				t.Fatal("create after expire accepted")
			}
			// Writing the public fields back around the private part gives
			// the input: the parser reads every byte and drops nothing.
			var raw [TokenSize]byte
			copy(raw[offPrivate:offTimeout], b[offPrivate:offTimeout])
			putPublic(&raw, tok)
			if !bytes.Equal(raw[:], b) {
				t.Fatalf("re-encoding differs at byte %d", firstDiff(raw[:], b))
			}
			if !bytes.Equal(tok.Bytes(), b) {
				t.Fatal("Bytes differs from the input")
			}
			again, err := o.ParseBase64(tok.Base64())
			if err != nil || !bytes.Equal(again.Bytes(), b) {
				t.Fatalf("base64 round trip: %v", err)
			}
			pkt := mustMarshal(t, tok.ConnectionRequest())
			req, err := o.ParseConnectionRequest(pkt)
			if err != nil || req.ProtocolID != tok.ProtocolID || req.ExpireTimestamp != tok.ExpireTimestamp {
				t.Fatalf("connection request round trip: %v", err)
			}
		}
		if req, err := ParseConnectionRequest(b); err == nil {
			if again := mustMarshal(t, req); !bytes.Equal(again, b) {
				t.Fatal("connection request round trip differs")
			}
		}
		_, _ = ParseBase64(string(b))
	})
}

// keystreamPlaintext decrypts sealed without checking its tag: XChaCha20
// with the block counter at 1, as XChaCha20-Poly1305 encrypts. FuzzDecrypt
// uses it so that mutations of the ciphertext become mutations of the
// plaintext.
func keystreamPlaintext(t testing.TB, key PrivateKey, nonce, sealed []byte) []byte {
	c, err := chacha20.NewUnauthenticatedCipher(key[:], nonce)
	if err != nil {
		t.Fatal(err)
	}
	c.SetCounter(1)
	out := make([]byte, plaintextSize)
	c.XORKeyStream(out, sealed[:plaintextSize])
	return out
}

// reseal returns tmpl with its private part replaced by plain sealed under
// key, with the nonce and associated data of tmpl.
func reseal(t testing.TB, tmpl []byte, key PrivateKey, plain []byte) []byte {
	t.Helper()
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		t.Fatal(err)
	}
	var raw [TokenSize]byte
	copy(raw[:], tmpl)
	var ad [adSize]byte
	aead.Seal(raw[offPrivate:offPrivate], raw[offNonce:offPrivate], plain[:plaintextSize], putAD(&ad, &raw))
	return raw[:]
}

func TestKeystreamPlaintext(t *testing.T) {
	v := vectorByName(t, "a_ipv4_single")
	d := decodeVector(t, v)
	got := keystreamPlaintext(t, d.key, d.token[offNonce:offPrivate], d.token[offPrivate:offTimeout])
	want := mustHex(t, "plaintext", v.Intermediate.PrivatePlaintextHex, PrivateDataSize)
	if !bytes.Equal(got, want[:plaintextSize]) {
		t.Fatal("keystream plaintext differs from the vector")
	}
	if !bytes.Equal(reseal(t, d.token, d.key, got), d.token) {
		t.Fatal("resealing does not reproduce the vector")
	}
}

func FuzzDecrypt(f *testing.F) {
	for _, b := range seedTokens(f) {
		f.Add(b)
	}
	keys := fuzzKeys(f)
	tmpl := validToken(f) // vector a: protocol id 80085
	f.Fuzz(func(t *testing.T, b []byte) {
		// The public API on the input as it is.
		for _, o := range bothEncodings {
			tok, err := o.Parse(b)
			if err != nil {
				continue
			}
			for _, k := range keys {
				pd, err := tok.Decrypt(k, tok.ProtocolID)
				rpd, rerr := tok.ConnectionRequest().Decrypt(k, tok.ProtocolID)
				if (err == nil) != (rerr == nil) || err == nil && !samePrivate(pd, rpd) {
					t.Fatalf("token and connection request disagree: %v / %v", err, rerr)
				}
				if err == nil {
					checkPrivateRoundTrip(t, pd, o.IPv6, nil)
				}
			}
		}

		// The private layout: the input's private part, read as plaintext
		// under each key, sealed properly into a valid token, then decrypted
		// through the API. The result must match parsing the plaintext.
		if len(b) < offTimeout {
			return
		}
		for _, k := range keys {
			plain := keystreamPlaintext(t, k, b[offNonce:offPrivate], b[offPrivate:offTimeout])
			for _, o := range bothEncodings {
				want, werr := parsePrivate(plain, o.IPv6)
				tok, err := o.Parse(reseal(t, tmpl, k, plain))
				if err != nil {
					t.Fatalf("resealed template does not parse: %v", err)
				}
				got, err := tok.Decrypt(k, 80085)
				switch {
				case (err == nil) != (werr == nil):
					t.Fatalf("Decrypt %v, parsePrivate %v", err, werr)
				case err != nil:
					if errors.Is(err, ErrDecrypt) {
						t.Fatalf("a properly sealed token failed to decrypt: %v", err)
					}
				default:
					if !samePrivate(got, want) {
						t.Fatal("Decrypt and parsePrivate disagree")
					}
					checkPrivateRoundTrip(t, got, o.IPv6, plain)
				}
			}
		}
	})
}

// checkPrivateRoundTrip writes pd back and compares it with plain (when
// given) over the bytes the layout uses, and re-parses it.
func checkPrivateRoundTrip(t *testing.T, pd *PrivateData, enc IPv6Encoding, plain []byte) {
	t.Helper()
	if n := len(pd.ServerAddrs); n < 1 || n > MaxServerAddresses {
		t.Fatalf("%d private addresses accepted", n)
	}
	var buf [plaintextSize]byte
	putPrivate(buf[:], pd, enc)
	used := 12 + addrsSize(pd.ServerAddrs) + 2*KeySize + UserDataSize
	if plain != nil && !bytes.Equal(buf[:used], plain[:used]) {
		t.Fatalf("private re-encoding differs at byte %d", firstDiff(buf[:used], plain[:used]))
	}
	again, err := parsePrivate(buf[:], enc)
	if err != nil || !samePrivate(again, pd) {
		t.Fatalf("private round trip: %v", err)
	}
}

func samePrivate(a, b *PrivateData) bool {
	return a.ClientID == b.ClientID && a.TimeoutSeconds == b.TimeoutSeconds &&
		equalAddrs(a.ServerAddrs, b.ServerAddrs) && a.ClientToServerKey == b.ClientToServerKey &&
		a.ServerToClientKey == b.ServerToClientKey && a.UserData == b.UserData
}

func FuzzParsePrivateKey(f *testing.F) {
	for _, s := range []string{
		decimalList(testKey, ","), "[" + decimalList(testKey, ", ") + "]",
		fmt.Sprintf("%x", testKey[:]), base64.StdEncoding.EncodeToString(testKey[:]),
		"'1,2,3'", "", "300,1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePrivateKey(s)
		if err != nil {
			if !k.IsZero() {
				t.Fatal("a failed parse returned a non-zero key")
			}
			return
		}
		// Every accepted key parses back from its canonical forms.
		for _, form := range []string{decimalList(k, ","), fmt.Sprintf("%x", k[:]), base64.StdEncoding.EncodeToString(k[:])} {
			if again, err := ParsePrivateKey(form); err != nil || again != k {
				t.Fatalf("canonical form does not parse back: %v", err)
			}
		}
	})
}

// TestUpdateFuzzCorpus rewrites testdata/fuzz/{FuzzParse,FuzzDecrypt} from
// the vectors when run with -update-corpus.
func TestUpdateFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite the seed corpus")
	}
	a := validToken(t)
	key := fuzzKeys(t)[0]
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(a)
		f(b)
		return b
	}
	parse := map[string][]byte{
		"truncated_2047":      a[:2047],
		"truncated_private":   a[:offTimeout],
		"truncated_header":    a[:offPrivate],
		"empty":               {},
		"extended_2049":       append(bytes.Clone(a), 0),
		"count_0":             edit(func(b []byte) { binary.LittleEndian.PutUint32(b[offAddrs:], 0) }),
		"count_2":             edit(func(b []byte) { binary.LittleEndian.PutUint32(b[offAddrs:], 2) }),
		"count_33":            edit(func(b []byte) { binary.LittleEndian.PutUint32(b[offAddrs:], 33) }),
		"address_type_3":      edit(func(b []byte) { b[offAddrs+4] = 3 }),
		"address_type_ipv6":   edit(func(b []byte) { b[offAddrs+4] = 2 }),
		"padding_nonzero":     edit(func(b []byte) { b[TokenSize-1] = 1 }),
		"create_after_expire": edit(func(b []byte) { b[offCreate] = 0xff }),
		"version_1_01":        edit(func(b []byte) { b[11] = '1' }),
		"connection_request":  append([]byte{0}, connectionRequestFromToken(a)...),
		"base64_text":         []byte(base64.StdEncoding.EncodeToString(a)),
	}
	plain := keystreamPlaintext(t, key, a[offNonce:offPrivate], a[offPrivate:offTimeout])
	resealed := func(f func(p []byte)) []byte {
		p := bytes.Clone(plain)
		f(p)
		return reseal(t, a, key, p)
	}
	decrypt := map[string][]byte{
		"truncated_private":        a[:offTimeout],
		"private_count_0":          resealed(func(p []byte) { binary.LittleEndian.PutUint32(p[12:], 0) }),
		"private_count_33":         resealed(func(p []byte) { binary.LittleEndian.PutUint32(p[12:], 33) }),
		"private_count_32":         resealed(func(p []byte) { binary.LittleEndian.PutUint32(p[12:], 32) }),
		"private_address_type_3":   resealed(func(p []byte) { p[16] = 3 }),
		"private_address_ipv6":     resealed(func(p []byte) { p[16] = 2 }),
		"private_timeout_negative": resealed(func(p []byte) { binary.LittleEndian.PutUint32(p[8:], 0xffffffff) }),
		"public_padding_nonzero":   edit(func(b []byte) { b[TokenSize-1] = 1 }),
	}
	for _, v := range loadVectors(t) {
		tok := mustHex(t, v.Name, v.TokenHex, TokenSize)
		parse["vector_"+v.Name] = tok
		decrypt["vector_"+v.Name] = tok
	}
	writeCorpus(t, "FuzzParse", parse)
	writeCorpus(t, "FuzzDecrypt", decrypt)
}

func writeCorpus(t *testing.T, target string, entries map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range entries {
		data := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
