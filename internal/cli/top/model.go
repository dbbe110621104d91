package top

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/bevygap/bevygap/internal/output"
)

// SnapshotMsg carries a collected snapshot to the model.
type SnapshotMsg struct {
	Snapshot Snapshot
	Err      error
}

// tickMsg asks for the next snapshot.
type tickMsg time.Time

// Model is top's bubbletea model: it shows the last snapshot and asks for
// the next one every interval.
type Model struct {
	collect     tea.Cmd
	interval    time.Duration
	th          output.Theme
	snap        *Snapshot
	err         error
	width       int
	count       int
	limit       int
	quitting    bool
	interrupted bool
}

// NewModel returns a model that runs collect (which returns a SnapshotMsg)
// every interval.
func NewModel(collect tea.Cmd, interval time.Duration, th output.Theme) Model {
	return Model{collect: collect, interval: interval, th: th, width: 80}
}

// Init takes the first snapshot.
func (m Model) Init() tea.Cmd { return m.collect }

// Update handles keys (q, Esc, Ctrl-C), window sizes, snapshots and ticks.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "esc":
			m.quitting = true
			return m, tea.Quit
		case "ctrl+c":
			m.quitting, m.interrupted = true, true
			return m, tea.Quit
		}
	case tea.WindowSizeMsg:
		m.width = msg.Width
	case SnapshotMsg:
		m.err = msg.Err
		if msg.Err == nil {
			s := msg.Snapshot
			m.snap = &s
			m.count++
		}
		if m.limit > 0 && m.count >= m.limit {
			m.quitting = true
			return m, tea.Quit
		}
		return m, tea.Tick(m.interval, func(t time.Time) tea.Msg { return tickMsg(t) })
	case tickMsg:
		return m, m.collect
	}
	return m, nil
}

// View draws the screen.
func (m Model) View() string {
	th := m.th
	var b strings.Builder
	title := th.Header.Render("bevygap top")
	if m.snap != nil {
		title += th.Muted.Render(fmt.Sprintf("  %s  every %s  (q quits)", m.snap.Time.Local().Format("15:04:05"), m.interval))
	}
	b.WriteString(title + "\n\n")
	if m.snap == nil {
		if m.err != nil {
			b.WriteString(th.Fail.Render("error: ") + m.err.Error() + "\n")
		} else {
			b.WriteString("collecting…\n")
		}
		return b.String()
	}
	s := m.snap
	row := func(label, value string) {
		fmt.Fprintf(&b, "%s %s\n", th.Bold.Render(fmt.Sprintf("%-16s", label)), value)
	}
	row("requests/s", fmt.Sprintf("%.2f", s.RequestsPerSecond)+"   "+kv(s.Outcomes, "%.0f"))
	row("players waiting", fmt.Sprintf("%.0f", s.PlayersWaiting))
	tts := "no seats yet"
	if s.TimeToSeat.Count > 0 {
		tts = fmt.Sprintf("p50 %s  p90 %s  p99 %s  (%d seats)", ms(s.TimeToSeat.P50), ms(s.TimeToSeat.P90), ms(s.TimeToSeat.P99), s.TimeToSeat.Count)
	}
	row("time to seat", tts)
	row("sessions", fmt.Sprintf("seats %d  connected %d  unclaimed %d", s.Sessions.Seats, s.Sessions.Connected, s.Sessions.Unclaimed))
	if len(s.Deployments) > 0 || s.SeatsCapacity > 0 {
		row("deployments", kv(s.Deployments, "%.0f")+fmt.Sprintf("   seats used %.0f/%.0f", s.SeatsUsed, s.SeatsCapacity))
	}
	queues := fmt.Sprintf("deletes %d  stops %d  dead letters %d", s.QueuedDeletes, s.QueuedStops, s.DeadLetters)
	if s.DeadLetters > 0 {
		queues += th.Warn.Render("  (bevygap deadletters ls)")
	}
	row("queued", queues)
	row("rejections", kv(s.Rejections, "%.0f"))
	for _, e := range s.Errors {
		b.WriteString(th.Warn.Render("! ") + output.Truncate(e, max(m.width-2, 20)) + "\n")
	}
	if m.err != nil {
		b.WriteString(th.Fail.Render("error: ") + m.err.Error() + "\n")
	}
	return b.String()
}

func kv(m map[string]float64, format string) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+" "+fmt.Sprintf(format, m[k]))
	}
	return strings.Join(parts, "  ")
}

func ms(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.3gs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}
