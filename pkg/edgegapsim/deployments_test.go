package edgegapsim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

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
	if first, second := post(), post(); first != 200 || second != 200 {
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

// A hook's game server that dies after the deployment became ready puts
// the deployment in error through DeploymentInfo.Fail, once.
func TestHookFailAfterReady(t *testing.T) {
	fails := make(chan func(error), 1)
	_, c := start(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{}, OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		fails <- info.Fail
		return edgegapsim.DeployHandle{}, nil
	}})
	id, rid := c.createSession(nil)
	eventually(t, "session ready", func() bool { return c.getSession(id).Ready })
	fail := <-fails
	fail(errors.New("game server exited with status 3"))
	fail(errors.New("again"))
	var st struct {
		CurrentStatus string `json:"current_status"`
		Error         bool   `json:"error"`
		ErrorDetail   string `json:"error_detail"`
	}
	c.mustStatus(c.do("GET", "/v1/status/"+rid, nil), 200).decode(t, &st)
	if st.CurrentStatus != "Status.ERROR" || !st.Error || !strings.Contains(st.ErrorDetail, "exited with status 3") {
		t.Errorf("status after Fail: %+v", st)
	}
	if s := c.getSession(id); s.Status != "Error" || !strings.Contains(s.Error, "exited with status 3") {
		t.Errorf("session after Fail: %+v", s)
	}
}
