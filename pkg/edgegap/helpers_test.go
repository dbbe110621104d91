package edgegap_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// newClient returns a client for the simulator with fast backoff and no
// rate budget; mod adjusts the config.
func newClient(t *testing.T, srv *edgegapsim.Server, mod func(*edgegap.Config)) *edgegap.Client {
	t.Helper()
	unlimited, err := edgegap.NewBudget(edgegap.BudgetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := edgegap.Config{
		BaseURL:    srv.URL(),
		APIKey:     "bevygap-dev",
		MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
		Budget:     unlimited,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := edgegap.New(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// calls records OnCall invocations.
type calls struct {
	mu   sync.Mutex
	list []call
}

type call struct {
	endpoint string
	status   int
	at       time.Time
}

func (c *calls) hook(endpoint string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, call{endpoint, status, time.Now()})
}

func (c *calls) statuses(endpoint string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for _, cl := range c.list {
		if cl.endpoint == endpoint {
			out = append(out, cl.status)
		}
	}
	return out
}

func (c *calls) times(endpoint string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, cl := range c.list {
		if cl.endpoint == endpoint {
			out = append(out, cl.at)
		}
	}
	return out
}

// headerRecorder is an http.RoundTripper that remembers request headers by
// path and sends the request over the real network.
type headerRecorder struct {
	mu      sync.Mutex
	headers map[string]http.Header
	next    http.RoundTripper
}

func (h *headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	if h.headers == nil {
		h.headers = make(map[string]http.Header)
	}
	h.headers[req.URL.Path] = req.Header.Clone()
	h.mu.Unlock()
	return h.next.RoundTrip(req)
}

func (h *headerRecorder) get(path string) http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.headers[path]
}
