package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natstest"
)

var (
	contextLineRE = regexp.MustCompile(`\S+ (context add dev .*)`) // the program as dev was started, then the line
	gatewayRE     = regexp.MustCompile(`gateway\s+ws://(\S+)/matchmaker/ws`)
)

// shellFields splits a command line the way a shell would for the lines
// bevygap prints (spaces, single quotes).
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			inQuote, have = !inQuote, true
		case r == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// Against a running `bevygap dev` whose stdout is a colour terminal and
// whose stderr is a file: the banner on stderr has no escape codes; the
// context line it prints saves the stack, after which kv ls and check work
// with no env set (check no longer fails on the app name); session ids
// complete; play takes host:port and a URL without a path, hints at the
// route for a wrong one, and explains a load run refused by the gateway's
// limits.
func TestAgainstDev(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	io, _, _, _ := iostreams.Test()
	errOut := &clitest.Buffer{}
	io.ErrOut = errOut
	io.SetStdoutTTY(true)
	io.SetColorEnabled(true)
	done := make(chan int, 1)
	devEnv := clitest.Opts{Env: map[string]string{"BEVYGAP_RATE_PER_MINUTE": "1", "BEVYGAP_RATE_BURST": "4"}}.Environ(t)
	go func() {
		done <- cli.RunIn(ctx, io, devEnv, []string{"dev", "--listen", "127.0.0.1:0", "--edgegap-listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--deploy-delay", "50ms", "--log-level", "error", "--allocator", "sessions"})
	}()
	var line []string
	var gw string
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		m, g := contextLineRE.FindStringSubmatch(errOut.String()), gatewayRE.FindStringSubmatch(errOut.String())
		if m == nil || g == nil {
			select {
			case code := <-done:
				t.Fatalf("dev exited %d: %s", code, errOut.String())
			default:
			}
			return errors.New("no banner yet")
		}
		line, gw = shellFields(m[1]), g[1]
		return nil
	})
	if strings.Contains(errOut.String(), "\x1b[") {
		t.Fatalf("dev 2>file wrote escape codes:\n%q", errOut.String())
	}
	env := map[string]string{"XDG_CONFIG_HOME": t.TempDir()}
	run := func(args ...string) clitest.Result {
		return clitest.Exec(t, cli.RunIn, clitest.Opts{Env: env}, args...)
	}
	if r := run(line...); r.Code != 0 {
		t.Fatalf("%v: exit %d %s", line, r.Code, r.Stderr)
	}
	if r := run("kv", "ls", "--names"); r.Code != 0 || !strings.Contains(r.Stdout, "active_connections") {
		t.Fatalf("kv ls in the dev context: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	r := run("check", "-o", "json")
	var items []struct{ Check, Status string }
	if err := json.Unmarshal([]byte(r.Stdout), &items); err != nil || r.Code != 0 {
		t.Fatalf("check against dev: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	for _, it := range items {
		if it.Check == "app exists and active" && it.Status != "ok" || it.Check == "edgegap api key" && it.Status != "ok" {
			t.Fatalf("check against dev: %+v", items)
		}
	}
	// play: host:port (the gateway-url of the context is the default).
	r = run("play", gw, "-o", "json")
	var seat struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &seat); err != nil || r.Code != 0 {
		t.Fatalf("play host:port: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := run("__complete", "sessions", "get", ""); !strings.Contains(r.Stdout, seat.SessionID+"\t") {
		t.Fatalf("sessions get <TAB> lacks %s: %q", seat.SessionID, r.Stdout)
	}
	if r := run("play", "ws://"+gw, "-o", "json"); r.Code != 0 {
		t.Fatalf("play ws://host:port: exit %d %s", r.Code, r.Stderr)
	}
	// With no URL, the context's gateway-url (from dev's line).
	if r := run("play", "-o", "json"); r.Code != 0 {
		t.Fatalf("play with the context's gateway-url: exit %d %s", r.Code, r.Stderr)
	}
	if r := run("play", "ws://"+gw+"/nope"); r.Code != 1 || !strings.Contains(r.Stderr, "Hint: no websocket at ws://"+gw+"/nope: the gateway's route is /matchmaker/ws") {
		t.Fatalf("play with a wrong path: exit %d %s", r.Code, r.Stderr)
	}
	// The burst of 4 is spent but for one: a load run is refused, and told why.
	r = run("play", "--count", "4", "--concurrency", "2")
	if r.Code != 1 || !strings.Contains(r.Stderr, "got no seat") || !strings.Contains(r.Stderr, "Hint: ") || !strings.Contains(r.Stderr, "--rate-per-minute") {
		t.Fatalf("refused load run: exit %d %s", r.Code, r.Stderr)
	}
	cancel()
	select {
	case code := <-done:
		if code != 130 {
			t.Fatalf("dev exit %d after Ctrl-C", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop")
	}
}
