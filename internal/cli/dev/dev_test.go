package dev_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/natstest"
)

var (
	wsRE      = regexp.MustCompile(`gateway\s+(ws://\S+)`)
	edgegapRE = regexp.MustCompile(`edgegap\s+(http://\S+)\s+API key: (.+)`)
	natsRE    = regexp.MustCompile(`NATS_HOST=(\S+)`)
)

// The acceptance, in-process: dev with the sessions allocator, then
// play --connect --hold, then sessions ls prints [] once the session is
// deleted. --open: the load test makes more requests from one IP than
// serve's limits allow.
func TestDevPlayConnect(t *testing.T) {
	t.Parallel()
	dev := clitest.Start(t, cli.RunIn, clitest.Opts{}, "dev", "--listen", "127.0.0.1:0", "--edgegap-listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--deploy-delay", "100ms", "--log-level", "warn", "--allocator", "sessions", "--open")
	var ws, egURL, egKey, natsHost string
	dev.WaitFor(20*time.Second, func() error {
		out := dev.Err.String()
		m, e, n := wsRE.FindStringSubmatch(out), edgegapRE.FindStringSubmatch(out), natsRE.FindStringSubmatch(out)
		if m == nil || e == nil || n == nil {
			return fmt.Errorf("no banner yet")
		}
		ws, egURL, egKey, natsHost = m[1], e[1], strings.TrimSpace(e[2]), n[1]
		return nil
	})

	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "play", ws, "--connect", "--hold", "300ms", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("play --connect: exit %d\n%s", r.Code, r.Stderr)
	}
	var seat struct {
		Token      string  `json:"token"`
		IP         string  `json:"ip"`
		Port       int     `json:"port"`
		CertDigest string  `json:"cert_digest"`
		SessionID  string  `json:"session_id"`
		ElapsedMS  float64 `json:"elapsed_ms"`
		Connected  bool    `json:"connected"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &seat); err != nil || !seat.Connected || len(seat.Token) != 2732 || seat.CertDigest == "" || seat.SessionID == "" {
		t.Fatalf("play output %q (%v)", r.Stdout, err)
	}
	for _, step := range []string{"Request accepted", "Seat on", "Connected to", "Disconnected after"} {
		if !strings.Contains(r.Stderr, step) {
			t.Errorf("play did not report %q:\n%s", step, r.Stderr)
		}
	}

	natstest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"EDGEGAP_API_KEY": egKey}}, "sessions", "ls", "-o", "json", "--edgegap-url", egURL)
		if strings.TrimSpace(r.Stdout) != "[]" {
			return fmt.Errorf("sessions ls: %q %s", r.Stdout, r.Stderr)
		}
		return nil
	})
	// The banner's NATS URL works for the admin commands.
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "kv", "ls", "--names", "--nats-host", natsHost, "--nats-insecure")
	if r.Code != 0 || !strings.Contains(r.Stdout, "active_connections") {
		t.Fatalf("kv ls against dev: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}

	// play's failure exits: an Error from the gateway is 1, a timeout 124.
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "play", ws, "--game", "nope")
	if r.Code != 1 || !strings.Contains(r.Stderr, "Error 503") {
		t.Fatalf("play for an unknown game: exit %d %s", r.Code, r.Stderr)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "play", ws, "--timeout", "1ns")
	if r.Code != 124 {
		t.Fatalf("play --timeout 1ns: exit %d %s", r.Code, r.Stderr)
	}
	// Load mode.
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "play", ws, "--count", "20", "--concurrency", "5", "-o", "json")
	var sum struct {
		Requests, Seats int
		Errors          map[string]int
	}
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 || sum.Seats != 20 || len(sum.Errors) != 0 {
		t.Fatalf("load: exit %d %q %v %s", r.Code, r.Stdout, err, r.Stderr)
	}

	if code := dev.Stop(); code != 130 {
		t.Fatalf("dev exit %d after Ctrl-C, want 130 (interrupted)", code)
	}
}

// dev honours the env names serve honours: BEVYGAP_UNCLAIMED_TTL and
// BEVYGAP_DATA_DIR reach the running stack. The store is read back from the
// running nats-server's directory, the TTL from the running matchmaker
// deleting a seat nobody claimed (with the default 62s it would stay).
func TestDevHonoursServeSettings(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	env := map[string]string{"BEVYGAP_UNCLAIMED_TTL": "1s", "BEVYGAP_DATA_DIR": dataDir}
	dev := clitest.Start(t, cli.RunIn, clitest.Opts{Env: env}, "dev", "--listen", "127.0.0.1:0", "--edgegap-listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--deploy-delay", "10ms", "--log-level", "warn")
	var ws, egURL, egKey string
	dev.WaitFor(20*time.Second, func() error {
		out := dev.Err.String()
		m, e := wsRE.FindStringSubmatch(out), edgegapRE.FindStringSubmatch(out)
		if m == nil || e == nil {
			return fmt.Errorf("no banner yet")
		}
		ws, egURL, egKey = m[1], e[1], strings.TrimSpace(e[2])
		return nil
	})
	if entries, err := os.ReadDir(filepath.Join(dataDir, "jetstream")); err != nil || len(entries) == 0 {
		t.Fatalf("BEVYGAP_DATA_DIR not used by the running nats-server: %v", err)
	}
	// A seat nobody connects to.
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "play", ws, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("play: exit %d %s", r.Code, r.Stderr)
	}
	begin := time.Now()
	natstest.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"EDGEGAP_API_KEY": egKey}}, "sessions", "ls", "-o", "json", "--edgegap-url", egURL)
		if strings.TrimSpace(r.Stdout) != "[]" {
			return fmt.Errorf("sessions ls: %q %s", r.Stdout, r.Stderr)
		}
		return nil
	})
	t.Logf("unclaimed seat deleted %s after the request", time.Since(begin).Round(time.Millisecond))
	// A bad value of a setting dev reads is refused like serve refuses it.
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"BEVYGAP_UNCLAIMED_TTL": "0s"}}, "dev")
	if r.Code != 2 || !strings.Contains(r.Stderr, `invalid unclaimed-ttl (from env BEVYGAP_UNCLAIMED_TTL, value "0s")`) {
		t.Fatalf("dev with a zero unclaimed-ttl: exit %d %s", r.Code, r.Stderr)
	}
	if code := dev.Stop(); code != 130 {
		t.Fatalf("dev exit %d after Ctrl-C, want 130 (interrupted)", code)
	}
	// The store outlives the stack (dev removes only its own temporary one).
	if _, err := os.Stat(filepath.Join(dataDir, "jetstream")); err != nil {
		t.Fatalf("dev removed the given data-dir: %v", err)
	}
}
