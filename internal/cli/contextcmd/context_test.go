package contextcmd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/natstest"
)

// `bevygap context add dev ...; bevygap context use dev; bevygap kv ls`
// works with no NATS env set, against an in-process NATS.
func TestAddUseThenKvLsWithNoEnv(t *testing.T) {
	t.Parallel()
	srv := natstest.RunJetStream(t)
	env := map[string]string{"XDG_CONFIG_HOME": t.TempDir()}
	run := func(args ...string) clitest.Result {
		return clitest.Exec(t, cli.RunIn, clitest.Opts{Env: env}, args...)
	}
	// Before: no NATS configured.
	if r := run("kv", "ls"); r.Code != 4 {
		t.Fatalf("kv ls without a context: exit %d %s", r.Code, r.Stderr)
	}
	if r := run("context", "add", "dev", "--nats-host", srv.URL, "--nats-insecure", "--description", "local"); r.Code != 0 {
		t.Fatalf("context add: exit %d %s", r.Code, r.Stderr)
	}
	if r := run("context", "use", "dev"); r.Code != 0 || !strings.Contains(r.Stdout, "Switched to context dev") {
		t.Fatalf("context use: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := run("kv", "init"); r.Code != 0 {
		t.Fatalf("kv init in context dev: exit %d %s", r.Code, r.Stderr)
	}
	r := run("kv", "ls", "--names")
	if r.Code != 0 || !strings.Contains(r.Stdout, "active_connections") {
		t.Fatalf("kv ls in context dev: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	// config show says where the value came from.
	r = run("config", "show", "--jq", `.settings[] | select(.key == "nats-host") | .source`)
	if strings.TrimSpace(r.Stdout) != "context dev" {
		t.Fatalf("nats-host source: %q %s", r.Stdout, r.Stderr)
	}
	// Flags and env win over the context.
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"XDG_CONFIG_HOME": env["XDG_CONFIG_HOME"], "NATS_HOST": "127.0.0.1:1"}}, "config", "show", "--jq", `.settings[] | select(.key == "nats-host") | .source`)
	if strings.TrimSpace(r.Stdout) != "env NATS_HOST" {
		t.Fatalf("env under the context: %q", r.Stdout)
	}
	// ls marks the current one; completion offers the names.
	r = run("context", "ls", "-o", "json", "--jq", `.[] | select(.current) | .name`)
	if r.Stdout != "dev\n" {
		t.Fatalf("context ls current: %q %s", r.Stdout, r.Stderr)
	}
	if r := run("__complete", "context", "use", ""); !strings.Contains(r.Stdout, "dev\n") {
		t.Fatalf("context use <TAB>: %q", r.Stdout)
	}
	if r := run("__complete", "--context", ""); !strings.Contains(r.Stdout, "dev\n") {
		t.Fatalf("--context <TAB>: %q", r.Stdout)
	}
	// An unknown context named by --context is missing configuration.
	if r := run("--context", "prod", "kv", "ls"); r.Code != 4 || !strings.Contains(r.Stderr, `context "prod" not found; contexts: dev`) {
		t.Fatalf("unknown context: exit %d %s", r.Code, r.Stderr)
	}
	// rm asks first; --yes removes.
	if r := run("context", "rm", "dev"); r.Code != 2 {
		t.Fatalf("context rm without --yes: exit %d", r.Code)
	}
	if r := run("context", "rm", "dev", "--yes"); r.Code != 0 {
		t.Fatalf("context rm --yes: exit %d %s", r.Code, r.Stderr)
	}
	if r := run("kv", "ls"); r.Code != 4 {
		t.Fatalf("kv ls after removing the current context: exit %d", r.Code)
	}
}

// Secrets are stored by reference, never in clear unless asked; a
// reference is read when a command runs; show prints the reference.
func TestSecretsByReference(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("token from-file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"XDG_CONFIG_HOME": dir, "MY_NATS_PASS": "hunter2-env-secret"}
	run := func(args ...string) clitest.Result {
		return clitest.Exec(t, cli.RunIn, clitest.Opts{Env: env}, args...)
	}
	r := run("context", "add", "prod", "--edgegap-api-key", "token clear-secret")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--edgegap-api-key-env") || strings.Contains(r.Stderr, "clear-secret") {
		t.Fatalf("a secret value without --store-secrets-in-clear: exit %d %s", r.Code, r.Stderr)
	}
	r = run("context", "add", "prod", "--nats-host", "tls://nats.example.com", "--nats-password-env", "MY_NATS_PASS", "--edgegap-api-key-file", keyFile, "--app-name", "my-game")
	if r.Code != 0 {
		t.Fatalf("context add with references: exit %d %s", r.Code, r.Stderr)
	}
	file, err := os.ReadFile(filepath.Join(dir, "bevygap", "contexts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "bevygap", "contexts.yaml")); st.Mode().Perm() != 0o600 {
		t.Fatalf("contexts file mode %v", st.Mode())
	}
	for _, secret := range []string{"hunter2", "from-file-secret"} {
		if strings.Contains(string(file), secret) {
			t.Fatalf("contexts file holds a secret in clear:\n%s", file)
		}
	}
	if !strings.Contains(string(file), "env:MY_NATS_PASS") || !strings.Contains(string(file), "file:"+keyFile) {
		t.Fatalf("contexts file lacks the references:\n%s", file)
	}
	r = run("context", "show", "prod")
	if r.Code != 0 || !strings.Contains(r.Stdout, "env:MY_NATS_PASS") || strings.Contains(r.Stdout+r.Stderr, "hunter2") {
		t.Fatalf("context show: exit %d %q", r.Code, r.Stdout)
	}
	// The references resolve when a command runs (config show redacts them).
	r = run("config", "show", "-o", "json", "--jq", `.settings[] | select(.key == "edgegap-api-key" or .key == "app-name") | .value + " " + .source`)
	if r.Stdout != "[redacted] context prod\nmy-game context prod\n" {
		t.Fatalf("resolved settings: %q %s", r.Stdout, r.Stderr)
	}
	// A reference that does not resolve fails a command that reads it,
	// naming the reference, not a value.
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"XDG_CONFIG_HOME": dir}}, "kv", "ls")
	if r.Code != 4 || !strings.Contains(r.Stderr, "nats-password from env:MY_NATS_PASS") {
		t.Fatalf("unset env reference: exit %d %s", r.Code, r.Stderr)
	}
	// Asked for, a secret is stored in clear.
	r = run("context", "add", "local", "--edgegap-api-key", "token bevygap-dev", "--store-secrets-in-clear")
	if r.Code != 0 {
		t.Fatalf("add with --store-secrets-in-clear: exit %d %s", r.Code, r.Stderr)
	}
	if r = run("context", "add", "local"); r.Code != 2 || !strings.Contains(r.Stderr, "--replace") {
		t.Fatalf("add over an existing context: exit %d %s", r.Code, r.Stderr)
	}
	if r = run("context", "add", "bad name"); r.Code != 2 || !strings.Contains(r.Stderr, "invalid context name") {
		t.Fatalf("bad name: exit %d %s", r.Code, r.Stderr)
	}
	if r = run("context", "add", "x", "--edgegap-url", "notaurl"); r.Code != 2 || !strings.Contains(r.Stderr, "invalid edgegap-url") {
		t.Fatalf("bad value: exit %d %s", r.Code, r.Stderr)
	}
}
