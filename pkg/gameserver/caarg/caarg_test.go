package caarg_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/gameserver/caarg"
)

// certPEM is a fresh self-signed certificate in PEM.
func certPEM(t *testing.T) []byte {
	t.Helper()
	c, err := gameserver.SelfSignedCert("nats.example.com")
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
}

// The argument is exactly what set-caroot-argument.sh builds:
// --ca_contents '$(cat "$cafile" | tr -d '\n')'
func TestEncodeMatchesRustScript(t *testing.T) {
	b := certPEM(t)
	arg, err := caarg.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := "--ca_contents '" + strings.ReplaceAll(string(b), "\n", "") + "'"; arg != want {
		t.Fatalf("EncodeCAArg = %q, want %q", arg, want)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not available to run the Rust script's expression")
	}
	f := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-c", `cafile="$1"; printf '%s' "--ca_contents '$(cat "$cafile" | tr -d '\n')'"`, "bash", f).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != arg {
		t.Fatalf("differs from the Rust script's expression:\n%s\n%s", out, arg)
	}
}

func TestEncodeRejects(t *testing.T) {
	for name, c := range map[string]struct{ in, want string }{
		"empty":     {"", "no PEM block"},
		"text":      {"hello", "no PEM block"},
		"key":       {"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n", `"PRIVATE KEY", want CERTIFICATE`},
		"broken":    {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a valid certificate"},
		"too large": {strings.Repeat("x", caarg.MaxPEM+1), "too large"},
		"quote":     {string(certPEM(t)) + "'", "single quote"},
	} {
		if arg, err := caarg.Encode([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q, %v; want an error with %q", name, arg, err, c.want)
		}
	}
}

// Encoded, split on spaces by a docker runtime that ignores the quotes,
// decoded and normalised: the certificate comes back.
func TestRoundTrip(t *testing.T) {
	b := certPEM(t)
	arg, err := caarg.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"split":  append([]string{"/app/server", "--port", "5000"}, strings.Fields(arg)...),
		"equals": {"/app/server", caarg.Flag + "=" + strings.TrimPrefix(arg, caarg.Flag+" ")},
	} {
		got, ok := caarg.Decode(args)
		if !ok {
			t.Fatalf("%s: not found in %q", name, args)
		}
		if n := caarg.NormalizePEM(got); n != string(b) {
			t.Errorf("%s: normalised %q, want %q", name, n, b)
		}
	}
}

func TestNormalizePEM(t *testing.T) {
	b := certPEM(t)
	one := strings.ReplaceAll(string(b), "\n", "")
	back := caarg.NormalizePEM(one)
	blk, _ := pem.Decode([]byte(back))
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("not restored: %q", back)
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		t.Fatal(err)
	}
	if got := caarg.NormalizePEM("  " + string(b)); got != string(b) {
		t.Errorf("multi-line PEM changed: %q", got)
	}
	if got := caarg.NormalizePEM("not a pem"); got != "" {
		t.Errorf("no PEM: %q", got)
	}
}

func TestMerge(t *testing.T) {
	for _, c := range [][3]string{
		{"", "--ca_contents 'new'", "--ca_contents 'new'"},
		{"--foo bar", "--ca_contents 'new'", "--foo bar --ca_contents 'new'"},
		{"--foo bar --ca_contents 'old' --baz", "--ca_contents 'new'", "--foo bar --ca_contents 'new' --baz"},
	} {
		if got := caarg.Merge(c[0], c[1]); got != c[2] {
			t.Errorf("caarg.Merge(%q) = %q, want %q", c[0], got, c[2])
		}
	}
}

func TestValue(t *testing.T) {
	for _, c := range []struct {
		v      string
		rest   []string
		want   string
		joined int
		closed bool
	}{
		{"plain", []string{"x"}, "plain", 0, true},
		{"'quoted'", []string{"x"}, "quoted", 0, true},
		{"'a", []string{"b", "c'", "d"}, "a b c", 2, true},
		{`"a`, []string{`b"`}, "a b", 1, true},
		{"'a", []string{"b"}, "'a", 0, false},
	} {
		got, n, closed := caarg.Value(c.v, c.rest)
		if got != c.want || n != c.joined || closed != c.closed {
			t.Errorf("caarg.Value(%q, %q) = %q, %d, %v; want %q, %d, %v", c.v, c.rest, got, n, closed, c.want, c.joined, c.closed)
		}
	}
}

func TestDecode(t *testing.T) {
	const pem = "-----BEGIN CERTIFICATE-----MIIBszCCAVmgAwIBAgIU-----END CERTIFICATE-----"
	cases := []struct {
		name string
		args []string
		want string
		ok   bool
	}{
		{"separate", []string{"/app/server", "--ca_contents", pem}, pem, true},
		{"equals", []string{"/app/server", "--ca_contents=" + pem}, pem, true},
		{"among others", []string{"server", "--port", "5000", "--ca_contents", pem, "--verbose"}, pem, true},
		{"single quoted", []string{"server", "--ca_contents", "'" + pem + "'"}, pem, true},
		{"double quoted equals", []string{"server", `--ca_contents="` + pem + `"`}, pem, true},
		{"split on spaces", []string{"server", "--ca_contents", "'-----BEGIN", "CERTIFICATE-----MIIB-----END", "CERTIFICATE-----'", "--x"},
			"-----BEGIN CERTIFICATE-----MIIB-----END CERTIFICATE-----", true},
		{"unterminated quote kept", []string{"server", "--ca_contents", "'abc"}, "'abc", true},
		{"absent", []string{"server", "--port", "5000"}, "", false},
		{"no value", []string{"server", "--ca_contents"}, "", false},
		{"empty value", []string{"server", "--ca_contents="}, "", false},
		{"empty quotes", []string{"server", "--ca_contents", "''"}, "", false},
		{"other flag with prefix", []string{"server", "--ca_contents_file", "x"}, "", false},
		{"nil", nil, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := caarg.Decode(c.args)
			if got != c.want || ok != c.ok {
				t.Errorf("caarg.Decode(%q) = %q, %v; want %q, %v", c.args, got, ok, c.want, c.ok)
			}
			if got2, ok2 := gameserver.CAFromArgs(c.args); got2 != got || ok2 != ok {
				t.Errorf("gameserver.CAFromArgs(%q) = %q, %v; DecodeCAArg gives %q, %v", c.args, got2, ok2, got, ok)
			}
		})
	}
}
