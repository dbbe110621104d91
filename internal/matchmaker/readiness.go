package matchmaker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/protocol"
)

// waiters wakes the request waiting for a session when its webhook arrives.
// Webhooks that arrive before the waiter registers are remembered briefly.
type waiters struct {
	mu     sync.Mutex
	byID   map[string]chan struct{}
	early  map[string]time.Time
	maxAge time.Duration
}

func newWaiters() *waiters {
	return &waiters{byID: map[string]chan struct{}{}, early: map[string]time.Time{}, maxAge: 2 * time.Minute}
}

func (w *waiters) register(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.byID[id] = ch
	if _, ok := w.early[id]; ok {
		delete(w.early, id)
		ch <- struct{}{}
	}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.byID[id] == ch {
			delete(w.byID, id)
		}
	}
}

const maxEarly = 10000

func (w *waiters) notify(id string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.byID[id]; ok {
		select {
		case ch <- struct{}{}:
		default:
		}
		return
	}
	// Bounded memory: when full, forget webhooks older than maxAge (the scan
	// runs only then, not on every webhook); beyond maxEarly, drop the new one
	// (its request falls back to polling).
	if len(w.early) >= maxEarly {
		for k, t := range w.early {
			if now.Sub(t) > w.maxAge {
				delete(w.early, k)
			}
		}
	}
	if len(w.early) < maxEarly {
		w.early[id] = now
	}
}

// onWebhook handles a session webhook relayed by the webhook sink.
func (m *Matchmaker) onWebhook(msg *nats.Msg) {
	if len(msg.Data) > 64<<10 {
		m.log.Warn("ignoring oversized session webhook", "bytes", len(msg.Data))
		return
	}
	s, err := edgegap.ParseWebhook(msg.Data)
	if err != nil {
		m.log.Warn("ignoring malformed session webhook", "bytes", len(msg.Data), "err", err)
		return
	}
	m.log.Debug("session webhook", "session_id", s.ID, "status", s.Status, "ready", s.Ready)
	m.waiters.notify(s.ID, m.cfg.Now())
}

// awaitReady waits until the session is ready. It GETs the session when a
// webhook says something happened, and otherwise on a backoff schedule; all
// GETs of the process share the Edgegap client's status budget.
func (m *Matchmaker) awaitReady(ctx context.Context, sid string, progress func(protocol.Feedback)) (*edgegap.Session, error) {
	wake, unregister := m.waiters.register(sid)
	defer unregister()
	deadline := time.NewTimer(m.cfg.ReadyTimeout)
	defer deadline.Stop()
	w := &readyWait{m: m, ctx: ctx, sid: sid, progress: progress, start: m.cfg.Now()}
	w.heartbeat = time.NewTicker(m.cfg.Heartbeat)
	defer w.heartbeat.Stop()
	w.lastRefresh = w.start // Seat wrote the entry just before
	interval := m.cfg.PollFirst
	poll := time.NewTimer(interval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, interrupted(ctx)
		case <-deadline.C:
			return nil, protocol.Errorf(protocol.CodeTimeout, "session still not ready, timed out.")
		case <-w.heartbeat.C:
			w.report(firstNonEmpty(w.last, "Waiting"))
			continue
		case <-wake:
		case <-poll.C:
			interval = min(interval*2, m.cfg.PollMax)
			poll.Reset(interval)
		}
		s, err := w.check()
		if err != nil || s != nil {
			return s, err
		}
	}
}

// readyWait is the state of one awaitReady: the last status reported to
// the client and when the unclaimed entry was last refreshed.
type readyWait struct {
	m           *Matchmaker
	ctx         context.Context
	sid         string
	progress    func(protocol.Feedback)
	start       time.Time
	heartbeat   *time.Ticker
	last        string
	lastRefresh time.Time
}

// report sends a progress frame for status and restarts the heartbeat.
func (w *readyWait) report(status string) {
	m := w.m
	w.progress(protocol.Progress(fmt.Sprintf("%s (%s)", status, m.cfg.Now().Sub(w.start).Round(time.Second))))
	w.last = status
	w.heartbeat.Reset(m.cfg.Heartbeat)
	// Keep the reaper's clock running: a player still waiting must never
	// see the session deleted under them (the Rust rewrote the entry on
	// every poll for the same reason). At most every third of the TTL,
	// and never for long: a slow NATS must not stall the wait.
	if now := m.cfg.Now(); now.Sub(w.lastRefresh) >= m.cfg.UnclaimedTTL/3 {
		w.lastRefresh = now
		rctx, cancel := context.WithTimeout(w.ctx, time.Second)
		if err := m.cfg.Store.PutUnclaimed(rctx, w.sid); err != nil && w.ctx.Err() == nil {
			m.log.Warn("refreshing unclaimed session failed", "session_id", w.sid, "err", err)
		}
		cancel()
	}
}

// check GETs the session once: the session when ready, an error when it
// will never be, (nil, nil) to keep waiting.
func (w *readyWait) check() (*edgegap.Session, error) {
	ctx, sid := w.ctx, w.sid
	s, err := w.m.cfg.Edgegap.GetSession(ctx, sid)
	if err != nil {
		if ctx.Err() != nil {
			return nil, interrupted(ctx)
		}
		if edgegap.IsNotFound(err) || edgegap.IsGone(err) {
			return nil, protocol.Errorf(protocol.CodeUnavailable, "session %s disappeared before it was ready", sid)
		}
		w.m.log.Warn("session status check failed", "session_id", sid, "err", err)
		return nil, nil // transient: keep waiting until the deadline
	}
	if s.Status != w.last {
		w.report(s.Status) // one report per observed state, the ready one included (as Rust)
	}
	if s.Ready {
		return s, nil
	}
	if s.Error != "" || s.Status == "Error" || s.Status == "Unprocessable" {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "edgegap could not place session %s: %s", sid, firstNonEmpty(s.Error, s.Status))
	}
	return nil, nil
}

func firstNonEmpty(a ...string) string {
	for _, s := range a {
		if s != "" {
			return s
		}
	}
	return ""
}
