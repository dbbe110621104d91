package edgegapsim

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bevygap/bevygap/pkg/edgegap"
)

// rateLimiter applies Edgegap's per-class rate limits; the classes are the
// client's (edgegap.ClassOf), so that the two always agree. It owns its
// lock; a class without a limiter lets every request pass.
type rateLimiter struct {
	mu       sync.Mutex
	limiters map[edgegap.Class]*rate.Limiter
}

// SetRateLimits replaces the per-class rate limits (0 disables a class).
func (s *Simulator) SetRateLimits(l RateLimits) error {
	return s.limits.set(l)
}

func (rl *rateLimiter) set(l RateLimits) error {
	limiters := map[edgegap.Class]*rate.Limiter{}
	for c, r := range map[edgegap.Class]float64{
		edgegap.ClassCreate:           l.Create,
		edgegap.ClassStatus:           l.Status,
		edgegap.ClassDeploy:           l.Deploy,
		edgegap.ClassDeploymentStatus: l.DeploymentStatus,
		edgegap.ClassList:             l.List,
	} {
		if math.IsNaN(r) || r < 0 {
			return fmt.Errorf("edgegapsim: rate limit %v for %s is negative", r, c)
		}
		if r == 0 || math.IsInf(r, 1) {
			continue
		}
		limiters[c] = rate.NewLimiter(rate.Limit(r), max(1, int(math.Ceil(r))))
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.limiters = limiters
	return nil
}

// allow applies the class rate limit; when exceeded it returns how long
// until a request would be allowed.
func (rl *rateLimiter) allow(endpoint string) (time.Duration, bool) {
	rl.mu.Lock()
	lim := rl.limiters[edgegap.ClassOf(endpoint)]
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
