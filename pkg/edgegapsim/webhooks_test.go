package edgegapsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

type hookSink struct {
	srv    *httptest.Server
	bodies chan map[string]any
}

func newHookSink(t *testing.T) *hookSink {
	h := &hookSink{bodies: make(chan map[string]any, 16)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if r.Method != http.MethodPost || r.URL.Path != "/hook/session" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.bodies <- m
		_, _ = w.Write([]byte("OK"))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookSink) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m := <-h.bodies:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook received")
		return nil
	}
}

func TestWebhookOnReady(t *testing.T) {
	sink := newHookSink(t)
	hook := sink.srv.URL + "/hook/session"
	srv, c := start(t, edgegapsim.Config{DeployDelay: 20 * time.Millisecond})
	id, rid := c.createSession(map[string]any{"webhook_url": hook})
	m := sink.next(t)
	want := map[string]any{
		"session_id": id, "status": "Ready", "ready": true, "kind": "Seat", "user_count": float64(1),
		"linked": true, "webhook_url": hook, "deployment_request_id": rid,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("webhook %s = %v, want %v (body %v)", k, m[k], v, m)
		}
	}
	// A session joining the ready deployment is notified at once.
	id2, _ := c.createSession(map[string]any{"webhook_url": hook})
	if m := sink.next(t); m["session_id"] != id2 || m["ready"] != true {
		t.Errorf("second webhook %v", m)
	}
	eventually(t, "webhook counters", func() bool { return srv.Stats().WebhooksSent == 2 })
}

func TestWebhookOnFailedDeployment(t *testing.T) {
	sink := newHookSink(t)
	hook := sink.srv.URL + "/hook/session"
	_, c := start(t, edgegapsim.Config{OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		return edgegapsim.DeployHandle{}, errors.New("image pull failed")
	}})
	id, _ := c.createSession(map[string]any{"webhook_url": hook})
	m := sink.next(t)
	if m["session_id"] != id || m["status"] != "Error" || m["ready"] != false {
		t.Errorf("failure webhook %v", m)
	}
	s := c.getSession(id)
	if s.Status != "Error" || s.Ready || !strings.Contains(s.Error, "image pull failed") {
		t.Errorf("failed session %+v", s)
	}
	// Failed deployments take no new sessions.
	if _, rid2 := c.createSession(nil); rid2 == s.Deployment.RequestID {
		t.Error("new session joined a failed deployment")
	}
}

func TestWebhookToDeadEndpointCounts(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL + "/hook/session"
	dead.Close()
	srv, c := start(t, edgegapsim.Config{WebhookTimeout: time.Second})
	c.createSession(map[string]any{"webhook_url": url})
	eventually(t, "failed webhook counted", func() bool { return srv.Stats().WebhooksFailed == 1 })
}
