package gateway

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric label values.
const (
	routeWS        = "ws"
	routeStream    = "request"
	routeWannaplay = "wannaplay"
	routeHook      = "hook"
)

type metrics struct {
	conns      prometheus.Gauge
	pending    prometheus.GaugeFunc
	requests   *prometheus.CounterVec
	rejections *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	handler    http.Handler
}

func newMetrics(reg prometheus.Registerer, pending func() float64) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "bevygap", Subsystem: "gateway", Name: "websocket_connections",
			Help: "Open matchmaker websocket connections.",
		}),
		pending: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "bevygap", Subsystem: "gateway", Name: "pending_requests",
			Help: "Session requests in flight (all routes).",
		}, pending),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bevygap", Subsystem: "gateway", Name: "requests_total",
			Help: "Finished requests by route and outcome.",
		}, []string{"route", "outcome"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bevygap", Subsystem: "gateway", Name: "rejections_total",
			Help: "Requests turned away by the gateway, by reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "bevygap", Subsystem: "gateway", Name: "request_duration_seconds",
			Help:    "Duration of finished requests by route.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90},
		}, []string{"route"}),
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			m.unregister(reg)
			return nil, fmt.Errorf("registering gateway metrics: %w", err)
		}
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.handler = promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	} else {
		m.handler = http.NotFoundHandler()
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.conns, m.pending, m.requests, m.rejections, m.latency}
}

// unregister removes the collectors again (a failed NewServer).
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}
