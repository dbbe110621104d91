package matchmaker

import (
	"errors"

	"github.com/bevygap/bevygap/pkg/state"

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

	// The deployments allocator (fleet).
	fleetCreated        prometheus.Counter
	stopJobs            *prometheus.CounterVec
	fleetStops          *prometheus.CounterVec
	fleetAdopted        prometheus.Counter
	fleetOrphansStopped prometheus.Counter
	fleetDeployments    *prometheus.GaugeVec
	fleetSeats          *prometheus.GaugeVec
	fleetPacking        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_requests_total", Help: "Seat requests by outcome (seat, or the error code).",
		}, []string{"outcome"})),
		timeToReady: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bevygap_matchmaker_time_to_seat_seconds", Help: "Time from request to SessionReady.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 3, 5, 8, 13, 21, 34, 60},
		})),
		inflight: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bevygap_matchmaker_inflight_requests", Help: "Requests being served now.",
		})),
		deletes: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_session_deletes_total", Help: "Delete queue outcomes: deleted, gone, retry, dead_letter, rejected.",
		}, []string{"outcome"})),
		deadLetters: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_dead_letters_total", Help: "Sessions whose deletion failed MaxDeliver times.",
		})),
		reaped: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_reaped_sessions_total", Help: "Unclaimed sessions queued for deletion after the unclaimed TTL.",
		})),
		loopRestarts: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bevygap_matchmaker_loop_restarts_total", Help: "Cleanup loops (watcher, reaper, delete worker) restarted after a failure.",
		}, []string{"loop"})),
		fleetCreated: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_fleet_deployments_created_total", Help: "Edgegap deployments this matchmaker created.",
		})),
		stopJobs: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bevygap_fleet_stop_jobs_total", Help: "Deployment stop queue outcomes: deleted, gone, retry, dead_letter, rejected.",
		}, []string{"outcome"})),
		fleetStops: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bevygap_fleet_deployments_stopped_total", Help: "Deployments retired by reason: empty, too_old, failed.",
		}, []string{"reason"})),
		fleetAdopted: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_fleet_reconciler_adopted_total", Help: "Deployments the reconciler adopted (created, answer lost).",
		})),
		fleetOrphansStopped: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bevygap_fleet_reconciler_stopped_total", Help: "Deployments the reconciler stopped (no record, or given up).",
		})),
		fleetDeployments: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bevygap_fleet_deployments", Help: "Fleet deployments by state (this app version).",
		}, []string{"state"})),
		fleetSeats: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bevygap_fleet_seats", Help: "Fleet seats by state: reserved, connected.",
		}, []string{"state"})),
		fleetPacking: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bevygap_fleet_packing_ratio", Help: "Seats used / capacity of running (deploying, ready, draining) deployments.",
		})),
	}
}

// register adds c to reg, or returns the collector already registered under
// the same name (a second matchmaker in one process shares the metrics).
// With a nil reg, c stays unregistered.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
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

// observeFleet sets the fleet gauges from the view.
func (m *metrics) observeFleet(all []*state.Deployment) {
	byState := map[state.DeploymentState]int{}
	seats := map[state.SeatState]int{}
	used, capacity := 0, 0
	for _, d := range all {
		byState[d.State]++
		for _, s := range d.Seats {
			seats[s.State]++
		}
		switch d.State {
		case state.DeploymentDeploying, state.DeploymentReady, state.DeploymentDraining:
			used += len(d.Seats)
			capacity += d.Capacity
		}
	}
	for _, st := range state.DeploymentStates {
		m.fleetDeployments.WithLabelValues(string(st)).Set(float64(byState[st]))
	}
	for _, st := range []state.SeatState{state.SeatReserved, state.SeatConnected} {
		m.fleetSeats.WithLabelValues(string(st)).Set(float64(seats[st]))
	}
	if capacity > 0 {
		m.fleetPacking.Set(float64(used) / float64(capacity))
	} else {
		m.fleetPacking.Set(0)
	}
}
