//go:build chaos

package chaos

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestChaosFull is the full chaos suite (scripts/chaos.sh): for both
// allocators, a matchmaker replica killed mid-creates, the nats-server
// killed with deletes queued, and an all-in-one serve killed, each under
// 10% 5xx on every Edgegap endpoint and 10% ghost creates.
func TestChaosFull(t *testing.T) {
	faults := faultPlan{ErrorRate: 0.1, GhostRate: 0.1}
	for _, alloc := range []string{"sessions", "deployments"} {
		for _, sc := range []scenario{
			{Name: "replica-kill", NATSNodes: 1, Players: 600, Conc: 40, Faults: faults, Kills: []killPlan{{Target: "mm2", At: 0.4, Down: time.Second}}},
			{Name: "nats-kill", NATSNodes: 1, Players: 600, Conc: 40, Faults: faults, Kills: []killPlan{{Target: "nats", At: 0.6, Down: 2 * time.Second}}},
			{Name: "all-in-one-kill", AllInOne: true, Players: 600, Conc: 40, Faults: faults, Kills: []killPlan{{Target: "serve", At: 0.5, Down: time.Second}}},
		} {
			sc.Allocator, sc.ConnectEvery = alloc, 2
			t.Run(alloc+"/"+sc.Name, func(t *testing.T) {
				tl := runScenario(t, sc)
				report(t, sc, tl)
				assertClean(t, tl)
			})
		}
	}
}

// TestNATSNodeKill is the failure test of a NATS cluster under load: three
// nats-server processes, two matchmaker replicas, a gateway, simulated game
// servers and 300 players (who ask again, as a player would, after a 503 or
// a dropped connection); the node leading the fleet ledger's stream is
// SIGKILLed in the middle and restarted. Namespaced with nats-replicas 3,
// and Rust-compatible with replicas 1.
func TestNATSNodeKill(t *testing.T) {
	for _, sc := range []scenario{
		{Name: "nats-leader-kill-namespaced-r3", Namespace: "chaos", Replicas: 3},
		{Name: "nats-leader-kill-compat-r1", Replicas: 1},
	} {
		sc.Allocator, sc.NATSNodes, sc.Players, sc.Conc, sc.ConnectEvery, sc.Retries = "deployments", 3, 300, 20, 2, 2
		sc.Kills = []killPlan{{Target: "nats-leader", At: 0.5, Down: 3 * time.Second}}
		t.Run(sc.Name, func(t *testing.T) {
			tl := runScenario(t, sc)
			report(t, sc, tl)
			if tl.LeakedSessions != 0 || tl.LeakedDeployments != 0 || tl.LostDeletes != 0 {
				t.Errorf("leaked sessions %d, leaked deployments %d, lost deletes %d", tl.LeakedSessions, tl.LeakedDeployments, tl.LostDeletes)
			}
			if len(tl.Unexplained) != 0 {
				t.Errorf("%d client errors no kill explains", len(tl.Unexplained))
			}
		})
	}
}

var (
	reAddr = regexp.MustCompile(`127\.0\.0\.\d+:\d+`)
	reID   = regexp.MustCompile(`\b[0-9a-f]{12}(-S|_[0-9a-f]{12})?\b`)
	reNum  = regexp.MustCompile(`\b\d{6,}\b`)
)

// genericMessage replaces the ids, loopback addresses and long numbers of a
// client error message with placeholders.
func genericMessage(m string) string {
	m = reAddr.ReplaceAllString(m, "<addr>")
	m = reID.ReplaceAllString(m, "<id>")
	return reNum.ReplaceAllString(m, "<n>")
}

// report appends the run's figures to $CHAOS_REPORT (markdown), if set.
func report(t *testing.T, sc scenario, tl tally) {
	path := os.Getenv("CHAOS_REPORT")
	if path == "" {
		return
	}
	var b strings.Builder
	topo := "nats-server process, `serve --gateway --webhook`, two `serve --matchmaker` replicas"
	switch {
	case sc.AllInOne:
		topo = "one all-in-one `serve` (embedded NATS, persistent data-dir)"
	case sc.NATSNodes == 3:
		ns := "compat (no namespace)"
		if sc.Namespace != "" {
			ns = "namespace `" + sc.Namespace + "`"
		}
		topo = fmt.Sprintf("3 nats-server processes (cluster), %s, nats-replicas %d, gateway, two matchmaker replicas", ns, max(sc.Replicas, 1))
	}
	fmt.Fprintf(&b, "\n### %s, %s allocator\n\n%s; Edgegap faults: %.0f%% 5xx on every endpoint, %.0f%% ghost creates.\n\n",
		sc.Name, sc.Allocator, topo, sc.Faults.ErrorRate*100, sc.Faults.GhostRate*100)
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	row := func(k string, v any) { fmt.Fprintf(&b, "| %s | %v |\n", k, v) }
	row("players (requests, retries included)", fmt.Sprintf("%d (%d)", tl.Players, tl.Requests))
	row("seats (connected to the game server)", fmt.Sprintf("%d (%d)", tl.Seats, tl.Connected))
	row("faults injected", fmt.Sprintf("%d 5xx, %d dropped connections", tl.Injected5xx, tl.InjectedDrops))
	row("kills", strings.Join(tl.Kills, "; "))
	codes := make([]string, 0, len(tl.Errors))
	for c, n := range tl.Errors {
		codes = append(codes, fmt.Sprintf("%s: %d", c, n))
	}
	sort.Strings(codes)
	row("client errors by code", strings.Join(codes, ", "))
	row("errors explained by the kill / by an Edgegap fault / unexplained", fmt.Sprintf("%d / %d / %d", tl.ExplainedByKill, tl.ExplainedByFault, len(tl.Unexplained)))
	row("requests in flight at the kill that failed", tl.FailedInFlight)
	resumed := "no request started after the kill got a seat"
	if tl.SeatingResumed > 0 {
		resumed = tl.SeatingResumed.Round(10 * time.Millisecond).String()
	}
	row("seating resumed after the kill", resumed)
	row("sessions / deployments created", fmt.Sprintf("%d / %d", tl.SessionsCreated, tl.DeploymentsMade))
	row("**leaked sessions / deployments**", fmt.Sprintf("**%d / %d**", tl.LeakedSessions, tl.LeakedDeployments))
	row("**lost deletes**", fmt.Sprintf("**%d**", tl.LostDeletes))
	row("last delete after the last player", tl.LastDeleteAfter.Round(100*time.Millisecond))
	row("run time", tl.Elapsed.Round(time.Second))
	// Messages differing only in ids, addresses and ports are counted
	// together.
	grouped := map[string]int{}
	for m, n := range tl.Messages {
		grouped[genericMessage(m)] += n
	}
	msgs := make([]string, 0, len(grouped))
	for m, n := range grouped {
		msgs = append(msgs, fmt.Sprintf("%d × `%s`", n, m))
	}
	sort.Strings(msgs)
	if len(msgs) > 0 {
		fmt.Fprintf(&b, "\nClient errors: %s.\n", strings.Join(msgs, "; "))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("report: %v", err)
		return
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteString(b.String()); err != nil {
		t.Errorf("report: %v", err)
	}
}
