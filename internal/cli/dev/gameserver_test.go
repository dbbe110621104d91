//go:build unix

package dev_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/devserver/devservertest"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// gameServer is the test game server of internal/devserver, built once
// per test binary.
func gameServer(t *testing.T) string {
	t.Helper()
	bin, err := devservertest.GameServer()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	devservertest.Remove()
	os.Exit(code)
}

// devInfo is the JSON line of `dev -o json`.
type devInfo struct {
	GatewayURL     string `json:"gateway_url"`
	GatewayHTTPURL string `json:"gateway_http_url"`
	WebhookURL     string `json:"webhook_url"`
	EdgegapURL     string `json:"edgegap_url"`
	EdgegapAPIKey  string `json:"edgegap_api_key"`
	NATSURL        string `json:"nats_url"`
	NATSHost       string `json:"nats_host"`
	AppName        string `json:"app_name"`
	AppVersion     string `json:"app_version"`
	ProtocolID     uint64 `json:"protocol_id"`
	PrivateKey     string `json:"private_key"`
	DevKey         bool   `json:"dev_key"`
	Allocator      string `json:"allocator"`
	Open           bool   `json:"open"`
	GameserverCmd  string `json:"gameserver_cmd"`
}

// runningDev is `bevygap dev -o json ...` running in-process.
type runningDev struct {
	t      *testing.T
	info   devInfo
	bg     *clitest.Background
	stdout *clitest.Buffer
	stderr *clitest.Buffer
}

// startDev runs dev with args (on ports the system picks) and parses the
// first line of its standard output, as `dev -o json | head -1 | jq` does.
func startDev(t *testing.T, env map[string]string, args ...string) *runningDev {
	t.Helper()
	all := append([]string{"dev", "-o", "json", "--listen", "127.0.0.1:0", "--edgegap-listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, args...)
	bg := clitest.Start(t, cli.RunIn, clitest.Opts{Env: env}, all...)
	d := &runningDev{t: t, bg: bg, stdout: bg.Out, stderr: bg.Err}
	t.Cleanup(d.stop)
	bg.WaitFor(30*time.Second, func() error {
		line, err := bufio.NewReader(strings.NewReader(d.stdout.String())).ReadString('\n')
		if err != nil {
			return fmt.Errorf("no JSON line yet")
		}
		return json.Unmarshal([]byte(line), &d.info)
	})
	return d
}

// stop interrupts dev and checks it ended cleanly with nothing more on
// standard output than the JSON line.
func (d *runningDev) stop() {
	if code := d.bg.Stop(); code != 130 { // interrupted, as the exit-code table says
		d.t.Errorf("dev exit %d after Ctrl-C, want 130:\n%s", code, d.stderr.String())
	}
	if n := strings.Count(d.stdout.String(), "\n"); n != 1 {
		d.t.Errorf("dev -o json wrote %d lines on standard output, want 1:\n%s", n, d.stdout.String())
	}
}

// simStats reads the simulator's counters over HTTP.
func (d *runningDev) simStats() edgegapsim.Stats {
	d.t.Helper()
	resp, err := http.Get(d.info.EdgegapURL + "/_sim/stats")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st edgegapsim.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		d.t.Fatal(err)
	}
	return st
}

// The acceptance for --gameserver-cmd, with both allocators: each
// deployment runs the command (a Go program with the agent and a netcode
// UDP server), `play --connect` reaches it, its output is prefixed with the
// deployment id, stopping the deployment stops the process (SIGTERM), the
// matchmaker is woken by the simulator's webhooks and makes no status call.
func TestDevGameserverCmd(t *testing.T) {
	t.Parallel()
	bin := gameServer(t)
	for _, allocator := range []string{"deployments", "sessions"} {
		t.Run(allocator, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd := bin + ` -pidfile "` + dir + `/$ARBITRIUM_REQUEST_ID.pid"`
			d := startDev(t, nil, "--gameserver-cmd", cmd, "--allocator", allocator, "--deploy-delay", "10ms", "--empty-ttl", "1s",
				"--log-level", "info", "--log-format", "text")
			if d.info.GameserverCmd != cmd || d.info.Allocator != allocator || !strings.HasPrefix(d.info.GatewayURL, "ws://127.0.0.1:") || d.info.Open {
				t.Fatalf("dev -o json: %+v", d.info)
			}
			r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "play", d.info.GatewayURL, "--connect", "--hold", "300ms", "-o", "json")
			var seat struct {
				IP         string `json:"ip"`
				Port       int    `json:"port"`
				CertDigest string `json:"cert_digest"`
				Connected  bool   `json:"connected"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &seat); err != nil || r.Code != 0 || !seat.Connected || seat.CertDigest == "" {
				t.Fatalf("play --connect: exit %d %q %v\n%s\ndev:\n%s", r.Code, r.Stdout, err, r.Stderr, d.stderr.String())
			}
			// The seat is the command's game server: its own output, prefixed
			// with its deployment's request id, names the address.
			var rid string
			for l := range strings.Lines(d.stderr.String()) {
				if strings.Contains(l, fmt.Sprintf("] listening on udp %s:%d", seat.IP, seat.Port)) {
					rid = strings.TrimPrefix(l[:strings.Index(l, "]")], "[")
				}
			}
			if rid == "" {
				t.Fatalf("no output line of the game server at %s:%d:\n%s", seat.IP, seat.Port, d.stderr.String())
			}
			pid := devservertest.ReadPID(t, filepath.Join(dir, rid+".pid"))
			// The player left; the deployment stops after empty-ttl, and
			// with it the process.
			natstest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
				if devservertest.Running(pid) {
					return fmt.Errorf("game server %d still runs", pid)
				}
				return nil
			})
			if !strings.Contains(d.stderr.String(), "["+rid+"] stopping on SIGTERM") {
				t.Errorf("the game server did not get SIGTERM:\n%s", d.stderr.String())
			}
			// Webhooks as in production: the matchmaker says so, and the
			// simulator sent them and saw no status call for the seat.
			if !strings.Contains(d.stderr.String(), "webhook=true") {
				t.Errorf("the matchmaker does not log webhook=true:\n%s", d.stderr.String())
			}
			st := d.simStats()
			if st.WebhooksSent == 0 || st.Total(edgegapsim.EndpointDeploymentStatusGet) != 0 || st.Total(edgegapsim.EndpointGetSession) > 1 {
				t.Errorf("simulator stats: %d webhooks sent, %d deployment status and %d session calls (want webhooks, no polling)",
					st.WebhooksSent, st.Total(edgegapsim.EndpointDeploymentStatusGet), st.Total(edgegapsim.EndpointGetSession))
			}
		})
	}
}

// dev's gateway refuses a browser origin serve refuses (BEVYGAP_CORS
// unset); --open accepts it. The websocket upgrade is the browser's path.
func TestDevCORSAsServe(t *testing.T) {
	t.Parallel()
	upgrade := func(d *runningDev, origin string) int {
		req, err := http.NewRequest("GET", d.info.GatewayHTTPURL+"/matchmaker/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const foreign = "http://game.example.com"
	d := startDev(t, nil, "--log-level", "warn")
	// The JSON line has every endpoint, the dev key in the Rust format and
	// the protocol id.
	if i := d.info; i.PrivateKey != app.DevKey || !i.DevKey || i.ProtocolID != app.DevProtocolID || i.AppName != edgegapsim.DefaultApp ||
		i.AppVersion != edgegapsim.DefaultVersion || i.EdgegapAPIKey != "token bevygap-dev" || !strings.HasPrefix(i.EdgegapURL, "http://127.0.0.1:") ||
		!strings.HasPrefix(i.NATSURL, "nats://127.0.0.1:") || i.NATSHost != strings.TrimPrefix(i.NATSURL, "nats://") || i.WebhookURL != i.GatewayHTTPURL+"/hook" {
		t.Errorf("dev -o json: %+v", i)
	}
	if got := upgrade(d, foreign); got != http.StatusForbidden {
		t.Errorf("dev: origin %s got %d, want 403 as serve", foreign, got)
	}
	if got := upgrade(d, "http://localhost:8000"); got != http.StatusSwitchingProtocols {
		t.Errorf("dev: serve's default origin got %d, want 101", got)
	}
	// serve's own default: the origin above is not in it.
	if s := app.DevSettings(); len(s.Gateway.CORS) != 1 || s.Gateway.CORS[0] != "http://localhost:8000" {
		t.Errorf("dev's CORS default %v is not serve's", s.Gateway.CORS)
	}
	o := startDev(t, nil, "--log-level", "warn", "--open")
	if !o.info.Open {
		t.Errorf("dev --open -o json: open false")
	}
	if got := upgrade(o, foreign); got != http.StatusSwitchingProtocols {
		t.Errorf("dev --open: origin %s got %d, want 101", foreign, got)
	}
	// An explicit value wins over --open.
	e := startDev(t, map[string]string{"BEVYGAP_CORS": "http://localhost:9000"}, "--log-level", "warn", "--open")
	if got := upgrade(e, foreign); got != http.StatusForbidden {
		t.Errorf("dev --open with BEVYGAP_CORS: origin %s got %d, want 403", foreign, got)
	}
}

// A key given by flag is not printed (only its fingerprint); the banner's
// commands use the gateway dev listens on; --app-name and --app-version
// choose the simulator's app; an explicit address in use fails at once.
func TestDevBannerAndFlags(t *testing.T) {
	t.Parallel()
	const key = "5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5"
	d := startDev(t, nil, "--log-level", "warn", "--private-key", key, "--protocol-id", "77", "--app-name", "my-game", "--app-version", "v9")
	if i := d.info; i.PrivateKey != "" || i.DevKey || i.ProtocolID != 77 || i.AppName != "my-game" || i.AppVersion != "v9" {
		t.Errorf("dev -o json with a key: %+v", i)
	}
	if strings.Contains(d.stdout.String()+d.stderr.String(), key) {
		t.Errorf("the given key reached dev's output")
	}
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, "play", d.info.GatewayURL, "--game", "my-game", "--game-version", "v9", "-o", "json")
	if r.Code != 0 {
		t.Errorf("play my-game v9: exit %d %s", r.Code, r.Stderr)
	}

	// The banner (no -o json): the dev key, the play command for this
	// gateway, the Rust env lines.
	dev := clitest.Start(t, cli.RunIn, clitest.Opts{}, "dev", "--listen", "127.0.0.1:0", "--edgegap-listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--log-level", "warn")
	out, errOut := dev.Out, dev.Err
	var ws string
	dev.WaitFor(30*time.Second, func() error {
		m := wsRE.FindStringSubmatch(errOut.String())
		if m == nil || !strings.Contains(errOut.String(), "Ctrl-C stops everything") {
			return errors.New("no banner yet")
		}
		ws = m[1]
		return nil
	})
	banner := errOut.String()
	for _, want := range []string{
		" play " + ws + " --connect",
		"LIGHTYEAR_PRIVATE_KEY='" + app.DevKey + "'",
		"DEV key",
		"NATS_INSECURE=1 LIGHTYEAR_PRIVATE_KEY=",
		"matchmaker_url " + ws,
		"serve's limits: CORS http://localhost:8000",
		"--open relaxes them",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if out.String() != "" {
		t.Errorf("dev wrote to standard output without -o json: %q", out.String())
	}
	if code := dev.Stop(); code != 130 { // interrupted
		t.Errorf("dev exit %d, want 130", code)
	}

	// The gateway's address, given explicitly and in use: at once, naming it.
	gw := strings.TrimPrefix(d.info.GatewayHTTPURL, "http://")
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{}, "dev", "--listen", gw, "--edgegap-listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	if r.Code != 1 || !strings.Contains(r.Stderr, "gateway-listen "+gw+" (from flag --listen) is in use") || !strings.Contains(r.Stderr, "with --listen") {
		t.Errorf("dev on a busy --listen: exit %d %s", r.Code, r.Stderr)
	}
}
