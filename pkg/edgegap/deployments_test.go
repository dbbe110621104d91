package edgegap_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/simtest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// hookSink receives deployment webhooks on loopback, checking the secret
// query parameter as a real receiver must.
type hookSink struct {
	*httptest.Server
	got chan hookCall
}

type hookCall struct {
	kind string
	body []byte
}

const hookSecret = "s3cret"

func newHookSink(t *testing.T) *hookSink {
	t.Helper()
	h := &hookSink{got: make(chan hookCall, 64)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("secret") != hookSecret {
			http.Error(w, "bad secret", http.StatusForbidden)
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, edgegap.MaxWebhookBytes+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.got <- hookCall{kind: strings.TrimPrefix(r.URL.Path, "/"), body: b}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookSink) url(kind string) string { return h.URL + "/" + kind + "?secret=" + hookSecret }

// next waits for the next webhook and parses it.
func (h *hookSink) next(t *testing.T) (string, *edgegap.DeploymentStatus) {
	t.Helper()
	select {
	case c := <-h.got:
		st, err := edgegap.ParseDeploymentWebhook(c.body)
		if err != nil {
			t.Fatalf("%s webhook %s: %v", c.kind, c.body, err)
		}
		return c.kind, st
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook within 10 s")
	}
	return "", nil
}

func deployReq(tags ...string) edgegap.DeploymentRequest {
	return edgegap.DeploymentRequest{App: appName, Version: version, Users: []edgegap.DeploymentUser{edgegap.UserAtIP("1.2.3.4")}, Tags: tags}
}

// A deployment asked to stop before it is ready answers 202, becomes ready,
// fires its ready webhook and stops at once (terminated webhook); a second
// stop and a stop of an unknown id are "already gone".
func TestDeploymentStopBeforeReady(t *testing.T) {
	var mu sync.Mutex
	var env map[string]string
	srv := simtest.Start(t, edgegapsim.Config{DeployDelay: 200 * time.Millisecond, OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		mu.Lock()
		env = info.Env
		mu.Unlock()
		return edgegapsim.DeployHandle{}, nil
	}})
	c := newClient(t, srv, nil)
	ctx := t.Context()
	hooks := newHookSink(t)
	req := edgegap.DeploymentRequest{
		App: appName, Version: version,
		Users:                  []edgegap.DeploymentUser{edgegap.UserAtIP("::ffff:1.2.3.4"), edgegap.UserAt(45.5, -73.5)},
		Env:                    []edgegap.EnvVar{{Key: "SEAT_TOKEN", Value: "hidden-value", Hidden: true}, {Key: "MODE", Value: "duel"}},
		Tags:                   []string{"bevygap", "fleet-a"},
		RequireCachedLocations: true,
		Resources:              &edgegap.Resources{CPUUnits: 256, MemoryMiB: 512},
		WebhookOnReady:         hooks.url("ready"),
		WebhookOnError:         hooks.url("error"),
		WebhookOnTerminated:    hooks.url("terminated"),
	}
	created, err := c.CreateDeployment(ctx, req)
	if err != nil || created.RequestID == "" {
		t.Fatalf("CreateDeployment = %+v, %v", created, err)
	}
	id := created.RequestID
	st, err := c.DeploymentStatus(ctx, id)
	if err != nil || st.CurrentStatus != edgegap.StatusDeploying || st.Ready() || !slices.Equal(st.Tags, req.Tags) {
		t.Fatalf("status before ready = %+v, %v", st, err)
	}
	outcome, err := c.StopDeployment(ctx, id)
	if err != nil || outcome != edgegap.StopPending {
		t.Fatalf("stop before ready = %v, %v; want %v", outcome, err, edgegap.StopPending)
	}
	kind, ready := hooks.next(t)
	if kind != "ready" || ready.RequestID != id || !ready.Ready() || ready.PublicIP != edgegapsim.DefaultPublicIP ||
		ready.Location == nil || ready.Location.City != "Montreal" || ready.Ports[edgegapsim.DefaultPortName].External == 0 {
		t.Errorf("%s webhook = %+v", kind, ready)
	}
	kind, gone := hooks.next(t)
	if kind != "terminated" || gone.RequestID != id || gone.Running || gone.RemovalTime == "" {
		t.Errorf("%s webhook = %+v", kind, gone)
	}
	mu.Lock()
	if env["SEAT_TOKEN"] != "hidden-value" || env["MODE"] != "duel" || env["ARBITRIUM_REQUEST_ID"] != id {
		t.Errorf("injected env %v", env)
	}
	mu.Unlock()

	if _, err := c.StopDeployment(ctx, id); !edgegap.IsAlreadyGone(err) || !edgegap.IsGone(err) {
		t.Errorf("second stop = %v, want already gone (410)", err)
	}
	if _, err := c.StopDeployment(ctx, "feedc0ffee00"); !edgegap.IsAlreadyGone(err) || !edgegap.IsNotFound(err) {
		t.Errorf("stop of an unknown id = %v, want already gone (404)", err)
	}
	if _, err := c.DeploymentStatus(ctx, "feedc0ffee00"); !edgegap.IsNotFound(err) {
		t.Errorf("status of an unknown id = %v, want not found", err)
	}
	if n := srv.Stats().Count(edgegapsim.EndpointDeploymentCreate, http.StatusAccepted); n != 1 {
		t.Errorf("%d creates answered 202, want 1", n)
	}
}

// A ready deployment stops with 200; one that stops itself through
// ARBITRIUM_DELETE_URL sends its terminated webhook too.
func TestDeploymentStopWhenReadyAndSelfStop(t *testing.T) {
	infos := make(chan edgegapsim.DeploymentInfo, 2)
	srv := simtest.Start(t, edgegapsim.Config{OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		infos <- info
		return edgegapsim.DeployHandle{}, nil
	}})
	c := newClient(t, srv, nil)
	ctx := t.Context()
	hooks := newHookSink(t)
	req := deployReq("bevygap")
	req.WebhookOnReady, req.WebhookOnTerminated = hooks.url("ready"), hooks.url("terminated")

	first, err := c.CreateDeployment(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	<-infos
	if kind, st := hooks.next(t); kind != "ready" || st.RequestID != first.RequestID {
		t.Fatalf("%s webhook for %s", kind, st.RequestID)
	}
	if outcome, err := c.StopDeployment(ctx, first.RequestID); err != nil || outcome != edgegap.StopStopped {
		t.Errorf("stop when ready = %v, %v; want %v", outcome, err, edgegap.StopStopped)
	}
	if kind, st := hooks.next(t); kind != "terminated" || st.RequestID != first.RequestID {
		t.Errorf("%s webhook for %s", kind, st.RequestID)
	}

	second, err := c.CreateDeployment(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	info := <-infos
	if kind, _ := hooks.next(t); kind != "ready" {
		t.Fatalf("%s webhook", kind)
	}
	self, err := http.NewRequestWithContext(ctx, http.MethodDelete, info.Env["ARBITRIUM_DELETE_URL"], nil)
	if err != nil {
		t.Fatal(err)
	}
	self.Header.Set("Authorization", info.Env["ARBITRIUM_DELETE_TOKEN"])
	rsp, err := http.DefaultClient.Do(self)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		t.Fatalf("self-stop: %s", rsp.Status)
	}
	if kind, st := hooks.next(t); kind != "terminated" || st.RequestID != second.RequestID {
		t.Errorf("%s webhook for %s after self-stop", kind, st.RequestID)
	}
	if left, err := c.ListDeployments(ctx, edgegap.DeploymentQuery{Tags: []string{"bevygap"}}); err != nil || len(left) != 0 {
		t.Errorf("after both stops: %+v, %v", left, err)
	}
}

// A receiver that does not answer within the webhook timeout gets no
// further webhooks for that deployment.
func TestDeploymentWebhookTimeoutSilencesReceiver(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	srv.SetDeploymentWebhookTimeout(100 * time.Millisecond)
	c := newClient(t, srv, nil)
	release := make(chan struct{})
	var mu sync.Mutex
	var paths []string
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/ready" {
			<-release
		}
	}))
	defer slow.Close()
	defer close(release)
	req := deployReq()
	req.WebhookOnReady, req.WebhookOnTerminated = slow.URL+"/ready", slow.URL+"/terminated"
	d, err := c.CreateDeployment(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopDeployment(t.Context(), d.RequestID); err != nil {
		t.Fatal(err)
	}
	// The ready webhook times out, the terminated one is never sent: both
	// count as failed.
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().WebhooksFailed < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("webhook stats %d sent, %d failed", srv.Stats().WebhooksSent, srv.Stats().WebhooksFailed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(paths, []string{"/ready"}) {
		t.Errorf("receiver got %v, want only /ready", paths)
	}
}

func TestListDeploymentsFilterAndPagination(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	c := newClient(t, srv, func(cfg *edgegap.Config) { cfg.PageSize = 2 })
	ctx := t.Context()
	var fleetA []string
	for i := range 5 {
		tags := []string{"bevygap"}
		if i%2 == 0 {
			tags = append(tags, "fleet-a")
		}
		d, err := c.CreateDeployment(ctx, deployReq(tags...))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			fleetA = append(fleetA, d.RequestID)
		}
	}
	if _, err := c.CreateDeployment(ctx, deployReq("other")); err != nil {
		t.Fatal(err)
	}
	ids := func(ds []edgegap.DeploymentSummary) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.RequestID)
		}
		sort.Strings(out)
		return out
	}
	sort.Strings(fleetA)
	before := srv.Stats().Total(edgegapsim.EndpointDeploymentsGet)
	got, err := c.ListDeployments(ctx, edgegap.DeploymentQuery{Tags: []string{"bevygap", "fleet-a"}})
	if err != nil || !slices.Equal(ids(got), fleetA) {
		t.Fatalf("by tags = %v, %v; want %v", ids(got), err, fleetA)
	}
	if n := srv.Stats().Total(edgegapsim.EndpointDeploymentsGet) - before; n != 2 {
		t.Errorf("3 matches in pages of 2 took %d list calls, want 2", n)
	}
	if got[0].PublicIP == "" || len(got[0].Tags) != 2 || !got[0].Ready {
		t.Errorf("summary %+v", got[0])
	}
	all, err := c.ListDeployments(ctx, edgegap.DeploymentQuery{Status: "ready"})
	if err != nil || len(all) != 6 {
		t.Errorf("ready = %d, %v; want 6", len(all), err)
	}
	if none, err := c.ListDeployments(ctx, edgegap.DeploymentQuery{Status: "deploying"}); err != nil || len(none) != 0 {
		t.Errorf("deploying = %v, %v", none, err)
	}
	byID, err := c.ListDeployments(ctx, edgegap.DeploymentQuery{RequestIDs: fleetA[:2]})
	if err != nil || !slices.Equal(ids(byID), fleetA[:2]) {
		t.Errorf("by request id = %v, %v", ids(byID), err)
	}
	page, err := c.ListDeploymentsPage(ctx, edgegap.DeploymentQuery{Tags: []string{"bevygap"}}, 2, 2)
	if err != nil || len(page.Deployments) != 2 || page.TotalCount != 5 || page.NumPages != 3 || !page.HasNext || page.Page != 2 {
		t.Errorf("page 2 = %+v, %v", page, err)
	}
	// The iterator stops when the caller does, without fetching more pages.
	before = srv.Stats().Total(edgegapsim.EndpointDeploymentsGet)
	for _, err := range c.Deployments(ctx, edgegap.DeploymentQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if n := srv.Stats().Total(edgegapsim.EndpointDeploymentsGet) - before; n != 1 {
		t.Errorf("breaking after the first deployment made %d list calls, want 1", n)
	}
}

func TestDeploymentTagsAndBulkStop(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	c := newClient(t, srv, nil)
	ctx := t.Context()
	a, err := c.CreateDeployment(ctx, deployReq("bevygap"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateDeployment(ctx, deployReq("bevygap"))
	if err != nil {
		t.Fatal(err)
	}
	keep, err := c.CreateDeployment(ctx, deployReq("keep"))
	if err != nil {
		t.Fatal(err)
	}
	tag, err := c.AddDeploymentTag(ctx, a.RequestID, "drain")
	if err != nil || tag.Name != "drain" || tag.CreateTime == "" {
		t.Fatalf("AddDeploymentTag = %+v, %v", tag, err)
	}
	if _, err := edgegap.ParseTime(tag.CreateTime); err != nil {
		t.Errorf("tag create time: %v", err)
	}
	if _, err := c.AddDeploymentTag(ctx, a.RequestID, "drain"); !errors.Is(err, edgegap.ErrConflict) {
		t.Errorf("adding a tag twice = %v, want conflict", err)
	}
	tags, err := c.ListDeploymentTags(ctx, a.RequestID)
	if err != nil || len(tags) != 2 || tags[0].Name != "bevygap" || tags[1].Name != "drain" {
		t.Errorf("ListDeploymentTags = %+v, %v", tags, err)
	}
	if err := c.DeleteDeploymentTag(ctx, a.RequestID, "bevygap"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteDeploymentTag(ctx, a.RequestID, "bevygap"); !edgegap.IsNotFound(err) {
		t.Errorf("deleting a missing tag = %v, want not found", err)
	}
	if st, err := c.DeploymentStatus(ctx, a.RequestID); err != nil || !slices.Equal(st.Tags, []string{"drain"}) {
		t.Errorf("tags in status = %v, %v", st.Tags, err)
	}
	if _, err := c.AddDeploymentTag(ctx, "feedc0ffee00", "x"); !edgegap.IsNotFound(err) {
		t.Errorf("tagging an unknown deployment = %v", err)
	}

	stopped, err := c.BulkStopDeployments(ctx,
		edgegap.DeploymentStopFilter{Field: edgegap.BulkStopDeploymentTag, Type: edgegap.FilterAny, Values: []string{"drain", "bevygap"}},
		edgegap.DeploymentStopFilter{Field: edgegap.BulkStopRequestID, Type: edgegap.FilterNot, Values: []string{keep.RequestID}})
	want := []string{a.RequestID, b.RequestID}
	sort.Strings(want)
	sort.Strings(stopped)
	if err != nil || !slices.Equal(stopped, want) {
		t.Fatalf("BulkStopDeployments = %v, %v; want %v", stopped, err, want)
	}
	left, err := c.ListDeployments(ctx, edgegap.DeploymentQuery{})
	if err != nil || len(left) != 1 || left[0].RequestID != keep.RequestID {
		t.Errorf("left after bulk stop: %+v, %v", left, err)
	}
}

// Create faults: a 422 keeps Edgegap's request id; a ghost create (the
// deployment exists, the answer is a 5xx or a dropped connection) is an
// outcome-unknown error, never retried; a 429 is retried.
func TestCreateDeploymentFaults(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	c := newClient(t, srv, nil)
	ctx := t.Context()
	set := func(f edgegapsim.EndpointFaults) {
		t.Helper()
		if err := srv.SetEndpointFaults(edgegapsim.EndpointDeploymentCreate, f); err != nil {
			t.Fatal(err)
		}
	}

	set(edgegapsim.EndpointFaults{CapacityRate: 1})
	_, err := c.CreateDeployment(ctx, deployReq("capacity"))
	alloc, ok := errors.AsType[*edgegap.AllocationError](err)
	if !ok || !errors.Is(err, edgegap.ErrCouldNotAllocate) || alloc.RequestID == "" || edgegap.StatusCode(err) != 422 || !strings.Contains(err.Error(), alloc.RequestID) {
		t.Errorf("capacity fault = %v", err)
	}

	for _, drop := range []bool{false, true} {
		tag := "ghost-5xx"
		if drop {
			tag = "ghost-drop"
		}
		set(edgegapsim.EndpointFaults{GhostRate: 1, GhostDrop: drop})
		before := srv.Stats().DeploymentsCreated
		_, err := c.CreateDeployment(ctx, deployReq(tag))
		if !edgegap.IsOutcomeUnknown(err) {
			t.Errorf("%s: %v, want outcome unknown", tag, err)
		}
		if _, isOU := errors.AsType[*edgegap.OutcomeUnknownError](err); !isOU {
			t.Errorf("%s: %T is not an *OutcomeUnknownError", tag, err)
		}
		if !drop && edgegap.StatusCode(err) != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want the 500 inside", tag, edgegap.StatusCode(err))
		}
		if n := srv.Stats().DeploymentsCreated - before; n != 1 {
			t.Errorf("%s: %d deployments created, want 1 (sent once, never retried)", tag, n)
		}
		// The ghost exists and is found by its tag.
		set(edgegapsim.EndpointFaults{})
		found, err := c.ListDeployments(ctx, edgegap.DeploymentQuery{Tags: []string{tag}})
		if err != nil || len(found) != 1 {
			t.Errorf("%s: ghost by tag = %+v, %v", tag, found, err)
		}
	}
	st := srv.Stats()
	if st.Count(edgegapsim.EndpointDeploymentCreate, 500) != 1 || st.Count(edgegapsim.EndpointDeploymentCreate, edgegapsim.StatusDropped) != 1 {
		t.Errorf("create calls %v", st.Calls[edgegapsim.EndpointDeploymentCreate])
	}

	if err := srv.SetFaults(edgegapsim.Faults{RetryAfter: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := srv.FailNext(edgegapsim.EndpointDeploymentCreate, 429, 429); err != nil {
		t.Fatal(err)
	}
	before := srv.Stats().DeploymentsCreated
	if _, err := c.CreateDeployment(ctx, deployReq("after-429")); err != nil {
		t.Errorf("429, 429, then success: %v", err)
	}
	if n := srv.Stats().DeploymentsCreated - before; n != 1 {
		t.Errorf("%d deployments after two 429s, want 1", n)
	}
	// A plain 5xx fault on create is outcome unknown too: Edgegap may have
	// acted before failing.
	if err := srv.FailNext(edgegapsim.EndpointDeploymentCreate, 503); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateDeployment(ctx, deployReq("x")); !edgegap.IsOutcomeUnknown(err) || edgegap.StatusCode(err) != 503 {
		t.Errorf("503 on create = %v", err)
	}
}

// With the simulator's limits on (Edgegap's numbers) and the client's
// budget off, creates beyond 40/s get 429 and are retried until they pass;
// every caller gets exactly one deployment.
func TestCreateDeploymentRetries429WithinLimit(t *testing.T) {
	limits := edgegapsim.DefaultRateLimits()
	limits.Deploy = 5
	srv := simtest.Start(t, edgegapsim.Config{RateLimits: &limits})
	srv.SetDeploymentWebhookTimeout(time.Second)
	c := newClient(t, srv, func(cfg *edgegap.Config) { cfg.MaxAttempts = 10 })
	const callers = 12
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			if _, err := c.CreateDeployment(t.Context(), deployReq("burst")); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("create: %v", err)
	}
	st := srv.Stats()
	if st.Count(edgegapsim.EndpointDeploymentCreate, 429) == 0 {
		t.Error("no create was rate limited; the test does not exercise retries")
	}
	if n := st.Count(edgegapsim.EndpointDeploymentCreate, 202); n != callers || st.DeploymentsCreated != callers {
		t.Errorf("%d creates accepted, %d deployments; want %d", n, st.DeploymentsCreated, callers)
	}
}
