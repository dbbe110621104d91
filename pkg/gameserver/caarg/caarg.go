// Package caarg is the --ca_contents docker argument that carries a NATS
// root CA to game servers on Edgegap, which caps environment values at 255
// bytes. Its format, the one the Rust set-caroot-argument.sh builds and the
// Rust plugin reads:
//
//	--ca_contents '<the PEM with its newlines removed>'
//
// Encode builds it (bevygap ca-args), Merge puts it into a version's docker
// arguments, Decode finds it again in a game server's process arguments,
// and NormalizePEM restores the PEM's line breaks (natsconn does, for
// nats-ca-contents, where the Rust plugin copies the value). The package
// imports nothing of bevygap, so the agent (gameserver.CAFromArgs), the CLI
// and natsconn all share it.
package caarg

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"
)

// Flag is the docker argument that carries the CA.
const Flag = "--ca_contents"

// MaxPEM bounds a CA certificate: one is a few KiB.
const MaxPEM = 64 << 10

// Encode validates a PEM certificate and returns the docker argument,
// byte for byte what set-caroot-argument.sh builds.
func Encode(pemBytes []byte) (string, error) {
	if len(pemBytes) > MaxPEM {
		return "", fmt.Errorf("%d bytes is too large for a CA certificate (limit %d)", len(pemBytes), MaxPEM)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return "", fmt.Errorf("no PEM block found: want a PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	if block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("PEM block is %q, want CERTIFICATE", block.Type)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return "", fmt.Errorf("not a valid certificate: %w", err)
	}
	if strings.Contains(string(pemBytes), "'") {
		return "", fmt.Errorf("the file contains a single quote, which would break the argument")
	}
	return Flag + " '" + strings.ReplaceAll(string(pemBytes), "\n", "") + "'", nil
}

var argRE = regexp.MustCompile(regexp.QuoteMeta(Flag) + `\s+'[^']*'`)

// Merge puts arg (from Encode) into existing docker arguments,
// replacing a previous --ca_contents and keeping every other argument.
func Merge(existing, arg string) string {
	if argRE.MatchString(existing) {
		return argRE.ReplaceAllLiteralString(existing, arg)
	}
	existing = strings.TrimSpace(existing)
	if existing == "" {
		return arg
	}
	return existing + " " + arg
}

// Decode returns the PEM text of a `--ca_contents <PEM>` or
// `--ca_contents=<PEM>` process argument, as the Rust plugin copies it into
// NATS_CA_CONTENTS. args may include the program name. The value is
// unquoted with Value; ok is false when the flag is absent or has no
// value. The PEM usually arrives on one line: NormalizePEM restores it.
func Decode(args []string) (pemText string, ok bool) {
	for i, a := range args {
		var v string
		var rest []string
		switch {
		case a == Flag:
			if i+1 >= len(args) {
				return "", false
			}
			v, rest = args[i+1], args[i+2:]
		case strings.HasPrefix(a, Flag+"="):
			v, rest = strings.TrimPrefix(a, Flag+"="), args[i+1:]
		default:
			continue
		}
		v, _, _ = Value(v, rest)
		if strings.TrimSpace(v) == "" {
			return "", false
		}
		return v, true
	}
	return "", false
}

// Value removes one pair of single or double quotes around v, the
// value after the flag. When the opening quote closes only in one of the
// following arguments rest (arguments split on spaces by something that
// does not know shell quoting), those are joined back with single spaces:
// joined is how many of rest were used. closed is false when a quote opens
// and never closes; v is then returned as given.
func Value(v string, rest []string) (value string, joined int, closed bool) {
	if v == "" || (v[0] != '\'' && v[0] != '"') {
		return v, 0, true
	}
	q := v[0]
	if len(v) >= 2 && v[len(v)-1] == q {
		return v[1 : len(v)-1], 0, true
	}
	parts := []string{v}
	for i, r := range rest {
		parts = append(parts, r)
		if r != "" && r[len(r)-1] == q {
			j := strings.Join(parts, " ")
			return j[1 : len(j)-1], i + 1, true
		}
	}
	return v, 0, false
}

// NormalizePEM restores the line breaks of PEM blocks that travelled on
// one line (Encode removes them). Text with line breaks is returned
// trimmed, with a final newline.
func NormalizePEM(s string) string {
	const begin = "-----BEGIN "
	s = strings.TrimSpace(s)
	if strings.Contains(s, "\n") {
		return s + "\n"
	}
	var b strings.Builder
	for s != "" {
		i := strings.Index(s, begin)
		if i < 0 {
			break
		}
		s = s[i:]
		hdrEnd := strings.Index(s[len(begin):], "-----")
		if hdrEnd < 0 {
			break
		}
		hdrEnd += len(begin) + 5
		label := s[len(begin) : hdrEnd-5]
		footer := "-----END " + label + "-----"
		j := strings.Index(s, footer)
		if j < 0 {
			break
		}
		body := strings.ReplaceAll(strings.TrimSpace(s[hdrEnd:j]), " ", "")
		b.WriteString(s[:hdrEnd] + "\n")
		for len(body) > 64 {
			b.WriteString(body[:64] + "\n")
			body = body[64:]
		}
		if body != "" {
			b.WriteString(body + "\n")
		}
		b.WriteString(footer + "\n")
		s = s[j+len(footer):]
	}
	return b.String()
}
