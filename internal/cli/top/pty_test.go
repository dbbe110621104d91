package top_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/cli/top"
	"github.com/bevygap/bevygap/internal/client"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/settings"
)

// devStack runs the whole system as `bevygap dev` does, on loopback ports
// the system picks.
func devStack(t *testing.T) (*app.Stack, string) {
	t.Helper()
	s := app.DevSettings()
	s.Dev.DeployDelay, s.Dev.EdgegapListen, s.Gateway.Listen = 50*time.Millisecond, "127.0.0.1:0", "127.0.0.1:0"
	s.Serve.NATSListen, s.Serve.DataDir = "127.0.0.1:0", t.TempDir()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err := app.Dev(s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st, err := app.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st, "ws" + strings.TrimPrefix(st.Gateway.URL(), "http") + "/matchmaker/ws"
}

// screen collects what a pseudo-terminal shows, escape codes removed.
type screen struct {
	mu sync.Mutex
	b  strings.Builder
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[a-zA-Z]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r`)

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	return len(p), nil
}

func (s *screen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansiRE.ReplaceAllString(s.b.String(), "")
}

// `bevygap top` on a pseudo-terminal against a running dev stack: the
// screen shows no seat, then a seat appears after a client asks for one;
// q quits with exit 0.
func TestTopOnATerminalShowsASeatAppear(t *testing.T) {
	t.Parallel()
	st, ws := devStack(t)
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	if err := pty.Setsize(master, &pty.Winsize{Rows: 30, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	scr := &screen{}
	copied := make(chan struct{})
	go func() { // owner: this test; ends when the master closes
		defer close(copied)
		_, _ = io.Copy(scr, master)
	}()
	ios := iostreams.Files(tty, tty, tty, func(k string) (string, bool) {
		if k == "NO_COLOR" {
			return "1", true
		}
		return "", false
	})
	env := settings.MapEnv(t.TempDir(), map[string]string{"NATS_HOST": st.NATSURL, "NATS_INSECURE": "1"})
	done := make(chan int, 1)
	go func() {
		done <- cli.RunIn(context.Background(), ios, env, []string{"top", "--interval", "200ms", "--gateway-url", ws})
	}()
	seatsRE := regexp.MustCompile(`seats (\d+)\s+connected (\d+)\s+unclaimed (\d+)`)
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		natstest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
			select {
			case code := <-done:
				t.Fatalf("top exited %d waiting for %s:\n%s", code, what, scr.text())
			default:
			}
			if !ok(scr.text()) {
				return errors.New("not yet: " + what)
			}
			return nil
		})
	}
	lastSeats := func(s string) string {
		m := seatsRE.FindAllStringSubmatch(s, -1)
		if m == nil {
			return ""
		}
		return m[len(m)-1][1]
	}
	waitFor("no seat", func(s string) bool { return lastSeats(s) == "0" && strings.Contains(s, "bevygap top") })
	res, err := client.Request(context.Background(), client.Options{URL: ws, Game: "bevygap-spaceships", Version: "1"})
	if err != nil {
		t.Fatalf("no seat: %v", err)
	}
	waitFor("the seat", func(s string) bool {
		return lastSeats(s) == "1" && strings.Contains(s, "(1 seats)") && strings.Contains(s, "seat 1")
	})
	t.Logf("seat %s appeared on top's screen", res.SessionID)
	if _, err := master.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("top exit %d after q", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("q did not quit top:\n%s", scr.text())
	}
	tty.Close()
	master.Close()
	<-copied
}

// Off a terminal top prints one JSON snapshot per interval (--count ends).
func TestTopOffATerminalPrintsJSON(t *testing.T) {
	t.Parallel()
	st, ws := devStack(t)
	if _, err := client.Request(context.Background(), client.Options{URL: ws, Game: "bevygap-spaceships", Version: "1"}); err != nil {
		t.Fatalf("no seat: %v", err)
	}
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"NATS_HOST": st.NATSURL, "NATS_INSECURE": "1"}},
		"top", "--interval", "100ms", "--count", "2", "--gateway-url", ws)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if r.Code != 0 || len(lines) != 2 {
		t.Fatalf("exit %d, %d lines: %q %s", r.Code, len(lines), r.Stdout, r.Stderr)
	}
	var s top.Snapshot
	if err := json.Unmarshal([]byte(lines[1]), &s); err != nil {
		t.Fatal(err)
	}
	if s.Sessions.Seats != 1 || s.Outcomes["seat"] != 1 || s.TimeToSeat.Count != 1 || len(s.Errors) != 0 || s.Rejections == nil {
		t.Fatalf("snapshot %+v", s)
	}
	// --jq applies to each snapshot.
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"NATS_HOST": st.NATSURL, "NATS_INSECURE": "1"}},
		"top", "--interval", "100ms", "--count", "2", "--gateway-url", ws, "--jq", ".sessions.seats")
	if r.Stdout != "1\n1\n" {
		t.Fatalf("--jq per snapshot: %q %s", r.Stdout, r.Stderr)
	}
}
