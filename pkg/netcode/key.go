package netcode

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// KeySize is the size in bytes of a [PrivateKey] and of the per-token
// client-to-server and server-to-client keys.
const KeySize = 32

// PrivateKey is the 32-byte key shared by the matchmaker and the game servers
// (Lightyear's private key). It seals the private part of every connect
// token.
//
// Its String, GoString, Format, MarshalText, MarshalJSON and LogValue methods
// never reveal the key: they print a fingerprint instead. Index the array (or
// convert it with [32]byte(k)) to get the bytes for cryptography.
type PrivateKey [KeySize]byte

// ParsePrivateKey parses a private key given in any of these forms:
//
//   - 32 comma-separated decimal numbers 0..255, the form the Rust matchmaker
//     and Lightyear examples use ("1,2,3, 4, ..."); spaces are allowed and the
//     list may be wrapped in brackets;
//   - 64 hexadecimal digits;
//   - 44 characters of standard base64 with padding.
//
// Surrounding white space and one pair of matching quotes are ignored. Errors
// describe what is wrong but never include any part of the key.
func ParsePrivateKey(s string) (PrivateKey, error) {
	var k PrivateKey
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	var err error
	switch {
	case s == "":
		err = errors.New("private key: empty")
	case strings.Contains(s, ","):
		err = parseDecimalKey(&k, s)
	case len(s) == 2*KeySize:
		err = parseHexKey(&k, s)
	case len(s) == base64.StdEncoding.EncodedLen(KeySize):
		err = parseBase64Key(&k, s)
	default:
		err = fmt.Errorf("private key: unrecognised format (%d characters and no commas): "+
			"want 32 comma-separated numbers, 64 hex digits or 44 base64 characters", len(s))
	}
	if err != nil {
		return PrivateKey{}, err // never a partly parsed key
	}
	return k, nil
}

func parseDecimalKey(k *PrivateKey, s string) error {
	if n := strings.Count(s, ",") + 1; n != KeySize {
		return fmt.Errorf("private key: got %d numbers, want %d", n, KeySize)
	}
	i := 0
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return fmt.Errorf("private key: number %d is empty", i+1)
		}
		v := 0
		for j := 0; j < len(part); j++ {
			c := part[j]
			if c < '0' || c > '9' {
				return fmt.Errorf("private key: number %d is not a decimal number", i+1)
			}
			if v <= 255 {
				v = v*10 + int(c-'0')
			}
		}
		if v > 255 {
			// The value itself is not printed: it may be two key bytes run
			// together by a missing comma.
			return fmt.Errorf("private key: number %d is over 255", i+1)
		}
		k[i] = byte(v)
		i++
	}
	return nil
}

func parseHexKey(k *PrivateKey, s string) error {
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return fmt.Errorf("private key: 64 characters but not hex: character %d is not a hex digit", i+1)
		}
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return errors.New("private key: invalid hex")
	}
	return nil
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func parseBase64Key(k *PrivateKey, s string) error {
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Strict().Decode(buf, []byte(s))
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return fmt.Errorf("private key: 44 characters but not standard base64: bad character or padding at %d", int64(ce)+1)
		}
		return errors.New("private key: 44 characters but not standard base64")
	}
	if n != KeySize {
		return fmt.Errorf("private key: base64 decodes to %d bytes, want %d", n, KeySize)
	}
	copy(k[:], buf[:n])
	return nil
}

// IsZero reports whether every byte of k is zero. The Rust matchmaker uses
// the zero key when none is configured; it offers no protection.
func (k PrivateKey) IsZero() bool {
	var zero PrivateKey
	return subtle.ConstantTimeCompare(k[:], zero[:]) == 1
}

// Fingerprint returns the first 4 bytes of the SHA-256 digest of k as 8 hex
// digits. It identifies a key in logs without revealing it.
func (k PrivateKey) Fingerprint() string {
	sum := sha256.Sum256(k[:])
	return hex.EncodeToString(sum[:4])
}

// String returns "PrivateKey(redacted, fingerprint xxxxxxxx)".
func (k PrivateKey) String() string {
	return "PrivateKey(redacted, fingerprint " + k.Fingerprint() + ")"
}

// GoString returns the same redacted text as String.
func (k PrivateKey) GoString() string { return k.String() }

// Format implements fmt.Formatter so that every verb (%v, %+v, %#v, %s, %x,
// %q, %d, ...) prints the redacted form.
func (k PrivateKey) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, k.String())
}

// MarshalText returns the redacted form. A key cannot be written out as
// text: UnmarshalText of the result fails.
func (k PrivateKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// MarshalJSON returns the redacted form as a JSON string.
func (k PrivateKey) MarshalJSON() ([]byte, error) { return []byte(`"` + k.String() + `"`), nil }

// UnmarshalText parses text with [ParsePrivateKey], so a PrivateKey can be
// read from configuration files, environment variables and flags.
func (k *PrivateKey) UnmarshalText(text []byte) error {
	v, err := ParsePrivateKey(string(text))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// LogValue implements slog.LogValuer with the redacted form.
func (k PrivateKey) LogValue() slog.Value { return slog.StringValue(k.String()) }
