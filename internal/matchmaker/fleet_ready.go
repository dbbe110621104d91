package matchmaker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// awaitReady waits until deployment id is ready and still holds seatID.
// Readiness arrives, in order of preference, from the ready webhook, the
// game server's published context, or a status call within the budget
// (one per deployment and interval in this process, whoever waits).
func (f *fleet) awaitReady(ctx context.Context, id, seatID string, progress func(protocol.Feedback)) (*state.Deployment, error) {
	wake, unsubscribe := f.view.subscribe(id)
	defer unsubscribe()
	start := f.m.cfg.Now()
	deadline := time.NewTimer(f.m.cfg.ReadyTimeout)
	defer deadline.Stop()
	heartbeat := time.NewTicker(f.m.cfg.Heartbeat)
	defer heartbeat.Stop()
	interval := f.m.cfg.PollFirst
	if f.cfg.WebhookBase != "" {
		// The ready webhook (or the game server's context) is the way;
		// deployments take tens of seconds: a status call is only the
		// fallback for a webhook lost on the way.
		interval = max(interval, f.m.cfg.ReadyTimeout/4)
	}
	poll := time.NewTimer(interval)
	defer poll.Stop()
	last := ""
	report := func(status string) {
		progress(protocol.Progress(fmt.Sprintf("%s (%s)", status, f.m.cfg.Now().Sub(start).Round(time.Second))))
		last = status
		heartbeat.Reset(f.m.cfg.Heartbeat)
	}
	for {
		d, ok := f.view.get(id)
		if !ok {
			return nil, &errReplace{fmt.Errorf("deployment %s vanished from the ledger", id)}
		}
		if _, held := d.Seats[seatID]; !held {
			return nil, &errReplace{fmt.Errorf("seat %s was released", seatID)}
		}
		switch {
		case d.State == state.DeploymentReady || (d.State == state.DeploymentDraining && !d.Ready.IsZero()):
			if last != "Ready" {
				report("Ready")
			}
			return d, nil
		case d.State == state.DeploymentGone || d.State == state.DeploymentStopping:
			return nil, &errReplace{fmt.Errorf("deployment %s failed: %s", firstNonEmpty(d.RequestID, d.ID), firstNonEmpty(d.Reason, string(d.State)))}
		case d.State == state.DeploymentRequested && d.Reason != "":
			return nil, &errReplace{fmt.Errorf("deployment %s: %s", d.ID, d.Reason)}
		}
		if s := stateProgress(d.State); s != last {
			report(s)
		}
		select {
		case <-ctx.Done():
			return nil, interrupted(ctx)
		case <-deadline.C:
			f.retire(context.WithoutCancel(ctx), id, "not ready after ready-timeout", true)
			return nil, &errReplace{protocol.Errorf(protocol.CodeTimeout, "session still not ready, timed out.")}
		case <-heartbeat.C:
			report(firstNonEmpty(last, "Waiting"))
		case <-wake:
		case <-poll.C:
			interval = min(interval*2, f.m.cfg.PollMax)
			poll.Reset(interval)
			f.pollStatus(ctx, d, interval)
		}
	}
}

func stateProgress(s state.DeploymentState) string {
	switch s {
	case state.DeploymentRequested:
		return "Requested"
	case state.DeploymentDeploying:
		return "Deploying"
	}
	return string(s)
}

// pollStatus asks Edgegap for a deploying deployment's status, at most once
// per interval per deployment in this process.
func (f *fleet) pollStatus(ctx context.Context, d *state.Deployment, interval time.Duration) {
	if d.RequestID == "" {
		return
	}
	now := f.m.cfg.Now()
	f.pollMu.Lock()
	if t, ok := f.lastPoll[d.ID]; ok && now.Sub(t) < interval/2 {
		f.pollMu.Unlock()
		return
	}
	f.lastPoll[d.ID] = now
	if len(f.lastPoll) > 10000 {
		clear(f.lastPoll)
	}
	f.pollMu.Unlock()
	st, err := f.m.cfg.Edgegap.DeploymentStatus(ctx, d.RequestID)
	switch {
	case err == nil:
		f.observe(ctx, d.ID, st)
	case edgegap.IsNotFound(err) || edgegap.IsGone(err):
		f.gone(ctx, d.ID, "edgegap no longer knows it")
	case ctx.Err() == nil:
		f.m.log.Warn("deployment status check failed", "request_id", d.RequestID, "err", err)
	}
}

// observe applies a /v1/status body (from a webhook or a status call).
func (f *fleet) observe(ctx context.Context, id string, st *edgegap.DeploymentStatus) {
	switch {
	case st.Ready():
		f.markReady(ctx, id, st)
	case st.Error || st.CurrentStatus == edgegap.StatusError:
		f.retire(ctx, id, "edgegap error: "+firstNonEmpty(st.ErrorDetail, st.CurrentStatus), true)
	}
}

// markReady records a ready deployment's address (idempotent: every replica
// may do it on the same webhook).
func (f *fleet) markReady(ctx context.Context, id string, st *edgegap.DeploymentStatus) {
	adopted := false
	nd, err := f.ledger.Update(ctx, id, func(d *state.Deployment) error {
		if d.State != state.DeploymentRequested && d.State != state.DeploymentDeploying {
			return state.ErrNoChange
		}
		d.State, d.Reason = state.DeploymentReady, ""
		// A record without a request id whose create answer was lost: the
		// ready webhook (by its intent tag) adopts it.
		adopted = d.RequestID == ""
		if d.RequestID == "" {
			d.RequestID, d.Accepted = st.RequestID, f.m.cfg.Now().UTC()
		}
		d.PublicIP, d.FQDN, d.Ready = st.PublicIP, st.FQDN, f.m.cfg.Now().UTC()
		d.Ports = map[string]state.FleetPort{}
		for name, p := range st.Ports {
			d.Ports[name] = state.FleetPort{External: p.External, Internal: p.Internal, Protocol: p.Protocol}
		}
		if st.Location != nil {
			d.Location = firstNonEmpty(st.Location.City+", "+st.Location.Country, st.Location.Country)
		}
		return nil
	})
	if err != nil {
		f.m.log.Warn("recording a ready deployment failed", "deployment", id, "err", err)
		return
	}
	f.view.apply(nd)
	if adopted && nd.RequestID == st.RequestID {
		f.m.metrics.fleetAdopted.Inc()
		f.m.log.Info("deployment adopted", "deployment", id, "request_id", st.RequestID)
	}
	if nd.State == state.DeploymentReady && !nd.Ready.IsZero() {
		f.m.log.Debug("deployment ready", "deployment", id, "request_id", nd.RequestID, "ip", nd.PublicIP)
	}
}

// retire stops a deployment that will not serve (error, timeout, too old
// and empty): the record goes to stopping, a stop is queued, and players
// waiting on it are placed again.
func (f *fleet) retire(ctx context.Context, id, reason string, failed bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nd, err := f.ledger.Update(ctx, id, func(d *state.Deployment) error {
		if d.State == state.DeploymentStopping || d.State == state.DeploymentGone {
			return state.ErrNoChange
		}
		d.State, d.Reason = state.DeploymentStopping, reason
		return nil
	})
	if err != nil {
		f.m.log.Warn("retiring a deployment failed; the janitor will retry", "deployment", id, "err", err)
		return
	}
	f.view.apply(nd)
	if nd.RequestID != "" {
		if err := f.stops.Enqueue(ctx, nd.RequestID); err != nil {
			f.m.log.Error("queueing a deployment stop failed; the janitor will retry", "request_id", nd.RequestID, "err", err)
			return
		}
	}
	label := "empty"
	if failed {
		label = "failed"
	}
	if reason == reasonTooOld {
		label = "too_old"
	}
	f.m.metrics.fleetStops.WithLabelValues(label).Inc()
	f.m.log.Info("deployment retired", "deployment", id, "request_id", nd.RequestID, "reason", reason)
}

// gone records that Edgegap no longer runs a deployment; its seats go.
func (f *fleet) gone(ctx context.Context, id, reason string) {
	nd, err := f.ledger.Update(ctx, id, func(d *state.Deployment) error {
		if d.State == state.DeploymentGone {
			return state.ErrNoChange
		}
		d.State, d.Reason, d.Seats = state.DeploymentGone, reason, nil
		return nil
	})
	if err != nil {
		if !errors.Is(err, state.ErrNotFound) {
			f.m.log.Warn("recording a gone deployment failed", "deployment", id, "err", err)
		}
		return
	}
	f.view.apply(nd)
}

// webhookKind is what a deployment webhook subject reports.
type webhookKind int

const (
	hookReady webhookKind = iota
	hookError
	hookTerminated
)

// subscribe listens to the deployment webhooks and the game servers'
// published contexts. Every replica handles every message: the ledger
// updates are idempotent, and each replica wakes its own waiting players.
func (f *fleet) subscribe() ([]*nats.Subscription, error) {
	names := f.m.cfg.Store.Names
	var subs []*nats.Subscription
	for name, kind := range map[string]webhookKind{HookDeploymentReady: hookReady, HookDeploymentError: hookError, HookDeploymentTerminated: hookTerminated} {
		s, err := f.m.cfg.NC.Subscribe(names.Webhook(name), func(msg *nats.Msg) { f.onWebhook(kind, msg.Data) })
		if err != nil {
			return subs, fmt.Errorf("subscribe to %s: %w", names.Webhook(name), err)
		}
		subs = append(subs, s)
	}
	s, err := f.m.cfg.NC.Subscribe(names.GameServerContexts(), f.onContext)
	if err != nil {
		return subs, fmt.Errorf("subscribe to %s: %w", names.GameServerContexts(), err)
	}
	return append(subs, s), nil
}

// webhookTimeout bounds the ledger work of one webhook.
const webhookTimeout = 5 * time.Second

func (f *fleet) onWebhook(kind webhookKind, body []byte) {
	st, err := edgegap.ParseDeploymentWebhook(body)
	if err != nil {
		f.m.log.Warn("ignoring malformed deployment webhook", "bytes", len(body), "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), webhookTimeout)
	defer cancel()
	d, ok := f.view.byRequestID(st.RequestID, intentOf(st.Tags))
	if !ok && st.RequestID != "" {
		// The view may not have the record yet (the webhook overtook the
		// watch): ask the ledger before giving the webhook up.
		if rec, err := f.ledger.FindByRequestID(ctx, st.RequestID); err == nil {
			d, ok = rec, true
		}
	}
	if !ok {
		f.m.log.Debug("deployment webhook for no record of this matchmaker", "request_id", st.RequestID)
		return
	}
	switch kind {
	case hookReady:
		f.markReady(ctx, d.ID, st)
	case hookError:
		f.retire(ctx, d.ID, "edgegap error webhook: "+firstNonEmpty(st.ErrorDetail, st.CurrentStatus, "error"), true)
	case hookTerminated:
		f.gone(ctx, d.ID, "terminated")
	}
}

// onContext: a game server published its deployment context at boot (the
// Rust plugin does); it is running, so its deployment is ready.
func (f *fleet) onContext(msg *nats.Msg) {
	if len(msg.Data) > 64<<10 {
		return
	}
	var c edgegap.DeploymentContext
	if err := json.Unmarshal(msg.Data, &c); err != nil || c.RequestID == "" || c.PublicIP == "" {
		return
	}
	d, ok := f.view.byRequestID(c.RequestID, "")
	if !ok {
		return
	}
	st := &edgegap.DeploymentStatus{RequestID: c.RequestID, PublicIP: c.PublicIP, FQDN: c.FQDN, Running: true, Ports: c.Ports}
	ctx, cancel := context.WithTimeout(context.Background(), webhookTimeout)
	defer cancel()
	f.markReady(ctx, d.ID, st)
}
