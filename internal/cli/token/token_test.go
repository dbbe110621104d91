package token_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
)

const key = "1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1"

// Every form of the key that must never be printed.
var keyForms = []string{
	key, "1,2,3,4,5,6,7,8,9", "0102030405060708090000000000000000000000000000000000000000000001",
	"AQIDBAUGBwgJAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=",
}

func run(t *testing.T, o clitest.Opts, args ...string) clitest.Result {
	t.Helper()
	r := clitest.Exec(t, cli.RunIn, o, args...)
	for _, k := range keyForms {
		if strings.Contains(r.Stdout+r.Stderr, k) {
			t.Fatalf("%v printed the private key (%q)", args, k)
		}
	}
	return r
}

// The acceptance: piped mint prints one base64 line of 2048 bytes
// starting with NETCODE 1.02; inspect with the key shows the same client id.
func TestMintThenInspect(t *testing.T) {
	t.Parallel()
	r := run(t, clitest.Opts{}, "token", "mint", "--server", "127.0.0.1:6420", "--protocol-id", "80085", "--private-key", key)
	if r.Code != 0 {
		t.Fatalf("mint exit %d: %s", r.Code, r.Stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("piped mint printed %d lines", len(lines))
	}
	raw, err := base64.StdEncoding.DecodeString(lines[0])
	if err != nil || len(raw) != 2048 || !strings.HasPrefix(string(raw), "NETCODE 1.02") {
		t.Fatalf("not a 2048-byte NETCODE 1.02 token: %d bytes, %v", len(raw), err)
	}

	r = run(t, clitest.Opts{}, "token", "mint", "--server", "127.0.0.1:6420", "--protocol-id", "80085", "--private-key", key, "-o", "json")
	var minted struct {
		Token    string `json:"token"`
		ClientID uint64 `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &minted); err != nil || minted.ClientID == 0 {
		t.Fatalf("mint json: %q %v", r.Stdout, err)
	}
	r = run(t, clitest.Opts{}, "token", "inspect", "--private-key", key, "-o", "json", minted.Token)
	var insp struct {
		ClientID   *uint64  `json:"client_id"`
		ProtocolID uint64   `json:"protocol_id"`
		Servers    []string `json:"server_addresses"`
		Decrypted  bool     `json:"decrypted"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &insp); err != nil || r.Code != 0 {
		t.Fatalf("inspect: exit %d %q %v", r.Code, r.Stdout+r.Stderr, err)
	}
	if insp.ClientID == nil || *insp.ClientID != minted.ClientID || insp.ProtocolID != 80085 || !insp.Decrypted || insp.Servers[0] != "127.0.0.1:6420" {
		t.Fatalf("inspect shows %+v, minted client id %d", insp, minted.ClientID)
	}

	// stdin with -, and the key from a file and from the environment.
	kf := filepath.Join(t.TempDir(), "key")
	os.WriteFile(kf, []byte(key+"\n"), 0o600)
	r = run(t, clitest.Opts{Stdin: minted.Token + "\n"}, "token", "inspect", "-", "--private-key-file", kf, "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"decrypted": true`) {
		t.Fatalf("inspect from stdin: exit %d %s", r.Code, r.Stderr)
	}
	r = run(t, clitest.Opts{Env: map[string]string{"LIGHTYEAR_PRIVATE_KEY": key}}, "token", "mint", "--server", "[::1]:5000", "--count", "3", "--client-id", "9", "--protocol-id", "1")
	if r.Code != 0 || strings.Count(r.Stdout, "\n") != 3 {
		t.Fatalf("--count 3: exit %d, %q", r.Code, r.Stdout)
	}
}

func TestInspectFailures(t *testing.T) {
	t.Parallel()
	r := run(t, clitest.Opts{}, "token", "mint", "--server", "127.0.0.1:6420", "--private-key", key)
	tok := strings.TrimSpace(r.Stdout)
	wrong := strings.Replace(key, ",1", ",2", 1)[:len(key)-1] + "2"
	raw, _ := base64.StdEncoding.DecodeString(tok)
	raw[200] ^= 1
	tampered := base64.StdEncoding.EncodeToString(raw)
	for _, c := range []struct {
		name string
		args []string
		msg  string
	}{
		{"malformed", []string{"token", "inspect", "AAAA"}, "malformed connect token"},
		{"not base64", []string{"token", "inspect", strings.Repeat("!", 2732)}, "malformed connect token"},
		{"wrong key", []string{"token", "inspect", "--private-key", wrong, tok}, "wrong private key"},
		{"tampered", []string{"token", "inspect", "--private-key", key, tampered}, "tampered"},
		{"bad key", []string{"token", "inspect", "--private-key", "1,2,300", tok}, "invalid lightyear-private-key (from flag --private-key)"},
	} {
		r := run(t, clitest.Opts{}, c.args...)
		want := 1
		if c.name == "bad key" {
			want = 2 // a bad value of a setting is a usage error (issue 15)
		}
		if r.Code != want || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%s: exit %d, stderr %q", c.name, r.Code, r.Stderr)
		}
	}
}

func TestMintUsageErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"token", "mint", "--private-key", key}, 2, "--server is required"},
		{[]string{"token", "mint", "--server", "nope", "--private-key", key}, 2, `--server "nope"`},
		{[]string{"token", "mint", "--server", "1.2.3.4:5"}, 4, "no Lightyear private key"},
		{[]string{"token", "mint", "--server", "1.2.3.4:5", "--private-key", key, "--count", "0"}, 2, "--count 0"},
		{[]string{"token", "mint", "--server", "1.2.3.4:5", "--private-key", key, "--user-data", "zz"}, 2, "--user-data"},
		{[]string{"token", "mint", "--server", "1.2.3.4:5", "--private-key", key, "--protocol-id", "-3"}, 2, "lightyear-protocol-id"},
		{[]string{"token", "mint", "--server", "1.2.3.4:5", "--private-key", key, "--client-id", "x"}, 2, "--client-id"},
	} {
		r := run(t, clitest.Opts{}, c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%v: exit %d stderr %q, want %d with %q", c.args, r.Code, r.Stderr, c.code, c.msg)
		}
	}
}

func TestMintTTYSummaryHidesKey(t *testing.T) {
	t.Parallel()
	r := run(t, clitest.Opts{TTY: true}, "token", "mint", "--server", "127.0.0.1:6420", "--private-key", key, "--log-level", "debug")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Client id:") || !strings.Contains(r.Stdout, "fingerprint ") {
		t.Fatalf("tty summary: exit %d %q", r.Code, r.Stdout)
	}
}
