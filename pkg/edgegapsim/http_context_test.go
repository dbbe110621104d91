package edgegapsim_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

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
