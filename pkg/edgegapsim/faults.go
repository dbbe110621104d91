package edgegapsim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// faultInjector decides which requests fail on purpose: the statuses queued
// with FailNext first, then the configured probabilities of Faults. It owns
// its lock and its random source.
type faultInjector struct {
	mu       sync.Mutex
	rng      *rand.Rand
	faults   Faults
	failNext map[string][]int
}

func newFaultInjector(f Faults, seed uint64) (*faultInjector, error) {
	f, err := checkFaults(f)
	if err != nil {
		return nil, err
	}
	return &faultInjector{
		rng:      rand.New(rand.NewPCG(seed^0xd1b54a32d192ed03, seed)),
		faults:   f,
		failNext: make(map[string][]int),
	}, nil
}

func checkFaults(f Faults) (Faults, error) {
	for _, p := range []float64{f.ErrorRate, f.RateLimitRate} {
		if math.IsNaN(p) || p < 0 || p > 1 {
			return Faults{}, fmt.Errorf("edgegapsim: fault probability %v out of range [0, 1]", p)
		}
	}
	if f.ErrorStatus == 0 {
		f.ErrorStatus = DefaultErrorStatus
	}
	if f.ErrorStatus < 500 || f.ErrorStatus > 599 {
		return Faults{}, fmt.Errorf("edgegapsim: fault error status %d is not a 5xx", f.ErrorStatus)
	}
	if f.RetryAfter <= 0 {
		f.RetryAfter = DefaultRetryAfter
	}
	if f.Latency < 0 {
		return Faults{}, errors.New("edgegapsim: fault latency is negative")
	}
	f.Endpoints = slices.Clone(f.Endpoints)
	return f, nil
}

// SetFaults replaces the injected faults.
func (s *Simulator) SetFaults(f Faults) error {
	f, err := checkFaults(f)
	if err != nil {
		return err
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.faults = f
	return nil
}

// FailNext makes the next len(statuses) requests to endpoint answer with
// these statuses, in order, before any other processing (a 429 carries
// Faults.RetryAfter). Statuses must be 4xx or 5xx.
func (s *Simulator) FailNext(endpoint string, statuses ...int) error {
	for _, st := range statuses {
		if st < 400 || st > 599 {
			return fmt.Errorf("edgegapsim: fail status %d is not a 4xx or 5xx", st)
		}
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.failNext[endpoint] = append(s.faults.failNext[endpoint], statuses...)
	return nil
}

// decide consumes FailNext or draws the configured fault probabilities.
func (fi *faultInjector) decide(endpoint string) (latency time.Duration, status int, retryAfter time.Duration) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := fi.faults
	applies := len(f.Endpoints) == 0 || slices.Contains(f.Endpoints, endpoint)
	if applies {
		latency = f.Latency
	}
	if q := fi.failNext[endpoint]; len(q) > 0 {
		status = q[0]
		if len(q) == 1 {
			delete(fi.failNext, endpoint)
		} else {
			fi.failNext[endpoint] = q[1:]
		}
		return latency, status, f.RetryAfter
	}
	if !applies || endpoint == EndpointUnknown {
		return latency, 0, 0
	}
	if f.RateLimitRate > 0 && fi.rng.Float64() < f.RateLimitRate {
		return latency, http.StatusTooManyRequests, f.RetryAfter
	}
	if f.ErrorRate > 0 && fi.rng.Float64() < f.ErrorRate {
		return latency, f.ErrorStatus, 0
	}
	return latency, 0, 0
}
