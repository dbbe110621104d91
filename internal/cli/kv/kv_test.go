package kv_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/state"
)

var revisionRE = regexp.MustCompile(`"revision":\d+`)

type env struct {
	t     *testing.T
	url   string
	store *state.Store
	vars  map[string]string // the commands' whole environment
}

// setup starts a NATS server for one test, which runs in parallel with
// the others: the commands see only the environment in e.vars.
func setup(t *testing.T) *env {
	t.Parallel()
	srv := natstest.RunJetStream(t)
	s, err := state.Open(context.Background(), srv.Conn(t), state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, url: srv.URL, store: s, vars: map[string]string{"NATS_HOST": srv.URL, "NATS_INSECURE": "1"}}
}

func (e *env) run(o clitest.Opts, args ...string) clitest.Result {
	e.t.Helper()
	if o.Env == nil {
		o.Env = e.vars
	}
	return clitest.Exec(e.t, cli.RunIn, o, args...)
}

func (e *env) seed() {
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	must(e.store.PutSeat(ctx, 42, "950dd2eaff09-S"))
	must(e.store.PutActive(ctx, "950dd2eaff09-S", 42))
	must(e.store.PutUnclaimed(ctx, "aaaaaaaaaaaa-S"))
	must(e.store.PutUnclaimed(ctx, "bbbbbbbbbbbb-S"))
	must(e.store.PutCertDigest(ctx, "127.0.0.1", "e3:76:4d:"+strings.Repeat("ab:", 29)+"ff"))
}

func TestGoldens(t *testing.T) {
	e := setup(t)
	e.seed()
	cases := []struct {
		name string
		tty  bool
		args []string
	}{
		{"ls.tty", true, []string{"kv", "ls"}},
		{"ls.plain", false, []string{"kv", "ls"}},
		{"ls.json", false, []string{"kv", "ls", "-o", "json"}},
		{"ls.names", false, []string{"kv", "ls", "--names"}},
		{"keys.tty", true, []string{"kv", "keys", "cert_digests"}},
		{"keys.plain", false, []string{"kv", "keys", "unclaimed_sessions"}},
		{"keys.json", false, []string{"kv", "keys", "sessions_eg2ly", "-o", "json"}},
		{"keys.empty.json", false, []string{"kv", "keys", "sessions_ly2eg", "-o", "json", "--nats-namespace", ""}},
		{"get.raw", false, []string{"kv", "get", "sessions_eg2ly", "950dd2eaff09-S"}},
		{"get.tty", true, []string{"kv", "get", "active_connections", "950dd2eaff09-S"}},
		{"get.json", false, []string{"kv", "get", "sessions_ly2eg", "42", "-o", "json"}},
		{"init.tty", true, []string{"kv", "init"}},
		{"init.json", false, []string{"kv", "init", "-o", "json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.run(clitest.Opts{TTY: c.tty}, c.args...)
			if r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			golden.Assert(t, c.name+".golden", []byte(clitest.Scrub(r.Stdout)))
		})
	}
}

func TestRmAndPurge(t *testing.T) {
	e := setup(t)
	e.seed()
	// Piped without --yes: usage error, nothing removed.
	r := e.run(clitest.Opts{}, "kv", "purge", "active_connections")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
		t.Fatalf("purge without --yes: exit %d, %q", r.Code, r.Stderr)
	}
	if _, err := e.store.ActiveClient(context.Background(), "950dd2eaff09-S"); err != nil {
		t.Fatalf("purge without --yes removed data: %v", err)
	}
	// Missing key names it and removes nothing.
	r = e.run(clitest.Opts{}, "kv", "rm", "unclaimed_sessions", "aaaaaaaaaaaa-S", "nope", "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, `"nope"`) {
		t.Fatalf("rm of missing key: exit %d, %q", r.Code, r.Stderr)
	}
	if ok, _ := e.store.IsUnclaimed(context.Background(), "aaaaaaaaaaaa-S"); !ok {
		t.Fatal("rm with a missing key removed the others")
	}
	// On a terminal, answering no cancels quietly (like gh): exit 2 as
	// without --yes, no error line, nothing removed.
	r = e.run(clitest.Opts{TTY: true, Stdin: "n\n"}, "kv", "rm", "unclaimed_sessions", "aaaaaaaaaaaa-S")
	if r.Code != 2 || strings.Contains(r.Stderr, "Error") || r.Stderr != "Delete 1 key(s) of bucket unclaimed_sessions? [y/N] " {
		t.Fatalf("declined rm: exit %d, %q", r.Code, r.Stderr)
	}
	if ok, _ := e.store.IsUnclaimed(context.Background(), "aaaaaaaaaaaa-S"); !ok {
		t.Fatal("declined rm removed the key")
	}
	// Answering yes removes.
	r = e.run(clitest.Opts{TTY: true, Stdin: "y\n"}, "kv", "rm", "unclaimed_sessions", "aaaaaaaaaaaa-S")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Deleted 1 entries from unclaimed_sessions") {
		t.Fatalf("confirmed rm: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
	r = e.run(clitest.Opts{}, "kv", "purge", "unclaimed_sessions", "--yes", "-o", "json")
	var res struct {
		Removed int      `json:"removed"`
		Keys    []string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || res.Removed != 1 || res.Keys[0] != "bbbbbbbbbbbb-S" {
		t.Fatalf("purge all: %q %v", r.Stdout, err)
	}
	golden.Assert(t, "purge.json.golden", []byte(r.Stdout))
}

func TestErrors(t *testing.T) {
	e := setup(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"kv", "keys", "nope"}, 1, `bucket "nope" not found`},
		{[]string{"kv", "get", "active_connections", "missing"}, 1, `key "missing" not found in bucket "active_connections"`},
		{[]string{"kv", "get", "active_connections"}, 2, "accepts 2 arg(s)"},
		{[]string{"kv", "ls", "-o", "yaml"}, 2, `invalid output format "yaml"`},
		{[]string{"kv", "ls", "--nats-host", "127.0.0.1:1"}, 1, "cannot reach NATS at nats://127.0.0.1:1"},
		{[]string{"kv", "ls", "--nats-host", ""}, 4, "no NATS server configured"},
		{[]string{"kv", "ls", "--nats-namespace", "a b"}, 1, `nats namespace "a b"`},
	} {
		r := e.run(clitest.Opts{}, c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) || !strings.HasPrefix(r.Stderr, "Error: ") {
			t.Errorf("%v: exit %d stderr %q; want exit %d with %q", c.args, r.Code, r.Stderr, c.code, c.msg)
		}
	}
}

// watchEvents runs kv watch with extra args, puts s1 until the watcher shows
// it (it starts asynchronously), deletes s1, and returns the output.
func watchEvents(t *testing.T, e *env, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	io, _, out, errOut := iostreamsTest()
	done := make(chan int, 1)
	environ := clitest.Opts{Env: e.vars}.Environ(t)
	go func() {
		done <- cli.RunIn(ctx, io, environ, append([]string{"kv", "watch", "active_connections"}, args...))
	}()
	natstest.CheckFor(t, 5e9, 2e7, func() error {
		if err := e.store.PutActive(context.Background(), "s1", 7); err != nil {
			return err
		}
		if !strings.Contains(out.String(), "s1") {
			return errNotYet
		}
		return nil
	})
	if err := e.store.DeleteActive(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 5e9, 2e7, func() error {
		if !strings.Contains(out.String(), "DELETE") {
			return errNotYet
		}
		return nil
	})
	cancel()
	if code := <-done; code != 130 {
		t.Fatalf("watch exit %d after Ctrl-C, want 130: %s", code, errOut.String())
	}
	return out.String()
}

// lastTwo keeps the final put and the delete (the number of puts before the
// watcher was up varies) with times and revisions scrubbed.
func lastTwo(out string) []byte {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	lines = lines[len(lines)-2:]
	return []byte(revisionRE.ReplaceAllString(clitest.Scrub(strings.Join(lines, "\n")+"\n"), `"revision":<rev>`))
}

func TestWatch(t *testing.T) {
	e := setup(t)
	out := watchEvents(t, e, "-o", "json")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not one JSON object per line: %q", line)
		}
		if m["bucket"] != "active_connections" || m["created"] == nil {
			t.Fatalf("event lacks fields: %q", line)
		}
	}
	golden.Assert(t, "watch.json.golden", lastTwo(out))
	golden.Assert(t, "watch.plain.golden", lastTwo(watchEvents(t, e)))
}

// -o table shortens long values with …; -o wide and plain never do.
func TestWideNeverTruncates(t *testing.T) {
	e := setup(t)
	e.seed()
	digest := "e3:76:4d:" + strings.Repeat("ab:", 29) + "ff"
	r := e.run(clitest.Opts{}, "kv", "keys", "cert_digests", "-o", "table")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "KEY") || !strings.Contains(r.Stdout, "…") || strings.Contains(r.Stdout, digest) {
		t.Fatalf("-o table piped: exit %d %q", r.Code, r.Stdout)
	}
	for _, f := range []string{"wide", "plain"} {
		r = e.run(clitest.Opts{TTY: true}, "kv", "keys", "cert_digests", "-o", f)
		if r.Code != 0 || !strings.Contains(r.Stdout, digest) || strings.Contains(r.Stdout, "…") {
			t.Fatalf("-o %s: exit %d %q", f, r.Code, r.Stdout)
		}
	}
}

// `bevygap kv keys <TAB>` through cobra's __complete lists the buckets of
// the live NATS server; the second argument of kv get completes keys.
func TestCompletesBucketsAndKeys(t *testing.T) {
	e := setup(t)
	e.seed()
	r := e.run(clitest.Opts{}, "__complete", "kv", "keys", "")
	for _, b := range []string{"active_connections", "cert_digests", "sessions_eg2ly", "sessions_ly2eg", "unclaimed_sessions"} {
		if !strings.Contains(r.Stdout, b+"\n") {
			t.Fatalf("kv keys <TAB> lacks %s: %q %q", b, r.Stdout, r.Stderr)
		}
	}
	if !strings.HasSuffix(r.Stdout, ":4\n") || strings.Contains(r.Stdout, "go.mod") {
		t.Fatalf("kv keys <TAB> should offer no files: %q", r.Stdout)
	}
	r = e.run(clitest.Opts{}, "__complete", "kv", "get", "unclaimed_sessions", "a")
	if !strings.Contains(r.Stdout, "aaaaaaaaaaaa-S\n") || strings.Contains(r.Stdout, "bbbbbbbbbbbb-S") {
		t.Fatalf("kv get unclaimed_sessions a<TAB>: %q", r.Stdout)
	}
	r = e.run(clitest.Opts{}, "__complete", "kv", "watch", "active_connections", "un")
	if !strings.Contains(r.Stdout, "unclaimed_sessions\n") {
		t.Fatalf("kv watch active_connections un<TAB>: %q", r.Stdout)
	}
	// No NATS: nothing offered, silently, within the bound.
	r = e.run(clitest.Opts{Env: map[string]string{"NATS_HOST": "127.0.0.1:1", "NATS_INSECURE": "1"}}, "__complete", "kv", "keys", "")
	if r.Stdout != ":4\n" || r.Code != 0 {
		t.Fatalf("kv keys <TAB> without NATS: exit %d %q", r.Code, r.Stdout)
	}
}
