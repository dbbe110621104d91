package edgegap

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

// TimeLayout is the layout of Edgegap's timestamps such as a session's
// create_time ("2024-05-26 12:00:45.831041", UTC, no zone).
const TimeLayout = "2006-01-02 15:04:05.000000"

// ParseTime parses an Edgegap timestamp (TimeLayout, with or without the
// fraction) as UTC.
func ParseTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("edgegap: parse time %q: %w", s, err)
	}
	return t, nil
}

// SessionRequest asks for a session: a seat on a deployment of an app
// version for the given players.
type SessionRequest struct {
	// AppName is the Edgegap application (required).
	AppName string
	// VersionName is the app version; empty lets Edgegap choose.
	VersionName string
	// IPList holds the players' public IPs, used to pick a location.
	IPList []string
	// WebhookURL, if set, is POSTed the session when it is linked or fails.
	WebhookURL string
}

// CreatedSession is Edgegap's answer to a session request.
type CreatedSession struct {
	ID                  string `json:"session_id"`
	App                 string `json:"app"`
	Version             string `json:"version"`
	DeploymentRequestID string `json:"deployment_request_id,omitempty"`
	WebhookURL          string `json:"webhook_url,omitempty"`
}

// Session is a session as returned by GetSession.
type Session struct {
	ID        string `json:"session_id"`
	CustomID  string `json:"custom_id,omitempty"`
	Status    string `json:"status"`
	Ready     bool   `json:"ready"`
	Linked    bool   `json:"linked"`
	Kind      string `json:"kind"`
	UserCount int    `json:"user_count"`
	// AppVersionID is Edgegap's numeric id of the app version.
	AppVersionID int `json:"app_version"`
	// CreateTime is Edgegap's create_time, verbatim (see ParseTime).
	CreateTime string `json:"create_time"`
	// Elapsed is Edgegap's "elapsed" counter, verbatim (unit undocumented).
	Elapsed    int    `json:"elapsed"`
	Error      string `json:"error,omitempty"`
	WebhookURL string `json:"webhook_url,omitempty"`
	// Deployment is set once the session is linked to a deployment.
	Deployment *Deployment `json:"deployment,omitempty"`
}

// SessionSummary is a session in a listing; it is also the body of
// Edgegap's session webhook (see ParseWebhook).
type SessionSummary struct {
	ID                  string `json:"session_id"`
	CustomID            string `json:"custom_id,omitempty"`
	Status              string `json:"status"`
	Ready               bool   `json:"ready"`
	Linked              bool   `json:"linked"`
	Kind                string `json:"kind"`
	UserCount           int    `json:"user_count"`
	DeploymentRequestID string `json:"deployment_request_id,omitempty"`
	WebhookURL          string `json:"webhook_url,omitempty"`
}

// SessionPage is one page of ListSessions.
type SessionPage struct {
	Sessions   []SessionSummary `json:"sessions"`
	TotalCount int              `json:"total_count"`
	Page       int              `json:"page"`
	NumPages   int              `json:"num_pages"`
	HasNext    bool             `json:"has_next"`
}

// Deployment is a running game server as seen in a session or the context
// endpoint.
type Deployment struct {
	RequestID    string          `json:"request_id"`
	PublicIP     string          `json:"public_ip"`
	FQDN         string          `json:"fqdn"`
	Status       string          `json:"status"`
	Ready        bool            `json:"ready"`
	Ports        map[string]Port `json:"ports"`
	Location     *Location       `json:"location,omitempty"`
	Sockets      int             `json:"sockets,omitempty"`
	SocketsUsage int             `json:"sockets_usage,omitempty"`
	Tags         []string        `json:"tags,omitempty"`
}

// Port is one entry of a deployment's port map.
type Port struct {
	Name       string `json:"name"`
	Internal   int    `json:"internal"`
	External   int    `json:"external"`
	Protocol   string `json:"protocol"`
	Link       string `json:"link,omitempty"`
	TLSUpgrade bool   `json:"tls_upgrade,omitempty"`
}

// Location is where a deployment runs.
type Location struct {
	City                   string  `json:"city"`
	Country                string  `json:"country"`
	Continent              string  `json:"continent"`
	AdministrativeDivision string  `json:"administrative_division"`
	Timezone               string  `json:"timezone"`
	Latitude               float64 `json:"latitude"`
	Longitude              float64 `json:"longitude"`
}

// GamePort picks the port clients connect to: the port map entry keyed or
// named name if there is one, otherwise the entry with the smallest key, so the
// choice is stable (Edgegap's map order is not). ok is false when the
// deployment has no ports.
func (d *Deployment) GamePort(name string) (p Port, ok bool) {
	if d == nil || len(d.Ports) == 0 {
		return Port{}, false
	}
	if name != "" {
		if p, ok := d.Ports[name]; ok {
			return p, true
		}
		for _, p := range d.Ports { // the map key and the port's name can differ
			if p.Name == name {
				return p, true
			}
		}
	}
	keys := make([]string, 0, len(d.Ports))
	for k := range d.Ports {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return d.Ports[keys[0]], true
}

// DeploymentSummary is a deployment in ListDeployments.
type DeploymentSummary struct {
	RequestID    string          `json:"request_id"`
	PublicIP     string          `json:"public_ip"`
	FQDN         string          `json:"fqdn"`
	Ready        bool            `json:"ready"`
	StartTime    string          `json:"start_time"`
	Ports        map[string]Port `json:"ports"`
	Sockets      int             `json:"sockets,omitempty"`
	SocketsUsage int             `json:"sockets_usage,omitempty"`
	Tags         []string        `json:"tags,omitempty"`
}

// DeploymentStatus is the answer of GET /v1/status/{request_id}.
type DeploymentStatus struct {
	RequestID     string           `json:"request_id"`
	AppName       string           `json:"app_name"`
	AppVersion    string           `json:"app_version"`
	CurrentStatus string           `json:"current_status"`
	Running       bool             `json:"running"`
	Error         bool             `json:"error"`
	ErrorDetail   string           `json:"error_detail,omitempty"`
	PublicIP      string           `json:"public_ip"`
	FQDN          string           `json:"fqdn"`
	StartTime     string           `json:"start_time"`
	RemovalTime   string           `json:"removal_time,omitempty"`
	ElapsedTime   int              `json:"elapsed_time"`
	Ports         map[string]Port  `json:"ports"`
	Location      *Location        `json:"location,omitempty"`
	Sockets       int              `json:"sockets,omitempty"`
	SocketsUsage  int              `json:"sockets_usage,omitempty"`
	Sessions      []SessionSummary `json:"sessions"`
	Arguments     string           `json:"arguments,omitempty"`
	Tags          []string         `json:"tags,omitempty"`
	// LastStatus, MaxDuration (minutes, -1 for none) and Command come
	// from the 2026 specification.
	LastStatus  string `json:"last_status,omitempty"`
	MaxDuration int    `json:"max_duration,omitempty"`
	Command     string `json:"command,omitempty"`
}

// Ready reports whether the deployment is ready for connections.
func (s *DeploymentStatus) Ready() bool {
	return s.Running || s.CurrentStatus == StatusReady
}

// Deployment status values as Edgegap writes current_status.
const (
	StatusDeploying = "Status.DEPLOYING"
	StatusReady     = "Status.READY"
	StatusError     = "Status.ERROR"
)

// App is an Edgegap application.
type App struct {
	Name        string `json:"name"`
	Active      bool   `json:"is_active"`
	CreateTime  string `json:"create_time"`
	LastUpdated string `json:"last_updated"`
}

// AppVersion is a version of an application.
type AppVersion struct {
	Name             string `json:"name"`
	Active           bool   `json:"is_active"`
	DockerRepository string `json:"docker_repository"`
	DockerImage      string `json:"docker_image"`
	DockerTag        string `json:"docker_tag"`
	// Arguments is the docker arguments string; Edgegap's spec does not
	// declare it, it is read from the raw response.
	Arguments string `json:"arguments"`
	// SessionKind is session_config.kind ("Default", "Seat", "Match").
	SessionKind string `json:"session_kind,omitempty"`
	// Sockets is session_config.sockets, the seats per deployment.
	Sockets int `json:"sockets,omitempty"`
	// EmptyTTLMinutes is session_config.empty_ttl.
	EmptyTTLMinutes int           `json:"empty_ttl_minutes,omitempty"`
	Ports           []VersionPort `json:"ports"`
}

// VersionPort is a port an app version exposes.
type VersionPort struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	Name     string `json:"name,omitempty"`
}

// DeploymentContext is what the context endpoint tells a game server about
// its own deployment.
type DeploymentContext struct {
	Deployment
	// Raw is the body as received; the Rust plugin publishes it unchanged to
	// NATS subject gameserver.contexts.
	Raw json.RawMessage `json:"-"`
}

// ParseWebhook decodes the body Edgegap POSTs to a session's webhook_url.
func ParseWebhook(body []byte) (SessionSummary, error) {
	var sc gen.SessionContext
	if err := json.Unmarshal(body, &sc); err != nil {
		return SessionSummary{}, fmt.Errorf("edgegap: parse webhook: %w", err)
	}
	if sc.SessionId == "" {
		return SessionSummary{}, fmt.Errorf("edgegap: parse webhook: session_id missing")
	}
	return fromSessionContext(sc), nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptrSlice[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}

func fromSessionContext(s gen.SessionContext) SessionSummary {
	return SessionSummary{
		ID:                  s.SessionId,
		CustomID:            deref(s.CustomId),
		Status:              s.Status,
		Ready:               s.Ready,
		Linked:              s.Linked,
		Kind:                s.Kind,
		UserCount:           s.UserCount,
		DeploymentRequestID: deref(s.DeploymentRequestId),
		WebhookURL:          deref(s.WebhookUrl),
	}
}

func fromSessionGet(s gen.SessionGet) *Session {
	out := &Session{
		ID:           s.SessionId,
		CustomID:     deref(s.CustomId),
		Status:       s.Status,
		Ready:        s.Ready,
		Linked:       s.Linked,
		Kind:         s.Kind,
		UserCount:    s.UserCount,
		AppVersionID: s.AppVersion,
		CreateTime:   s.CreateTime,
		Elapsed:      s.Elapsed,
		Error:        deref(s.Error),
		WebhookURL:   deref(s.WebhookUrl),
	}
	if s.Deployment != nil {
		d := fromDeployment(*s.Deployment)
		out.Deployment = &d
	}
	return out
}

func fromDeployment(d gen.Deployment) Deployment {
	return Deployment{
		RequestID:    d.RequestId,
		PublicIP:     d.PublicIp,
		FQDN:         d.Fqdn,
		Status:       d.Status,
		Ready:        d.Ready,
		Ports:        fromPorts(d.Ports),
		Location:     fromLocation(d.Location),
		Sockets:      deref(d.Sockets),
		SocketsUsage: deref(d.SocketsUsage),
		Tags:         ptrSlice(d.Tags),
	}
}

func fromPorts(p *map[string]gen.PortMapping) map[string]Port {
	out := make(map[string]Port)
	if p == nil {
		return out
	}
	for k, v := range *p {
		name := deref(v.Name)
		if name == "" {
			name = k
		}
		out[k] = Port{
			Name:       name,
			Internal:   deref(v.Internal),
			External:   deref(v.External),
			Protocol:   deref(v.Protocol),
			Link:       deref(v.Link),
			TLSUpgrade: deref(v.TlsUpgrade),
		}
	}
	return out
}

func fromLocation(l *gen.DeploymentLocation) *Location {
	if l == nil {
		return nil
	}
	return &Location{
		City:                   l.City,
		Country:                l.Country,
		Continent:              l.Continent,
		AdministrativeDivision: l.AdministrativeDivision,
		Timezone:               l.Timezone,
		Latitude:               float64(l.Latitude),
		Longitude:              float64(l.Longitude),
	}
}

func fromApp(a gen.Application) App {
	return App{Name: a.Name, Active: a.IsActive, CreateTime: a.CreateTime, LastUpdated: a.LastUpdated}
}

// versionJSON decodes an app version with the undocumented arguments field.
type versionJSON struct {
	gen.AppVersionPayload
	Arguments *string `json:"arguments"`
}

func fromVersion(v versionJSON) AppVersion {
	out := AppVersion{
		Name:             v.Name,
		Active:           deref(v.IsActive),
		DockerRepository: v.DockerRepository,
		DockerImage:      v.DockerImage,
		DockerTag:        v.DockerTag,
		Arguments:        deref(v.Arguments),
		Ports:            []VersionPort{},
	}
	if sc := v.SessionConfig; sc != nil {
		out.SessionKind = string(sc.Kind)
		out.Sockets = sc.Sockets
		out.EmptyTTLMinutes = deref(sc.EmptyTtl)
	}
	for _, p := range ptrSlice(v.Ports) {
		out.Ports = append(out.Ports, VersionPort{Port: p.Port, Protocol: p.Protocol, Name: deref(p.Name)})
	}
	return out
}

func fromDeploymentListData(d gen.DeploymentListData) DeploymentSummary {
	return DeploymentSummary{
		RequestID:    d.RequestId,
		PublicIP:     d.PublicIp,
		FQDN:         d.Fqdn,
		Ready:        d.Ready,
		StartTime:    d.StartTime,
		Ports:        fromPorts(d.Ports),
		Sockets:      deref(d.Sockets),
		SocketsUsage: deref(d.SocketsUsage),
		Tags:         ptrSlice(d.Tags),
	}
}

func fromStatus(s gen.Status) *DeploymentStatus {
	out := &DeploymentStatus{
		RequestID:     s.RequestId,
		AppName:       s.AppName,
		AppVersion:    s.AppVersion,
		CurrentStatus: s.CurrentStatus,
		Running:       s.Running,
		Error:         s.Error,
		ErrorDetail:   deref(s.ErrorDetail),
		PublicIP:      s.PublicIp,
		FQDN:          s.Fqdn,
		StartTime:     s.StartTime,
		RemovalTime:   deref(s.RemovalTime),
		ElapsedTime:   s.ElapsedTime,
		Ports:         fromPorts(s.Ports),
		Location:      fromLocation(s.Location),
		Sockets:       deref(s.Sockets),
		SocketsUsage:  deref(s.SocketsUsage),
		Sessions:      []SessionSummary{},
		Arguments:     deref(s.Arguments),
		Tags:          ptrSlice(s.Tags),
	}
	for _, sc := range ptrSlice(s.Sessions) {
		out.Sessions = append(out.Sessions, SessionSummary{
			ID: sc.SessionId, Status: sc.Status, Ready: sc.Ready, Linked: sc.Linked,
			Kind: sc.Kind, UserCount: sc.UserCount, DeploymentRequestID: s.RequestId,
		})
	}
	return out
}
