package matchmaker

import "github.com/prometheus/client_golang/prometheus"

// leakMetrics count the cleanup of last resort: orphans the automatic
// reconciliation found and removed, and delete markers purged.
type leakMetrics struct {
	orphansFound   prometheus.Counter
	orphansRemoved prometheus.Counter
	ghosts         prometheus.Counter
	reconciles     *prometheus.CounterVec
	replaySkipped  prometheus.Counter
}

func newLeakMetrics(reg prometheus.Registerer) *leakMetrics {
	return &leakMetrics{
		orphansFound: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_orphan_sessions_found_total", Help: "Sessions the automatic reconciliation found that no ledger entry explains.",
		})),
		orphansRemoved: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_orphan_sessions_removed_total", Help: "Orphan sessions the automatic reconciliation deleted (or found already gone).",
		})),
		ghosts: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_ghost_sessions_total", Help: "Orphan sessions attributed to a create whose answer was lost (an unresolved intent).",
		})),
		reconciles: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_reconciles_total", Help: "Automatic reconciliation rounds by outcome: done, skipped (another replica holds the lease), failed.",
		}, []string{"outcome"})),
		replaySkipped: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_replay_skipped_total", Help: "Disconnects replayed at start that the checkpoint shows handled already.",
		})),
	}
}
