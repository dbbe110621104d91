// Package play implements `bevygap play`: a test game client that asks the
// gateway for a seat exactly like the Rust client plugin, optionally
// connects to the game server, and doubles as a load generator.
package play

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/client"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/protocol"
)

// Options of `play`.
type Options struct {
	IO          *iostreams.IOStreams
	Format      func() output.Format    // read when the command runs
	Settings    func() *settings.Loaded // gateway-url, read when the command runs
	URL         string
	Game        string
	Version     string
	ClientIP    string
	Timeout     time.Duration
	Count       int
	Concurrency int
	Connect     bool
	Hold        time.Duration
}

// Seat is the JSON shape of a granted seat (and of the connection when
// --connect is given).
type Seat struct {
	Token       string  `json:"token"`
	IP          string  `json:"ip"`
	Port        uint16  `json:"port"`
	CertDigest  string  `json:"cert_digest"`
	SessionID   string  `json:"session_id"`
	ElapsedMS   float64 `json:"elapsed_ms"`
	Connected   *bool   `json:"connected,omitempty"`
	ClientIndex *uint32 `json:"client_index,omitempty"`
	HeldMS      float64 `json:"held_ms,omitempty"`
}

// Exit codes beyond the usual ones.
const exitTimeout = 124

// NewCmdPlay builds `bevygap play`.
func NewCmdPlay(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{IO: f.IOStreams, Format: func() output.Format { return f.Format }, Settings: func() *settings.Loaded { return f.Settings }}
	cmd := &cobra.Command{
		Use:   "play [<url>]",
		Short: "Ask the gateway for a seat like a game client; --connect joins the game server; --count runs a load test",
		Long: `Ask the gateway for a seat exactly as the Rust bevygap client plugin does: open
the websocket, send {"game":..,"version":..,"client_ip":null}, follow the
feedback until SessionReady, and check the token (2048 bytes, NETCODE 1.02).

With --connect it then performs the netcode handshake with the game server
over UDP, stays connected for --hold, and disconnects, reporting each step.

With --count N --concurrency C it runs N requests, C at a time, and prints a
summary: seats, errors by code, latency percentiles, seats per second.

The gateway is <url>, else the gateway-url setting (--gateway-url,
BEVYGAP_GATEWAY_URL, the config file or the context); host:port means
ws://host:port/matchmaker/ws, and a URL without a path gets /matchmaker/ws.

Exit codes: 0 seat (and connection), 1 an Error from the matchmaker or a
refused connection, 2 an unusable URL, 124 --timeout reached.`,
		Example: `  bevygap play --connect
  bevygap play 127.0.0.1:3000 -o json
  bevygap play wss://play.example.com --game my-game --game-version v3
  bevygap play --count 2000 --concurrency 200 -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw := o.Settings().Tools.GatewayURL
			if len(args) == 1 {
				raw = args[0]
			}
			u, err := client.GatewayURL(raw)
			if err != nil {
				return &factory.UsageError{Msg: err.Error()}
			}
			o.URL = u
			if o.Count < 1 || o.Count > client.MaxLoadCount || o.Concurrency < 1 || o.Concurrency > client.MaxLoadConcurrency {
				return factory.UsageErrorf("--count must be from 1 to %d and --concurrency from 1 to %d", client.MaxLoadCount, client.MaxLoadConcurrency)
			}
			if o.Connect && o.Count > 1 {
				return factory.UsageErrorf("--connect works with one request, not with --count")
			}
			if o.Timeout <= 0 || o.Hold < 0 {
				return factory.UsageErrorf("--timeout must be positive and --hold not negative")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return playRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Game, "game", "bevygap-spaceships", "game name (the Rust plugin's default)")
	fl.StringVar(&o.Version, "game-version", "1", "game version (the Rust plugin's default)")
	fl.StringVar(&o.ClientIP, "client-ip", "", "ask for a session near this IP (honoured by gateways that allow overrides)")
	fl.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "give up after this long (exit 124)")
	fl.IntVar(&o.Count, "count", 1, "number of requests (load mode when above 1)")
	fl.IntVar(&o.Concurrency, "concurrency", 1, "requests in flight at once in load mode")
	fl.BoolVar(&o.Connect, "connect", false, "connect to the game server with the token (netcode handshake over UDP)")
	fl.DurationVar(&o.Hold, "hold", 2*time.Second, "with --connect, how long to stay connected")
	settings.AddFlags(fl, "gateway-url")
	return cmd
}

func playRun(ctx context.Context, o *Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.Count > 1 || o.Concurrency > 1 {
		return loadRun(ctx, o)
	}
	io := o.IO
	st := newStatus(io.ErrOut, io.IsStderrTTY(), output.NewErrTheme(o.IO))
	defer st.stop()
	st.set("Connecting to " + o.URL)
	res, err := client.Request(ctx, client.Options{
		URL: o.URL, Game: o.Game, Version: o.Version, ClientIP: o.ClientIP,
		OnFeedback: func(f protocol.Feedback) { st.set(f.String()) },
	})
	if err != nil {
		st.stop()
		return requestFailure(ctx, o.URL, err)
	}
	st.done(fmt.Sprintf("Seat on %s:%d after %s", res.Seat.IP, res.Seat.Port, res.Elapsed.Round(time.Millisecond)))
	seat := Seat{Token: res.Seat.Token, IP: res.Seat.IP, Port: res.Seat.Port, CertDigest: res.Seat.CertDigest, SessionID: res.SessionID, ElapsedMS: float64(res.Elapsed.Microseconds()) / 1000}
	var connErr error
	if o.Connect {
		connErr = connect(ctx, o, st, &seat)
	}
	if err := printSeat(o, seat); err != nil {
		return err
	}
	if connErr != nil {
		return connErr
	}
	return nil
}

func requestFailure(ctx context.Context, url string, err error) error {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		return fmt.Errorf("matchmaker answered Error %d: %s", pe.Code, pe.Message)
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &factory.ExitError{Code: exitTimeout, Msg: "timed out waiting for a seat: " + err.Error()}
	case strings.Contains(err.Error(), "expected handshake response status code 101"):
		// Something answered plain HTTP: not the gateway's websocket route.
		return &factory.HintError{Err: err, Hint: "no websocket at " + url + ": the gateway's route is " + client.WSPath + " (e.g. ws://127.0.0.1:3000" + client.WSPath + ")"}
	}
	return err
}

func connect(ctx context.Context, o *Options, st *status, seat *Seat) error {
	st.set(fmt.Sprintf("Connecting to the game server %s:%d over UDP", seat.IP, seat.Port))
	conn, err := simserver.ConnectBase64(ctx, seat.Token, simserver.ConnectOptions{})
	no := false
	if err != nil {
		st.stop()
		seat.Connected = &no
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &factory.ExitError{Code: exitTimeout, Msg: "timed out connecting to the game server"}
		}
		return fmt.Errorf("game server refused the connection: %w", err)
	}
	yes := true
	idx := conn.ClientIndex()
	seat.Connected, seat.ClientIndex = &yes, &idx
	st.done(fmt.Sprintf("Connected to %s in client slot %d of %d", conn.RemoteAddr(), idx, conn.MaxClients()))
	start := time.Now()
	st.set(fmt.Sprintf("Holding the connection for %s", o.Hold))
	every := max(conn.Timeout()/3, 100*time.Millisecond)
	if conn.Timeout() <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	hold := time.NewTimer(o.Hold)
	defer tick.Stop()
	defer hold.Stop()
	var holdErr error
loop:
	for {
		select {
		case <-ctx.Done():
			holdErr = ctx.Err()
			break loop
		case <-hold.C:
			break loop
		case <-tick.C:
			if err := conn.Keepalive(ctx); err != nil {
				holdErr = fmt.Errorf("keepalive: %w", err)
				break loop
			}
		}
	}
	seat.HeldMS = float64(time.Since(start).Microseconds()) / 1000
	if err := conn.Close(); err != nil && holdErr == nil {
		holdErr = fmt.Errorf("disconnect: %w", err)
	}
	if holdErr != nil {
		st.stop()
		return holdErr
	}
	st.done(fmt.Sprintf("Disconnected after %s", time.Since(start).Round(time.Millisecond)))
	return nil
}

func printSeat(o *Options, s Seat) error {
	io := o.IO
	if o.Format() == output.JSON {
		return output.WriteJSON(io.Out, s)
	}
	t := output.NewTable(io, o.Format(), "Field", "Value").MaxWidth(1, 40)
	t.AddRow("ip", s.IP)
	t.AddRow("port", s.Port)
	t.AddRow("cert_digest", s.CertDigest)
	t.AddRow("session_id", s.SessionID)
	t.AddRow("elapsed", fmt.Sprintf("%.0fms", s.ElapsedMS))
	if s.ClientIndex != nil {
		t.AddRow("client_index", *s.ClientIndex)
	}
	t.AddRow("token", s.Token)
	return t.Render()
}

func loadRun(ctx context.Context, o *Options) error {
	io := o.IO
	st := newStatus(io.ErrOut, io.IsStderrTTY(), output.NewErrTheme(o.IO))
	defer st.stop()
	var mu sync.Mutex
	done, seats := 0, 0
	sum, err := client.Load(ctx, client.LoadOptions{
		URL: o.URL, Game: o.Game, Version: o.Version, Count: o.Count, Concurrency: o.Concurrency, ClientIP: o.ClientIP,
		OnResult: func(_ int, _ client.Result, err error) {
			mu.Lock()
			done++
			if err == nil {
				seats++
			}
			d, s := done, seats
			mu.Unlock()
			if d%max(1, o.Count/100) == 0 || d == o.Count {
				st.set(fmt.Sprintf("%d/%d requests, %d seats", d, o.Count, s))
			}
		},
	})
	st.stop()
	if perr := printSummary(o, sum); perr != nil {
		return perr
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return &factory.ExitError{Code: exitTimeout, Msg: fmt.Sprintf("timed out after %d of %d requests", sum.Requests, o.Count)}
		}
		return err
	}
	if sum.Seats != sum.Requests {
		err := fmt.Errorf("%d of %d requests got no seat", sum.Requests-sum.Seats, sum.Requests)
		if h := limitHint(sum); h != "" {
			return &factory.HintError{Err: err, Hint: h}
		}
		return err
	}
	return nil
}

// limitHint explains refusals by the gateway's per-client limits: every
// request of a load run comes from this one host.
func limitHint(s client.Summary) string {
	rate, pending := s.Errors[429], s.Errors[503]
	var parts []string
	if rate > 0 {
		parts = append(parts, fmt.Sprintf("%d were rate limited (Error 429: the gateway's --rate-per-minute and --rate-burst)", rate))
	}
	if pending > 0 {
		parts = append(parts, fmt.Sprintf("%d were refused as too many pending or busy (Error 503: the gateway's --max-pending-per-ip and --max-pending-total, or the matchmaker's --max-inflight)", pending))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + ". A load run sends every request from this host: raise the limits on the gateway (0 = unlimited; bevygap dev sets none), or use --client-ip with a gateway that allows overrides"
}

func printSummary(o *Options, s client.Summary) error {
	io := o.IO
	if o.Format() == output.JSON {
		return output.WriteJSON(io.Out, s)
	}
	t := output.NewTable(io, o.Format(), "Metric", "Value")
	t.AddRow("requests", s.Requests)
	t.AddRow("seats", s.Seats)
	for code, n := range s.Errors {
		t.AddRow(fmt.Sprintf("errors %d", code), n)
	}
	t.AddRow("transport errors", s.TransportErrors)
	t.AddRow("protocol errors", s.ProtocolErrors)
	t.AddRow("latency p50", s.Latency.P50.Round(time.Millisecond))
	t.AddRow("latency p90", s.Latency.P90.Round(time.Millisecond))
	t.AddRow("latency p99", s.Latency.P99.Round(time.Millisecond))
	t.AddRow("latency max", s.Latency.Max.Round(time.Millisecond))
	t.AddRow("seats per second", fmt.Sprintf("%.1f", s.SeatsPerSecond))
	t.AddRow("elapsed", s.Elapsed.Round(time.Millisecond))
	return t.Render()
}

// status shows progress on stderr: a spinner and one status line on a
// terminal, plain lines otherwise.
type status struct {
	w    io.Writer
	tty  bool
	th   output.Theme
	mu   sync.Mutex
	text string
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newStatus(w io.Writer, tty bool, th output.Theme) *status {
	s := &status{w: w, tty: tty, th: th, quit: make(chan struct{})}
	if tty {
		s.wg.Go(s.spin)
	}
	return s
}

var frames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (s *status) spin() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.mu.Lock()
			fmt.Fprintf(s.w, "\r\033[K%s %s", s.th.Accent.Render(frames[i%len(frames)]), s.text)
			s.mu.Unlock()
		}
	}
}

func (s *status) set(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text = text
	if !s.tty {
		fmt.Fprintln(s.w, text)
	}
}

// done prints a finished step on its own line.
func (s *status) done(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tty {
		fmt.Fprintf(s.w, "\r\033[K%s %s\n", s.th.OK.Render("✓"), text)
		s.text = ""
		return
	}
	fmt.Fprintln(s.w, text)
}

func (s *status) stop() {
	s.once.Do(func() {
		close(s.quit)
		s.wg.Wait()
		if s.tty {
			fmt.Fprint(s.w, "\r\033[K")
		}
	})
}
