package edgegapsim_test

import (
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

func TestSessionLifecycle(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{})
	id, rid := c.createSession(nil)
	if !sessionIDRe.MatchString(id) {
		t.Errorf("session id %q does not look like <12 hex>-S", id)
	}
	if !requestIDRe.MatchString(rid) {
		t.Errorf("request id %q is not 12 hex digits", rid)
	}
	s := c.getSession(id)
	if s.SessionID != id || s.Status != "Ready" || !s.Ready || !s.Linked || s.Kind != "Seat" || s.UserCount != 1 || s.Elapsed == nil || s.AppVersion == 0 {
		t.Errorf("unexpected session %+v", s)
	}
	if _, err := time.Parse(edgegapsim.TimeLayout, s.CreateTime); err != nil {
		t.Errorf("create_time %q: %v", s.CreateTime, err)
	}
	d := s.Deployment
	if d == nil {
		t.Fatal("no deployment on a ready session")
	}
	if d.RequestID != rid || d.PublicIP != "127.0.0.1" || !d.Ready || d.FQDN != rid+".localhost" || d.Sockets != edgegapsim.DefaultSockets || d.Usage != 1 {
		t.Errorf("unexpected deployment %+v", *d)
	}
	p, ok := d.Ports[edgegapsim.DefaultPortName]
	if !ok || p.Internal != edgegapsim.DefaultInternalPort || p.External < edgegapsim.DefaultFirstExternalPort || p.Protocol != "UDP" || p.Name != edgegapsim.DefaultPortName {
		t.Errorf("unexpected ports %+v", d.Ports)
	}
	if d.Location.City != "Montreal" || d.Location.Country != "Canada" {
		t.Errorf("unexpected location %+v", d.Location)
	}

	del := c.mustStatus(c.do("DELETE", "/v1/session/"+id, nil), 200).json(t)
	if del["session_id"] != id || del["message"] == "" {
		t.Errorf("unexpected delete body %v", del)
	}
	errMessage(t, c.mustStatus(c.do("GET", "/v1/session/"+id, nil), 404))
	errMessage(t, c.mustStatus(c.do("DELETE", "/v1/session/"+id, nil), 410))
	errMessage(t, c.mustStatus(c.do("DELETE", "/v1/session/000000000000-S", nil), 404))

	st := srv.Stats()
	if st.SessionsCreated != 1 || st.SessionsDeleted != 1 || st.LiveSessions != 0 || st.DeploymentsCreated != 1 {
		t.Errorf("unexpected stats %+v", st)
	}
	if st.Count(edgegapsim.EndpointSessionDelete, 410) != 1 || st.Count(edgegapsim.EndpointSessionDelete, 404) != 1 || st.Count(edgegapsim.EndpointGetSession, 200) != 1 {
		t.Errorf("unexpected calls %v", st.Calls)
	}
}

func TestSeatFilling(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{Sockets: 2})
	_, d1 := c.createSession(nil)
	_, d2 := c.createSession(nil)
	_, d3 := c.createSession(nil)
	if d1 != d2 {
		t.Errorf("second session went to %s, want the free seat on %s", d2, d1)
	}
	if d3 == d1 {
		t.Errorf("third session went to the full deployment %s", d1)
	}
	_, d4 := c.createSession(nil)
	if d4 != d3 {
		t.Errorf("fourth session went to %s, want the free seat on %s", d4, d3)
	}
	// Two players need two seats: a fresh deployment.
	_, d5 := c.createSession(map[string]any{"ip_list": []string{"1.2.3.4", "5.6.7.8"}})
	if d5 == d1 || d5 == d3 {
		t.Errorf("two-player session went to a full deployment")
	}
	// More players than sockets cannot be seated.
	r := c.mustStatus(c.do("POST", "/v1/session", map[string]any{"app_name": edgegapsim.DefaultApp, "ip_list": []string{"1.1.1.1", "2.2.2.2", "3.3.3.3"}}), 400)
	errMessage(t, r)
	if st := srv.Stats(); st.LiveDeployments != 3 || st.LiveSessions != 5 {
		t.Errorf("live deployments %d sessions %d, want 3 and 5", st.LiveDeployments, st.LiveSessions)
	}
}

func TestSeatFillingPrefersDeployingOverNew(t *testing.T) {
	_, c := start(t, edgegapsim.Config{Sockets: 3, DeployDelay: time.Hour})
	id1, d1 := c.createSession(nil)
	_, d2 := c.createSession(nil)
	if d1 != d2 {
		t.Errorf("second session got a new deployment %s instead of a seat on deploying %s", d2, d1)
	}
	s := c.getSession(id1)
	if s.Ready || s.Status != "Waiting" || !s.Linked || s.Deployment == nil || s.Deployment.Ready || s.Deployment.Status != "Status.DEPLOYING" {
		t.Errorf("session on a deploying deployment: %+v", s)
	}
}

func TestCreateSessionBadRequests(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{})
	if err := srv.AddVersion(edgegapsim.DefaultApp, edgegapsim.Version{Name: "old", Inactive: true}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]any{
		"unknown app":      map[string]any{"app_name": "nope"},
		"unknown version":  map[string]any{"app_name": edgegapsim.DefaultApp, "version_name": "9"},
		"inactive version": map[string]any{"app_name": edgegapsim.DefaultApp, "version_name": "old"},
		"no app name":      map[string]any{"ip_list": []string{"1.2.3.4"}},
		"bad ip":           map[string]any{"app_name": edgegapsim.DefaultApp, "ip_list": []string{"1.2.3"}},
		"bad webhook":      map[string]any{"app_name": edgegapsim.DefaultApp, "webhook_url": "not a url"},
		"bad json":         `{"app_name": `,
		"trailing data":    `{"app_name": "x"} {}`,
		"wrong type":       `{"app_name": 3}`,
	}
	for name, body := range cases {
		r := c.do("POST", "/v1/session", body)
		if r.status != 400 {
			t.Errorf("%s: status %d, want 400 (%s)", name, r.status, r.body)
			continue
		}
		t.Logf("%s: %s", name, errMessage(t, r))
	}
	// Deactivating the only version through the API also refuses sessions.
	c.mustStatus(c.do("PATCH", "/v1/app/"+edgegapsim.DefaultApp+"/version/1", map[string]any{"is_active": false}), 200)
	c.mustStatus(c.do("POST", "/v1/session", map[string]any{"app_name": edgegapsim.DefaultApp, "version_name": "1"}), 400)
	c.mustStatus(c.do("POST", "/v1/session", map[string]any{"app_name": edgegapsim.DefaultApp}), 400)
	if n := srv.Stats().SessionsCreated; n != 0 {
		t.Errorf("%d sessions created from bad requests", n)
	}
}

func TestBulkStop(t *testing.T) {
	_, c := start(t, edgegapsim.Config{Sockets: 2})
	s1, d1 := c.createSession(nil)
	s2, _ := c.createSession(nil)
	s3, _ := c.createSession(nil)
	s4, _ := c.createSession(nil)
	var r struct {
		Processable []struct {
			SessionID string `json:"session_id"`
		} `json:"processable"`
	}
	body := map[string]any{"filters": []map[string]any{{"field": "session_id", "values": []string{s1, s3, "nope-S"}, "filter_type": "any"}}}
	c.mustStatus(c.do("POST", "/v1/sessions/bulk-stop", body), 200).decode(t, &r)
	if len(r.Processable) != 2 || r.Processable[0].SessionID != s1 || r.Processable[1].SessionID != s3 {
		t.Errorf("processable %+v", r.Processable)
	}
	c.mustStatus(c.do("GET", "/v1/session/"+s1, nil), 404)
	c.mustStatus(c.do("GET", "/v1/session/"+s2, nil), 200)
	body = map[string]any{"filters": []map[string]any{{"field": "request_id", "values": []string{d1}, "filter_type": "any"}}}
	c.mustStatus(c.do("POST", "/v1/sessions/bulk-stop", body), 200).decode(t, &r)
	if len(r.Processable) != 1 || r.Processable[0].SessionID != s2 {
		t.Errorf("by request id: %+v", r.Processable)
	}
	c.mustStatus(c.do("GET", "/v1/session/"+s4, nil), 200)
	for _, bad := range []any{
		map[string]any{"filters": []map[string]any{}},
		map[string]any{"filters": []map[string]any{{"field": "color", "values": []string{"x"}, "filter_type": "any"}}},
		map[string]any{"filters": []map[string]any{{"field": "session_id", "values": []string{"x"}, "filter_type": "some"}}},
	} {
		errMessage(t, c.mustStatus(c.do("POST", "/v1/sessions/bulk-stop", bad), 400))
	}
}
