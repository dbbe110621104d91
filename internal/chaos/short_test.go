package chaos

import "testing"

// TestChaosShort is the chaos run of every `go test ./...`: separate
// processes (nats-server, gateway, two matchmaker replicas), a few hundred
// players, ghost creates and 5xx on every Edgegap endpoint, one replica
// SIGKILLed in the middle of the creates and restarted. Nothing may leak,
// no delete may be lost, and every client error must be explained by the
// kill or an injected fault.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run: separate processes, ~30s")
	}
	tl := runScenario(t, scenario{
		Name: "short", Allocator: "sessions", NATSNodes: 1,
		Players: 200, Conc: 20, ConnectEvery: 2,
		Faults: faultPlan{ErrorRate: 0.05, GhostRate: 0.1},
		Kills:  []killPlan{{Target: "mm2", At: 0.4, Down: 500 * 1e6}},
	})
	assertClean(t, tl)
}

// assertClean fails the test on a leak, a lost delete or an unexplained
// client error.
func assertClean(t *testing.T, tl tally) {
	t.Helper()
	if tl.LeakedSessions != 0 || tl.LeakedDeployments != 0 || tl.LostDeletes != 0 {
		t.Errorf("leaked sessions %d, leaked deployments %d, lost deletes %d", tl.LeakedSessions, tl.LeakedDeployments, tl.LostDeletes)
	}
	if len(tl.Unexplained) != 0 {
		t.Errorf("%d client errors no kill or fault explains", len(tl.Unexplained))
	}
	if tl.Seats == 0 || len(tl.Kills) == 0 {
		t.Errorf("the run proves nothing: %d seats, kills %v", tl.Seats, tl.Kills)
	}
}
