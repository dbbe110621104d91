package edgegapsim_test

import (
	"testing"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

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
