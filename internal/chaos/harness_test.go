package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/client"
	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// bins are the binaries the suite runs, built once per test binary.
var bins struct {
	once             sync.Once
	dir              string
	bevygap, natsSrv string
	err              error
}

// TestMain removes the binaries the run built.
func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		_ = os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// binaries builds bevygap (./cmd/bevygap) and nats-server (the version in
// go.mod) into a temporary directory.
func binaries(t testing.TB) (bevygap, natsServer string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "bevygap-chaos-bin-")
		if bins.err != nil {
			return
		}
		root, err := moduleRoot()
		if err != nil {
			bins.err = err
			return
		}
		bins.bevygap = filepath.Join(bins.dir, "bevygap")
		bins.natsSrv = filepath.Join(bins.dir, "nats-server")
		for _, b := range []struct{ out, pkg string }{{bins.bevygap, "./cmd/bevygap"}, {bins.natsSrv, "github.com/nats-io/nats-server/v2"}} {
			cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.bevygap, bins.natsSrv
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the bevygap module")
	}
	return filepath.Dir(mod), nil
}

// freePort returns a loopback TCP port free at the time of the call.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is one OS process of the run, restartable with the same command.
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	log  string // file its stdout and stderr go to (appended across restarts)

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	kills int
}

// start starts the process. It may run off the test goroutine (a kill's
// restart): it reports failures, it does not end the test.
func (p *proc) start() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { // owned by p: ends when the process exits
		_ = cmd.Wait()
		_ = f.Close()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (p *proc) kill() {
	p.mu.Lock()
	p.kills++
	p.mu.Unlock()
	p.signal(syscall.SIGKILL)
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// waitLog waits for a new line containing want in the log past offset.
func (p *proc) waitLog(offset int64, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f, err := os.Open(p.log); err == nil {
			_, _ = f.Seek(offset, io.SeekStart)
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if strings.Contains(sc.Text(), want) {
					_ = f.Close()
					return nil
				}
			}
			_ = f.Close()
		}
		if !p.running() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: no %q in its log within %s (running=%v):\n%s", p.name, want, timeout, p.running(), tail(p.log, 30))
}

func logSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitTCP waits until addr accepts connections.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not accepting connections within %s", addr, timeout)
}

// baseEnv is what every process gets of ours: PATH and a private HOME and
// XDG_STATE_HOME (nothing lands in the user's state directory).
func baseEnv(dir string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_STATE_HOME=" + filepath.Join(dir, "state")}
}

// event is a kill or a restart, for the tally and for explaining errors.
type event struct {
	What   string    `json:"what"`
	Target string    `json:"target"`
	At     time.Time `json:"-"`
	// Back is when the target served again.
	Back time.Time `json:"-"`
}

// player is one seat request's outcome.
type player struct {
	start, end time.Time
	seated     time.Time // when the seat was granted
	seat       bool
	sessionID  string
	connected  bool
	code       int    // protocol error code; 0 for none
	kind       string // "", "error", "transport", "protocol", "connect"
	msg        string
}

// edgegapFailure matches the matchmaker's messages for a failed Edgegap
// call ("edgegap error 503 while creating the session").
func edgegapFailure(msg string) bool {
	return strings.Contains(strings.ToLower(msg), "edgegap")
}

// simSockets is the seats of a simulated deployment (and so the matchmaker's
// seats-per-deployment).
const simSockets = 4

// simWorld is the Edgegap simulator with its simulated game servers.
type simWorld struct {
	srv *edgegapsim.Server
	eg  *edgegap.Client
}

// startSim starts the simulator; its deployments run simulated game servers
// that connect to natsHost themselves, as real ones would.
func startSim(t testing.TB, natsHost string, names state.Names) *simWorld {
	t.Helper()
	key, err := netcode.ParsePrivateKey(app.DevKey)
	if err != nil {
		t.Fatal(err)
	}
	no := natsconn.Options{Host: natsHost, Insecure: true, MaxReconnects: -1, Name: "chaos-gameserver"}
	srv, err := edgegapsim.Start(t.Context(), edgegapsim.Config{
		DeployDelay: 100 * time.Millisecond, EmptyTTL: time.Second, Sockets: simSockets,
		Apps:       []edgegapsim.App{{Name: edgegapsim.DefaultApp, Versions: []edgegapsim.Version{{Name: edgegapsim.DefaultVersion, DockerTag: edgegapsim.DefaultDockerTag}}}},
		RateLimits: &edgegapsim.RateLimits{},
		OnDeploy:   simserver.SimulatorHook(simserver.HookConfig{NATS: &no, Names: names, PrivateKey: key, ProtocolID: app.DevProtocolID}),
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	eg, err := edgegap.New(edgegap.Config{BaseURL: srv.URL(), APIKey: srv.APIKey()})
	if err != nil {
		t.Fatal(err)
	}
	return &simWorld{srv: srv, eg: eg}
}

// faultPlan is what the simulator injects during the players' run.
type faultPlan struct {
	// ErrorRate on every endpoint (5xx, nothing done).
	ErrorRate float64
	// GhostRate on the create endpoints (done, then 500 or a dropped
	// connection, alternately by endpoint).
	GhostRate float64
}

func (w *simWorld) setFaults(t testing.TB, f faultPlan) {
	t.Helper()
	for _, ep := range edgegapsim.Endpoints() {
		ef := edgegapsim.EndpointFaults{ErrorRate: f.ErrorRate}
		switch ep {
		case edgegapsim.EndpointSessionPost:
			ef.GhostRate = f.GhostRate
		case edgegapsim.EndpointDeploymentCreate:
			ef.GhostRate, ef.GhostDrop = f.GhostRate, true
		case edgegapsim.EndpointContextGet, edgegapsim.EndpointSelfDeploymentDelete:
			// The game servers' own calls: Edgegap's faults are the
			// control plane's problem, not the simulated containers'.
			ef.ErrorRate = 0
		}
		if err := w.srv.SetEndpointFaults(ep, ef); err != nil {
			t.Fatal(err)
		}
	}
}

// injected counts the faults the simulator injected: 5xx answers and
// dropped connections.
func injected(st edgegapsim.Stats) (errors5xx, drops int) {
	for _, by := range st.Calls {
		for status, n := range by {
			switch {
			case status == edgegapsim.StatusDropped:
				drops += n
			case status >= 500:
				errors5xx += n
			}
		}
	}
	return errors5xx, drops
}

// playerOpts drive the load.
type playerOpts struct {
	URL         string
	Count       int
	Concurrency int
	// ConnectEvery: every n-th seated player connects to its game server,
	// holds briefly and disconnects; the others never come (their seats
	// expire after unclaimed-ttl).
	ConnectEvery int
	// Retries: a player whose request failed with a retryable outcome
	// (503, transport error, connection closed) asks again, up to this many
	// times (the Rust client asks again when the player clicks again).
	Retries int
	// OnStarted is called with the number of players started so far.
	OnStarted func(n int)
}

// runPlayers runs the players and returns their outcomes in start order
// (one entry per request, retries included).
func runPlayers(ctx context.Context, o playerOpts) []player {
	var (
		mu      sync.Mutex
		out     []player
		next    int
		wg      sync.WaitGroup
		started int
	)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for range o.Concurrency {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= o.Count || ctx.Err() != nil {
					return
				}
				for attempt := 0; ; attempt++ {
					p := onePlayer(ctx, o, hc, i)
					mu.Lock()
					out = append(out, p)
					if attempt == 0 {
						started++
						if o.OnStarted != nil {
							o.OnStarted(started)
						}
					}
					mu.Unlock()
					if p.seat || attempt >= o.Retries || !retryable(p) || ctx.Err() != nil {
						break
					}
					time.Sleep(time.Second) // a player clicks again, not a tight loop
				}
			}
		})
	}
	wg.Wait()
	sort.Slice(out, func(a, b int) bool { return out[a].start.Before(out[b].start) })
	return out
}

func retryable(p player) bool {
	return p.kind == "transport" || p.kind == "protocol" || p.code == protocol.CodeUnavailable || p.code == protocol.CodeInternal
}

func onePlayer(ctx context.Context, o playerOpts, hc *http.Client, i int) player {
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	p := player{start: time.Now()}
	res, err := client.Request(rctx, client.Options{URL: o.URL, Game: edgegapsim.DefaultApp, Version: edgegapsim.DefaultVersion, HTTPClient: hc})
	p.end = time.Now()
	if err != nil {
		var pe *protocol.Error
		var te *client.TransportError
		switch {
		case errors.As(err, &pe):
			p.kind, p.code, p.msg = "error", pe.Code, pe.Message
		case errors.As(err, &te):
			p.kind, p.msg = "transport", err.Error()
		default:
			p.kind, p.msg = "protocol", err.Error()
		}
		return p
	}
	p.seat, p.sessionID, p.seated = true, res.SessionID, p.end
	if o.ConnectEvery > 0 && i%o.ConnectEvery == 0 {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		conn, err := simserver.ConnectBase64(cctx, res.Seat.Token, simserver.ConnectOptions{})
		// The request lasts until the player is connected (or gave up): a
		// connect that fails because a process was killed meanwhile is
		// explained by that kill.
		p.end = time.Now()
		if err != nil {
			p.kind, p.msg = "connect", err.Error()
			return p
		}
		time.Sleep(100 * time.Millisecond)
		_ = conn.Close()
		p.connected = true
	}
	return p
}
