package edgegap

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bevygap/bevygap/pkg/edgegap/gen/edgegapv2"
)

// Limits of a DeploymentRequest, checked before anything is sent.
const (
	// MaxTagLen is the longest tag Edgegap accepts (DeploymentTag.name).
	MaxTagLen = 40
	// MaxDeploymentUsers bounds DeploymentRequest.Users.
	MaxDeploymentUsers = 1000
	// MaxDeploymentTags bounds DeploymentRequest.Tags.
	MaxDeploymentTags = 100
	// MaxEnvVars bounds DeploymentRequest.Env.
	MaxEnvVars = 200
	// MaxEnvValueLen bounds one environment variable value, in bytes.
	MaxEnvValueLen = 32 << 10
)

// DeploymentRequest is the body of POST /v2/deployments.
type DeploymentRequest struct {
	// App and Version name the application version to deploy. Required.
	App, Version string
	// Users place the deployment near them: at least one, each either an
	// IP address or geographic coordinates (see UserAtIP, UserAt).
	Users []DeploymentUser
	// Env are environment variables injected into the deployment.
	Env []EnvVar
	// Tags mark the deployment for ListDeployments and bulk stops.
	Tags []string
	// RequireCachedLocations limits placement to locations that have the
	// image cached (faster start).
	RequireCachedLocations bool
	// Resources overrides the app version's CPU and memory, if set.
	Resources *Resources
	// Webhooks Edgegap POSTs the /v1/status body to when the deployment is
	// ready, fails, or is terminated. Absolute http(s) URLs; a secret query
	// parameter is what authenticates them.
	WebhookOnReady, WebhookOnError, WebhookOnTerminated string
}

// DeploymentUser is a player a deployment should be close to: either an IP
// address or geographic coordinates.
type DeploymentUser struct {
	IP  string
	Geo *GeoPoint
}

// GeoPoint is a position in decimal degrees.
type GeoPoint struct {
	Latitude, Longitude float64
}

// UserAtIP is a user located by IP address.
func UserAtIP(ip string) DeploymentUser { return DeploymentUser{IP: ip} }

// UserAt is a user located by coordinates.
func UserAt(latitude, longitude float64) DeploymentUser {
	return DeploymentUser{Geo: &GeoPoint{Latitude: latitude, Longitude: longitude}}
}

// EnvVar is an environment variable of a deployment. A Hidden variable is
// not shown in Edgegap's dashboard; its value never appears in bevygap's
// errors either.
type EnvVar struct {
	Key, Value string
	Hidden     bool
}

// Resources are a deployment's CPU (1024 units = 1 vCPU) and memory.
type Resources struct {
	CPUUnits, MemoryMiB int
}

// CreatedDeployment is Edgegap's 202 answer to POST /v2/deployments.
type CreatedDeployment struct {
	RequestID string `json:"request_id"`
}

// CreateDeployment asks Edgegap for a deployment (POST /v2/deployments). The
// deployment is not ready yet: wait for the ready webhook or poll
// DeploymentStatus.
//
// Like CreateSession it is retried only when Edgegap certainly did nothing
// (a 429 or a failed dial). A 5xx, a connection broken after the request was
// sent, or an unreadable 2xx answer fail with an *OutcomeUnknownError
// (errors.Is(err, ErrOutcomeUnknown)): the deployment may exist; tag
// deployments so that ListDeployments can find it. A 422 "Couldn't Allocate
// Server" fails with an *AllocationError carrying Edgegap's request_id.
func (c *Client) CreateDeployment(ctx context.Context, req DeploymentRequest) (*CreatedDeployment, error) {
	const op = EndpointDeploymentCreate
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	body, err := req.body()
	if err != nil {
		return nil, fmt.Errorf("edgegap %s: %w", op, err)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen2.V2DeploymentCreate(ctx, nil, body)
	})
	if ae, ok := errors.AsType[*APIError](err); ok && ae.Status == http.StatusUnprocessableEntity {
		return nil, &AllocationError{RequestID: ae.RequestID, Err: ae}
	}
	if err != nil {
		return nil, err
	}
	var created CreatedDeployment
	if err := decode(op, rsp, &created); err != nil {
		return nil, &OutcomeUnknownError{Op: op, Err: err}
	}
	if created.RequestID == "" {
		return nil, &OutcomeUnknownError{Op: op, Err: fmt.Errorf("status %d response has no request_id", rsp.status)}
	}
	return &created, nil
}

// body validates r and builds the generated request body.
func (r DeploymentRequest) body() (edgegapv2.DeploymentV2, error) {
	out := edgegapv2.DeploymentV2{Application: r.App, Version: r.Version}
	if err := checkName("application", r.App); err != nil {
		return out, err
	}
	if err := checkName("version", r.Version); err != nil {
		return out, err
	}
	users, err := r.users()
	if err != nil {
		return out, err
	}
	out.Users = users
	if err := r.addEnv(&out); err != nil {
		return out, err
	}
	if len(r.Tags) > 0 {
		if len(r.Tags) > MaxDeploymentTags {
			return out, fmt.Errorf("tags: %d tags, at most %d", len(r.Tags), MaxDeploymentTags)
		}
		for i, t := range r.Tags {
			if err := checkTag(fmt.Sprintf("tags[%d]", i), t); err != nil {
				return out, err
			}
		}
		tags := append([]string(nil), r.Tags...)
		out.Tags = &tags
	}
	if r.RequireCachedLocations {
		out.RequireCachedLocations = &r.RequireCachedLocations
	}
	if r.Resources != nil {
		if r.Resources.CPUUnits < 100 || r.Resources.MemoryMiB < 100 {
			return out, fmt.Errorf("resources: cpu_units %d and memory_mib %d must each be at least 100", r.Resources.CPUUnits, r.Resources.MemoryMiB)
		}
		out.Resources = &struct {
			CpuUnits  int `json:"cpu_units"`
			MemoryMib int `json:"memory_mib"`
		}{r.Resources.CPUUnits, r.Resources.MemoryMiB}
	}
	for _, w := range []struct {
		field, url string
		dst        **edgegapv2.BasicWebhook
	}{
		{"webhook_on_ready", r.WebhookOnReady, &out.WebhookOnReady},
		{"webhook_on_error", r.WebhookOnError, &out.WebhookOnError},
		{"webhook_on_terminated", r.WebhookOnTerminated, &out.WebhookOnTerminated},
	} {
		if w.url == "" {
			continue
		}
		if err := checkWebhookURL(w.field, w.url); err != nil {
			return out, err
		}
		*w.dst = &edgegapv2.BasicWebhook{Url: w.url}
	}
	return out, nil
}

type v2User = struct {
	UserData map[string]interface{} `json:"user_data"`
	UserType string                 `json:"user_type"`
}

func (r DeploymentRequest) users() ([]v2User, error) {
	if len(r.Users) == 0 {
		return nil, errors.New("users: at least one user is required (an IP address or coordinates)")
	}
	if len(r.Users) > MaxDeploymentUsers {
		return nil, fmt.Errorf("users: %d users, at most %d", len(r.Users), MaxDeploymentUsers)
	}
	out := make([]v2User, len(r.Users))
	for i, u := range r.Users {
		switch {
		case u.IP != "" && u.Geo != nil:
			return nil, fmt.Errorf("users[%d]: set either an IP address or coordinates, not both", i)
		case u.IP != "":
			a, err := netip.ParseAddr(u.IP)
			if err != nil {
				return nil, fmt.Errorf("users[%d].ip_address %q is not an IP address", i, u.IP)
			}
			out[i] = v2User{UserType: "ip_address", UserData: map[string]any{"ip_address": a.Unmap().String()}}
		case u.Geo != nil:
			lat, lon := u.Geo.Latitude, u.Geo.Longitude
			if math.IsNaN(lat) || lat < -90 || lat > 90 {
				return nil, fmt.Errorf("users[%d].latitude %v: want -90 to 90", i, lat)
			}
			if math.IsNaN(lon) || lon < -180 || lon > 180 {
				return nil, fmt.Errorf("users[%d].longitude %v: want -180 to 180", i, lon)
			}
			out[i] = v2User{UserType: "geo_coordinates", UserData: map[string]any{"latitude": lat, "longitude": lon}}
		default:
			return nil, fmt.Errorf("users[%d]: no IP address and no coordinates", i)
		}
	}
	return out, nil
}

func (r DeploymentRequest) addEnv(out *edgegapv2.DeploymentV2) error {
	if len(r.Env) == 0 {
		return nil
	}
	if len(r.Env) > MaxEnvVars {
		return fmt.Errorf("environment_variables: %d variables, at most %d", len(r.Env), MaxEnvVars)
	}
	env := make([]struct {
		IsHidden bool   `json:"is_hidden"`
		Key      string `json:"key"`
		Value    string `json:"value"`
	}, len(r.Env))
	seen := make(map[string]bool, len(r.Env))
	for i, e := range r.Env {
		// Values are never quoted in errors: hidden ones are secrets.
		if e.Key == "" || strings.ContainsFunc(e.Key, func(r rune) bool { return !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) }) {
			return fmt.Errorf("environment_variables[%d].key %q: want letters, digits and _", i, e.Key)
		}
		if seen[e.Key] {
			return fmt.Errorf("environment_variables[%d].key %q is set twice", i, e.Key)
		}
		seen[e.Key] = true
		if len(e.Value) > MaxEnvValueLen {
			return fmt.Errorf("environment_variables[%d] (%s): value is %d bytes, at most %d", i, e.Key, len(e.Value), MaxEnvValueLen)
		}
		if !utf8.ValidString(e.Value) {
			return fmt.Errorf("environment_variables[%d] (%s): value is not valid UTF-8", i, e.Key)
		}
		env[i].Key, env[i].Value, env[i].IsHidden = e.Key, e.Value, e.Hidden
	}
	out.EnvironmentVariables = &env
	return nil
}

// checkName checks a required application or version name.
func checkName(field, v string) error {
	if v == "" {
		return fmt.Errorf("%s is required", field)
	}
	if len(v) > 256 || strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("%s %q: at most 256 bytes, no control characters", field, v)
	}
	return nil
}

// checkTag checks a deployment tag: 1 to MaxTagLen characters, printable,
// no '/' (tags are path segments of the tag endpoints).
func checkTag(field, tag string) error {
	if tag == "" || utf8.RuneCountInString(tag) > MaxTagLen {
		return fmt.Errorf("%s %q: want 1 to %d characters", field, tag, MaxTagLen)
	}
	if !utf8.ValidString(tag) || strings.ContainsFunc(tag, func(r rune) bool { return r == '/' || unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return fmt.Errorf("%s %q: no spaces, control characters or '/'", field, tag)
	}
	return nil
}

// checkWebhookURL checks an absolute http(s) URL. The URL is not quoted in
// the error: its query usually carries a secret.
func checkWebhookURL(field, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: want an absolute http(s) url", field)
	}
	if len(v) > 2048 {
		return fmt.Errorf("%s: url is %d bytes, at most 2048", field, len(v))
	}
	return nil
}
