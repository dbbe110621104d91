package top

import (
	"math"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
)

func plainTheme() output.Theme {
	io, _, _, _ := iostreams.Test()
	return output.NewTheme(io)
}

// The model on bubbletea's messages: a snapshot shows, a tick asks for the
// next one, q quits, Ctrl-C quits as an interrupt.
func TestModelMessages(t *testing.T) {
	t.Parallel()
	asked := 0
	collect := func() tea.Msg { asked++; return nil }
	var m tea.Model = NewModel(collect, time.Second, plainTheme())
	if m.Init() == nil {
		t.Fatal("Init takes no first snapshot")
	}
	if v := m.View(); !strings.Contains(v, "collecting") {
		t.Fatalf("before a snapshot: %q", v)
	}
	snap := Snapshot{
		Time: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), RequestsPerSecond: 2.5,
		Outcomes: map[string]float64{"seat": 10, "503": 1}, PlayersWaiting: 3,
		TimeToSeat:  Percentiles{Count: 10, P50: 500, P90: 1000, P99: 2000},
		Sessions:    Sessions{Seats: 4, Connected: 2, Unclaimed: 2},
		Deployments: map[string]float64{"ready": 2}, SeatsUsed: 4, SeatsCapacity: 8,
		QueuedDeletes: 1, DeadLetters: 2, Rejections: map[string]float64{"rate_limited": 7},
		Errors: []string{"metrics http://x/metrics: refused"},
	}
	m, cmd := m.Update(SnapshotMsg{Snapshot: snap})
	if cmd == nil {
		t.Fatal("a snapshot schedules no next tick")
	}
	v := m.View()
	for _, want := range []string{
		"requests/s       2.50   503 1  seat 10", "players waiting  3", "p50 500ms  p90 1s  p99 2s  (10 seats)",
		"seats 4  connected 2  unclaimed 2", "ready 2   seats used 4/8", "deletes 1  stops 0  dead letters 2", "rate_limited 7",
		"! metrics http://x/metrics: refused",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	m, _ = m.Update(tea.WindowSizeMsg{Width: 30, Height: 20})
	if v := m.View(); !strings.Contains(v, "! metrics http://x/metrics: r…") {
		t.Errorf("a narrow window does not shorten errors:\n%s", v)
	}
	// The tick runs collect.
	_, cmd = m.Update(tickMsg(time.Now()))
	if cmd == nil {
		t.Fatal("a tick does not collect")
	}
	cmd()
	if asked != 1 {
		t.Fatalf("collect ran %d times", asked)
	}
	// q quits cleanly; Ctrl-C as an interrupt.
	q, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if _, ok := cmd().(tea.QuitMsg); !ok || q.(Model).interrupted {
		t.Fatal("q does not quit cleanly")
	}
	c, cmd := m.Update(tea.KeyMsg{Type: tea.KeyCtrlC})
	if _, ok := cmd().(tea.QuitMsg); !ok || !c.(Model).interrupted {
		t.Fatal("Ctrl-C does not quit as an interrupt")
	}
	// Other keys do nothing.
	if _, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("x")}); cmd != nil {
		t.Fatal("x does something")
	}
}

// --count stops after that many snapshots.
func TestModelLimit(t *testing.T) {
	t.Parallel()
	m := NewModel(func() tea.Msg { return nil }, time.Second, plainTheme())
	m.limit = 1
	_, cmd := m.Update(SnapshotMsg{Snapshot: Snapshot{}})
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("the limit does not quit")
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	// 10 observations: 5 under 0.5s, 4 more under 1s, 1 over 60s.
	p := percentiles(map[float64]float64{0.5: 5, 1: 9, 60: 9, mathInf: 10}, 10)
	if p.Count != 10 || p.P50 != 500 || p.P90 != 1000 || p.P99 != 60000 {
		t.Fatalf("%+v", p)
	}
	if p := percentiles(nil, 0); p != (Percentiles{}) {
		t.Fatalf("empty: %+v", p)
	}
}

func TestMetricsURLs(t *testing.T) {
	t.Parallel()
	got, err := MetricsURLs("wss://play.example.com/matchmaker/ws", []string{"http://10.0.0.6:9090"})
	if err != nil || strings.Join(got, " ") != "https://play.example.com/metrics http://10.0.0.6:9090/metrics" {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := MetricsURLs("127.0.0.1:3000", []string{"ftp://x"}); err == nil || !strings.Contains(err.Error(), `metrics-url "ftp://x"`) {
		t.Fatalf("bad metrics url: %v", err)
	}
}

var mathInf = math.Inf(1)
