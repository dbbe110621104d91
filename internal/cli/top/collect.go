package top

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/pkg/state"
)

// Snapshot is one look at a bevygap system: the JSON `top` prints off a
// terminal, and what its screen shows.
type Snapshot struct {
	Time time.Time `json:"time"`
	// RequestsPerSecond is the rate of finished seat requests since the
	// previous snapshot (0 for the first).
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Outcomes counts finished seat requests by outcome ("seat" or an error
	// code) since the matchmakers started; OutcomesPerSecond is their rate.
	Outcomes          map[string]float64 `json:"outcomes"`
	OutcomesPerSecond map[string]float64 `json:"outcomes_per_second"`
	// PlayersWaiting are requests being served now (the gateways' pending
	// requests).
	PlayersWaiting float64 `json:"players_waiting"`
	// TimeToSeat are percentiles of the time from request to seat since the
	// matchmakers started.
	TimeToSeat Percentiles `json:"time_to_seat"`
	// Sessions are the seats in NATS: granted, with a client connected,
	// not yet claimed.
	Sessions Sessions `json:"sessions"`
	// Deployments counts fleet deployments by state, with seats used and
	// capacity (fleet mode; empty otherwise).
	Deployments   map[string]float64 `json:"deployments"`
	SeatsUsed     float64            `json:"seats_used"`
	SeatsCapacity float64            `json:"seats_capacity"`
	// QueuedDeletes and QueuedStops wait in the delete and stop queues;
	// DeadLetters are deletions given up on (bevygap deadletters).
	QueuedDeletes uint64 `json:"queued_deletes"`
	QueuedStops   uint64 `json:"queued_stops"`
	DeadLetters   uint64 `json:"dead_letters"`
	// Rejections counts requests the gateways turned away, by reason.
	Rejections map[string]float64 `json:"rejections"`
	// Errors are the sources that could not be read this time.
	Errors []string `json:"errors"`
}

// Sessions are seat counts from the NATS buckets.
type Sessions struct {
	Seats     uint64 `json:"seats"`
	Connected uint64 `json:"connected"`
	Unclaimed uint64 `json:"unclaimed"`
}

// Percentiles of a duration, in milliseconds (bucket upper bounds).
type Percentiles struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
}

// Metric names read from the /metrics endpoints.
const (
	metricRequests   = "bevygap_matchmaker_requests_total"
	metricTimeToSeat = "bevygap_matchmaker_time_to_seat_seconds"
	metricPending    = "bevygap_gateway_pending_requests"
	metricRejections = "bevygap_gateway_rejections_total"
	metricFleetDeps  = "bevygap_fleet_deployments"
	metricFleetSeats = "bevygap_fleet_seats"
	metricPacking    = "bevygap_fleet_packing_ratio"
)

// Collector reads a snapshot from NATS and the metrics endpoints.
type Collector struct {
	// JS and Names reach the buckets and queues (nil JS: metrics only).
	JS         jetstream.JetStream
	Names      state.Names
	MetricsURL []string
	HTTP       *http.Client
	Now        func() time.Time

	prev *Snapshot
}

// MetricsURLs are the gateway's /metrics (from gateway-url) and the
// further URLs given.
func MetricsURLs(gatewayURL string, more []string) ([]string, error) {
	raw := gatewayURL
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("gateway-url %q: want a URL with a host", gatewayURL)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	out := []string{u.Scheme + "://" + u.Host + "/metrics"}
	for _, m := range more {
		mu, err := url.Parse(m)
		if err != nil || mu.Host == "" || (mu.Scheme != "http" && mu.Scheme != "https") {
			return nil, fmt.Errorf("metrics-url %q: want an http:// or https:// URL with a host", m)
		}
		if mu.Path == "" {
			mu.Path = "/metrics"
		}
		out = append(out, mu.String())
	}
	return out, nil
}

// Collect takes one snapshot. A source that cannot be read is listed in
// Errors; only a cancelled ctx is an error.
func (c *Collector) Collect(ctx context.Context) (Snapshot, error) {
	s := Snapshot{Time: c.Now().UTC(), Outcomes: map[string]float64{}, OutcomesPerSecond: map[string]float64{},
		Deployments: map[string]float64{}, Rejections: map[string]float64{}, Errors: []string{}}
	c.readNATS(ctx, &s)
	var ttsBuckets map[float64]float64
	var ttsCount float64
	for _, u := range c.MetricsURL {
		fams, err := c.scrape(ctx, u)
		if err != nil {
			s.Errors = append(s.Errors, err.Error())
			continue
		}
		addLabelled(fams[metricRequests], "outcome", s.Outcomes)
		addLabelled(fams[metricRejections], "reason", s.Rejections)
		addLabelled(fams[metricFleetDeps], "state", s.Deployments)
		s.PlayersWaiting += sum(fams[metricPending])
		seats := sum(fams[metricFleetSeats])
		s.SeatsUsed += seats
		if r := sum(fams[metricPacking]); r > 0 {
			s.SeatsCapacity += math.Round(seats / r)
		}
		ttsBuckets, ttsCount = addHistogram(fams[metricTimeToSeat], ttsBuckets, ttsCount)
	}
	if ctx.Err() != nil {
		return Snapshot{}, ctx.Err()
	}
	s.TimeToSeat = percentiles(ttsBuckets, ttsCount)
	if p := c.prev; p != nil {
		if dt := s.Time.Sub(p.Time).Seconds(); dt > 0 {
			for k, v := range s.Outcomes {
				r := max(v-p.Outcomes[k], 0) / dt
				s.OutcomesPerSecond[k] = r
				s.RequestsPerSecond += r
			}
		}
	}
	c.prev = &s
	return s, nil
}

func (c *Collector) readNATS(ctx context.Context, s *Snapshot) {
	if c.JS == nil {
		return
	}
	count := func(base string, into *uint64, missingOK bool) {
		kv, err := c.JS.KeyValue(ctx, c.Names.Bucket(base))
		if err == nil {
			var st jetstream.KeyValueStatus
			if st, err = kv.Status(ctx); err == nil {
				*into = st.Values()
				return
			}
		}
		if missingOK && errors.Is(err, jetstream.ErrBucketNotFound) {
			return
		}
		s.Errors = append(s.Errors, c.Names.Bucket(base)+": "+err.Error())
	}
	count(state.BucketSessionsEG2LY, &s.Sessions.Seats, false)
	count(state.BucketActiveConnections, &s.Sessions.Connected, false)
	count(state.BucketUnclaimedSessions, &s.Sessions.Unclaimed, false)
	count(state.BucketDeadLetters, &s.DeadLetters, true)
	s.QueuedDeletes = c.streamMsgs(ctx, s, c.Names.Stream(state.DeleteStream))
	s.QueuedStops = c.streamMsgs(ctx, s, c.Names.Stream(state.StopStream))
}

// streamMsgs is the number of messages waiting in a work-queue stream (0
// when the stream does not exist: nothing was ever queued).
func (c *Collector) streamMsgs(ctx context.Context, s *Snapshot, name string) uint64 {
	st, err := c.JS.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		s.Errors = append(s.Errors, name+": "+err.Error())
		return 0
	}
	return st.CachedInfo().State.Msgs
}

// maxMetricsBytes bounds one /metrics answer.
const maxMetricsBytes = 8 << 20

func (c *Collector) scrape(ctx context.Context, u string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics %s: HTTP %d", u, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxMetricsBytes))
	if err != nil {
		return nil, fmt.Errorf("metrics %s: %v", u, err)
	}
	return fams, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func sum(f *dto.MetricFamily) float64 {
	if f == nil {
		return 0
	}
	var t float64
	for _, m := range f.Metric {
		t += value(m)
	}
	return t
}

func addLabelled(f *dto.MetricFamily, label string, into map[string]float64) {
	if f == nil {
		return
	}
	for _, m := range f.Metric {
		for _, lp := range m.Label {
			if lp.GetName() == label {
				into[lp.GetValue()] += value(m)
			}
		}
	}
}

func addHistogram(f *dto.MetricFamily, buckets map[float64]float64, count float64) (map[float64]float64, float64) {
	if f == nil {
		return buckets, count
	}
	if buckets == nil {
		buckets = map[float64]float64{}
	}
	for _, m := range f.Metric {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		count += float64(h.GetSampleCount())
		for _, b := range h.Bucket {
			buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	return buckets, count
}

// percentiles reads p50/p90/p99 from cumulative buckets: the upper bound
// of the first bucket holding the rank (the largest finite bound when the
// rank is in +Inf).
func percentiles(buckets map[float64]float64, count float64) Percentiles {
	p := Percentiles{Count: uint64(count)}
	if count == 0 {
		return p
	}
	bounds := make([]float64, 0, len(buckets))
	for b := range buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	at := func(q float64) float64 {
		rank := q * count
		last := 0.0
		for _, b := range bounds {
			if math.IsInf(b, 1) {
				break
			}
			last = b
			if buckets[b] >= rank {
				return b * 1000
			}
		}
		return last * 1000
	}
	p.P50, p.P90, p.P99 = at(0.5), at(0.9), at(0.99)
	return p
}
