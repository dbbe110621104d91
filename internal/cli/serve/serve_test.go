package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/client"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

const key = "5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5"

// sim starts a simulator and adds its URL and key to env.
func sim(t *testing.T, env map[string]string) *edgegapsim.Server {
	s, err := edgegapsim.Start(context.Background(), edgegapsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	env["EDGEGAP_API_KEY"] = edgegapsim.DefaultAPIKey
	env["BEVYGAP_EDGEGAP_URL"] = s.URL()
	return s
}

// running starts `bevygap serve args...` with env and returns the "bevygap
// serving" log line's fields once it is up.
func running(t *testing.T, env map[string]string, args ...string) (map[string]any, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	io, _, _, _ := iostreams.Test()
	logs := &clitest.Buffer{}
	io.ErrOut = logs
	done := make(chan int, 1)
	environ := clitest.Opts{Env: env}.Environ(t)
	go func() {
		done <- cli.RunIn(ctx, io, environ, append([]string{"serve", "--log-format", "json"}, args...))
	}()
	var up map[string]any
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "bevygap serving" {
				up = m
				return nil
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, logs.String())
		default:
		}
		return errors.New("not serving yet")
	})
	var once sync.Once
	code := -1
	stop := func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return up, stop
}

// Everything in one process with an embedded nats-server: a seat, then a
// graceful stop with exit 0.
func TestServeAllInOne(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	env := map[string]string{"XDG_STATE_HOME": state}
	sim(t, env)
	up, stop := running(t, env, "--app-name", edgegapsim.DefaultApp, "--app-version", edgegapsim.DefaultVersion, "--lightyear-private-key", key,
		"--nats-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0",
		"--require-cert-digest=false", "--cert-digest-wait", "10ms", "--metrics-addr", "127.0.0.1:0")
	gw := up["gateway"].(string)
	res, err := client.Request(context.Background(), client.Options{URL: gw + "/matchmaker/ws", Game: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion})
	if err != nil {
		t.Fatalf("no seat from serve: %v", err)
	}
	if res.Seat.IP != "127.0.0.1" || res.Seat.Port == 0 {
		t.Fatalf("seat %+v", res.Seat)
	}
	rsp, err := http.Get(up["metrics"].(string))
	if err != nil || rsp.StatusCode != 200 {
		t.Fatalf("metrics: %v", err)
	}
	rsp.Body.Close()
	if !strings.HasPrefix(up["nats"].(string), "nats://127.0.0.1:") {
		t.Fatalf("embedded NATS url %v", up["nats"])
	}
	if code := stop(); code != 130 {
		t.Fatalf("exit %d after SIGINT, want 130 (interrupted)", code)
	}
	// The embedded store (delete queue, unclaimed sessions) survives the
	// restart: it lives in $XDG_STATE_HOME/bevygap/nats, not a temp dir.
	if entries, err := os.ReadDir(filepath.Join(state, "bevygap", "nats-embedded", "jetstream")); err != nil || len(entries) == 0 {
		t.Fatalf("no persistent JetStream store after stop: %v", err)
	}
}

// Without session-webhook-url, serve does not invent a webhook URL from its
// listen address (Edgegap could not reach it): it polls.
func TestServeNoWebhookURLPolls(t *testing.T) {
	t.Parallel()
	env := map[string]string{"XDG_STATE_HOME": t.TempDir()}
	sim(t, env)
	environ := clitest.Opts{Env: env}.Environ(t)
	io, _, _, _ := iostreams.Test()
	logs := &clitest.Buffer{}
	io.ErrOut = logs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.RunIn(ctx, io, environ, []string{"serve", "--log-format", "json", "--lightyear-private-key", key, "--app-name", edgegapsim.DefaultApp, "--app-version", edgegapsim.DefaultVersion,
			"--nats-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0"})
	}()
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(logs.String(), `"msg":"matchmaker ready"`) {
			return errors.New("not ready")
		}
		return nil
	})
	cancel()
	<-done
	if !strings.Contains(logs.String(), `"webhook":false`) {
		t.Fatalf("serve wired a webhook it was not given: %s", logs.String())
	}
}

// Each part runs alone: the webhook sink against an existing NATS.
func TestServeWebhookOnly(t *testing.T) {
	t.Parallel()
	srv := natstest.RunJetStream(t)
	nc := srv.Conn(t)
	sub, err := nc.SubscribeSync("webhook.session")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	up, _ := running(t, map[string]string{}, "--webhook", "--nats-host", srv.URL, "--nats-insecure", "--webhook-listen", "127.0.0.1:0", "--webhook-secret", "s3cret")
	hook := up["webhook"].(string) + "/hook/session"
	if _, ok := up["gateway"]; !ok {
		t.Fatalf("serving line %v", up)
	}
	rsp, err := http.Post(hook, "application/json", strings.NewReader(`{"session_id":"x"}`))
	if err != nil || rsp.StatusCode != 401 {
		t.Fatalf("hook without secret: %v %v", rsp.StatusCode, err)
	}
	rsp.Body.Close()
	rsp, err = http.Post(hook+"?secret=s3cret", "application/json", strings.NewReader(`{"session_id":"x"}`))
	if err != nil || rsp.StatusCode != 200 {
		t.Fatalf("hook with secret: %v", err)
	}
	rsp.Body.Close()
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != `{"session_id":"x"}` {
		t.Fatalf("published %q", msg.Data)
	}
	// The game-client routes are not served by a webhook-only process.
	rsp, err = http.Get(up["webhook"].(string) + "/matchmaker")
	if err == nil {
		defer rsp.Body.Close()
		if rsp.StatusCode == 200 {
			t.Fatal("webhook-only serve answers the client routes")
		}
	}
}

func TestServeRefusals(t *testing.T) {
	t.Parallel()
	env := map[string]string{"XDG_STATE_HOME": t.TempDir()}
	sim(t, env)
	base := []string{"serve", "--nats-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0", "--app-name", edgegapsim.DefaultApp, "--app-version", edgegapsim.DefaultVersion}
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"zero key", nil, 4, "all zeros"},
		{"unknown app", []string{"--lightyear-private-key", key, "--app-name", "nope"}, 1, `app "nope"`},
		{"bad duration", []string{"--lightyear-private-key", key, "--ready-timeout", "soon"}, 2, "ready-timeout"},
		{"bad proxy", []string{"--lightyear-private-key", key, "--trusted-proxies", "nope"}, 2, "trusted-proxies"},
		{"negative duration", []string{"--lightyear-private-key", key, "--unclaimed-ttl", "-1s"}, 2, `invalid unclaimed-ttl (from flag --unclaimed-ttl, value "-1s"): want a positive duration`},
		{"bad port", []string{"--lightyear-private-key", key, "--gateway-listen", "127.0.0.1:99999"}, 2, "port from 0 to 65535"},
		{"bad url", []string{"--lightyear-private-key", key, "--session-webhook-url", "example.com/hook"}, 2, "session-webhook-url"},
		{"url without host", []string{"--lightyear-private-key", key, "--session-webhook-url", "https://:443/hook/session?secret=s"}, 2, "invalid session-webhook-url"},
		{"url bad port", []string{"--lightyear-private-key", key, "--webhook-public-url", "https://h:70000"}, 2, "invalid webhook-public-url"},
		{"edgegap url port 0", []string{"--lightyear-private-key", key, "--edgegap-url", "http://127.0.0.1:0"}, 2, "invalid edgegap-url"},
		{"nats scheme", []string{"--lightyear-private-key", key, "--nats-host", "ftp://127.0.0.1"}, 2, "invalid nats-host"},
		{"zero burst", []string{"--lightyear-private-key", key, "--rate-burst", "0"}, 2, "a whole number from 1 to 1000000"},
	} {
		r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: env}, append(append([]string{}, base...), c.args...)...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%s: exit %d, stderr %s", c.name, r.Code, lastLine(r.Stderr))
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return fmt.Sprint(lines[len(lines)-1])
}

// serve's help shows typed flags: durations, ints, bools (bare), not strings.
func TestServeHelpTypedFlags(t *testing.T) {
	t.Parallel()
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "serve", "--help")
	for _, want := range []string{"--ready-timeout duration", "--max-inflight int", "--rate-per-minute float", "--fake-ip ip",
		"--trusted-proxies cidrs", "--cors strings", "--lightyear-protocol-id uint"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	for _, bad := range []string{"--allow-insecure-key string", "--max-inflight string", "--ready-timeout string", `[="true"]`} {
		if strings.Contains(r.Stdout, bad) {
			t.Errorf("serve --help shows %q", bad)
		}
	}
}

// A bad value from the environment is named by key with its source, and the
// hint names the flag that sets it.
func TestServeEnvErrorNamesKeyAndFlag(t *testing.T) {
	t.Parallel()
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"BEVYGAP_MAX_PENDING_TOTAL": "-3"}}, "serve")
	if r.Code != 2 || !strings.Contains(r.Stderr, `invalid max-pending-total (from env BEVYGAP_MAX_PENDING_TOTAL, value "-3"): want a whole number from 0 to 10000000`) ||
		!strings.Contains(r.Stderr, "Hint: set --max-pending-total, BEVYGAP_MAX_PENDING_TOTAL or max-pending-total in the config file") {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
}

// Domain errors name settings by key; the CLI's hint names the flag of the
// command that failed.
func TestHintsNameTheFlag(t *testing.T) {
	t.Parallel()
	env := map[string]string{"XDG_STATE_HOME": t.TempDir()}
	sim(t, env)
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: env}, "serve", "--nats-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0")
	if r.Code != 4 || !strings.Contains(r.Stderr, "Hint: set --lightyear-private-key, BEVYGAP_LIGHTYEAR_PRIVATE_KEY, LIGHTYEAR_PRIVATE_KEY or lightyear-private-key in the config file, or --allow-insecure-key") {
		t.Errorf("zero key: exit %d %s", r.Code, r.Stderr)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "kv", "ls")
	if r.Code != 4 || !strings.Contains(r.Stderr, "Hint: set --nats-host, BEVYGAP_NATS_HOST, NATS_HOST or nats-host in the config file") {
		t.Errorf("no NATS host: exit %d %s", r.Code, r.Stderr)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "token", "mint", "--server", "1.2.3.4:5", "--protocol-id", "x")
	if r.Code != 2 || !strings.Contains(r.Stderr, `for "--protocol-id" flag`) || !strings.Contains(r.Stderr, "(setting lightyear-protocol-id, a uint64)") {
		t.Errorf("bad alias flag: exit %d %s", r.Code, r.Stderr)
	}
}
