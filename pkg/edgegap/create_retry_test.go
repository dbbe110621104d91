package edgegap_test

import (
	"testing"

	"github.com/bevygap/bevygap/internal/simtest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// Creating a session is not idempotent: a 5xx is not retried (Edgegap may
// have created it, and a second one would leak), a 429 is (it was rejected
// before anything happened).
func TestCreateSessionRetriesOnlyWhenNothingHappened(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	c := newClient(t, srv, nil)
	req := edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"1.2.3.4"}}

	if err := srv.FailNext(edgegapsim.EndpointSessionPost, 503); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSession(t.Context(), req); edgegap.StatusCode(err) != 503 {
		t.Fatalf("want the 503, got %v", err)
	}
	if n := srv.Stats().Total(edgegapsim.EndpointSessionPost); n != 1 {
		t.Fatalf("a 503 on create was sent %d times, want 1", n)
	}

	if err := srv.FailNext(edgegapsim.EndpointSessionPost, 429); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSession(t.Context(), req); err != nil {
		t.Fatalf("429 then success: %v", err)
	}
	st := srv.Stats()
	if st.Count(edgegapsim.EndpointSessionPost, 429) != 1 || st.Count(edgegapsim.EndpointSessionPost, 200) != 1 || st.SessionsCreated != 1 {
		t.Fatalf("calls %v, sessions created %d", st.Calls[edgegapsim.EndpointSessionPost], st.SessionsCreated)
	}
}

func TestGamePort(t *testing.T) {
	d := &edgegap.Deployment{Ports: map[string]edgegap.Port{
		"7777": {Name: "game", External: 31001},
		"web":  {Name: "web", External: 31002},
	}}
	for name, want := range map[string]int{"": 31001, "7777": 31001, "game": 31001, "web": 31002, "nope": 31001} {
		if p, ok := d.GamePort(name); !ok || p.External != want {
			t.Errorf("GamePort(%q) = %+v, want external %d", name, p, want)
		}
	}
	if _, ok := (&edgegap.Deployment{}).GamePort(""); ok {
		t.Error("a deployment without ports has a game port")
	}
}

// A ghost session create (created, then the connection dropped or a 5xx)
// is an outcome-unknown error carrying what went wrong, sent once.
func TestCreateSessionGhostIsOutcomeUnknown(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	c := newClient(t, srv, nil)
	req := edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, IPList: []string{"1.2.3.4"}}
	for i, f := range []edgegapsim.EndpointFaults{{GhostRate: 1, GhostDrop: true}, {GhostRate: 1, GhostStatus: 502}} {
		if err := srv.SetEndpointFaults(edgegapsim.EndpointSessionPost, f); err != nil {
			t.Fatal(err)
		}
		_, err := c.CreateSession(t.Context(), req)
		if !edgegap.IsOutcomeUnknown(err) {
			t.Errorf("ghost %+v: %v, want outcome unknown", f, err)
		}
		if !f.GhostDrop && edgegap.StatusCode(err) != 502 {
			t.Errorf("ghost %+v: status %d, want the 502 inside", f, edgegap.StatusCode(err))
		}
		if st := srv.Stats(); st.SessionsCreated != i+1 || st.Total(edgegapsim.EndpointSessionPost) != i+1 {
			t.Errorf("ghost %+v: %d sessions from %d calls, want %d from %d", f, st.SessionsCreated, st.Total(edgegapsim.EndpointSessionPost), i+1, i+1)
		}
	}
}
