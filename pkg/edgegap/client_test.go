package edgegap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/simtest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

const (
	appName = edgegapsim.DefaultApp
	version = edgegapsim.DefaultVersion
)

var sessionIDRe = regexp.MustCompile(`^[0-9a-f]{12}-S$`)

// TestHappyPath exercises every method against the simulator over HTTP.
func TestHappyPath(t *testing.T) {
	ctx := t.Context()
	infos := make(chan edgegapsim.DeploymentInfo, 4)
	webhooks := make(chan []byte, 4)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		webhooks <- b
	}))
	t.Cleanup(sink.Close)
	srv := simtest.Start(t, edgegapsim.Config{OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		infos <- info
		return edgegapsim.DeployHandle{}, nil
	}})
	rec := &headerRecorder{next: &http.Transport{}}
	t.Cleanup(rec.next.(*http.Transport).CloseIdleConnections)
	var cl calls
	c := newClient(t, srv, func(cfg *edgegap.Config) {
		cfg.HTTPClient = &http.Client{Transport: rec}
		cfg.OnCall = cl.hook
	})

	app, err := c.GetApp(ctx, appName)
	if err != nil || app.Name != appName || !app.Active || app.CreateTime == "" {
		t.Fatalf("GetApp = %+v, %v", app, err)
	}
	if h := rec.get("/v1/app/" + appName); h.Get("Authorization") != "token bevygap-dev" || h.Get("User-Agent") != edgegap.DefaultUserAgent {
		t.Errorf("API call headers %v", h)
	}
	apps, err := c.ListApps(ctx)
	if err != nil || len(apps) != 1 || apps[0].Name != appName {
		t.Fatalf("ListApps = %+v, %v", apps, err)
	}
	v, err := c.GetAppVersion(ctx, appName, version)
	if err != nil || v.Name != version || !v.Active || v.DockerTag != edgegapsim.DefaultDockerTag || v.Arguments != "" ||
		v.Sockets != edgegapsim.DefaultSockets || v.SessionKind != "Seat" || len(v.Ports) != 1 || v.Ports[0].Port != edgegapsim.DefaultInternalPort {
		t.Fatalf("GetAppVersion = %+v, %v", v, err)
	}
	vs, err := c.ListAppVersions(ctx, appName)
	if err != nil || len(vs) != 1 || vs[0].Name != version {
		t.Fatalf("ListAppVersions = %+v, %v", vs, err)
	}
	args := "--ca_contents '-----BEGIN CERTIFICATE-----MIIB-----END CERTIFICATE-----'"
	pv, err := c.PatchAppVersionArguments(ctx, appName, version, args)
	if err != nil || pv.Arguments != args || pv.DockerTag != edgegapsim.DefaultDockerTag {
		t.Fatalf("PatchAppVersionArguments = %+v, %v", pv, err)
	}
	if got, err := c.AppVersionArguments(ctx, appName, version); err != nil || got != args {
		t.Fatalf("AppVersionArguments = %q, %v", got, err)
	}

	hook := sink.URL + "/hook/session"
	cs, err := c.CreateSession(ctx, edgegap.SessionRequest{AppName: appName, VersionName: version, IPList: []string{"81.128.157.100"}, WebhookURL: hook})
	if err != nil || !sessionIDRe.MatchString(cs.ID) || cs.App != appName || cs.Version != version || cs.DeploymentRequestID == "" || cs.WebhookURL != hook {
		t.Fatalf("CreateSession = %+v, %v", cs, err)
	}
	info := <-infos
	if info.RequestID != cs.DeploymentRequestID || info.Arguments != args {
		t.Errorf("deployment info %+v", info)
	}
	// With an OnDeploy hook the deployment turns ready after the hook
	// returned: poll as the matchmaker does.
	s, err := c.GetSession(ctx, cs.ID)
	for err == nil && !s.Ready {
		time.Sleep(5 * time.Millisecond)
		s, err = c.GetSession(ctx, cs.ID)
	}
	if err != nil || s.ID != cs.ID || !s.Ready || !s.Linked || s.Status != "Ready" || s.Kind != "Seat" || s.UserCount != 1 || s.Deployment == nil {
		t.Fatalf("GetSession = %+v, %v", s, err)
	}
	if _, err := edgegap.ParseTime(s.CreateTime); err != nil {
		t.Errorf("create time: %v", err)
	}
	d := s.Deployment
	port, ok := d.GamePort("gameport")
	if d.PublicIP != "127.0.0.1" || d.RequestID != cs.DeploymentRequestID || !ok || port.External != info.Ports["gameport"].External || port.Protocol != "UDP" || d.Location == nil || d.Location.City != "Montreal" {
		t.Errorf("deployment %+v port %+v", d, port)
	}
	if p, ok := d.GamePort("no-such-port"); !ok || p != port {
		t.Errorf("GamePort fallback = %+v, %v", p, ok)
	}

	wb := <-webhooks
	wh, err := edgegap.ParseWebhook(wb)
	if err != nil || wh.ID != cs.ID || !wh.Ready || !wh.Linked || wh.Status != "Ready" || wh.DeploymentRequestID != cs.DeploymentRequestID || wh.WebhookURL != hook {
		t.Errorf("ParseWebhook(%s) = %+v, %v", wb, wh, err)
	}

	page, err := c.ListSessions(ctx, 1, 10)
	if err != nil || page.TotalCount != 1 || len(page.Sessions) != 1 || page.Sessions[0].ID != cs.ID || page.HasNext || page.NumPages != 1 || page.Page != 1 {
		t.Fatalf("ListSessions = %+v, %v", page, err)
	}
	all, err := c.ListAllSessions(ctx)
	if err != nil || len(all) != 1 || all[0].ID != cs.ID {
		t.Fatalf("ListAllSessions = %+v, %v", all, err)
	}
	deps, err := c.ListDeployments(ctx, edgegap.DeploymentQuery{})
	if err != nil || len(deps) != 1 || deps[0].RequestID != cs.DeploymentRequestID || !deps[0].Ready || deps[0].SocketsUsage != 1 {
		t.Fatalf("ListDeployments = %+v, %v", deps, err)
	}
	st, err := c.DeploymentStatus(ctx, cs.DeploymentRequestID)
	if err != nil || !st.Running || st.AppName != appName || st.AppVersion != version || len(st.Sessions) != 1 || st.Sessions[0].ID != cs.ID || st.Arguments != args || st.CurrentStatus != "Status.READY" {
		t.Fatalf("DeploymentStatus = %+v, %v", st, err)
	}

	// The game-server side: no API key needed.
	gs := newClient(t, srv, func(cfg *edgegap.Config) {
		cfg.APIKey = ""
		cfg.HTTPClient = &http.Client{Transport: rec}
	})
	dc, err := gs.GetContext(ctx, info.ContextURL, info.ContextToken)
	if err != nil || dc.RequestID != cs.DeploymentRequestID || dc.PublicIP != "127.0.0.1" || dc.FQDN != info.FQDN || dc.Sockets != edgegapsim.DefaultSockets || dc.Location == nil || dc.Location.Country != "Canada" {
		t.Fatalf("GetContext = %+v, %v", dc, err)
	}
	if !json.Valid(dc.Raw) || !bytes.Contains(dc.Raw, []byte(`"request_id"`)) {
		t.Errorf("context raw %s", dc.Raw)
	}
	ctxPath := strings.TrimPrefix(info.ContextURL, srv.URL())
	if h := rec.get(ctxPath); h.Get("Authorization") != info.ContextToken || h.Get("User-Agent") != edgegap.ContextUserAgent {
		t.Errorf("context headers %v", h)
	}
	if _, err := gs.GetApp(ctx, appName); !errors.Is(err, edgegap.ErrNoAPIKey) {
		t.Errorf("GetApp without key: %v", err)
	}

	stopped, err := c.BulkStop(ctx, edgegap.BulkStopSessionID, []string{cs.ID})
	if err != nil || !slices.Equal(stopped, []string{cs.ID}) {
		t.Fatalf("BulkStop = %v, %v", stopped, err)
	}
	if err := c.DeleteSession(ctx, cs.ID); !edgegap.IsGone(err) {
		t.Errorf("DeleteSession of a bulk-stopped session: %v, want gone", err)
	}
	cs2, err := c.CreateSession(ctx, edgegap.SessionRequest{AppName: appName})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSession(ctx, cs2.ID); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := c.GetSession(ctx, cs2.ID); !edgegap.IsNotFound(err) {
		t.Errorf("GetSession of a deleted session: %v, want not found", err)
	}
	if _, err := c.StopDeployment(ctx, cs.DeploymentRequestID); err != nil {
		t.Fatalf("StopDeployment: %v", err)
	}
	if _, err := c.StopDeployment(ctx, cs.DeploymentRequestID); !edgegap.IsGone(err) {
		t.Errorf("second StopDeployment: %v, want gone", err)
	}

	// OnCall saw every attempt with the status the simulator recorded.
	simStats := srv.Stats()
	for _, ep := range []string{edgegap.EndpointApplicationGet, edgegap.EndpointSessionPost, edgegap.EndpointGetSession, edgegap.EndpointDeploymentDelete} {
		var want []int
		for status, n := range simStats.Calls[ep] {
			for range n {
				want = append(want, status)
			}
		}
		got := cl.statuses(ep)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("OnCall %s: %v, simulator saw %v", ep, got, want)
		}
	}
}

func TestPaginationIsFollowed(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{Sockets: 1})
	c := newClient(t, srv, func(cfg *edgegap.Config) { cfg.PageSize = 2 })
	var ids []string
	for range 5 {
		cs, err := c.CreateSession(t.Context(), edgegap.SessionRequest{AppName: appName})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cs.ID)
	}
	all, err := c.ListAllSessions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range all {
		got = append(got, s.ID)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("ListAllSessions = %v, want %v", got, ids)
	}
	deps, err := c.ListDeployments(t.Context(), edgegap.DeploymentQuery{})
	if err != nil || len(deps) != 5 {
		t.Fatalf("ListDeployments = %d deployments, %v", len(deps), err)
	}
	st := srv.Stats()
	if n := st.Count(edgegap.EndpointListSessions, 200); n != 3 {
		t.Errorf("%d list-sessions calls for 5 sessions in pages of 2, want 3", n)
	}
	if n := st.Count(edgegap.EndpointDeploymentsGet, 200); n != 3 {
		t.Errorf("%d deployments-get calls, want 3", n)
	}
	p, err := c.ListSessions(t.Context(), 3, 2)
	if err != nil || len(p.Sessions) != 1 || p.HasNext || p.NumPages != 3 || p.TotalCount != 5 || p.Page != 3 {
		t.Errorf("page 3 = %+v, %v", p, err)
	}
}

func TestRetriesServerErrors(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	var cl calls
	c := newClient(t, srv, func(cfg *edgegap.Config) { cfg.OnCall = cl.hook })
	cs, err := c.CreateSession(t.Context(), edgegap.SessionRequest{AppName: appName})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.FailNext(edgegap.EndpointGetSession, 503, 500, 502); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSession(t.Context(), cs.ID); err != nil {
		t.Fatalf("GetSession after three 5xx: %v", err)
	}
	st := srv.Stats()
	if st.Count(edgegap.EndpointGetSession, 503) != 1 || st.Count(edgegap.EndpointGetSession, 500) != 1 || st.Count(edgegap.EndpointGetSession, 502) != 1 || st.Count(edgegap.EndpointGetSession, 200) != 1 {
		t.Errorf("simulator saw %v", st.Calls[edgegap.EndpointGetSession])
	}
	if got := cl.statuses(edgegap.EndpointGetSession); !slices.Equal(got, []int{503, 500, 502, 200}) {
		t.Errorf("OnCall statuses %v", got)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	const retryAfter = 40 * time.Millisecond
	srv := simtest.Start(t, edgegapsim.Config{Faults: edgegapsim.Faults{RetryAfter: retryAfter}})
	var cl calls
	c := newClient(t, srv, func(cfg *edgegap.Config) { cfg.OnCall = cl.hook })
	if err := srv.FailNext(edgegap.EndpointSessionPost, 429, 429); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSession(t.Context(), edgegap.SessionRequest{AppName: appName}); err != nil {
		t.Fatalf("CreateSession after two 429: %v", err)
	}
	st := srv.Stats()
	if st.Count(edgegap.EndpointSessionPost, 429) != 2 || st.Count(edgegap.EndpointSessionPost, 200) != 1 || st.SessionsCreated != 1 {
		t.Errorf("simulator saw %v, %d sessions", st.Calls[edgegap.EndpointSessionPost], st.SessionsCreated)
	}
	// Backoff is at most 5ms here, so only Retry-After explains the gaps;
	// a timer never fires early, so this lower bound is safe.
	ts := cl.times(edgegap.EndpointSessionPost)
	for i := 1; i < len(ts); i++ {
		if gap := ts[i].Sub(ts[i-1]); gap < retryAfter {
			t.Errorf("attempt %d came %s after the 429, want at least Retry-After %s", i+1, gap, retryAfter)
		}
	}
}

func TestRetryAfterBeyondLimitGivesUp(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{Faults: edgegapsim.Faults{RetryAfter: 30 * time.Second}})
	c := newClient(t, srv, func(cfg *edgegap.Config) { cfg.MaxRetryAfter = 100 * time.Millisecond })
	if err := srv.FailNext(edgegap.EndpointApplicationsGet, 429); err != nil {
		t.Fatal(err)
	}
	_, err := c.ListApps(t.Context())
	ae, ok := errors.AsType[*edgegap.APIError](err)
	if !ok || ae.Status != 429 || ae.RetryAfter != 30*time.Second || ae.Attempts != 1 || !edgegap.IsRateLimited(err) || !edgegap.IsRetryable(err) {
		t.Fatalf("err = %#v", err)
	}
	if n := srv.Stats().Total(edgegap.EndpointApplicationsGet); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestBoundedAttempts(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	c := newClient(t, srv, func(cfg *edgegap.Config) { cfg.MaxAttempts = 3 })
	if err := srv.FailNext(edgegap.EndpointApplicationGet, 503, 503, 503); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetApp(t.Context(), appName)
	var ae *edgegap.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if ae.Op != edgegap.EndpointApplicationGet || ae.Status != 503 || ae.Attempts != 3 || !strings.Contains(ae.Message, "injected fault") {
		t.Errorf("APIError = %+v", ae)
	}
	if !errors.Is(err, edgegap.ErrServer) || !edgegap.IsRetryable(err) || edgegap.StatusCode(err) != 503 {
		t.Errorf("helpers disagree on %v", err)
	}
	if want := "edgegap application-get: status 503 Service Unavailable: injected fault: Service Unavailable (after 3 attempts)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if n := srv.Stats().Count(edgegap.EndpointApplicationGet, 503); n != 3 {
		t.Errorf("simulator saw %d attempts, want 3", n)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	c := newClient(t, srv, nil)
	_, err := c.GetApp(t.Context(), "nope")
	if !edgegap.IsNotFound(err) || edgegap.IsRetryable(err) || !strings.Contains(err.Error(), `application "nope" not found`) {
		t.Errorf("GetApp(nope) = %v", err)
	}
	_, err = c.CreateSession(t.Context(), edgegap.SessionRequest{AppName: "nope"})
	if !errors.Is(err, edgegap.ErrBadRequest) || edgegap.StatusCode(err) != 400 {
		t.Errorf("CreateSession(nope) = %v", err)
	}
	st := srv.Stats()
	if st.Total(edgegap.EndpointApplicationGet) != 1 || st.Total(edgegap.EndpointSessionPost) != 1 {
		t.Errorf("4xx retried: %v", st.Calls)
	}
}

func TestCancelStopsRetries(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{Faults: edgegapsim.Faults{ErrorRate: 1, Endpoints: []string{edgegap.EndpointApplicationGet}}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := newClient(t, srv, func(cfg *edgegap.Config) {
		cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour
		cfg.OnCall = func(string, int) { cancel() }
	})
	_, err := c.GetApp(ctx, appName)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if ae, ok := errors.AsType[*edgegap.APIError](err); !ok || ae.Status != 503 {
		t.Errorf("err %v does not carry the last API error", err)
	}
	if edgegap.IsRetryable(err) {
		t.Error("a cancelled call is reported retryable")
	}
	if n := srv.Stats().Total(edgegap.EndpointApplicationGet); n != 1 {
		t.Errorf("%d attempts after cancel, want 1", n)
	}

	// A deadline shorter than the next backoff ends the call at once.
	dctx, dcancel := context.WithTimeout(t.Context(), time.Minute)
	defer dcancel()
	c2 := newClient(t, srv, func(cfg *edgegap.Config) { cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour })
	_, err = c2.GetApp(dctx, appName)
	if !errors.Is(err, context.DeadlineExceeded) || edgegap.StatusCode(err) != 503 {
		t.Errorf("err = %v, want deadline exceeded with the 503", err)
	}
	if n := srv.Stats().Total(edgegap.EndpointApplicationGet); n != 2 {
		t.Errorf("%d attempts in total, want 2", n)
	}

	// An already cancelled context makes no request at all.
	done, stop := context.WithCancel(t.Context())
	stop()
	if _, err := c2.GetApp(done, appName); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := srv.Stats().Total(edgegap.EndpointApplicationGet); n != 2 {
		t.Errorf("%d attempts in total, want 2", n)
	}
}

func TestTransportErrorsAreRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var cl calls
	c, err := edgegap.New(edgegap.Config{
		BaseURL: "http://" + addr, APIKey: "token supersecretvalue", MaxAttempts: 3,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, OnCall: cl.hook,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	_, err = c.ListApps(t.Context())
	if err == nil || !edgegap.IsRetryable(err) || edgegap.StatusCode(err) != 0 {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "supersecretvalue") {
		t.Errorf("error leaks the key: %v", err)
	}
	if got := cl.statuses(edgegap.EndpointApplicationsGet); !slices.Equal(got, []int{0, 0, 0}) {
		t.Errorf("OnCall statuses %v, want three transport errors", got)
	}
}

func TestResponseSizeIsBounded(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"applications": [`))
		_, _ = w.Write(bytes.Repeat([]byte(`{"name":"x","is_active":true,"create_time":"","last_updated":""},`), 40000))
	}))
	defer big.Close()
	c, err := edgegap.New(edgegap.Config{BaseURL: big.URL, APIKey: "k", MaxResponseBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if _, err := c.ListApps(t.Context()); !errors.Is(err, edgegap.ErrResponseTooLarge) {
		t.Errorf("err = %v, want ErrResponseTooLarge", err)
	}
}

func TestMalformedResponses(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/session":
			_, _ = w.Write([]byte(`{"app": "x"}`)) // no session_id
		case "/v1/apps":
			_, _ = w.Write([]byte(`<html>`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message": ["first", "second"]}`))
		}
	}))
	defer bad.Close()
	c, err := edgegap.New(edgegap.Config{BaseURL: bad.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if _, err := c.CreateSession(t.Context(), edgegap.SessionRequest{AppName: "a"}); err == nil || !strings.Contains(err.Error(), "no session_id") {
		t.Errorf("CreateSession = %v", err)
	}
	if _, err := c.ListApps(t.Context()); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("ListApps = %v", err)
	}
	_, err = c.GetApp(t.Context(), "a")
	if ae, ok := errors.AsType[*edgegap.APIError](err); !ok || ae.Message != `["first","second"]` {
		t.Errorf("GetApp = %v", err)
	}
}

// TestBudgetBoundsRate sends concurrent GetSession calls from two clients
// sharing one 20/s status budget and checks, with the simulator's own
// per-second counters, that the rate never exceeded the budget. The
// simulator also enforces 20/s itself and would answer 429 to a burst.
func TestBudgetBoundsRate(t *testing.T) {
	const perSecond = 20
	srv := simtest.Start(t, edgegapsim.Config{RateLimits: &edgegapsim.RateLimits{Status: perSecond}})
	budget, err := edgegap.NewBudget(edgegap.BudgetConfig{Status: edgegap.Limit{PerSecond: perSecond}})
	if err != nil {
		t.Fatal(err)
	}
	c1 := newClient(t, srv, func(cfg *edgegap.Config) { cfg.Budget = budget })
	c2 := newClient(t, srv, func(cfg *edgegap.Config) { cfg.Budget = budget })
	cs, err := c1.CreateSession(t.Context(), edgegap.SessionRequest{AppName: appName})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 10, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for i := range workers {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		wg.Go(func() {
			for range each {
				if _, err := c.GetSession(t.Context(), cs.ID); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("GetSession: %v", err)
	}
	st := srv.Stats()
	if n := st.Count(edgegap.EndpointGetSession, 200); n != workers*each {
		t.Errorf("%d successful calls, want %d", n, workers*each)
	}
	if n := st.Count(edgegap.EndpointGetSession, 429); n != 0 {
		t.Errorf("simulator rate-limited %d calls", n)
	}
	// Evenly spaced requests put at most perSecond into one calendar
	// second; allow 10% for scheduling jitter moving a request across a
	// second boundary.
	if m := st.MaxPerSecond(edgegap.EndpointGetSession); m > perSecond+perSecond/10 {
		t.Errorf("simulator saw %d calls in one second, budget is %d/s (per second: %v)", m, perSecond, st.PerSecond[edgegap.EndpointGetSession])
	}
	// 60 calls at 20/s take about 3 s: they must span at least 3 seconds.
	if secs := len(st.PerSecond[edgegap.EndpointGetSession]); secs < 3 {
		t.Errorf("calls spread over %d seconds, want at least 3: %v", secs, st.PerSecond[edgegap.EndpointGetSession])
	}
}

func TestBudgetWaitHonoursContext(t *testing.T) {
	b, err := edgegap.NewBudget(edgegap.BudgetConfig{Create: edgegap.Limit{PerSecond: 0.001}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(t.Context(), edgegap.EndpointSessionPost); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx, edgegap.EndpointSessionPost); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait beyond deadline = %v", err)
	}
	// Other classes are unlimited.
	for range 100 {
		if err := b.Wait(ctx, edgegap.EndpointApplicationsGet); err != nil {
			t.Fatal(err)
		}
	}
	if l := b.Limit(edgegap.ClassOther); l.PerSecond != 0 {
		t.Errorf("other class limit %+v", l)
	}
	if err := b.SetLimit(edgegap.ClassStatus, edgegap.Limit{PerSecond: 5, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	if l := b.Limit(edgegap.ClassStatus); l.PerSecond != 5 || l.Burst != 2 {
		t.Errorf("status limit %+v", l)
	}
	d := edgegap.DefaultBudgetConfig()
	if d.Create.PerSecond != 40 || d.Status.PerSecond != 10 {
		t.Errorf("default budget %+v", d)
	}
	for ep, want := range map[string]edgegap.Class{
		edgegap.EndpointSessionPost: edgegap.ClassCreate, edgegap.EndpointGetSession: edgegap.ClassStatus,
		edgegap.EndpointContextGet: edgegap.ClassStatus, edgegap.EndpointDeploymentStatusGet: edgegap.ClassDeploymentStatus,
		edgegap.EndpointSessionDelete: edgegap.ClassOther,
	} {
		if got := edgegap.ClassOf(ep); got != want {
			t.Errorf("ClassOf(%s) = %s, want %s", ep, got, want)
		}
	}
}

func TestAPIKeyNormalisation(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	for _, key := range []string{"bevygap-dev", "token bevygap-dev", "  Token bevygap-dev  ", "TOKEN bevygap-dev"} {
		c := newClient(t, srv, func(cfg *edgegap.Config) { cfg.APIKey = key })
		if _, err := c.GetApp(t.Context(), appName); err != nil {
			t.Errorf("key %q: %v", key, err)
		}
	}
	for _, key := range []string{"token two words", "token ", "bad\nkey"} {
		_, err := edgegap.New(edgegap.Config{APIKey: key})
		if err == nil {
			t.Errorf("New accepted key %q", key)
			continue
		}
		if strings.Contains(err.Error(), "words") || strings.Contains(err.Error(), "bad") {
			t.Errorf("error for key %q shows it: %v", key, err)
		}
	}
}

func TestAPIKeyNeverShown(t *testing.T) {
	const secret = "supersecretvalue"
	srv := simtest.Start(t, edgegapsim.Config{})
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := edgegap.Config{BaseURL: srv.URL(), APIKey: secret, Logger: logger, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	c, err := edgegap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	_, err = c.GetApp(t.Context(), appName)
	if !edgegap.IsUnauthorized(err) {
		t.Fatalf("wrong key: %v, want unauthorized", err)
	}
	if err := srv.FailNext(edgegap.EndpointApplicationsGet, 503); err != nil {
		t.Fatal(err)
	}
	_, _ = c.ListApps(t.Context()) // logs a retry
	logger.Info("config", "cfg", cfg)
	shown := []string{err.Error(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg), logs.String()}
	for _, s := range shown {
		if strings.Contains(s, secret) {
			t.Errorf("key shown in %q", s)
		}
	}
	if !strings.Contains(fmt.Sprint(cfg), "[REDACTED]") || !strings.Contains(logs.String(), "retrying") {
		t.Errorf("config %q / logs %q", fmt.Sprint(cfg), logs.String())
	}
}

func TestInputValidation(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	c := newClient(t, srv, nil)
	ctx := t.Context()
	checks := map[string]error{}
	_, checks["no app"] = c.CreateSession(ctx, edgegap.SessionRequest{})
	_, checks["bad ip"] = c.CreateSession(ctx, edgegap.SessionRequest{AppName: appName, IPList: []string{"300.1.1.1"}})
	_, checks["no session id"] = c.GetSession(ctx, "")
	checks["no delete id"] = c.DeleteSession(ctx, "")
	_, checks["page 0"] = c.ListSessions(ctx, 0, 10)
	_, checks["bulk field"] = c.BulkStop(ctx, "colour", []string{"x"})
	_, checks["bulk values"] = c.BulkStop(ctx, edgegap.BulkStopSessionID, nil)
	_, checks["version"] = c.GetAppVersion(ctx, appName, "")
	_, checks["patch"] = c.PatchAppVersionArguments(ctx, "", version, "x")
	_, checks["status"] = c.DeploymentStatus(ctx, "")
	_, checks["stop"] = c.StopDeployment(ctx, "")
	_, checks["context url"] = c.GetContext(ctx, "not-a-url", "t")
	_, checks["context token"] = c.GetContext(ctx, srv.URL()+"/v1/context/x/1", "")
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if calls := srv.Stats().Calls; len(calls) != 0 {
		t.Errorf("invalid input reached the server: %v", calls)
	}
	for _, base := range []string{"ftp://x", "://", "localhost:8080"} {
		if _, err := edgegap.New(edgegap.Config{BaseURL: base}); err == nil {
			t.Errorf("New accepted base url %q", base)
		}
	}
	c0, err := edgegap.New(edgegap.Config{})
	if err != nil || c0.BaseURL() != edgegap.DefaultBaseURL {
		t.Errorf("default base url %v, %v", c0, err)
	}
}

func TestGetContextUnauthorized(t *testing.T) {
	infos := make(chan edgegapsim.DeploymentInfo, 1)
	srv := simtest.Start(t, edgegapsim.Config{OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		infos <- info
		return edgegapsim.DeployHandle{}, nil
	}})
	c := newClient(t, srv, nil)
	if _, err := c.CreateSession(t.Context(), edgegap.SessionRequest{AppName: appName}); err != nil {
		t.Fatal(err)
	}
	info := <-infos
	_, err := c.GetContext(t.Context(), info.ContextURL, "wrong-token")
	if !edgegap.IsUnauthorized(err) {
		t.Errorf("GetContext with a wrong token = %v", err)
	}
}

func TestParseWebhookRejectsGarbage(t *testing.T) {
	for _, body := range []string{``, `[]`, `{}`, `{"session_id": 3}`} {
		if _, err := edgegap.ParseWebhook([]byte(body)); err == nil {
			t.Errorf("ParseWebhook(%q) accepted", body)
		}
	}
}
