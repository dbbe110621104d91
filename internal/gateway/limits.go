package gateway

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rejection is why the limiter turned a request away.
type rejection struct {
	code   int    // HTTP status / Error feedback code
	reason string // metrics label
	msg    string // text for the client
}

var (
	rejectTotal = &rejection{code: 503, reason: "pending_total", msg: "too many pending requests, try again later"}
	rejectIP    = &rejection{code: 429, reason: "pending_ip", msg: "too many pending requests from your address"}
	rejectRate  = &rejection{code: 429, reason: "rate_limited", msg: "too many requests from your address, try again in a minute"}
)

// limiter holds the per-IP token buckets and pending-request counts. Its map
// is bounded: idle entries (no pending request, bucket full again) are
// evicted when it reaches max entries.
type limiter struct {
	mu       sync.Mutex
	perIP    map[netip.Addr]*ipState
	total    int
	rate     rate.Limit // 0: no rate limit
	burst    int
	maxIP    int // 0: no cap
	maxTotal int // 0: no cap
	maxKeys  int
	now      func() time.Time
}

type ipState struct {
	bucket  *rate.Limiter // nil without a rate limit
	pending int
}

func newLimiter(c Config) *limiter {
	l := &limiter{
		perIP:   make(map[netip.Addr]*ipState),
		burst:   c.RateBurst,
		maxKeys: c.MaxTrackedIPs,
		now:     time.Now,
	}
	if c.RatePerMinute > 0 {
		l.rate = rate.Limit(c.RatePerMinute / 60)
	}
	if c.MaxPendingPerIP > 0 {
		l.maxIP = c.MaxPendingPerIP
	}
	if c.MaxPendingTotal > 0 {
		l.maxTotal = c.MaxPendingTotal
	}
	return l
}

// limitKey is the address limits are counted against: the address itself
// for IPv4, its /64 for IPv6 (one customer usually owns a whole /64).
func limitKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// acquire takes a pending slot and a rate token for ip. On success it
// returns a release func to call exactly once when the request ends.
func (l *limiter) acquire(ip netip.Addr) (release func(), rej *rejection) {
	key := limitKey(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return nil, rejectTotal
	}
	st := l.perIP[key]
	if st == nil {
		if len(l.perIP) >= l.maxKeys {
			l.evict(now)
		}
		st = &ipState{}
		if l.rate > 0 {
			st.bucket = rate.NewLimiter(l.rate, l.burst)
		}
		l.perIP[key] = st
	}
	if l.maxIP > 0 && st.pending >= l.maxIP {
		return nil, rejectIP
	}
	if st.bucket != nil && !st.bucket.AllowN(now, 1) {
		return nil, rejectRate
	}
	st.pending++
	l.total++
	var once sync.Once
	return func() { once.Do(func() { l.release(key) }) }, nil
}

func (l *limiter) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if st := l.perIP[key]; st != nil {
		st.pending--
		if st.pending <= 0 && l.idle(st, l.now()) {
			delete(l.perIP, key)
		}
	}
}

// idle reports whether forgetting st changes nothing: no pending request and
// a full bucket.
func (l *limiter) idle(st *ipState, now time.Time) bool {
	return st.pending <= 0 && (st.bucket == nil || st.bucket.TokensAt(now) >= float64(l.burst))
}

// evict makes room in the map: first every idle entry, then, if all are
// busy refilling, arbitrary entries without a pending request (forgetting a
// bucket only lets that address start with a full one again).
func (l *limiter) evict(now time.Time) {
	for k, st := range l.perIP {
		if l.idle(st, now) {
			delete(l.perIP, k)
		}
	}
	target := l.maxKeys - l.maxKeys/8 - 1
	for k, st := range l.perIP {
		if len(l.perIP) <= target {
			return
		}
		if st.pending <= 0 {
			delete(l.perIP, k)
		}
	}
}

// tracked is the number of addresses in memory (tests, metrics).
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.perIP)
}

// pending is the number of requests in flight.
func (l *limiter) pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
