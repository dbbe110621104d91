package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/gateway/gatewaytest"
	"github.com/bevygap/bevygap/pkg/protocol"
)

// Finding 3: a matchmaker that stops answering mid-request (killed after
// its Acknowledged) costs the client three
// heartbeats, not the maximum request duration: 503 "matchmaker stopped
// answering", on the websocket and the chunked stream alike.
func TestMatchmakerStoppedAnswering(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MatchmakerSilence = 300 * time.Millisecond
		c.MaxRequestDuration = time.Hour
	})
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", gatewaytest.Hold(nil))
	got := e.request(t, `{"game":"g","version":"1"}`)
	want := "text \"Acknowledged\"\ntext {\"Error\":[503,\"matchmaker stopped answering\"]}\nclose 1013 Service Unavailable\n"
	if got != want {
		t.Errorf("websocket: got %q\nwant %q", got, want)
	}
	_, body := e.do(t, http.MethodPost, e.srv.URL()+"/matchmaker/request/g/1", nil, nil)
	if !strings.HasSuffix(body, `{"Error":[503,"matchmaker stopped answering"]}`+"\n") {
		t.Errorf("stream: got %q", body)
	}
	if m := e.metric(t, `bevygap_gateway_requests_total{outcome="matchmaker_silent"`); !strings.Contains(m, `route="ws"} 1`) {
		t.Errorf("metric: %q", m)
	}
}

// A matchmaker that keeps reporting progress is never cut off, however
// long it takes (within the maximum request duration).
func TestMatchmakerProgressKeepsRequest(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MatchmakerSilence = 300 * time.Millisecond })
	seat := gatewaytest.Success()
	gatewaytest.Respond(t, e.mm, e.names, "g", "1", func(ctx context.Context, _ protocol.MatchmakerRequest, reply func([]byte)) {
		reply(protocol.Acknowledged().Encode())
		for range 8 { // 800ms of progress, every 100ms
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			reply(protocol.Progress("Waiting").Encode())
		}
		for _, f := range seat[1:] {
			reply(f.Encode())
		}
	})
	got := e.request(t, `{"game":"g","version":"1"}`)
	if !strings.Contains(got, "SessionReady") || !strings.HasSuffix(got, "close 1000 Goodbye\n") {
		t.Errorf("got %q", got)
	}
}
