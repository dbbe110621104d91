package edgegapsim

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/bevygap/bevygap/pkg/edgegap"
)

// deploymentV2 is what POST /v2/deployments asked for: a deployment without
// sessions, which runs until it is stopped (no empty TTL, no seats).
type deploymentV2 struct {
	initialTags []string
	env         map[string]string
	webhooks    [numHooks]string // by hookKind; "" = none
	// hooksDead is set once a webhook receiver did not answer in time:
	// Edgegap then sends this deployment no further webhooks.
	hooksDead atomic.Bool
	// lastHook is closed when the deployment's latest webhook delivery
	// ended; the next one waits for it so that receivers see ready (or
	// error) before terminated.
	lastHook chan struct{}
}

// hookKind is one of the three deployment webhooks.
type hookKind int

const (
	hookReady hookKind = iota
	hookError
	hookTerminated
	numHooks
)

func (k hookKind) String() string {
	return [...]string{"webhook_on_ready", "webhook_on_error", "webhook_on_terminated"}[k]
}

// v2Request is the body of POST /v2/deployments (the DeploymentV2 schema).
type v2Request struct {
	Application string `json:"application"`
	Version     string `json:"version"`
	Users       []struct {
		UserType string         `json:"user_type"`
		UserData map[string]any `json:"user_data"`
	} `json:"users"`
	EnvironmentVariables []struct {
		Key      string `json:"key"`
		Value    string `json:"value"`
		IsHidden *bool  `json:"is_hidden"`
	} `json:"environment_variables"`
	Tags                   []string `json:"tags"`
	RequireCachedLocations *bool    `json:"require_cached_locations"`
	Resources              *struct {
		CPUUnits  int `json:"cpu_units"`
		MemoryMiB int `json:"memory_mib"`
	} `json:"resources"`
	WebhookOnReady      *struct{ URL string } `json:"webhook_on_ready"`
	WebhookOnError      *struct{ URL string } `json:"webhook_on_error"`
	WebhookOnTerminated *struct{ URL string } `json:"webhook_on_terminated"`
}

// validate checks the body as Edgegap's schema does and returns the
// deployment's extras.
func (req *v2Request) validate() (*deploymentV2, *apiError) {
	if req.Application == "" || req.Version == "" {
		return nil, badRequest("application and version are required")
	}
	if len(req.Users) == 0 {
		return nil, badRequest("users: at least one user is required")
	}
	for i, u := range req.Users {
		if err := checkUser(u.UserType, u.UserData); err != nil {
			return nil, badRequest("users[%d]: %v", i, err)
		}
	}
	if r := req.Resources; r != nil && (r.CPUUnits < 100 || r.MemoryMiB < 100) {
		return nil, badRequest("resources: cpu_units and memory_mib must be at least 100")
	}
	v2 := &deploymentV2{env: map[string]string{}}
	for i, e := range req.EnvironmentVariables {
		if e.Key == "" || e.IsHidden == nil {
			return nil, badRequest("environment_variables[%d]: key, value and is_hidden are required", i)
		}
		v2.env[e.Key] = e.Value
	}
	for i, t := range req.Tags {
		if t == "" || len(t) > edgegap.MaxTagLen {
			return nil, badRequest("tags[%d]: want 1 to %d characters", i, edgegap.MaxTagLen)
		}
		if !slices.Contains(v2.initialTags, t) {
			v2.initialTags = append(v2.initialTags, t)
		}
	}
	for kind, w := range map[hookKind]*struct{ URL string }{
		hookReady: req.WebhookOnReady, hookError: req.WebhookOnError, hookTerminated: req.WebhookOnTerminated,
	} {
		if w == nil {
			continue
		}
		if !validWebhookURL(w.URL) {
			return nil, badRequest("%s.url: want an absolute http(s) url", kind)
		}
		v2.webhooks[kind] = w.URL
	}
	return v2, nil
}

func checkUser(kind string, data map[string]any) error {
	switch kind {
	case "ip_address":
		ip, _ := data["ip_address"].(string)
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("user_data.ip_address %q is not an IP address", ip)
		}
	case "geo_coordinates":
		lat, ok1 := data["latitude"].(float64)
		lon, ok2 := data["longitude"].(float64)
		if !ok1 || !ok2 || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return fmt.Errorf("user_data: want latitude in [-90, 90] and longitude in [-180, 180]")
		}
	default:
		return fmt.Errorf("user_type %q: want ip_address or geo_coordinates", kind)
	}
	return nil
}

// createV2Locked starts a deployment for POST /v2/deployments. It goes
// DEPLOYING -> READY after the deploy delay, with the same OnDeploy hook as
// a session's deployment.
func (s *Simulator) createV2Locked(req *v2Request) (*deployment, *apiError) {
	v2, aerr := req.validate()
	if aerr != nil {
		return nil, aerr
	}
	a := s.apps[req.Application]
	if a == nil || a.inactive {
		return nil, badRequest("application %q not found or inactive", req.Application)
	}
	v := a.version(req.Version)
	if v == nil || v.inactive {
		return nil, badRequest("version %q of %s not found or inactive", req.Version, req.Application)
	}
	d := s.startDeploymentLocked(a, v, v2)
	if d.ready {
		s.settledLocked(d)
	}
	return d, nil
}

// settledLocked runs when a deployment reached READY or ERROR: its webhook
// fires, and a stop that was accepted with 202 before now happens.
func (s *Simulator) settledLocked(d *deployment) {
	if d.failed {
		s.deploymentWebhookLocked(d, hookError)
	} else {
		s.deploymentWebhookLocked(d, hookReady)
	}
	if d.stopPending {
		s.stopLocked(d)
	}
}

// stopStatusLocked applies DELETE /v1/stop to a known deployment: 200 and
// stopped at once when READY or ERROR, 202 and stopped once it gets there
// otherwise, 410 when already terminated.
func (s *Simulator) stopStatusLocked(d *deployment) int {
	switch {
	case d.stopped:
		return http.StatusGone
	case d.ready || d.failed:
		s.stopLocked(d)
		return http.StatusOK
	}
	d.stopPending = true
	return http.StatusAccepted
}

// tagList returns the deployment's tags, never nil.
func (d *deployment) tagList() []string {
	if d.tags == nil {
		return []string{}
	}
	return d.tags
}

// statusName is a deployment's status as the list filter spells it.
func statusName(d *deployment) string {
	return strings.ToLower(strings.TrimPrefix(d.status(), "Status."))
}

// matches reports whether a deployment satisfies a list query.
func matches(d *deployment, q edgegap.DeploymentQuery) bool {
	for _, t := range q.Tags {
		if !slices.Contains(d.tags, t) {
			return false
		}
	}
	if q.Status != "" && statusName(d) != strings.ToLower(q.Status) {
		return false
	}
	return len(q.RequestIDs) == 0 || slices.Contains(q.RequestIDs, d.id)
}

// bulkFilter is one filter of POST /v1/deployments/bulk-stop.
type bulkFilter struct {
	Field      string   `json:"field"`
	Values     []string `json:"values"`
	FilterType string   `json:"filter_type"`
}

func (f bulkFilter) check(i int) *apiError {
	if f.Field != string(edgegap.BulkStopRequestID) && f.Field != string(edgegap.BulkStopDeploymentTag) {
		return badRequest("filters[%d].field %q: want request_id or deployment_tags", i, f.Field)
	}
	switch edgegap.FilterType(f.FilterType) {
	case edgegap.FilterAny, edgegap.FilterAll, edgegap.FilterNot:
	default:
		return badRequest("filters[%d].filter_type %q: want any, all or not", i, f.FilterType)
	}
	if len(f.Values) == 0 {
		return badRequest("filters[%d].values: at least one value is required", i)
	}
	return nil
}

func (f bulkFilter) match(d *deployment) bool {
	have := func(v string) bool {
		if f.Field == string(edgegap.BulkStopRequestID) {
			return d.id == v
		}
		return slices.Contains(d.tags, v)
	}
	n := 0
	for _, v := range f.Values {
		if have(v) {
			n++
		}
	}
	switch edgegap.FilterType(f.FilterType) {
	case edgegap.FilterAll:
		return n == len(f.Values)
	case edgegap.FilterNot:
		return n == 0
	}
	return n > 0
}

// bulkStopLocked stops every live deployment matching all filters (202
// semantics for those not ready yet) and returns their ids.
func (s *Simulator) bulkStopLocked(filters []bulkFilter) []string {
	ids := []string{}
	for _, d := range s.liveDeploymentsLocked() {
		ok := true
		for _, f := range filters {
			ok = ok && f.match(d)
		}
		if ok {
			ids = append(ids, d.id)
			s.stopStatusLocked(d)
		}
	}
	return ids
}
