package caargs_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/caargs"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// The argument is exactly what set-caroot-argument.sh builds:
// --ca_contents '$(cat "$cafile" | tr -d '\n')'
func TestMatchesRustScript(t *testing.T) {
	t.Parallel()
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "ca-args", "testdata/ca.pem")
	if r.Code != 0 {
		t.Fatalf("exit %d %s", r.Code, r.Stderr)
	}
	golden.Assert(t, "ca-args.golden", []byte(r.Stdout))
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not available to run the Rust script's expression")
	}
	out, err := exec.Command("bash", "-c", `cafile=testdata/ca.pem; printf '%s\n' "--ca_contents '$(cat "$cafile" | tr -d '\n')'"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != r.Stdout {
		t.Fatalf("differs from the Rust script's expression:\n%s\n%s", out, r.Stdout)
	}
}

func TestRejectsNonCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty.pem":  "",
		"key.pem":    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
		"broken.pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"text.pem":   "hello",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "ca-args", p)
		if r.Code != 1 || !strings.Contains(r.Stderr, name) {
			t.Errorf("%s: exit %d %q", name, r.Code, r.Stderr)
		}
	}
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "ca-args", filepath.Join(dir, "missing.pem"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "missing.pem") {
		t.Errorf("missing file: exit %d %q", r.Code, r.Stderr)
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	pem, _ := filepath.Abs("testdata/ca.pem")
	sim, err := edgegapsim.Start(context.Background(), edgegapsim.Config{Apps: []edgegapsim.App{{Name: "game", Versions: []edgegapsim.Version{{Name: "v3", Arguments: "--port 5000 --ca_contents 'old'"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	vars := map[string]string{"EDGEGAP_API_KEY": edgegapsim.DefaultAPIKey}
	// --apply asks first (issue 15: it overwrote the arguments without
	// asking): off a terminal it needs --yes, and a declined prompt changes
	// nothing.
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: vars}, "ca-args", pem, "--apply", "--app-name", "game", "--app-version", "v3", "--edgegap-url", sim.URL())
	if got, _ := sim.VersionArguments("game", "v3"); r.Code != 2 || !strings.Contains(r.Stderr, "--yes") || got != "--port 5000 --ca_contents 'old'" {
		t.Fatalf("--apply without --yes off a terminal: exit %d %q, arguments %q", r.Code, r.Stderr, got)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Env: vars, TTY: true, Stdin: "n\n"}, "ca-args", pem, "--apply", "--app-name", "game", "--app-version", "v3", "--edgegap-url", sim.URL())
	if got, _ := sim.VersionArguments("game", "v3"); r.Code != 2 || !strings.Contains(r.Stderr, "--port 5000 --ca_contents 'old'") || got != "--port 5000 --ca_contents 'old'" {
		t.Fatalf("declined --apply: exit %d %q, arguments %q", r.Code, r.Stderr, got)
	}
	// The old flag names --app and --version still work.
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Env: vars}, "ca-args", pem, "--apply", "--app", "game", "--version", "v3", "--edgegap-url", sim.URL(), "-o", "json", "--yes")
	if r.Code != 0 {
		t.Fatalf("exit %d %s", r.Code, r.Stderr)
	}
	var res caargs.Result
	json.Unmarshal([]byte(r.Stdout), &res)
	got, _ := sim.VersionArguments("game", "v3")
	if !strings.HasPrefix(got, "--port 5000 --ca_contents '-----BEGIN CERTIFICATE-----") || strings.Contains(got, "'old'") || res.Arguments != got || !res.Applied {
		t.Fatalf("arguments now %q (result %+v)", got, res)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Env: vars}, "ca-args", pem, "--apply", "--app", "game", "--yes")
	if r.Code != 2 {
		t.Fatalf("--apply without --version: exit %d", r.Code)
	}
}
