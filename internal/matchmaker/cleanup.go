package matchmaker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/state"
)

// recentDeleteWindow bounds how old a disconnect seen at startup may be for
// its session to be queued again (a restart must not miss disconnects that
// happened while no matchmaker ran; much older ones were handled already).
const recentDeleteWindow = 10 * time.Minute

// deleteCallTimeout bounds one Edgegap delete call (with its own retries);
// shutdown waits for a call in hand, so it stays short.
const deleteCallTimeout = 10 * time.Second

// checkpointActive is the checkpoint key of the active-connections watcher.
const checkpointActive = "active_connections"

// checkpointEvery is how often the watcher records how far it got.
const checkpointEvery = time.Second

// watchActive follows active_connections: a Put means a client connected
// (sessions: the session is claimed; deployments: the seat is connected); a
// Delete or Purge means it left (sessions: the session is queued for
// deletion; deployments: the seat is released).
//
// It records how far it got (a checkpoint shared by the replicas, only ever
// raised), so a restart replays only the disconnects nobody handled: not
// every disconnect of the last recentDeleteWindow, whose deletes were
// queued long ago and, past the queue's de-duplication window, would be
// queued again.
func (m *Matchmaker) watchActive(ctx context.Context) error {
	from, err := m.checkpoints.Get(ctx, checkpointActive)
	if err != nil {
		m.log.Warn("reading the watcher checkpoint failed; replaying the recent disconnects", "err", err)
	}
	w, err := m.cfg.Store.Active().WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", m.cfg.Store.Active().Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	var handled, saved uint64
	save := func(ctx context.Context) {
		if handled > saved {
			if err := m.checkpoints.Advance(ctx, checkpointActive, handled); err != nil {
				m.log.Warn("recording the watcher checkpoint failed", "err", err)
				return
			}
			saved = handled
		}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		save(sctx)
	}()
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			save(ctx)
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("active connections watch closed")
			}
			if e == nil {
				initial = false
				continue
			}
			m.activeEvent(ctx, e, initial, from)
			handled = e.Revision()
		}
	}
}

// activeEvent handles one active_connections entry; during the initial
// replay, a disconnect at or below the checkpoint from, or older than
// recentDeleteWindow, was handled already.
func (m *Matchmaker) activeEvent(ctx context.Context, e jetstream.KeyValueEntry, initial bool, from uint64) {
	id := e.Key()
	switch e.Operation() {
	case jetstream.KeyValuePut:
		m.alloc.connected(ctx, id, string(e.Value()), initial)
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		if initial && e.Revision() <= from {
			m.leak.replaySkipped.Inc()
			return
		}
		if initial && m.cfg.Now().Sub(e.Created()) > recentDeleteWindow {
			return
		}
		m.alloc.disconnected(ctx, id)
	}
}

// purgeMarkers purges the old delete markers of active_connections and
// unclaimed_sessions at start and every PurgeInterval, one replica at a
// time (a lease; the purge itself is idempotent too).
func (m *Matchmaker) purgeMarkers(ctx context.Context) error {
	tick := time.NewTicker(m.cfg.PurgeInterval)
	defer tick.Stop()
	key := state.LeaseKey("purge-markers", m.cfg.Store.Names.Namespace)
	for {
		if _, _, err := m.leases.Acquire(ctx, key, m.holder, m.cfg.PurgeInterval*9/10); err == nil {
			if err := m.cfg.Store.PurgeDeleteMarkers(ctx, m.markerKeep); err != nil && ctx.Err() == nil {
				m.log.Warn("purging old delete markers failed; the next round retries", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// reap queues sessions that stayed in unclaimed_sessions longer than
// UnclaimedTTL for deletion. It keeps the bucket in memory through a KV
// watch instead of scanning every key on a timer. Every replica reaps;
// that is safe because queueing is idempotent (message de-duplication on
// the session id) and removing the key is too.
func (m *Matchmaker) reap(ctx context.Context) error {
	w, err := m.cfg.Store.Unclaimed().WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", m.cfg.Store.Unclaimed().Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	since := map[string]time.Time{}
	tick := time.NewTicker(min(m.cfg.UnclaimedTTL/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("unclaimed sessions watch closed")
			}
			if e == nil {
				continue
			}
			if e.Operation() == jetstream.KeyValuePut {
				since[e.Key()] = e.Created()
			} else {
				delete(since, e.Key())
			}
		case <-tick.C:
			now := m.cfg.Now()
			for sid, t := range since {
				if now.Sub(t) < m.cfg.UnclaimedTTL {
					continue
				}
				if err := m.cfg.Store.EnqueueDelete(ctx, sid); err != nil {
					m.log.Error("queueing unclaimed session failed; will retry", "session_id", sid, "err", err)
					continue
				}
				if err := m.cfg.Store.DeleteUnclaimed(ctx, sid); err != nil {
					m.log.Warn("removing reaped session from unclaimed failed", "session_id", sid, "err", err)
				}
				delete(since, sid) // the watch delivers the delete too
				m.metrics.reaped.Inc()
				m.log.Info("unclaimed session reaped", "session_id", sid, "age", now.Sub(t).Round(time.Second))
			}
		}
	}
}

// DeadLetter is what the dead-letter bucket holds for a session whose
// deletion failed MaxDeliver times.
type DeadLetter struct {
	SessionID string `json:"session_id,omitempty"`
	// DeploymentID and Kind ("deployment") are set for a deployment stop.
	DeploymentID string    `json:"deployment_id,omitempty"`
	Kind         string    `json:"kind,omitempty"`
	Attempts     uint64    `json:"attempts"`
	LastError    string    `json:"last_error"`
	Time         time.Time `json:"time"`
}

// deleteWorker consumes the delete queue (durable consumer api-deleter-1,
// explicit ack): 2xx, 404 and 410 ack; 429, 5xx and transport errors retry
// with exponential backoff; after MaxDeliver attempts the session goes to
// the dead-letter bucket; other 4xx terminate with an error log.
func (m *Matchmaker) deleteWorker(ctx context.Context) error {
	// DeleteWorkers jobs at a time, each acknowledged well within AckWait
	// (its timer restarts when a worker takes it): a slow Edgegap must not
	// make buffered jobs expire, be redelivered and burn attempts.
	cons, err := m.cfg.Store.DeleteConsumer(ctx, m.cfg.DeleteMaxDeliver, 2*deleteCallTimeout)
	if err != nil {
		return err
	}
	return m.consume(ctx, cons, jobSession, func(ctx context.Context, sid string) error {
		err := m.cfg.Edgegap.DeleteSession(ctx, sid)
		if edgegap.IsNotFound(err) || edgegap.IsGone(err) {
			return errAlreadyGone
		}
		return err
	})
}

// Job kinds of consume: what a work queue's message names.
const (
	jobSession    = "session"
	jobDeployment = "deployment"
)

// consume runs a cleanup work queue (session deletes, deployment stops):
// call's nil or errAlreadyGone ack; retryable Edgegap errors retry with
// backoff until MaxDeliver, then go to the dead letters; other errors
// terminate the job with an error log.
func (m *Matchmaker) consume(ctx context.Context, cons jetstream.Consumer, kind string, call func(context.Context, string) error) error {
	dead, err := m.cfg.Store.DeadLetters(ctx)
	if err != nil {
		return err
	}
	workers := m.cfg.DeleteWorkers
	opts := []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(workers)}
	if m.deletePullExpiry > 0 {
		opts = append(opts, jetstream.PullExpiry(m.deletePullExpiry))
	}
	it, err := cons.Messages(opts...)
	if err != nil {
		return fmt.Errorf("%s queue: %w", kind, err)
	}
	stopped := make(chan struct{})
	go func() { // owner: this function; ends when Stop unblocks Next
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		it.Stop()
	}()
	defer close(stopped)
	// Up to workers jobs run at once; each is bounded by deleteCallTimeout,
	// and consume returns only once every job in hand has finished.
	slots := make(chan struct{}, workers)
	var jobs sync.WaitGroup
	defer jobs.Wait()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, jetstream.ErrNoHeartbeat) {
				// A warning, not an end: the server's idle heartbeats were
				// late (a congested network or a stalled server). The
				// iterator has already re-armed its pull.
				m.log.Warn(kind+" queue: consumer heartbeat missed; pulling again", "err", err)
				continue
			}
			// Closed or failed (e.g. the consumer was deleted): supervise
			// restarts the worker, which recreates the consumer.
			return fmt.Errorf("%s queue: %w", kind, err)
		}
		if ctx.Err() != nil {
			_ = msg.NakWithDelay(time.Second) // stopping: leave it for the next worker
			return nil
		}
		slots <- struct{}{}
		jobs.Go(func() { // owner: consume, which waits for jobs
			defer func() { <-slots }()
			m.handleJob(ctx, msg, dead, kind, call)
		})
	}
}

func (m *Matchmaker) handleJob(ctx context.Context, msg jetstream.Msg, dead jetstream.KeyValue, kind string, call func(context.Context, string) error) {
	id := string(msg.Data())
	meta, _ := msg.Metadata()
	attempt := uint64(1)
	if meta != nil {
		attempt = meta.NumDelivered
	}
	log := m.log.With(kind+"_id", id, "attempt", attempt)
	outcome := m.metrics.deletes
	if kind == jobDeployment {
		outcome = m.metrics.stopJobs
	}
	// It may have waited for a free worker: restart its ack timer.
	_ = msg.InProgress()
	// A job in hand finishes even if shutdown starts meanwhile: it is
	// bounded by its own timeout, and its outcome is recorded truthfully.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteCallTimeout)
	err := call(callCtx, id)
	cancel()
	switch {
	case err == nil:
		outcome.WithLabelValues("deleted").Inc()
		log.Info(kind + " deleted")
		_ = msg.Ack()
	case errors.Is(err, errAlreadyGone):
		outcome.WithLabelValues("gone").Inc()
		log.Debug(kind + " already gone")
		_ = msg.Ack()
	case edgegap.IsRetryable(err) || edgegap.StatusCode(err) == 0:
		if attempt >= uint64(m.cfg.DeleteMaxDeliver) {
			ctx := context.WithoutCancel(ctx) // record it even while shutting down
			outcome.WithLabelValues("dead_letter").Inc()
			m.metrics.deadLetters.Inc()
			dl := DeadLetter{SessionID: id, Attempts: attempt, LastError: err.Error(), Time: m.cfg.Now().UTC()}
			key := id
			if kind == jobDeployment {
				dl = DeadLetter{DeploymentID: id, Kind: kind, Attempts: attempt, LastError: err.Error(), Time: m.cfg.Now().UTC()}
				key = "deployment." + id
			}
			b, _ := json.Marshal(dl)
			if _, perr := dead.Put(ctx, key, b); perr != nil {
				log.Error("recording dead letter failed", "err", perr)
			}
			log.Error("giving up deleting "+kind+": moved to dead letters; it may still be running and billed", "err", err, "bucket", dead.Bucket())
			_ = msg.Term()
			return
		}
		d := m.deleteBackoff(attempt)
		outcome.WithLabelValues("retry").Inc()
		log.Warn("deleting "+kind+" failed, will retry", "err", err, "retry_in", d)
		_ = msg.NakWithDelay(d)
	default:
		outcome.WithLabelValues("rejected").Inc()
		log.Error("edgegap refused to delete "+kind+"; not retrying", "err", err)
		_ = msg.Term()
	}
}

func (m *Matchmaker) deleteBackoff(attempt uint64) time.Duration {
	d := m.cfg.DeleteBackoffMin
	for i := uint64(1); i < attempt && d < m.cfg.DeleteBackoffMax; i++ {
		d *= 2
	}
	d = min(d, m.cfg.DeleteBackoffMax)
	return d/2 + rand.N(d/2+1) // jitter in [d/2, d]
}
