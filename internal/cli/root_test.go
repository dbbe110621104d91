package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/golden"
)

func TestRootHelp(t *testing.T) {
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "--help")
	if r.Code != 0 {
		t.Fatalf("exit %d", r.Code)
	}
	golden.Assert(t, "root-help.golden", []byte(r.Stdout))
}

func TestVersionJSON(t *testing.T) {
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "version", "-o", "json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil || r.Code != 0 {
		t.Fatalf("exit %d %q: %v", r.Code, r.Stdout, err)
	}
	for _, k := range []string{"version", "commit", "date", "go_version", "platform"} {
		if v[k] == "" {
			t.Errorf("version JSON lacks %s: %v", k, v)
		}
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "version")
	if !strings.HasPrefix(r.Stdout, "bevygap ") {
		t.Errorf("version: %q", r.Stdout)
	}
}

func TestUsageExitCodes(t *testing.T) {
	for _, args := range [][]string{
		{"nope"}, {"version", "extra"}, {"--bogus"}, {"version", "-o", "xml"}, {"version", "--log-level", "loud"},
	} {
		r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, args...)
		if r.Code != 2 || !strings.HasPrefix(r.Stderr, "Error: ") || strings.Count(r.Stderr, "Error:") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, r.Code, r.Stderr)
		}
	}
}

// The password, API key and private key never appear in config show, in any form.
func TestConfigShowRedacts(t *testing.T) {
	t.Chdir(t.TempDir())
	secrets := map[string]string{
		"NATS_PASSWORD":         "hunter2-pass",
		"EDGEGAP_API_KEY":       "token sekrit-api-key",
		"LIGHTYEAR_PRIVATE_KEY": "9,8,7,6,5,4,3,2,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,77",
		"NATS_CA_CONTENTS":      "-----BEGIN CERTIFICATE-----MIIBsecretish-----END CERTIFICATE-----",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	for _, args := range [][]string{{"config", "show"}, {"config", "show", "-o", "json"}} {
		for _, tty := range []bool{true, false} {
			r := clitest.Exec(t, cli.RunIn, clitest.Opts{TTY: tty}, args...)
			if r.Code != 0 {
				t.Fatalf("%v: exit %d %s", args, r.Code, r.Stderr)
			}
			for _, v := range secrets {
				for _, part := range []string{v, strings.TrimPrefix(v, "token "), "hunter2", "9,8,7,6", "MIIB"} {
					if strings.Contains(r.Stdout+r.Stderr, part) && strings.Contains(v, part) {
						t.Errorf("%v (tty=%v) leaks %q", args, tty, part)
					}
				}
			}
			if !strings.Contains(r.Stdout, "[redacted]") || !strings.Contains(r.Stdout, "env EDGEGAP_API_KEY") {
				t.Errorf("%v: no redaction marker or source: %s", args, r.Stdout)
			}
		}
	}
}
