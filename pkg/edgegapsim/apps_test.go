package edgegapsim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

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

// A version PATCH names the field it refuses; null arguments clear them.
func TestPatchVersionFieldErrors(t *testing.T) {
	_, c := start(t, edgegapsim.Config{})
	path := "/v1/app/" + edgegapsim.DefaultApp + "/version/" + edgegapsim.DefaultVersion
	for _, tc := range []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"arguments": 3}, "arguments: want a string or null"},
		{map[string]any{"is_active": "yes"}, "is_active: want a boolean"},
		{map[string]any{"docker_tag": " "}, "docker_tag: want a non-empty string"},
		{map[string]any{"docker_image": 1}, "docker_image: want a non-empty string"},
		{map[string]any{"session_config": 1}, "session_config: want an object"},
		{map[string]any{"session_config": map[string]any{"sockets": 0}}, "session_config.sockets: want 1-10000"},
	} {
		if got := errMessage(t, c.mustStatus(c.do("PATCH", path, tc.body), 400)); !strings.Contains(got, tc.want) {
			t.Errorf("PATCH %v: message %q, want %q", tc.body, got, tc.want)
		}
	}
	c.mustStatus(c.do("PATCH", path, map[string]any{"arguments": "x"}), 200)
	v := c.mustStatus(c.do("PATCH", path, map[string]any{"arguments": nil, "is_active": false}), 200).json(t)["version"].(map[string]any)
	if v["arguments"] != nil || v["is_active"] != false {
		t.Errorf("after null arguments and is_active false: %v", v)
	}
}
