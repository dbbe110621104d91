package matchmaker

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests    *prometheus.CounterVec
	timeToReady prometheus.Histogram
	inflight    prometheus.Gauge
	deletes     *prometheus.CounterVec
	deadLetters prometheus.Counter
	reaped      prometheus.Counter
	// loopRestarts counts cleanup loops restarted after a failure.
	loopRestarts *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_requests_total", Help: "Seat requests by outcome (seat, or the error code).",
		}, []string{"outcome"}),
		timeToReady: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bevygap_matchmaker_time_to_seat_seconds", Help: "Time from request to SessionReady.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 3, 5, 8, 13, 21, 34, 60},
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bevygap_matchmaker_inflight_requests", Help: "Requests being served now.",
		}),
		deletes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_session_deletes_total", Help: "Delete queue outcomes: deleted, gone, retry, dead_letter, rejected.",
		}, []string{"outcome"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_dead_letters_total", Help: "Sessions whose deletion failed MaxDeliver times.",
		}),
		reaped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_reaped_sessions_total", Help: "Unclaimed sessions queued for deletion after the unclaimed TTL.",
		}),
		loopRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_loop_restarts_total", Help: "Cleanup loops (watcher, reaper, delete worker) restarted after a failure.",
		}, []string{"loop"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.timeToReady = register(reg, m.timeToReady)
		m.inflight = register(reg, m.inflight)
		m.deletes = register(reg, m.deletes)
		m.deadLetters = register(reg, m.deadLetters)
		m.reaped = register(reg, m.reaped)
		m.loopRestarts = register(reg, m.loopRestarts)
	}
	return m
}

// register adds c to reg, or returns the collector already registered under
// the same name (a second matchmaker in one process shares the metrics).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
	}
	return c
}
