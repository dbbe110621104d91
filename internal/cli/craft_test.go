package cli_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/cli/docgen"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natstest"
)

// hangingServer accepts TCP connections and never answers: a gateway that
// does not respond (for the timeout exit code).
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // owner: this test; ends when the listener closes
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
			close(done)
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// runCancelled runs args and cancels its context (with cause) once
// ready(stderr) holds, as Ctrl-C or SIGTERM would.
func runCancelled(t *testing.T, env map[string]string, cause error, ready string, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	io, _, _, _ := iostreams.Test()
	out, errOut := &clitest.Buffer{}, &clitest.Buffer{}
	io.Out, io.ErrOut = out, errOut
	done := make(chan int, 1)
	environ := clitest.Opts{Env: env}.Environ(t)
	go func() { done <- cli.RunIn(ctx, io, environ, args) }()
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(out.String()+errOut.String(), ready) {
			select {
			case code := <-done:
				t.Fatalf("%v exited %d before being ready: %s %s", args, code, out.String(), errOut.String())
			default:
			}
			return context.DeadlineExceeded
		}
		return nil
	})
	cancel(cause)
	select {
	case code := <-done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("%v did not stop", args)
	}
	return -1
}

// Every exit code of the README and `help exit-codes`, each through a real
// command invocation.
func TestEveryDocumentedExitCode(t *testing.T) {
	t.Parallel()
	srv := natstest.RunJetStream(t)
	nats := map[string]string{"NATS_HOST": srv.URL, "NATS_INSECURE": "1"}
	xdg := map[string]string{"XDG_CONFIG_HOME": t.TempDir()}
	hang := hangingServer(t)
	// A bucket with one value for kv watch --initial to show.
	js, err := jetstream.New(srv.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	probe, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "bevygap_probe"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	pem := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct {
		name string
		env  map[string]string
		tty  bool
		in   string
		args []string
		code int
		err  string // in stderr ("" : no Error line at all)
	}{
		{"ok", nil, false, "", []string{"version"}, 0, ""},
		{"ok, empty result", xdg, false, "", []string{"context", "ls", "-o", "json"}, 0, ""},
		{"failure", nats, false, "", []string{"kv", "get", "bevygap_probe", "nope"}, 1, `key "nope" not found`},
		{"failure, file", nil, false, "", []string{"ca-args", pem}, 1, "missing.pem"},
		{"usage: unknown subcommand", nil, false, "", []string{"kv", "lst"}, 2, `unknown command "lst" for "bevygap kv"`},
		{"usage: unknown flag", nil, false, "", []string{"kv", "ls", "--bogus"}, 2, "unknown flag: --bogus"},
		{"usage: bad private key", nil, false, "", []string{"token", "mint", "--private-key", "abc", "--server", "127.0.0.1:5000"}, 2, "invalid lightyear-private-key (from flag --private-key)"},
		{"usage: bad private key (dev)", nil, false, "", []string{"dev", "--private-key", "abc"}, 2, "invalid lightyear-private-key"},
		{"usage: dev takes serve's --gateway-listen", nil, false, "", []string{"dev", "--gateway-listen", "nohostport"}, 2, "invalid gateway-listen (from flag --gateway-listen"},
		{"usage: bad edgegap url", nil, false, "", []string{"sessions", "ls", "--edgegap-url", "notaurl"}, 2, "invalid edgegap-url"},
		{"usage: play url without a port", nil, false, "", []string{"play", "127.0.0.1"}, 2, `gateway url "127.0.0.1"`},
		{"usage: play url scheme", nil, false, "", []string{"play", "ftp://127.0.0.1:3000"}, 2, "not ftp://"},
		{"usage: --jq with -o table", nil, false, "", []string{"version", "-o", "table", "--jq", ".version"}, 2, "--jq filters JSON"},
		{"usage: bad --jq", nil, false, "", []string{"version", "--jq", ".["}, 2, "invalid --jq expression"},
		{"usage: destructive without --yes", nats, false, "", []string{"kv", "purge", "cert_digests"}, 2, "refusing without --yes"},
		{"usage: declined prompt (quiet)", nats, true, "n\n", []string{"kv", "purge", "cert_digests"}, 2, ""},
		{"config: no nats host", nil, false, "", []string{"kv", "ls"}, 4, "no NATS server configured"},
		{"config: check with nothing configured", nil, false, "", []string{"check", "--timeout", "5s"}, 4, ""},
		{"config: unknown context", xdg, false, "", []string{"--context", "nope", "kv", "ls"}, 4, `context "nope" not found`},
		{"timeout", nil, false, "", []string{"play", hang, "--timeout", "300ms"}, 124, "timed out waiting for a seat"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: c.env, TTY: c.tty, Stdin: c.in}, c.args...)
			if r.Code != c.code {
				t.Fatalf("%v: exit %d, want %d\nstdout %q\nstderr %q", c.args, r.Code, c.code, r.Stdout, r.Stderr)
			}
			switch {
			case c.code == 0 || c.name == "usage: declined prompt (quiet)":
				if strings.Contains(r.Stderr, "Error") {
					t.Fatalf("%v: an error line: %q", c.args, r.Stderr)
				}
			case c.err != "" && (!regexp.MustCompile(`(?m)^Error: `).MatchString(r.Stderr) || !strings.Contains(r.Stderr, c.err)):
				t.Fatalf("%v: stderr %q, want an Error line with %q", c.args, r.Stderr, c.err)
			}
		})
	}
	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		if code := runCancelled(t, nats, context.Canceled, "PUT", "kv", "watch", "--initial", "bevygap_probe"); code != 130 {
			t.Fatalf("kv watch after Ctrl-C: exit %d, want 130", code)
		}
	})
	t.Run("terminated", func(t *testing.T) {
		t.Parallel()
		if code := runCancelled(t, nil, cli.ErrTerminated, "127.0.0.1", "edgegap", "simulate", "--listen", "127.0.0.1:0"); code != 0 {
			t.Fatalf("edgegap simulate after SIGTERM: exit %d, want 0", code)
		}
	})
}

// The exit-code table of `help exit-codes` and of the README list the same
// codes, each with its meaning.
func TestExitCodesHelpMatchesREADME(t *testing.T) {
	t.Parallel()
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "help", "exit-codes")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, cli.ExitCodesHelp) {
		t.Fatalf("help exit-codes: exit %d %q", r.Code, r.Stdout)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sec := string(readme)
	if i := strings.Index(sec, "### Exit codes"); i >= 0 {
		sec = sec[i:]
	} else {
		t.Fatal("README has no Exit codes section")
	}
	for _, code := range []string{"0", "1", "2", "4", "124", "130"} {
		if !regexp.MustCompile(`(?m)^  `+code+` `).MatchString(cli.ExitCodesHelp) || !strings.Contains(sec, "| `"+code+"` |") {
			t.Errorf("exit code %s missing from help exit-codes or the README table", code)
		}
	}
	for _, phrase := range []string{"declined", "SIGTERM", "interrupted"} {
		if !strings.Contains(sec, phrase) {
			t.Errorf("README exit codes do not mention %q", phrase)
		}
	}
}

// help config explains where settings come from, in order.
func TestHelpConfig(t *testing.T) {
	t.Parallel()
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "help", "config")
	prev := -1
	for _, step := range []string{"its flag", "the environment", "the .env file", "the selected context", "the config file", "the default"} {
		i := strings.Index(r.Stdout, step)
		if i < 0 || i < prev {
			t.Fatalf("help config lacks %q in order:\n%s", step, r.Stdout)
		}
		prev = i
	}
}

// Every command has examples.
func TestEveryCommandHasExamples(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.IsAvailableCommand() && c.Name() != "completion" && c.Parent() != nil && c.Parent().Name() != "completion" && c.Example == "" {
			t.Errorf("%s has no examples", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(docgen.Root())
}

// An unknown subcommand is a usage error with suggestions, and flag errors
// point at the failing command's help, not the root's.
func TestUnknownSubcommandAndHints(t *testing.T) {
	t.Parallel()
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "kv", "lst")
	if r.Code != 2 || !regexp.MustCompile(`did you mean .*\bls\b`).MatchString(r.Stderr) || !strings.Contains(r.Stderr, "Hint: see `bevygap kv --help`") || r.Stdout != "" {
		t.Fatalf("kv lst: exit %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "sessions", "ls", "--bogus")
	if r.Code != 2 || !strings.Contains(r.Stderr, "Hint: see `bevygap sessions ls --help`") {
		t.Fatalf("sessions ls --bogus: exit %d %q", r.Code, r.Stderr)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "kv")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Available Commands") {
		t.Fatalf("bare kv: exit %d %q", r.Code, r.Stdout)
	}
}

// bevygap --version prints the version like gh and kubectl.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "--version")
	v := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "version", "--jq", ".version")
	if r.Code != 0 || r.Stdout != "bevygap "+v.Stdout {
		t.Fatalf("--version: exit %d %q (version %q)", r.Code, r.Stdout, v.Stdout)
	}
}

func runIO(t *testing.T, stdoutTTY, color bool, args ...string) (string, string, int) {
	t.Helper()
	io, _, out, errOut := iostreams.Test()
	io.SetStdoutTTY(stdoutTTY)
	io.SetColorEnabled(color)
	code := cli.RunIn(context.Background(), io, clitest.Opts{}.Environ(t), args)
	return out.String(), errOut.String(), code
}

// -o is honoured exactly, whatever the terminal: table has a header even
// piped, plain has neither header nor colour even on a colour terminal.
func TestOutputFormatIsTheFlag(t *testing.T) {
	t.Parallel()
	out, _, code := runIO(t, false, false, "config", "show", "-o", "table")
	if code != 0 || !strings.HasPrefix(out, "KEY ") || strings.Contains(out, "\t") {
		t.Fatalf("-o table piped: exit %d %q", code, out)
	}
	out, _, code = runIO(t, true, true, "config", "show", "-o", "plain")
	if code != 0 || strings.Contains(out, "\x1b[") || strings.HasPrefix(out, "KEY") || !strings.HasPrefix(out, "nats-host\tstring\t") {
		t.Fatalf("-o plain on a colour terminal: exit %d %q", code, out)
	}
	out, _, _ = runIO(t, true, true, "config", "show")
	if !strings.Contains(out, "\x1b[") {
		t.Fatalf("default on a colour terminal is a coloured table: %q", out)
	}
	out, _, _ = runIO(t, false, false, "config", "show")
	if strings.HasPrefix(out, "KEY") || !strings.Contains(out, "\t") {
		t.Fatalf("default piped is plain: %q", out)
	}
	out, _, code = runIO(t, false, false, "config", "show", "-o", "wide")
	if code != 0 || !strings.HasPrefix(out, "KEY ") {
		t.Fatalf("-o wide: exit %d %q", code, out)
	}
}

// --jq filters the JSON of any command; strings print raw.
func TestJQ(t *testing.T) {
	t.Parallel()
	out, errOut, code := runIO(t, true, true, "config", "show", "--jq", `.settings[] | select(.key == "app-name") | .value`)
	if code != 0 || out != "spacepit_server\n" {
		t.Fatalf("--jq on config show: exit %d %q %q", code, out, errOut)
	}
	out, _, code = runIO(t, false, false, "config", "show", "-o", "json", "--jq", `[.settings[] | select(.secret)] | length`)
	if code != 0 || out != "6\n" {
		t.Fatalf("--jq number: exit %d %q", code, out)
	}
	out, errOut, code = runIO(t, false, false, "config", "show", "--jq", `.settings | error("boom")`)
	if code != 1 || !strings.Contains(errOut, "boom") || out != "" {
		t.Fatalf("--jq runtime error: exit %d %q %q", code, out, errOut)
	}
}

// The .env file of the working directory is read like the Rust bevygap
// reads it: under the real environment.
func TestDotEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dotenv := "# the Rust example file\nexport NATS_HOST=nats.example.com:4222\nBEVYGAP_APP_NAME=\"my game\" # quoted\nEDGEGAP_API_KEY='token abc'\n\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	q := `[.settings[] | select(.key == "nats-host" or .key == "app-name" or .key == "edgegap-api-key") | .value + " (" + .source + ")"] | join("; ")`
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{Dir: dir}, "config", "show", "--jq", q)
	if r.Stdout != "nats.example.com:4222 (env NATS_HOST); [redacted] (env EDGEGAP_API_KEY); my game (env BEVYGAP_APP_NAME)\n" {
		t.Fatalf(".env: %q %s", r.Stdout, r.Stderr)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Dir: dir, Env: map[string]string{"NATS_HOST": "real:4222"}}, "config", "show", "--jq", q)
	if !strings.HasPrefix(r.Stdout, "real:4222 (env NATS_HOST)") {
		t.Fatalf("the environment wins over .env: %q", r.Stdout)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("NATS_HOST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Dir: dir}, "config", "show")
	if r.Code != 2 || !strings.Contains(r.Stderr, ".env: line 1: want KEY=VALUE") {
		t.Fatalf("malformed .env: exit %d %s", r.Code, r.Stderr)
	}
}
