package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bevygap/bevygap/pkg/protocol"
)

// Limits of Load.
const (
	MaxLoadCount       = 1_000_000
	MaxLoadConcurrency = 10_000
)

// LoadOptions configures a load run: Count session requests, at most
// Concurrency at a time.
type LoadOptions struct {
	URL     string
	Game    string
	Version string
	// Count is the number of requests (1 to MaxLoadCount).
	Count int
	// Concurrency is how many run at once (default 1, at most
	// MaxLoadConcurrency and Count).
	Concurrency int
	// ClientIP is passed to every request (see Options.ClientIP). All
	// requests come from this host, so the gateway's per-IP rate limit and
	// pending cap must allow the run.
	ClientIP string
	// Header and HTTPClient are as in Options; nil HTTPClient shares one
	// client of Load's own across the run.
	Header     http.Header
	HTTPClient *http.Client
	// OnResult, when set, is called after each request (one call at a time).
	OnResult func(i int, res Result, err error)
}

// Summary is the outcome of a load run.
type Summary struct {
	// Requests is the number of requests started.
	Requests int
	// Seats is the number that got a seat.
	Seats int
	// Errors counts Error feedback by code (gateway or matchmaker).
	Errors map[int]int
	// TransportErrors counts failures to talk to the gateway.
	TransportErrors int
	// ProtocolErrors counts unparseable messages, bad seats and connections
	// closed without a seat.
	ProtocolErrors int
	// Canceled counts requests cut short by ctx.
	Canceled int
	// Latency is the time to seat of the successful requests.
	Latency Latency
	// SeatsPerSecond is Seats over Elapsed.
	SeatsPerSecond float64
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
}

// Latency holds percentiles (nearest rank) of a set of durations.
type Latency struct {
	P50, P90, P99, Max time.Duration
}

// MarshalJSON writes snake_case fields with durations in milliseconds;
// errors is keyed by code and {} when empty.
func (s Summary) MarshalJSON() ([]byte, error) {
	errs := s.Errors
	if errs == nil {
		errs = map[int]int{}
	}
	return json.Marshal(struct {
		Requests        int         `json:"requests"`
		Seats           int         `json:"seats"`
		Errors          map[int]int `json:"errors"`
		TransportErrors int         `json:"transport_errors"`
		ProtocolErrors  int         `json:"protocol_errors"`
		Canceled        int         `json:"canceled"`
		Latency         Latency     `json:"latency"`
		SeatsPerSecond  float64     `json:"seats_per_second"`
		ElapsedMS       float64     `json:"elapsed_ms"`
	}{s.Requests, s.Seats, errs, s.TransportErrors, s.ProtocolErrors, s.Canceled, s.Latency, s.SeatsPerSecond, ms(s.Elapsed)})
}

// MarshalJSON writes p50_ms, p90_ms, p99_ms and max_ms.
func (l Latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		P50 float64 `json:"p50_ms"`
		P90 float64 `json:"p90_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	}{ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max)})
}

// Load runs o.Count session requests, o.Concurrency at a time, and
// summarises them. It stops starting requests when ctx ends and then
// returns the summary so far with ctx's error.
func Load(ctx context.Context, o LoadOptions) (Summary, error) {
	sum := Summary{Errors: map[int]int{}}
	if o.Count < 1 || o.Count > MaxLoadCount {
		return sum, fmt.Errorf("load count %d: want 1 to %d", o.Count, MaxLoadCount)
	}
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.Concurrency < 1 || o.Concurrency > MaxLoadConcurrency {
		return sum, fmt.Errorf("load concurrency %d: want 1 to %d", o.Concurrency, MaxLoadConcurrency)
	}
	o.Concurrency = min(o.Concurrency, o.Count)
	hc := o.HTTPClient
	if hc == nil {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
		defer tr.CloseIdleConnections()
		hc = &http.Client{Transport: tr}
	}
	ro := Options{URL: o.URL, Game: o.Game, Version: o.Version, ClientIP: o.ClientIP, Header: o.Header, HTTPClient: hc}

	start := time.Now()
	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	for range o.Concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= o.Count || ctx.Err() != nil {
					return
				}
				res, err := Request(ctx, ro)
				mu.Lock()
				sum.Requests++
				switch {
				case err == nil:
					sum.Seats++
					latencies = append(latencies, res.Elapsed)
				case ctx.Err() != nil:
					sum.Canceled++
				default:
					var pe *protocol.Error
					var te *TransportError
					switch {
					case errors.As(err, &pe):
						sum.Errors[pe.Code]++
					case errors.As(err, &te):
						sum.TransportErrors++
					default:
						sum.ProtocolErrors++
					}
				}
				if o.OnResult != nil {
					o.OnResult(i, res, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sum.Elapsed = time.Since(start)
	sum.Latency = percentiles(latencies)
	if s := sum.Elapsed.Seconds(); s > 0 {
		sum.SeatsPerSecond = float64(sum.Seats) / s
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("load run stopped after %d of %d requests: %w", sum.Requests, o.Count, context.Cause(ctx))
	}
	return sum, nil
}

// percentiles computes nearest-rank percentiles.
func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	at := func(p int) time.Duration {
		i := (p*len(ds)+99)/100 - 1
		return ds[max(i, 0)]
	}
	return Latency{P50: at(50), P90: at(90), P99: at(99), Max: ds[len(ds)-1]}
}
