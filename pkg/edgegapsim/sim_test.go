package edgegapsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

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

func TestDeployDelay(t *testing.T) {
	// Polling faster than Edgegap allows: no rate limits.
	_, c := start(t, edgegapsim.Config{DeployDelay: 50 * time.Millisecond, RateLimits: &edgegapsim.RateLimits{}})
	id, _ := c.createSession(nil)
	if s := c.getSession(id); s.Ready || s.Status != "Waiting" || !s.Linked {
		t.Errorf("fresh session: ready=%v status=%q linked=%v, want not ready, Waiting, linked", s.Ready, s.Status, s.Linked)
	}
	eventually(t, "session ready", func() bool { return c.getSession(id).Ready })
	s := c.getSession(id)
	if s.Status != "Ready" || s.Deployment == nil || !s.Deployment.Ready || s.Deployment.Status != "Status.READY" {
		t.Errorf("ready session: %+v", s)
	}
}

func TestEmptyTTLStopsDeployment(t *testing.T) {
	var deployed, stopped atomic.Int32
	srv, c := start(t, edgegapsim.Config{
		EmptyTTL: 30 * time.Millisecond,
		OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
			deployed.Add(1)
			return edgegapsim.DeployHandle{Stop: func() { stopped.Add(1) }}, nil
		},
	})
	id, rid := c.createSession(nil)
	c.mustStatus(c.do("DELETE", "/v1/session/"+id, nil), 200)
	eventually(t, "deployment stopped", func() bool { return srv.Stats().LiveDeployments == 0 })
	eventually(t, "stop hook", func() bool { return stopped.Load() == 1 })
	var st struct {
		CurrentStatus string `json:"current_status"`
		Running       bool   `json:"running"`
		RemovalTime   string `json:"removal_time"`
	}
	c.mustStatus(c.do("GET", "/v1/status/"+rid, nil), 200).decode(t, &st)
	if st.CurrentStatus != "Status.TERMINATED" || st.Running || st.RemovalTime == "" {
		t.Errorf("status after TTL: %+v", st)
	}
	errMessage(t, c.mustStatus(c.do("DELETE", "/v1/stop/"+rid, nil), 410))
	if deployed.Load() != 1 || srv.Stats().DeploymentsStopped != 1 {
		t.Errorf("deployed %d stopped %d", deployed.Load(), srv.Stats().DeploymentsStopped)
	}
}

func TestEmptyDeploymentIsReusedWithinTTL(t *testing.T) {
	_, c := start(t, edgegapsim.Config{EmptyTTL: time.Hour})
	id, d1 := c.createSession(nil)
	c.mustStatus(c.do("DELETE", "/v1/session/"+id, nil), 200)
	_, d2 := c.createSession(nil)
	if d1 != d2 {
		t.Errorf("new session got deployment %s, want the empty but running %s", d2, d1)
	}
}

func TestPagination(t *testing.T) {
	_, c := start(t, edgegapsim.Config{Sockets: 10})
	var ids []string
	for range 5 {
		id, _ := c.createSession(nil)
		ids = append(ids, id)
	}
	type page struct {
		Data []struct {
			SessionID string `json:"session_id"`
			Status    string `json:"status"`
			Ready     bool   `json:"ready"`
			Linked    bool   `json:"linked"`
			Kind      string `json:"kind"`
			UserCount int    `json:"user_count"`
			RequestID string `json:"deployment_request_id"`
		} `json:"data"`
		TotalCount int `json:"total_count"`
		Pagination struct {
			Number    int  `json:"number"`
			Next      *int `json:"next_page_number"`
			Previous  *int `json:"previous_page_number"`
			Paginator struct {
				NumPages int `json:"num_pages"`
			} `json:"paginator"`
			HasNext     bool `json:"has_next"`
			HasPrevious bool `json:"has_previous"`
		} `json:"pagination"`
	}
	var got []string
	for n := 1; n <= 4; n++ {
		var p page
		c.mustStatus(c.do("GET", fmt.Sprintf("/v1/sessions?page=%d&limit=2", n), nil), 200).decode(t, &p)
		if p.TotalCount != 5 || p.Pagination.Number != n || p.Pagination.Paginator.NumPages != 3 {
			t.Errorf("page %d: total %d number %d pages %d", n, p.TotalCount, p.Pagination.Number, p.Pagination.Paginator.NumPages)
		}
		wantLen := map[int]int{1: 2, 2: 2, 3: 1, 4: 0}[n]
		if len(p.Data) != wantLen {
			t.Errorf("page %d has %d sessions, want %d", n, len(p.Data), wantLen)
		}
		if p.Pagination.HasNext != (n < 3) || p.Pagination.HasPrevious != (n > 1) {
			t.Errorf("page %d: has_next %v has_previous %v", n, p.Pagination.HasNext, p.Pagination.HasPrevious)
		}
		if (p.Pagination.Next != nil) != (n < 3) || (n < 3 && *p.Pagination.Next != n+1) {
			t.Errorf("page %d: next_page_number %v", n, p.Pagination.Next)
		}
		if n == 1 && p.Pagination.Previous != nil {
			t.Errorf("page 1 has previous_page_number %d", *p.Pagination.Previous)
		}
		for _, s := range p.Data {
			if s.Status != "Ready" || !s.Ready || !s.Linked || s.Kind != "Seat" || s.UserCount != 1 || s.RequestID == "" {
				t.Errorf("unexpected listed session %+v", s)
			}
			got = append(got, s.SessionID)
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("listed %v, want creation order %v", got, ids)
	}
	var def page
	c.mustStatus(c.do("GET", "/v1/sessions", nil), 200).decode(t, &def)
	if len(def.Data) != 5 || def.Pagination.Number != 1 || def.Pagination.HasNext {
		t.Errorf("default page: %d sessions, number %d, has_next %v", len(def.Data), def.Pagination.Number, def.Pagination.HasNext)
	}
	for _, q := range []string{"page=0", "page=x", "limit=0", "limit=-3"} {
		errMessage(t, c.mustStatus(c.do("GET", "/v1/sessions?"+q, nil), 400))
	}
}

func TestAuth(t *testing.T) {
	_, c := start(t, edgegapsim.Config{})
	for _, auth := range []string{"", "token wrong", "bevygap-dev", "Token bevygap-dev", "bearer bevygap-dev"} {
		r := c.do("GET", "/v1/apps", nil, auth)
		if r.status != 401 {
			t.Errorf("authorization %q: status %d, want 401", auth, r.status)
			continue
		}
		errMessage(t, r)
	}
	c.mustStatus(c.do("GET", "/v1/apps", nil, "token bevygap-dev"), 200)

	_, c2 := start(t, edgegapsim.Config{APIKey: "s3cret"})
	c2.mustStatus(c2.do("GET", "/v1/apps", nil, "token s3cret"), 200)
	c2.mustStatus(c2.do("GET", "/v1/apps", nil, "s3cret"), 401)

	if _, err := edgegapsim.New(edgegapsim.Config{APIKey: "token two words"}); err == nil {
		t.Error("New accepted an API key with a space inside")
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

func TestAppsAndVersions(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{})
	if err := srv.AddApp(edgegapsim.App{Name: "other", Inactive: true, Versions: []edgegapsim.Version{{Name: "a"}, {Name: "b", Sockets: 8}}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddApp(edgegapsim.App{Name: "other"}); err == nil {
		t.Error("AddApp accepted a duplicate name")
	}
	if err := srv.AddApp(edgegapsim.App{Name: "bad/name"}); err == nil {
		t.Error("AddApp accepted a name with a slash")
	}
	var apps struct {
		Applications []struct {
			Name     string `json:"name"`
			IsActive bool   `json:"is_active"`
		} `json:"applications"`
	}
	c.mustStatus(c.do("GET", "/v1/apps", nil), 200).decode(t, &apps)
	if len(apps.Applications) != 2 || apps.Applications[0].Name != edgegapsim.DefaultApp || !apps.Applications[0].IsActive || apps.Applications[1].IsActive {
		t.Errorf("unexpected apps %+v", apps)
	}
	app := c.mustStatus(c.do("GET", "/v1/app/"+edgegapsim.DefaultApp, nil), 200).json(t)
	if app["name"] != edgegapsim.DefaultApp || app["is_active"] != true || app["create_time"] == "" {
		t.Errorf("unexpected app %v", app)
	}
	errMessage(t, c.mustStatus(c.do("GET", "/v1/app/nope", nil), 404))
	var versions struct {
		Versions []struct {
			Name          string `json:"name"`
			SessionConfig struct {
				Sockets int `json:"sockets"`
			} `json:"session_config"`
		} `json:"versions"`
		TotalCount int `json:"total_count"`
	}
	c.mustStatus(c.do("GET", "/v1/app/other/versions", nil), 200).decode(t, &versions)
	if versions.TotalCount != 2 || versions.Versions[0].Name != "a" || versions.Versions[1].SessionConfig.Sockets != 8 {
		t.Errorf("unexpected versions %+v", versions)
	}
	errMessage(t, c.mustStatus(c.do("GET", "/v1/app/nope/versions", nil), 404))
	errMessage(t, c.mustStatus(c.do("POST", "/v1/session", map[string]any{"app_name": "other"}), 400))
}

func TestPatchArgumentsRoundTrip(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{})
	path := "/v1/app/" + edgegapsim.DefaultApp + "/version/" + edgegapsim.DefaultVersion
	v := c.mustStatus(c.do("GET", path, nil), 200).json(t)
	if v["arguments"] != nil || v["docker_tag"] != edgegapsim.DefaultDockerTag || v["is_active"] != true || v["name"] != edgegapsim.DefaultVersion {
		t.Errorf("unexpected version %v", v)
	}
	args := "--ca_contents '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'"
	p := c.mustStatus(c.do("PATCH", path, map[string]any{"arguments": args}), 200).json(t)
	if p["success"] != true {
		t.Errorf("patch success %v", p["success"])
	}
	if got := p["version"].(map[string]any)["arguments"]; got != args {
		t.Errorf("patch echoed arguments %q, want %q", got, args)
	}
	if got := c.mustStatus(c.do("GET", path, nil), 200).json(t)["arguments"]; got != args {
		t.Errorf("GET arguments %q after PATCH, want %q", got, args)
	}
	if got, err := srv.VersionArguments(edgegapsim.DefaultApp, edgegapsim.DefaultVersion); err != nil || got != args {
		t.Errorf("VersionArguments = %q, %v", got, err)
	}
	// Other fields do not reset arguments; docker_tag is stored.
	p = c.mustStatus(c.do("PATCH", path, map[string]any{"docker_tag": "v2"}), 200).json(t)
	if ver := p["version"].(map[string]any); ver["arguments"] != args || ver["docker_tag"] != "v2" {
		t.Errorf("unexpected version after docker_tag patch %v", ver)
	}
	errMessage(t, c.mustStatus(c.do("PATCH", "/v1/app/"+edgegapsim.DefaultApp+"/version/9", map[string]any{"arguments": "x"}), 404))
	errMessage(t, c.mustStatus(c.do("PATCH", path, map[string]any{"arguments": 3}), 400))
	errMessage(t, c.mustStatus(c.do("PATCH", path, `[1]`), 400))
	// A new deployment is told the arguments.
	gotArgs := make(chan string, 1)
	_, c2 := start(t, edgegapsim.Config{OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		gotArgs <- info.Arguments
		return edgegapsim.DeployHandle{}, nil
	}})
	c2.mustStatus(c2.do("PATCH", path, map[string]any{"arguments": args}), 200)
	c2.createSession(nil)
	if got := <-gotArgs; got != args {
		t.Errorf("OnDeploy saw arguments %q, want %q", got, args)
	}
}

func TestContextEndpoint(t *testing.T) {
	infos := make(chan edgegapsim.DeploymentInfo, 1)
	srv, c := start(t, edgegapsim.Config{OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		infos <- info
		return edgegapsim.DeployHandle{}, nil
	}})
	_, rid := c.createSession(nil)
	info := <-infos
	if info.RequestID != rid || !strings.HasPrefix(info.ContextURL, srv.URL()+"/v1/context/"+rid+"/") || info.ContextToken == "" {
		t.Fatalf("unexpected info %+v", info)
	}
	env := info.Env
	for _, k := range []string{"ARBITRIUM_REQUEST_ID", "ARBITRIUM_DELETE_URL", "ARBITRIUM_DELETE_TOKEN", "ARBITRIUM_DEPLOYMENT_LOCATION", "ARBITRIUM_CONTEXT_URL", "ARBITRIUM_CONTEXT_TOKEN", "ARBITRIUM_PUBLIC_IP", "ARBITRIUM_PORTS_MAPPING"} {
		if env[k] == "" {
			t.Errorf("env %s is empty", k)
		}
	}
	if env["ARBITRIUM_CONTEXT_URL"] != info.ContextURL || env["ARBITRIUM_CONTEXT_TOKEN"] != info.ContextToken || env["ARBITRIUM_PUBLIC_IP"] != "127.0.0.1" {
		t.Errorf("env does not match info: %v", env)
	}
	var pm struct {
		Ports map[string]struct {
			Name     string `json:"name"`
			Internal int    `json:"internal"`
			External int    `json:"external"`
			Protocol string `json:"protocol"`
		} `json:"ports"`
	}
	if err := json.Unmarshal([]byte(env["ARBITRIUM_PORTS_MAPPING"]), &pm); err != nil || pm.Ports["gameport"].External == 0 {
		t.Errorf("ARBITRIUM_PORTS_MAPPING %s: %v", env["ARBITRIUM_PORTS_MAPPING"], err)
	}
	var loc map[string]any
	if err := json.Unmarshal([]byte(env["ARBITRIUM_DEPLOYMENT_LOCATION"]), &loc); err != nil || loc["city"] != "Montreal" {
		t.Errorf("ARBITRIUM_DEPLOYMENT_LOCATION %s: %v", env["ARBITRIUM_DEPLOYMENT_LOCATION"], err)
	}

	ctxJSON := c.mustStatus(c.do("GET", info.ContextURL, nil, info.ContextToken), 200).json(t)
	loc2, _ := ctxJSON["location"].(map[string]any)
	if ctxJSON["request_id"] != rid || ctxJSON["public_ip"] != "127.0.0.1" || ctxJSON["fqdn"] != info.FQDN || ctxJSON["sockets"] != float64(edgegapsim.DefaultSockets) || loc2["city"] != "Montreal" || loc2["country"] != "Canada" {
		t.Errorf("unexpected context %v", ctxJSON)
	}
	if ports, _ := ctxJSON["ports"].(map[string]any); ports["gameport"] == nil {
		t.Errorf("context has no gameport: %v", ctxJSON["ports"])
	}
	errMessage(t, c.mustStatus(c.do("GET", info.ContextURL, nil, "wrong"), 401))
	errMessage(t, c.mustStatus(c.do("GET", info.ContextURL, nil, key), 401))
	errMessage(t, c.mustStatus(c.do("GET", info.ContextURL, nil, ""), 401))
	i := strings.LastIndex(info.ContextURL, "/")
	errMessage(t, c.mustStatus(c.do("GET", info.ContextURL[:i]+"/1000000", nil, info.ContextToken), 401))
	errMessage(t, c.mustStatus(c.do("GET", info.ContextURL[:i]+"/x", nil, info.ContextToken), 400))
	errMessage(t, c.mustStatus(c.do("GET", "/v1/context/000000000000/1", nil, info.ContextToken), 404))

	// The game server stops itself with the delete URL and token.
	errMessage(t, c.mustStatus(c.do("DELETE", info.DeleteURL, nil, "wrong"), 401))
	c.mustStatus(c.do("DELETE", info.DeleteURL, nil, info.DeleteToken), 200)
	if st := srv.Stats(); st.LiveDeployments != 0 || st.LiveSessions != 0 {
		t.Errorf("after self stop: %d deployments, %d sessions", st.LiveDeployments, st.LiveSessions)
	}
}

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

func TestHookPortsAreReported(t *testing.T) {
	_, c := start(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}, OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		return edgegapsim.DeployHandle{Ports: map[string]int{"gameport": 40001, "web": 40002}}, nil
	}})
	id, _ := c.createSession(nil)
	// Ports are final once the hook returned, which is when the session
	// turns ready.
	eventually(t, "session ready", func() bool { return c.getSession(id).Ready })
	s := c.getSession(id)
	if s.Deployment.Ports["gameport"].External != 40001 || s.Deployment.Ports["gameport"].Internal != edgegapsim.DefaultInternalPort || s.Deployment.Ports["web"].External != 40002 {
		t.Errorf("ports %+v", s.Deployment.Ports)
	}
}

func TestStatsEndpoint(t *testing.T) {
	_, c := start(t, edgegapsim.Config{})
	c.createSession(nil)
	c.do("GET", "/v1/nothing-here", nil)
	var st edgegapsim.Stats
	c.mustStatus(c.do("GET", "/_sim/stats", nil, ""), 200).decode(t, &st)
	if st.Count(edgegapsim.EndpointSessionPost, 200) != 1 || st.LiveSessions != 1 || st.LiveDeployments != 1 || st.SessionsCreated != 1 {
		t.Errorf("unexpected stats %+v", st)
	}
	if st.Count(edgegapsim.EndpointUnknown, 404) != 1 {
		t.Errorf("unknown route not counted: %v", st.Calls)
	}
	if st.MaxPerSecond(edgegapsim.EndpointSessionPost) != 1 || st.Total(edgegapsim.EndpointSessionPost) != 1 {
		t.Errorf("per second %v", st.PerSecond)
	}
}

func TestFailNextAndFaults(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{Faults: edgegapsim.Faults{RetryAfter: 50 * time.Millisecond}})
	if err := srv.FailNext(edgegapsim.EndpointApplicationsGet, 503, 429); err != nil {
		t.Fatal(err)
	}
	errMessage(t, c.mustStatus(c.do("GET", "/v1/apps", nil), 503))
	r := c.mustStatus(c.do("GET", "/v1/apps", nil), 429)
	if got := r.header.Get("Retry-After"); got != "0.05" {
		t.Errorf("Retry-After %q, want 0.05", got)
	}
	c.mustStatus(c.do("GET", "/v1/apps", nil), 200)
	if err := srv.FailNext("x", 200); err == nil {
		t.Error("FailNext accepted status 200")
	}

	if err := srv.SetFaults(edgegapsim.Faults{ErrorRate: 1, ErrorStatus: 502, Endpoints: []string{edgegapsim.EndpointApplicationGet}}); err != nil {
		t.Fatal(err)
	}
	c.mustStatus(c.do("GET", "/v1/app/"+edgegapsim.DefaultApp, nil), 502)
	c.mustStatus(c.do("GET", "/v1/apps", nil), 200)
	if err := srv.SetFaults(edgegapsim.Faults{RateLimitRate: 1, RetryAfter: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := c.mustStatus(c.do("GET", "/v1/apps", nil), 429).header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2", got)
	}
	if err := srv.SetFaults(edgegapsim.Faults{ErrorRate: 2}); err == nil {
		t.Error("SetFaults accepted probability 2")
	}
	if err := srv.SetFaults(edgegapsim.Faults{Latency: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c.mustStatus(c.do("GET", "/v1/apps", nil), 200)
}

// TestSeedIsDeterministic runs the same request sequence against two
// simulators with the same seed and compares ids and fault outcomes.
func TestSeedIsDeterministic(t *testing.T) {
	run := func() []string {
		_, c := start(t, edgegapsim.Config{Seed: 42, Sockets: 1, Faults: edgegapsim.Faults{ErrorRate: 0.5, Endpoints: []string{edgegapsim.EndpointApplicationsGet}}})
		var out []string
		for range 3 {
			id, rid := c.createSession(nil)
			out = append(out, id, rid)
		}
		for range 10 {
			out = append(out, fmt.Sprint(c.do("GET", "/v1/apps", nil).status))
		}
		return out
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different outcomes:\n%v\n%v", a, b)
	}
	if !slices.Contains(a, "503") || !slices.Contains(a, "200") {
		t.Errorf("error rate 0.5 gave %v", a[6:])
	}
}

func TestRateLimits(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{Status: 5}})
	id, _ := c.createSession(nil)
	var ok, limited int
	for range 20 {
		r := c.do("GET", "/v1/session/"+id, nil)
		switch r.status {
		case 200:
			ok++
		case 429:
			limited++
			if r.header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q, want 1", r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("status %d", r.status)
		}
	}
	if ok < 5 || limited == 0 {
		t.Errorf("%d ok, %d limited; want at least the burst of 5 ok and some 429", ok, limited)
	}
	// Other classes are not limited; 0 disables.
	for range 20 {
		c.mustStatus(c.do("GET", "/v1/apps", nil), 200)
	}
	if err := srv.SetRateLimits(edgegapsim.RateLimits{}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		c.mustStatus(c.do("GET", "/v1/session/"+id, nil), 200)
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

func TestDeploymentsEndpoints(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{Sockets: 1})
	s1, d1 := c.createSession(nil)
	_, d2 := c.createSession(nil)
	var list struct {
		Data []struct {
			RequestID string `json:"request_id"`
			PublicIP  string `json:"public_ip"`
			Ready     bool   `json:"ready"`
			StartTime string `json:"start_time"`
		} `json:"data"`
		TotalCount int `json:"total_count"`
		Pagination struct {
			HasNext bool `json:"has_next"`
		} `json:"pagination"`
	}
	c.mustStatus(c.do("GET", "/v1/deployments?limit=1", nil), 200).decode(t, &list)
	if list.TotalCount != 2 || len(list.Data) != 1 || list.Data[0].RequestID != d1 || !list.Pagination.HasNext || !list.Data[0].Ready {
		t.Errorf("deployments page 1: %+v", list)
	}
	var st struct {
		RequestID     string `json:"request_id"`
		AppName       string `json:"app_name"`
		AppVersion    string `json:"app_version"`
		CurrentStatus string `json:"current_status"`
		Running       bool   `json:"running"`
		Sessions      []struct {
			SessionID string `json:"session_id"`
		} `json:"sessions"`
	}
	c.mustStatus(c.do("GET", "/v1/status/"+d1, nil), 200).decode(t, &st)
	if st.RequestID != d1 || st.AppName != edgegapsim.DefaultApp || st.AppVersion != edgegapsim.DefaultVersion || st.CurrentStatus != "Status.READY" || !st.Running || len(st.Sessions) != 1 || st.Sessions[0].SessionID != s1 {
		t.Errorf("status %+v", st)
	}
	errMessage(t, c.mustStatus(c.do("GET", "/v1/status/000000000000", nil), 404))
	stop := c.mustStatus(c.do("DELETE", "/v1/stop/"+d1, nil), 200).json(t)
	if stop["message"] == "" || stop["deployment_summary"] == nil {
		t.Errorf("stop body %v", stop)
	}
	c.mustStatus(c.do("GET", "/v1/session/"+s1, nil), 404)
	c.mustStatus(c.do("DELETE", "/v1/session/"+s1, nil), 410)
	errMessage(t, c.mustStatus(c.do("DELETE", "/v1/stop/"+d1, nil), 410))
	errMessage(t, c.mustStatus(c.do("DELETE", "/v1/stop/000000000000", nil), 404))
	c.mustStatus(c.do("GET", "/v1/deployments", nil), 200).decode(t, &list)
	if list.TotalCount != 1 || list.Data[0].RequestID != d2 {
		t.Errorf("deployments after stop: %+v", list)
	}
	if s := srv.Stats(); s.DeploymentsStopped != 1 || s.LiveDeployments != 1 || s.SessionsDeleted != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	var stops atomic.Int32
	var ctxDone sync.WaitGroup
	sim, err := edgegapsim.New(edgegapsim.Config{
		Sockets:     1,
		DeployDelay: time.Hour,
		OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
			ctxDone.Add(1)
			go func() { defer ctxDone.Done(); <-ctx.Done() }()
			return edgegapsim.DeployHandle{Stop: func() { stops.Add(1) }}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	post := func() int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v1/session", strings.NewReader(`{"app_name":"`+edgegapsim.DefaultApp+`"}`))
		req.Header.Set("Authorization", key)
		sim.ServeHTTP(rec, req)
		return rec.Code
	}
	if post() != 200 || post() != 200 {
		t.Fatal("create sessions failed")
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	ctxDone.Wait()
	if stops.Load() != 2 {
		t.Errorf("%d stop hooks called, want 2", stops.Load())
	}
	if code := post(); code != http.StatusServiceUnavailable {
		t.Errorf("request after Close: %d, want 503", code)
	}
	if err := sim.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []edgegapsim.Config{
		{DeployDelay: -1},
		{InternalPort: 70000},
		{FirstExternalPort: 70000},
		{Faults: edgegapsim.Faults{RateLimitRate: -0.1}},
		{Faults: edgegapsim.Faults{ErrorStatus: 404}},
		{RateLimits: &edgegapsim.RateLimits{Create: -1}},
		{Apps: []edgegapsim.App{{Name: ""}}},
	}
	for i, cfg := range bad {
		if s, err := edgegapsim.New(cfg); err == nil {
			s.Close()
			t.Errorf("config %d accepted", i)
		}
	}
}
