// Package top implements `bevygap top`: a live view of one bevygap system
// (seat requests and their outcomes, players waiting, time to seat,
// sessions and deployments, cleanup queues, rejections) from NATS and the
// metrics endpoints. On a terminal it is a bubbletea screen (q quits); off
// one it prints one JSON snapshot per interval.
package top

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/state"
)

// Options of `top`.
type Options struct {
	IO       *iostreams.IOStreams
	Format   func() output.Format
	Settings func() *settings.Settings
	Names    func() (state.Names, error)
	NATS     func(ctx context.Context, name string) (*nats.Conn, error)
	Now      func() time.Time
	Interval time.Duration
	Count    int
}

// NewCmdTop builds `bevygap top`.
func NewCmdTop(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{IO: f.IOStreams, Format: func() output.Format { return f.Format }, Settings: f.S, Names: f.Names, NATS: f.ServiceNATS, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Live view: requests, players waiting, time to seat, sessions, deployments, queues, rejections",
		Long: `A live view of one bevygap system, refreshed every --interval: seat requests
per second and their outcomes, players waiting, time-to-seat percentiles,
sessions (seats, connected, unclaimed) or fleet deployments by state with
seats used and capacity, queued deletes and stops, dead letters, and
requests the gateway rejected by reason.

It reads the NATS buckets and queues (nats-* settings) and the Prometheus
/metrics of the gateway (gateway-url) and of any --metrics-url (each
matchmaker's --metrics-addr). q or Esc quits (exit 0), Ctrl-C interrupts (130).

On a terminal it draws a screen; piped, or with -o json, it prints one JSON
object per interval, one per line (--count stops after that many).`,
		Example: `  bevygap top
  bevygap top --gateway-url ws://10.0.0.5:3000/matchmaker/ws --metrics-url http://10.0.0.6:9090/metrics
  bevygap top --count 1 -o json --jq '.sessions'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Interval < 100*time.Millisecond || o.Interval > time.Hour {
				return factory.UsageErrorf("--interval must be from 100ms to 1h")
			}
			if o.Count < 0 {
				return factory.UsageErrorf("--count must not be negative")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return run(cmd.Context(), o)
		},
	}
	cmd.Flags().DurationVar(&o.Interval, "interval", 2*time.Second, "time between snapshots")
	cmd.Flags().IntVar(&o.Count, "count", 0, "stop after this many snapshots (0: until interrupted)")
	settings.AddFlags(cmd.Flags(), "nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace", "gateway-url", "metrics-url")
	return cmd
}

func run(ctx context.Context, o *Options) error {
	s := o.Settings()
	urls, err := MetricsURLs(s.Tools.GatewayURL, s.Tools.MetricsURLs)
	if err != nil {
		return &factory.UsageError{Msg: err.Error()}
	}
	names, err := o.Names()
	if err != nil {
		return err
	}
	nc, err := o.NATS(ctx, "bevygap-top")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	defer tr.CloseIdleConnections()
	c := &Collector{JS: js, Names: names, MetricsURL: urls, HTTP: &http.Client{Transport: tr, Timeout: o.Interval}, Now: o.Now}
	if o.IO.CanPrompt() && o.Format().IsTable() {
		return screen(ctx, o, c)
	}
	return stream(ctx, o, c)
}

// stream prints one JSON snapshot per interval until ctx ends or Count.
func stream(ctx context.Context, o *Options, c *Collector) error {
	enc := json.NewEncoder(o.IO.Out)
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for n := 1; ; n++ {
		snap, err := c.Collect(ctx)
		if err != nil {
			return nil // interrupted
		}
		if err := enc.Encode(snap); err != nil {
			return err
		}
		if o.Count > 0 && n >= o.Count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// screen runs the bubbletea view until q (exit 0) or Ctrl-C (130).
func screen(ctx context.Context, o *Options, c *Collector) error {
	m := NewModel(func() tea.Msg {
		snap, err := c.Collect(ctx)
		return SnapshotMsg{Snapshot: snap, Err: err}
	}, o.Interval, output.NewTheme(o.IO))
	m.limit = o.Count
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(o.IO.In), tea.WithOutput(o.IO.Out), tea.WithAltScreen(), tea.WithoutSignalHandler())
	final, err := p.Run()
	if ctx.Err() != nil {
		return nil // interrupted: the root exits 130
	}
	if err != nil {
		return fmt.Errorf("top: %w", err)
	}
	if fm, ok := final.(Model); ok && fm.interrupted {
		return &factory.SilentError{Code: 130}
	}
	return nil
}
