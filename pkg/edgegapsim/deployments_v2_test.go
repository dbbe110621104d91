package edgegapsim_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

func v2Body(extra map[string]any) map[string]any {
	b := map[string]any{
		"application": edgegapsim.DefaultApp, "version": edgegapsim.DefaultVersion,
		"users": []any{map[string]any{"user_type": "ip_address", "user_data": map[string]any{"ip_address": "75.28.35.192"}}},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func TestV2CreateValidatesBody(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}})
	for want, body := range map[string]any{
		"application and version":   v2Body(map[string]any{"application": ""}),
		"users":                     v2Body(map[string]any{"users": []any{}}),
		"users[0]: user_type":       v2Body(map[string]any{"users": []any{map[string]any{"user_type": "city", "user_data": map[string]any{}}}}),
		"users[0]: user_data.ip":    v2Body(map[string]any{"users": []any{map[string]any{"user_type": "ip_address", "user_data": map[string]any{"ip_address": "x"}}}}),
		"users[0]: user_data: want": v2Body(map[string]any{"users": []any{map[string]any{"user_type": "geo_coordinates", "user_data": map[string]any{"latitude": 100, "longitude": 0}}}}),
		"environment_variables[0]":  v2Body(map[string]any{"environment_variables": []any{map[string]any{"key": "A", "value": "b"}}}),
		"tags[0]":                   v2Body(map[string]any{"tags": []string{strings.Repeat("t", 41)}}),
		"webhook_on_ready.url":      v2Body(map[string]any{"webhook_on_ready": map[string]string{"url": "ftp://x"}}),
		"resources":                 v2Body(map[string]any{"resources": map[string]int{"cpu_units": 1, "memory_mib": 1}}),
		"version \"nope\"":          v2Body(map[string]any{"version": "nope"}),
		"invalid JSON":              "{",
	} {
		r := c.do("POST", "/v2/deployments", body)
		if r.status != http.StatusBadRequest || !strings.Contains(errMessage(t, r), want) {
			t.Errorf("%s: %d %s", want, r.status, r.body)
		}
	}
	c.mustStatus(c.do("POST", "/v2/deployments", v2Body(nil), "token wrong"), http.StatusUnauthorized)
	if n := srv.Stats().DeploymentsCreated; n != 0 {
		t.Errorf("%d deployments created from bad requests", n)
	}
	var created struct {
		RequestID string `json:"request_id"`
	}
	c.mustStatus(c.do("POST", "/v2/deployments", v2Body(map[string]any{"tags": []string{"a", "a", "b"}})), http.StatusAccepted).decode(t, &created)
	if !requestIDRe.MatchString(created.RequestID) {
		t.Fatalf("request id %q", created.RequestID)
	}
	var st struct {
		Tags []string `json:"tags"`
	}
	c.mustStatus(c.do("GET", "/v1/status/"+created.RequestID, nil), 200).decode(t, &st)
	if strings.Join(st.Tags, ",") != "a,b" {
		t.Errorf("tags %v", st.Tags)
	}
	// A v2 deployment takes no sessions.
	id, dep := c.createSession(nil)
	if id == "" || dep == created.RequestID {
		t.Errorf("a session was placed on the v2 deployment %s", dep)
	}
	r := c.do("POST", "/v1/session", map[string]any{"app_name": edgegapsim.DefaultApp, "version_name": edgegapsim.DefaultVersion, "deployment_request_id": created.RequestID})
	if r.status == http.StatusOK {
		t.Errorf("a session joined the v2 deployment: %s", r.body)
	}
}

func TestVersionWithoutSessionConfig(t *testing.T) {
	_, c := start(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}, Apps: []edgegapsim.App{{
		Name: "game", Versions: []edgegapsim.Version{{Name: "sessions"}, {Name: "deploy", NoSessionConfig: true}},
	}}})
	with := c.mustStatus(c.do("GET", "/v1/app/game/version/sessions", nil), 200).json(t)
	without := c.mustStatus(c.do("GET", "/v1/app/game/version/deploy", nil), 200).json(t)
	if with["session_config"] == nil || without["session_config"] != nil {
		t.Errorf("session_config: with %v, without %v", with["session_config"], without["session_config"])
	}
	r := c.do("POST", "/v1/session", map[string]any{"app_name": "game", "version_name": "deploy"})
	if r.status != http.StatusBadRequest || !strings.Contains(errMessage(t, r), "no session_config") {
		t.Errorf("session on a version without session_config: %d %s", r.status, r.body)
	}
	c.mustStatus(c.do("POST", "/v1/session", map[string]any{"app_name": "game", "version_name": "sessions"}), 200)
	c.mustStatus(c.do("POST", "/v2/deployments", v2Body(map[string]any{"application": "game", "version": "deploy"})), http.StatusAccepted)
	c.mustStatus(c.do("POST", "/v2/deployments", v2Body(map[string]any{"application": "game", "version": "sessions"})), http.StatusAccepted)
}

func TestDeploymentClassRateLimitsOnByDefault(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{})
	limits := edgegapsim.DefaultRateLimits()
	if limits.Deploy != 40 || limits.DeploymentStatus != 20 || limits.List != 10 {
		t.Fatalf("default limits %+v", limits)
	}
	var id struct {
		RequestID string `json:"request_id"`
	}
	c.mustStatus(c.do("POST", "/v2/deployments", v2Body(nil)), http.StatusAccepted).decode(t, &id)
	for range 30 {
		r := c.do("GET", "/v1/deployments", nil)
		if r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	for range 60 {
		c.do("GET", "/v1/status/"+id.RequestID, nil)
	}
	st := srv.Stats()
	for ep, limit := range map[string]int{edgegapsim.EndpointDeploymentsGet: 10, edgegapsim.EndpointDeploymentStatusGet: 20} {
		ok := st.Count(ep, 200)
		if st.Count(ep, 429) == 0 || ok < limit {
			t.Errorf("%s: %d ok, %d limited; want at least the burst of %d ok and some 429", ep, ok, st.Count(ep, 429), limit)
		}
		// Stats count each status per second too.
		n := 0
		for _, c := range st.PerSecondStatus[ep][429] {
			n += c
		}
		if n != st.Count(ep, 429) {
			t.Errorf("%s: per-second 429 counts sum to %d, want %d", ep, n, st.Count(ep, 429))
		}
	}
	var js struct {
		PerSecondStatus map[string]map[string]map[string]int `json:"per_second_status"`
	}
	c.mustStatus(c.do("GET", "/_sim/stats", nil), 200).decode(t, &js)
	if len(js.PerSecondStatus[edgegapsim.EndpointDeploymentsGet][strconv.Itoa(http.StatusTooManyRequests)]) == 0 {
		t.Errorf("/_sim/stats has no per-second 429 counts: %v", js.PerSecondStatus)
	}
}

func TestEndpointFaultsChangeWhileRunning(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}})
	for _, bad := range []edgegapsim.EndpointFaults{{ErrorRate: 2}, {GhostRate: -1}, {ErrorStatus: 404}, {GhostStatus: 200}, {Latency: -time.Second}} {
		if err := srv.SetEndpointFaults(edgegapsim.EndpointDeploymentCreate, bad); err == nil {
			t.Errorf("SetEndpointFaults accepted %+v", bad)
		}
	}
	if err := srv.SetEndpointFaults(edgegapsim.EndpointDeploymentsGet, edgegapsim.EndpointFaults{ErrorRate: 1, ErrorStatus: 502}); err != nil {
		t.Fatal(err)
	}
	c.mustStatus(c.do("GET", "/v1/deployments", nil), 502)
	c.mustStatus(c.do("GET", "/v1/sessions", nil), 200) // other endpoints unaffected
	if err := srv.SetEndpointFaults(edgegapsim.EndpointDeploymentsGet, edgegapsim.EndpointFaults{}); err != nil {
		t.Fatal(err)
	}
	c.mustStatus(c.do("GET", "/v1/deployments", nil), 200)
	if f := srv.EndpointFaultsOf(edgegapsim.EndpointDeploymentsGet); f != (edgegapsim.EndpointFaults{}) {
		t.Errorf("cleared faults are %+v", f)
	}

	if err := srv.SetEndpointFaults(edgegapsim.EndpointDeploymentCreate, edgegapsim.EndpointFaults{CapacityRate: 1}); err != nil {
		t.Fatal(err)
	}
	r := c.mustStatus(c.do("POST", "/v2/deployments", v2Body(nil)), http.StatusUnprocessableEntity).json(t)
	if id, _ := r["request_id"].(string); !requestIDRe.MatchString(id) || r["message"] != "Couldn't Allocate Server" {
		t.Errorf("422 body %v", r)
	}
	if err := srv.SetEndpointFaults(edgegapsim.EndpointSessionPost, edgegapsim.EndpointFaults{GhostRate: 1, GhostStatus: 504}); err != nil {
		t.Fatal(err)
	}
	c.mustStatus(c.do("POST", "/v1/session", map[string]any{"app_name": edgegapsim.DefaultApp}), 504)
	st := srv.Stats()
	if st.SessionsCreated != 1 || st.DeploymentsCreated != 1 {
		t.Errorf("ghost session: %d sessions, %d deployments created; want 1 and 1 (the 422 creates nothing)", st.SessionsCreated, st.DeploymentsCreated)
	}

	// An hour of latency: the caller gives up first, and the simulator,
	// still waiting, answers the abandoned request 503.
	if err := srv.SetEndpointFaults(edgegapsim.EndpointApplicationsGet, edgegapsim.EndpointFaults{Latency: time.Hour}); err != nil {
		t.Fatal(err)
	}
	impatient := newAPI(t, srv.URL(), key)
	impatient.hc.Timeout = 100 * time.Millisecond
	req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL()+"/v1/apps", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", key)
	if rsp, err := impatient.hc.Do(req); err == nil {
		rsp.Body.Close()
		t.Fatalf("answered %s despite an hour of latency", rsp.Status)
	}
	eventually(t, "the abandoned request to be counted", func() bool {
		return srv.Stats().Count(edgegapsim.EndpointApplicationsGet, http.StatusServiceUnavailable) == 1
	})
}

func TestDeploymentListQueryErrors(t *testing.T) {
	_, c := start(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}})
	r := c.do("GET", `/v1/deployments?query=`+`%7B%22filters%22%3A%5B%7B%22field%22%3A%22colour%22%2C%22operator%22%3A%22eq%22%2C%22value%22%3A%22red%22%7D%5D%7D`, nil)
	if r.status != http.StatusBadRequest || !strings.Contains(errMessage(t, r), `"colour"`) {
		t.Errorf("unknown filter field: %d %s", r.status, r.body)
	}
	c.mustStatus(c.do("POST", "/v1/deployments/bulk-stop", map[string]any{"filters": []any{}}), http.StatusBadRequest)
	c.mustStatus(c.do("POST", "/v1/deployments/bulk-stop", map[string]any{"filters": []any{map[string]any{"field": "session_id", "filter_type": "any", "values": []string{"x"}}}}), http.StatusBadRequest)
	c.mustStatus(c.do("GET", "/v1/deployments/feedc0ffee00/tags", nil), http.StatusNotFound)
	c.mustStatus(c.do("DELETE", "/v1/deployments/feedc0ffee00/tags/x", nil), http.StatusNotFound)
	c.mustStatus(c.do("POST", "/v1/deployments/feedc0ffee00/tags", map[string]string{"name": ""}), http.StatusBadRequest)
}
