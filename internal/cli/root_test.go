package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/internal/settings"
)

func TestRootHelp(t *testing.T) {
	t.Parallel()
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "--help")
	if r.Code != 0 {
		t.Fatalf("exit %d", r.Code)
	}
	golden.Assert(t, "root-help.golden", []byte(r.Stdout))
}

func TestVersionJSON(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
	secrets := map[string]string{
		"NATS_PASSWORD":         "hunter2-pass",
		"EDGEGAP_API_KEY":       "token sekrit-api-key",
		"LIGHTYEAR_PRIVATE_KEY": "9,8,7,6,5,4,3,2,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,77",
		"NATS_CA_CONTENTS":      "-----BEGIN CERTIFICATE-----MIIBsecretish-----END CERTIFICATE-----",
	}
	for _, args := range [][]string{{"config", "show"}, {"config", "show", "-o", "json"}} {
		for _, tty := range []bool{true, false} {
			r := clitest.Exec(t, cli.RunIn, clitest.Opts{TTY: tty, Env: secrets}, args...)
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

// config show lists every declared setting with its section and type, says
// where each value came from (a file, the dev preset never outside dev),
// and reports a bad value of a setting the command does not use.
func TestConfigShowSourcesAndTypes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bevygap.yaml"), []byte("app-version: v7\ncors: [a, b]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{Dir: dir, Env: map[string]string{"BEVYGAP_READY_TIMEOUT": "soon"}}, "config", "show", "-o", "json")
	var out struct {
		File     string
		Settings []settings.Entry
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || r.Code != 0 {
		t.Fatalf("exit %d %q: %v", r.Code, r.Stdout+r.Stderr, err)
	}
	if len(out.Settings) != len(settings.Defs) || out.File != filepath.Join(dir, "bevygap.yaml") {
		t.Fatalf("%d settings from %q", len(out.Settings), out.File)
	}
	by := map[string]settings.Entry{}
	for _, e := range out.Settings {
		by[e.Key] = e
	}
	if e := by["app-version"]; e.Value != "v7" || e.Source != "file "+out.File || e.Section != settings.SectionMatchmaker {
		t.Errorf("app-version: %+v", e)
	}
	if e := by["cors"]; e.Value != "a,b" || e.Type != "strings" {
		t.Errorf("cors: %+v", e)
	}
	if e := by["ready-timeout"]; e.Type != "duration" || !strings.Contains(e.Error, "a duration like 30s") || e.Source != "env BEVYGAP_READY_TIMEOUT" {
		t.Errorf("ready-timeout: %+v", e)
	}
	if e := by["lightyear-private-key"]; e.Source != "default" || e.Value != "" {
		t.Errorf("the dev preset leaks outside dev: %+v", e)
	}
}
