package edgegap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

// GetApp returns an application (GET /v1/app/{name}).
func (c *Client) GetApp(ctx context.Context, name string) (*App, error) {
	const op = EndpointApplicationGet
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("edgegap %s: app name is required", op)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.ApplicationGet(ctx, name)
	})
	if err != nil {
		return nil, err
	}
	var a gen.Application
	if err := decode(op, rsp, &a); err != nil {
		return nil, err
	}
	app := fromApp(a)
	return &app, nil
}

// ListApps returns all applications of the account (GET /v1/apps).
func (c *Client) ListApps(ctx context.Context) ([]App, error) {
	const op = EndpointApplicationsGet
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.ApplicationsGet(ctx)
	})
	if err != nil {
		return nil, err
	}
	var as gen.Applications
	if err := decode(op, rsp, &as); err != nil {
		return nil, err
	}
	out := []App{}
	for _, a := range ptrSlice(as.Applications) {
		out = append(out, fromApp(a))
	}
	return out, nil
}

// GetAppVersion returns an app version (GET
// /v1/app/{app}/version/{version}), including is_active, the docker tag and
// the current docker arguments.
func (c *Client) GetAppVersion(ctx context.Context, app, version string) (*AppVersion, error) {
	const op = EndpointAppVersionGet
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if app == "" || version == "" {
		return nil, fmt.Errorf("edgegap %s: app name and version name are required", op)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.AppVersionGet(ctx, app, version)
	})
	if err != nil {
		return nil, err
	}
	var v versionJSON
	if err := decode(op, rsp, &v); err != nil {
		return nil, err
	}
	out := fromVersion(v)
	return &out, nil
}

// AppVersionArguments returns the docker arguments currently set on an app
// version (the undocumented "arguments" field of its GET response).
func (c *Client) AppVersionArguments(ctx context.Context, app, version string) (string, error) {
	v, err := c.GetAppVersion(ctx, app, version)
	if err != nil {
		return "", err
	}
	return v.Arguments, nil
}

// ListAppVersions returns the versions of an application (GET
// /v1/app/{app}/versions).
func (c *Client) ListAppVersions(ctx context.Context, app string) ([]AppVersion, error) {
	const op = EndpointAppVersionsGet
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if app == "" {
		return nil, fmt.Errorf("edgegap %s: app name is required", op)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.AppVersionsGet(ctx, app)
	})
	if err != nil {
		return nil, err
	}
	var l struct {
		Versions []versionJSON `json:"versions"`
	}
	if err := decode(op, rsp, &l); err != nil {
		return nil, err
	}
	out := []AppVersion{}
	for _, v := range l.Versions {
		out = append(out, fromVersion(v))
	}
	return out, nil
}

// PatchAppVersionArguments sets the docker arguments of an app version
// (PATCH /v1/app/{app}/version/{version} with the raw body
// {"arguments": "..."}; the spec's model has no such field) and returns the
// version as Edgegap echoes it back.
func (c *Client) PatchAppVersionArguments(ctx context.Context, app, version, arguments string) (*AppVersion, error) {
	const op = EndpointAppVersionsPatch
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if app == "" || version == "" {
		return nil, fmt.Errorf("edgegap %s: app name and version name are required", op)
	}
	body, err := json.Marshal(struct {
		Arguments string `json:"arguments"`
	}{arguments})
	if err != nil {
		return nil, fmt.Errorf("edgegap %s: encode body: %w", op, err)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.AppVersionsPatchWithBody(ctx, app, version, "application/json", bytes.NewReader(body))
	})
	if err != nil {
		return nil, err
	}
	var r struct {
		Success *bool        `json:"success"`
		Version *versionJSON `json:"version"`
	}
	if err := decode(op, rsp, &r); err != nil {
		return nil, err
	}
	if r.Success != nil && !*r.Success {
		return nil, fmt.Errorf("edgegap %s: server answered success=false", op)
	}
	if r.Version == nil {
		return &AppVersion{Name: version, Arguments: arguments, Ports: []VersionPort{}}, nil
	}
	out := fromVersion(*r.Version)
	return &out, nil
}
