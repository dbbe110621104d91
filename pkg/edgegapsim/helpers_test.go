package edgegapsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

const key = "token bevygap-dev"

// start runs a simulator on loopback for the test.
func start(t *testing.T, cfg edgegapsim.Config) (*edgegapsim.Server, *api) {
	t.Helper()
	srv, err := edgegapsim.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	return srv, newAPI(t, srv.URL(), key)
}

// api is a tiny raw HTTP client for the simulator.
type api struct {
	t    *testing.T
	base string
	key  string
	hc   *http.Client
}

func newAPI(t *testing.T, base, key string) *api {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &api{t: t, base: base, key: key, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request; body may be nil, a string (sent raw) or a value
// (sent as JSON). hdr overrides the Authorization header when non-nil.
func (a *api) do(method, path string, body any, auth ...string) reply {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = a.base + path
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, url, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if len(auth) > 0 {
		if auth[0] != "" {
			req.Header.Set("Authorization", auth[0])
		}
	} else {
		req.Header.Set("Authorization", a.key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rsp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(rsp.Body, 1<<20))
	if err != nil {
		a.t.Fatal(err)
	}
	return reply{status: rsp.StatusCode, header: rsp.Header, body: b}
}

func (a *api) mustStatus(r reply, want int) reply {
	a.t.Helper()
	if r.status != want {
		a.t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
	return r
}

// createSession posts a session for the default app and returns its id and
// deployment request id.
func (a *api) createSession(extra map[string]any) (id, requestID string) {
	a.t.Helper()
	body := map[string]any{"app_name": edgegapsim.DefaultApp, "version_name": edgegapsim.DefaultVersion, "ip_list": []string{"81.128.157.100"}}
	for k, v := range extra {
		body[k] = v
	}
	m := a.mustStatus(a.do("POST", "/v1/session", body), 200).json(a.t)
	id, _ = m["session_id"].(string)
	requestID, _ = m["deployment_request_id"].(string)
	if id == "" {
		a.t.Fatalf("no session_id in %v", m)
	}
	return id, requestID
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func errMessage(t *testing.T, r reply) string {
	t.Helper()
	var e struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Message == "" {
		t.Fatalf("error body %q has no message", r.body)
	}
	return e.Message
}

var (
	sessionIDRe = regexp.MustCompile(`^[0-9a-f]{12}-S$`)
	requestIDRe = regexp.MustCompile(`^[0-9a-f]{12}$`)
)

type sessionGet struct {
	SessionID  string `json:"session_id"`
	Status     string `json:"status"`
	Ready      bool   `json:"ready"`
	Linked     bool   `json:"linked"`
	Kind       string `json:"kind"`
	UserCount  int    `json:"user_count"`
	AppVersion int    `json:"app_version"`
	CreateTime string `json:"create_time"`
	Elapsed    *int   `json:"elapsed"`
	Error      string `json:"error"`
	Deployment *struct {
		RequestID string `json:"request_id"`
		PublicIP  string `json:"public_ip"`
		FQDN      string `json:"fqdn"`
		Ready     bool   `json:"ready"`
		Status    string `json:"status"`
		Sockets   int    `json:"sockets"`
		Usage     int    `json:"sockets_usage"`
		Ports     map[string]struct {
			Name     string `json:"name"`
			Internal int    `json:"internal"`
			External int    `json:"external"`
			Protocol string `json:"protocol"`
		} `json:"ports"`
		Location struct {
			City    string `json:"city"`
			Country string `json:"country"`
		} `json:"location"`
	} `json:"deployment"`
}

func (a *api) getSession(id string) sessionGet {
	a.t.Helper()
	var s sessionGet
	a.mustStatus(a.do("GET", "/v1/session/"+id, nil), 200).decode(a.t, &s)
	return s
}
