package edgegapsim

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

type rateClass int

const (
	classNone rateClass = iota
	classCreate
	classStatus
)

func classOf(endpoint string) rateClass {
	switch endpoint {
	case EndpointSessionPost:
		return classCreate
	case EndpointGetSession, EndpointDeploymentStatusGet, EndpointContextGet:
		return classStatus
	}
	return classNone
}

// rateLimiter applies Edgegap's per-class rate limits (session creation;
// status calls). It owns its lock; a nil limiter lets every request pass.
type rateLimiter struct {
	mu     sync.Mutex
	create *rate.Limiter
	status *rate.Limiter
}

// SetRateLimits replaces the per-class rate limits (0 disables a class).
func (s *Simulator) SetRateLimits(l RateLimits) error {
	return s.limits.set(l)
}

func (rl *rateLimiter) set(l RateLimits) error {
	mk := func(r float64) (*rate.Limiter, error) {
		if math.IsNaN(r) || r < 0 {
			return nil, fmt.Errorf("edgegapsim: rate limit %v is negative", r)
		}
		if r == 0 || math.IsInf(r, 1) {
			return nil, nil
		}
		return rate.NewLimiter(rate.Limit(r), max(1, int(math.Ceil(r)))), nil
	}
	c, err := mk(l.Create)
	if err != nil {
		return err
	}
	st, err := mk(l.Status)
	if err != nil {
		return err
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.create, rl.status = c, st
	return nil
}

// allow applies the class rate limit; when exceeded it returns how long
// until a request would be allowed.
func (rl *rateLimiter) allow(endpoint string) (time.Duration, bool) {
	rl.mu.Lock()
	var lim *rate.Limiter
	switch classOf(endpoint) {
	case classCreate:
		lim = rl.create
	case classStatus:
		lim = rl.status
	}
	rl.mu.Unlock()
	if lim == nil {
		return 0, true
	}
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

func formatRetryAfter(d time.Duration) string {
	if d >= time.Second || d <= 0 {
		return strconv.Itoa(int(math.Ceil(max(d, time.Second).Seconds())))
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
