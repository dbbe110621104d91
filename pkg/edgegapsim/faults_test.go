package edgegapsim_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

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

// PUT /_sim/faults/{endpoint} sets endpoint faults from another process;
// "*" sets every endpoint; bad bodies and unknown endpoints are refused.
func TestFaultsAdminEndpoint(t *testing.T) {
	srv, c := start(t, edgegapsim.Config{})
	c.mustStatus(c.do("PUT", "/_sim/faults/"+edgegapsim.EndpointApplicationsGet, `{"error_rate":1,"error_status":502,"latency":"1ms"}`), 200)
	c.mustStatus(c.do("GET", "/v1/apps", nil), 502)
	if f := srv.EndpointFaultsOf(edgegapsim.EndpointApplicationsGet); f.ErrorRate != 1 || f.Latency != time.Millisecond {
		t.Errorf("faults %+v", f)
	}
	c.mustStatus(c.do("PUT", "/_sim/faults/*", `{"ghost_rate":0.5}`), 200)
	for _, ep := range edgegapsim.Endpoints() {
		if f := srv.EndpointFaultsOf(ep); f.GhostRate != 0.5 || f.ErrorRate != 0 {
			t.Errorf("%s: %+v", ep, f)
		}
	}
	var got map[string]map[string]any
	c.mustStatus(c.do("GET", "/_sim/faults", nil), 200).decode(t, &got)
	if len(got) != len(edgegapsim.Endpoints()) || got[edgegapsim.EndpointSessionPost]["ghost_rate"] != 0.5 {
		t.Errorf("GET /_sim/faults: %v", got)
	}
	c.mustStatus(c.do("PUT", "/_sim/faults/"+edgegapsim.EndpointApplicationsGet, `{}`), 200)
	c.mustStatus(c.do("GET", "/v1/apps", nil), 200)
	c.mustStatus(c.do("PUT", "/_sim/faults/nope", `{}`), 404)
	c.mustStatus(c.do("PUT", "/_sim/faults/*", `{"error_rate":2}`), 400)
	c.mustStatus(c.do("PUT", "/_sim/faults/*", `{"latency":"soon"}`), 400)
	c.mustStatus(c.do("PUT", "/_sim/faults/*", `{"bogus":1}`), 400)
}
