package edgegapsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// webhookSender POSTs session webhooks, at most webhookConcurrent at a
// time, and counts the deliveries that succeeded and failed.
type webhookSender struct {
	log     *slog.Logger
	hc      *http.Client
	ownHC   bool
	slots   chan struct{}
	timeout time.Duration
	sent    atomic.Int64
	failed  atomic.Int64
	// deploymentTimeout bounds deployment webhook POSTs (nanoseconds).
	deploymentTimeout atomic.Int64
}

func newWebhookSender(cfg Config, log *slog.Logger) *webhookSender {
	w := &webhookSender{
		log:     log,
		hc:      cfg.WebhookClient,
		slots:   make(chan struct{}, webhookConcurrent),
		timeout: cfg.WebhookTimeout,
	}
	w.deploymentTimeout.Store(int64(DefaultDeploymentWebhookTimeout))
	if w.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		w.hc = &http.Client{Transport: tr}
		w.ownHC = true
	}
	return w
}

// close releases the idle connections of the sender's own client.
func (w *webhookSender) close() {
	if w.ownHC {
		w.hc.CloseIdleConnections()
	}
}

// notifyLocked POSTs a session's webhook once, when it turned ready or its
// deployment failed.
func (s *Simulator) notifyLocked(sess *session) {
	if sess.webhookURL == "" || sess.notified || s.closed {
		return
	}
	sess.notified = true
	body, err := json.Marshal(sessionContext(sess))
	if err != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.webhooks.deliver(s.ctx, sess.webhookURL, sess.id, body)
	}()
}

// deliver POSTs body to url; ctx ends with the simulator.
func (w *webhookSender) deliver(ctx context.Context, url, sessionID string, body []byte) {
	select {
	case w.slots <- struct{}{}:
		defer func() { <-w.slots }()
	case <-ctx.Done():
		w.count(false)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	ok := false
	defer func() { w.count(ok) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		w.log.Debug("edgegapsim: webhook request", "session_id", sessionID, "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "edgegapsim")
	rsp, err := w.hc.Do(req)
	if err != nil {
		w.log.Debug("edgegapsim: webhook failed", "session_id", sessionID, "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(rsp.Body, 64<<10))
	rsp.Body.Close()
	ok = rsp.StatusCode >= 200 && rsp.StatusCode <= 299
	w.log.Debug("edgegapsim: webhook delivered", "session_id", sessionID, "status", rsp.StatusCode)
}

func (w *webhookSender) count(ok bool) {
	if ok {
		w.sent.Add(1)
	} else {
		w.failed.Add(1)
	}
}

func validWebhookURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
