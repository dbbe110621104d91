package edgegapsim

import (
	"maps"
	"sync"
	"time"
)

// callStats counts requests per endpoint and status, and per endpoint and
// arrival second. It owns its lock.
type callStats struct {
	mu        sync.Mutex
	calls     map[string]map[int]int
	perSecond map[string]map[int64]int
	byStatus  map[string]map[int]map[int64]int // endpoint -> status -> second -> calls
}

func newCallStats() *callStats {
	return &callStats{
		calls:     make(map[string]map[int]int),
		perSecond: make(map[string]map[int64]int),
		byStatus:  make(map[string]map[int]map[int64]int),
	}
}

// Stats is a snapshot of the simulator's counters.
type Stats struct {
	// Calls counts requests per endpoint name and HTTP status.
	Calls map[string]map[int]int `json:"calls"`
	// PerSecond counts requests per endpoint name and arrival second (unix
	// seconds, the simulator's clock), for the last 10 minutes.
	PerSecond map[string]map[int64]int `json:"per_second"`
	// PerSecondStatus counts requests per endpoint name, HTTP status
	// (StatusDropped for a dropped connection) and arrival second, for the
	// last 10 minutes.
	PerSecondStatus    map[string]map[int]map[int64]int `json:"per_second_status"`
	LiveSessions       int                              `json:"live_sessions"`
	LiveDeployments    int                              `json:"live_deployments"`
	SessionsCreated    int                              `json:"sessions_created"`
	SessionsDeleted    int                              `json:"sessions_deleted"`
	DeploymentsCreated int                              `json:"deployments_created"`
	DeploymentsStopped int                              `json:"deployments_stopped"`
	WebhooksSent       int                              `json:"webhooks_sent"`
	WebhooksFailed     int                              `json:"webhooks_failed"`
}

// Count returns the number of requests to endpoint answered with status.
func (st Stats) Count(endpoint string, status int) int { return st.Calls[endpoint][status] }

// Total returns the number of requests to endpoint.
func (st Stats) Total(endpoint string) int {
	n := 0
	for _, c := range st.Calls[endpoint] {
		n += c
	}
	return n
}

// MaxPerSecond returns the largest number of requests to endpoint that
// arrived within one calendar second.
func (st Stats) MaxPerSecond(endpoint string) int {
	m := 0
	for _, c := range st.PerSecond[endpoint] {
		m = max(m, c)
	}
	return m
}

// Stats returns a snapshot of the counters.
func (s *Simulator) Stats() Stats {
	st := Stats{
		WebhooksSent:   int(s.webhooks.sent.Load()),
		WebhooksFailed: int(s.webhooks.failed.Load()),
	}
	st.Calls, st.PerSecond, st.PerSecondStatus = s.calls.snapshot()
	s.mu.Lock()
	defer s.mu.Unlock()
	st.LiveSessions = len(s.sessions)
	st.SessionsCreated = s.counts.sessionsCreated
	st.SessionsDeleted = s.counts.sessionsDeleted
	st.DeploymentsCreated = s.counts.deploymentsCreated
	st.DeploymentsStopped = s.counts.deploymentsStopped
	for _, d := range s.deployments {
		if !d.stopped {
			st.LiveDeployments++
		}
	}
	return st
}

func (c *callStats) snapshot() (map[string]map[int]int, map[string]map[int64]int, map[string]map[int]map[int64]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := make(map[string]map[int]int, len(c.calls))
	perSecond := make(map[string]map[int64]int, len(c.perSecond))
	byStatus := make(map[string]map[int]map[int64]int, len(c.byStatus))
	for k, v := range c.calls {
		calls[k] = maps.Clone(v)
	}
	for k, v := range c.perSecond {
		perSecond[k] = maps.Clone(v)
	}
	for k, v := range c.byStatus {
		byStatus[k] = make(map[int]map[int64]int, len(v))
		for st, secs := range v {
			byStatus[k][st] = maps.Clone(secs)
		}
	}
	return calls, perSecond, byStatus
}

func (c *callStats) record(endpoint string, status int, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.calls[endpoint]
	if m == nil {
		m = make(map[int]int)
		c.calls[endpoint] = m
	}
	m[status]++
	sec := at.Unix()
	ps := c.perSecond[endpoint]
	if ps == nil {
		ps = make(map[int64]int)
		c.perSecond[endpoint] = ps
	}
	ps[sec]++
	trimWindow(ps, sec)
	bs := c.byStatus[endpoint]
	if bs == nil {
		bs = make(map[int]map[int64]int)
		c.byStatus[endpoint] = bs
	}
	if bs[status] == nil {
		bs[status] = make(map[int64]int)
	}
	bs[status][sec]++
	trimWindow(bs[status], sec)
}

// trimWindow drops the seconds older than perSecondWindow before now.
func trimWindow(ps map[int64]int, now int64) {
	if len(ps) > perSecondWindow {
		for k := range ps {
			if k < now-perSecondWindow {
				delete(ps, k)
			}
		}
	}
}
