package edgegap_test

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/simtest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

func TestDeploymentQueryRoundTrip(t *testing.T) {
	if s, err := (edgegap.DeploymentQuery{}).Encode(); s != "" || err != nil {
		t.Errorf("zero query = %q, %v", s, err)
	}
	q := edgegap.DeploymentQuery{Tags: []string{"bevygap", "fleet-a"}, Status: "READY", RequestIDs: []string{"a1", "b2"}}
	s, err := q.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"filters":[{"field":"tags","operator":"contains","value":"bevygap"},{"field":"tags","operator":"contains","value":"fleet-a"},{"field":"status","operator":"eq","value":"ready"},{"field":"request_id","operator":"in","value":["a1","b2"]}]}`
	if s != want {
		t.Errorf("Encode = %s\nwant     %s", s, want)
	}
	back, err := edgegap.DecodeDeploymentQuery(s)
	q.Status = "ready"
	if err != nil || !reflect.DeepEqual(back, q) {
		t.Errorf("Decode = %+v, %v", back, err)
	}
	// The spec's own example decodes.
	if q, err := edgegap.DecodeDeploymentQuery(`{"filters":[{"field":"status","operator":"eq","value":"ready"}]}`); err != nil || q.Status != "ready" {
		t.Errorf("spec example = %+v, %v", q, err)
	}
	for doc, want := range map[string]string{
		`{"filters":[{"field":"colour","operator":"eq","value":"red"}]}`:     `field "colour"`,
		`{"filters":[{"field":"tags","operator":"eq","value":"x"}]}`:         `operator "eq"`,
		`{"filters":[{"field":"tags","operator":"contains","value":3}]}`:     "(tags): value",
		`{"filters":[{"field":"request_id","operator":"in","value":[]}]}`:    "empty list",
		`{"filters":[{"field":"tags","operator":"contains","value":"a b"}]}`: "no spaces",
		`nope`: "not a filter document",
		strings.Repeat(" ", edgegap.MaxQueryBytes+1): "at most",
	} {
		if _, err := edgegap.DecodeDeploymentQuery(doc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%.60q) = %v, want an error about %q", doc, err, want)
		}
	}
}

func TestDeploymentInputValidation(t *testing.T) {
	srv := simtest.Start(t, edgegapsim.Config{})
	c := newClient(t, srv, nil)
	ctx := t.Context()
	ok := edgegap.DeploymentRequest{App: appName, Version: version, Users: []edgegap.DeploymentUser{edgegap.UserAtIP("1.2.3.4")}}
	with := func(mod func(*edgegap.DeploymentRequest)) edgegap.DeploymentRequest {
		r := ok
		mod(&r)
		return r
	}
	const secret = "hunter2-secret"
	cases := map[string]struct {
		req  edgegap.DeploymentRequest
		want string
	}{
		"no app":     {with(func(r *edgegap.DeploymentRequest) { r.App = "" }), "application is required"},
		"no version": {with(func(r *edgegap.DeploymentRequest) { r.Version = "" }), "version is required"},
		"no users":   {with(func(r *edgegap.DeploymentRequest) { r.Users = nil }), "at least one user"},
		"bad ip":     {with(func(r *edgegap.DeploymentRequest) { r.Users = []edgegap.DeploymentUser{edgegap.UserAtIP("300.1.1.1")} }), "users[0].ip_address"},
		"empty user": {with(func(r *edgegap.DeploymentRequest) { r.Users = []edgegap.DeploymentUser{{}} }), "users[0]: no IP"},
		"both": {with(func(r *edgegap.DeploymentRequest) {
			r.Users = []edgegap.DeploymentUser{{IP: "1.2.3.4", Geo: &edgegap.GeoPoint{}}}
		}), "not both"},
		"latitude":     {with(func(r *edgegap.DeploymentRequest) { r.Users = []edgegap.DeploymentUser{edgegap.UserAt(91, 0)} }), "users[0].latitude"},
		"longitude":    {with(func(r *edgegap.DeploymentRequest) { r.Users = []edgegap.DeploymentUser{edgegap.UserAt(0, math.NaN())} }), "users[0].longitude"},
		"tag too long": {with(func(r *edgegap.DeploymentRequest) { r.Tags = []string{strings.Repeat("t", 41)} }), "tags[0]"},
		"tag slash":    {with(func(r *edgegap.DeploymentRequest) { r.Tags = []string{"a/b"} }), "tags[0]"},
		"env key": {with(func(r *edgegap.DeploymentRequest) {
			r.Env = []edgegap.EnvVar{{Key: "A-B", Value: secret, Hidden: true}}
		}), "environment_variables[0].key"},
		"env twice": {with(func(r *edgegap.DeploymentRequest) {
			r.Env = []edgegap.EnvVar{{Key: "A", Value: secret}, {Key: "A", Value: secret}}
		}), "set twice"},
		"env value": {with(func(r *edgegap.DeploymentRequest) {
			r.Env = []edgegap.EnvVar{{Key: "A", Value: secret + strings.Repeat("x", edgegap.MaxEnvValueLen), Hidden: true}}
		}), "at most 32768"},
		"webhook":   {with(func(r *edgegap.DeploymentRequest) { r.WebhookOnReady = "ftp://x/?secret=" + secret }), "webhook_on_ready"},
		"resources": {with(func(r *edgegap.DeploymentRequest) { r.Resources = &edgegap.Resources{CPUUnits: 10, MemoryMiB: 512} }), "resources"},
	}
	for name, tc := range cases {
		_, err := c.CreateDeployment(ctx, tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows a secret: %v", name, err)
		}
	}
	other := map[string]error{}
	_, other["status id"] = c.DeploymentStatus(ctx, "a/b")
	_, other["stop id"] = c.StopDeployment(ctx, "")
	_, other["page"] = c.ListDeploymentsPage(ctx, edgegap.DeploymentQuery{}, 0, 10)
	_, other["query"] = c.ListDeployments(ctx, edgegap.DeploymentQuery{Tags: []string{""}})
	_, other["bulk none"] = c.BulkStopDeployments(ctx)
	_, other["bulk field"] = c.BulkStopDeployments(ctx, edgegap.DeploymentStopFilter{Field: edgegap.BulkStopSessionID, Type: edgegap.FilterAny, Values: []string{"x"}})
	_, other["bulk type"] = c.BulkStopDeployments(ctx, edgegap.DeploymentStopFilter{Field: edgegap.BulkStopRequestID, Type: "some", Values: []string{"x"}})
	_, other["bulk values"] = c.BulkStopDeployments(ctx, edgegap.DeploymentStopFilter{Field: edgegap.BulkStopRequestID, Type: edgegap.FilterAny})
	_, other["tag add"] = c.AddDeploymentTag(ctx, "a1", "")
	_, other["tag list"] = c.ListDeploymentTags(ctx, "")
	other["tag delete"] = c.DeleteDeploymentTag(ctx, "a1", "x y")
	for name, err := range other {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if calls := srv.Stats().Calls; len(calls) != 0 {
		t.Errorf("invalid input reached the server: %v", calls)
	}
}
