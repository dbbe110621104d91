package edgegapsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// DefaultDeploymentWebhookTimeout is how long a deployment webhook receiver
// has to answer, as Edgegap documents; one that does not answer in time
// gets no further webhooks for that deployment.
const DefaultDeploymentWebhookTimeout = 10 * time.Second

// SetDeploymentWebhookTimeout changes the deployment webhook timeout for
// deliveries started afterwards. d <= 0 restores
// DefaultDeploymentWebhookTimeout.
func (s *Simulator) SetDeploymentWebhookTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultDeploymentWebhookTimeout
	}
	s.webhooks.deploymentTimeout.Store(int64(d))
}

// deploymentWebhookLocked POSTs the deployment's /v1/status body to its
// webhook of kind, if it has one, after the deployment's previous webhook
// delivery ended. Nothing is sent once a receiver failed to answer in time.
func (s *Simulator) deploymentWebhookLocked(d *deployment, kind hookKind) {
	if d.v2 == nil || d.v2.webhooks[kind] == "" || s.closed {
		return
	}
	body, err := json.Marshal(s.statusJSONLocked(d))
	if err != nil {
		return
	}
	url, v2 := d.v2.webhooks[kind], d.v2
	prev, done := v2.lastHook, make(chan struct{})
	v2.lastHook = done
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		if prev != nil {
			select {
			case <-prev:
			case <-s.ctx.Done():
				s.webhooks.count(false)
				return
			}
		}
		if v2.hooksDead.Load() {
			s.webhooks.count(false)
			return
		}
		if timedOut := s.webhooks.deliverDeployment(s.ctx, url, d.id, kind, body); timedOut {
			v2.hooksDead.Store(true)
		}
	}()
}

// deliverDeployment POSTs one deployment webhook and reports whether the
// receiver failed to answer within the timeout.
func (w *webhookSender) deliverDeployment(ctx context.Context, url, requestID string, kind hookKind, body []byte) (timedOut bool) {
	select {
	case w.slots <- struct{}{}:
		defer func() { <-w.slots }()
	case <-ctx.Done():
		w.count(false)
		return false
	}
	timeout := time.Duration(w.deploymentTimeout.Load())
	if timeout <= 0 {
		timeout = DefaultDeploymentWebhookTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok := false
	defer func() { w.count(ok) }()
	req, err := http.NewRequestWithContext(hctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "edgegapsim")
	rsp, err := w.hc.Do(req)
	if err != nil {
		w.log.Debug("edgegapsim: deployment webhook failed", "request_id", requestID, "webhook", kind.String(), "err", err)
		return errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(rsp.Body, 64<<10))
	rsp.Body.Close()
	ok = rsp.StatusCode >= 200 && rsp.StatusCode <= 299
	w.log.Debug("edgegapsim: deployment webhook delivered", "request_id", requestID, "webhook", kind.String(), "status", rsp.StatusCode)
	return false
}
