package cli_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// Secrets of the sweep: configured as an operator would, and carried by the
// data the commands print (a session whose webhook_url holds the webhook
// secret, as the matchmaker creates them).
const (
	sweepWebhookSecret = "sweep-webhook-secret-5678"
	sweepAPIKey        = "token sweep-edgegap-key-1234"
)

var sweepKey = func() [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = byte(201 + i)
	}
	return k
}()

// sweepKeyNumbers is the key as LIGHTYEAR_PRIVATE_KEY spells it.
func sweepKeyNumbers() string {
	n := make([]string, len(sweepKey))
	for i, b := range sweepKey {
		n[i] = fmt.Sprint(b)
	}
	return strings.Join(n, ",")
}

// sweepCase is one invocation; code -1 accepts any exit (a long-running
// command cut by its deadline, or one that needs what the sweep lacks).
type sweepCase struct {
	args    []string
	code    int
	timeout time.Duration
}

// TestNoCommandPrintsASecret runs every command of the tree (found by
// walking it) in JSON, plain and terminal-table output with the secrets
// configured, and fails if any of them shows up on stdout or stderr in any
// common encoding. Long-running commands run for a moment with debug logs.
// A command the table below does not know is still run, without
// arguments, so a new command is swept too.
func TestNoCommandPrintsASecret(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ns := natstest.RunJetStream(t)
	sim, err := edgegapsim.Start(ctx, edgegapsim.Config{APIKey: sweepAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	hook := "http://127.0.0.1:9/hook/session?secret=" + sweepWebhookSecret
	eg, err := edgegap.New(edgegap.Config{BaseURL: sim.URL(), APIKey: sweepAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		s, err := eg.CreateSession(ctx, edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"81.128.157.100"}, WebhookURL: hook})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	env := map[string]string{
		"NATS_HOST": ns.URL, "NATS_INSECURE": "1",
		"EDGEGAP_API_KEY": sweepAPIKey, "BEVYGAP_EDGEGAP_URL": sim.URL(),
		"LIGHTYEAR_PRIVATE_KEY":       sweepKeyNumbers(),
		"BEVYGAP_WEBHOOK_SECRET":      sweepWebhookSecret,
		"BEVYGAP_SESSION_WEBHOOK_URL": hook,
		"BEVYGAP_APP_NAME":            edgegapsim.DefaultApp, "BEVYGAP_APP_VERSION": edgegapsim.DefaultVersion,
		"BEVYGAP_ALLOCATOR": "sessions",
	}
	secrets := []string{
		sweepWebhookSecret, strings.TrimPrefix(sweepAPIKey, "token "),
		sweepKeyNumbers(), "201,202,203", hex.EncodeToString(sweepKey[:]), base64.StdEncoding.EncodeToString(sweepKey[:]),
		base64.RawURLEncoding.EncodeToString(sweepKey[:]),
	}

	// A token to inspect, minted with the configured key.
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: env}, "token", "mint", "--server", "127.0.0.1:5000", "-o", "json")
	tok := regexp.MustCompile(`"token":\s*"([^"]+)"`).FindStringSubmatch(r.Stdout)
	if r.Code != 0 || tok == nil {
		t.Fatalf("token mint: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	long := 2 * time.Second
	listen := []string{"--nats-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0"}
	known := map[string][]sweepCase{
		"version":          {{code: 0}},
		"config show":      {{code: 0}},
		"check":            {{code: -1}},
		"ca-args":          {{args: []string{"caargs/testdata/ca.pem"}, code: 0}},
		"kv init":          {{code: 0}},
		"kv ls":            {{code: 0}},
		"kv keys":          {{args: []string{"unclaimed_sessions"}, code: 0}},
		"kv get":           {{args: []string{"unclaimed_sessions", "nope"}, code: -1}},
		"kv rm":            {{args: []string{"unclaimed_sessions", "nope", "--yes"}, code: -1}},
		"kv purge":         {{args: []string{"unclaimed_sessions", "--yes"}, code: 0}},
		"kv watch":         {{code: -1, timeout: long}},
		"sessions ls":      {{code: 0}, {args: []string{"--details"}, code: 0}},
		"sessions get":     {{args: []string{ids[0]}, code: 0}},
		"sessions prune":   {{code: -1}},
		"sessions rm":      {{args: []string{ids[1], "--yes"}, code: 0}},
		"token mint":       {{args: []string{"--server", "127.0.0.1:5000"}, code: 0}},
		"token inspect":    {{args: []string{tok[1]}, code: 0}},
		"play":             {{args: []string{"ws://127.0.0.1:9/matchmaker/ws", "--timeout", "1s"}, code: -1}},
		"serve":            {{args: append([]string{"--skip-edgegap-check"}, listen...), code: -1, timeout: long}},
		"dev":              {{args: append([]string{"--edgegap-listen", "127.0.0.1:0"}, listen...), code: -1, timeout: long}},
		"edgegap simulate": {{args: []string{"--listen", "127.0.0.1:0"}, code: -1, timeout: long}},
		"gameserver":       {{code: -1, timeout: long}},
		"completion":       {{args: []string{"bash"}, code: 0}},
	}
	for _, path := range leafCommands() {
		cases, ok := known[path]
		if !ok {
			t.Logf("%s: not in the sweep's table, run without arguments", path)
			cases = []sweepCase{{code: -1, timeout: long}}
		}
		for _, c := range cases {
			for _, mode := range []struct {
				format string
				tty    bool
			}{{"json", false}, {"plain", false}, {"table", true}} {
				args := append(append(strings.Fields(path), c.args...), "-o", mode.format, "--log-level", "debug")
				res := runFor(t, env, mode.tty, c.timeout, args)
				if c.code >= 0 && res.Code != c.code {
					t.Errorf("%v: exit %d, want %d: %s", args, res.Code, c.code, lastLines(res.Stderr))
				}
				for _, s := range secrets {
					if strings.Contains(res.Stdout, s) || strings.Contains(res.Stderr, s) {
						t.Errorf("%v (tty=%v) prints the secret %q", args, mode.tty, s)
					}
				}
			}
		}
	}
	// The sweep saw the data that carries the secret, redacted.
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Env: env}, "sessions", "get", ids[0], "-o", "json")
	var got struct {
		WebhookURL string `json:"webhook_url"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || got.WebhookURL != "http://127.0.0.1:9/hook/session?secret=[redacted]" {
		t.Errorf("sessions get -o json: webhook_url %q (%v)", got.WebhookURL, err)
	}
}

// runFor runs args in-process; with timeout > 0 the command is interrupted
// after it (long-running commands).
func runFor(t *testing.T, env map[string]string, tty bool, timeout time.Duration, args []string) clitest.Result {
	t.Helper()
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	io, _, out, errOut := iostreams.Test()
	io.SetTTY(tty)
	code := cli.RunIn(ctx, io, clitest.Opts{Env: env}.Environ(t), args)
	return clitest.Result{Stdout: out.String(), Stderr: errOut.String(), Code: code}
}

// leafCommands lists every runnable command of the tree ("kv get", ...).
func leafCommands() []string {
	io, _, _, _ := iostreams.Test()
	root := cli.NewRootCmd(factory.New(io, settings.MapEnv("", nil)))
	var out []string
	var walk func(c *cobra.Command, prefix string)
	walk = func(c *cobra.Command, prefix string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			name := strings.TrimSpace(prefix + " " + sub.Name())
			if sub.HasSubCommands() {
				walk(sub, name)
				continue
			}
			if sub.Runnable() {
				out = append(out, name)
			}
		}
	}
	walk(root, "")
	return out
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return fmt.Sprint(lines[max(0, len(lines)-3):])
}
