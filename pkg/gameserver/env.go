package gameserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/gameserver/caarg"
)

// Names of the variables Edgegap injects into every deployment.
const (
	EnvRequestID          = "ARBITRIUM_REQUEST_ID"
	EnvDeleteURL          = "ARBITRIUM_DELETE_URL"
	EnvDeleteToken        = "ARBITRIUM_DELETE_TOKEN"
	EnvDeploymentLocation = "ARBITRIUM_DEPLOYMENT_LOCATION"
	EnvContextURL         = "ARBITRIUM_CONTEXT_URL"
	EnvContextToken       = "ARBITRIUM_CONTEXT_TOKEN"
	EnvPublicIP           = "ARBITRIUM_PUBLIC_IP"
	EnvPortsMapping       = "ARBITRIUM_PORTS_MAPPING"
)

// EnvNames lists the ARBITRIUM_* variables in the order the Rust plugin
// reads them. All are required.
var EnvNames = []string{
	EnvRequestID, EnvDeleteURL, EnvDeleteToken, EnvDeploymentLocation,
	EnvContextURL, EnvContextToken, EnvPublicIP, EnvPortsMapping,
}

// maxEnvJSON bounds the JSON variables (Edgegap caps values at 255 bytes;
// a simulator or a local run may send more, but not megabytes).
const maxEnvJSON = 64 << 10

// Env is the parsed ARBITRIUM_* environment of a deployment. Its String,
// GoString and LogValue methods never show the two tokens.
type Env struct {
	// RequestID is the deployment's request id.
	RequestID string
	// DeleteURL stops the deployment from inside; DeleteToken authorizes it.
	DeleteURL   string
	DeleteToken string
	// Location is ARBITRIUM_DEPLOYMENT_LOCATION; LocationJSON its raw text.
	Location     edgegap.Location
	LocationJSON string
	// ContextURL is the context endpoint; ContextToken authorizes it.
	ContextURL   string
	ContextToken string
	// PublicIP is the deployment's public IP.
	PublicIP netip.Addr
	// Ports is ARBITRIUM_PORTS_MAPPING's "ports" object, keyed as Edgegap
	// keys it (by internal port, e.g. "5000"); PortsJSON is its raw text.
	Ports     map[string]edgegap.Port
	PortsJSON string
}

// VarError is one missing or malformed ARBITRIUM_* variable. It never
// holds the variable's value.
type VarError struct {
	// Name is the variable, e.g. ARBITRIUM_CONTEXT_URL.
	Name string
	// Missing is true when the variable is unset or empty.
	Missing bool
	// Reason says what is wrong with a malformed value.
	Reason string
}

// Error implements error.
func (e *VarError) Error() string {
	if e.Missing {
		return e.Name + " is not set"
	}
	return e.Name + " is malformed: " + e.Reason
}

// EnvError lists every missing or malformed variable.
type EnvError struct {
	Vars []*VarError
}

// Error names every bad variable on one line.
func (e *EnvError) Error() string {
	parts := make([]string, len(e.Vars))
	for i, v := range e.Vars {
		parts[i] = v.Error()
	}
	return "edgegap deployment environment: " + strings.Join(parts, "; ")
}

// Unwrap returns the *VarError of each variable.
func (e *EnvError) Unwrap() []error {
	out := make([]error, len(e.Vars))
	for i, v := range e.Vars {
		out[i] = v
	}
	return out
}

// Names returns the names of the bad variables.
func (e *EnvError) Names() []string {
	out := make([]string, len(e.Vars))
	for i, v := range e.Vars {
		out[i] = v.Name
	}
	return out
}

// EnvFromMap parses the ARBITRIUM_* variables from m (for example
// edgegapsim.DeploymentInfo.Env). See ReadEnv.
func EnvFromMap(m map[string]string) (Env, error) {
	return ReadEnv(func(k string) string { return m[k] })
}

// ReadEnv parses the ARBITRIUM_* variables through getenv (os.Getenv in a
// game server). All eight are required, as by the Rust plugin. The two
// JSON ones must be JSON objects; ARBITRIUM_PORTS_MAPPING must hold a
// "ports" object whose port numbers are 0 to 65535; the URLs must be
// absolute http(s) URLs; ARBITRIUM_PUBLIC_IP must be an IP address. A bad
// set returns an *EnvError naming every missing or malformed variable,
// never a value.
func ReadEnv(getenv func(string) string) (Env, error) {
	var env Env
	var bad []*VarError
	get := func(name string) (string, bool) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			bad = append(bad, &VarError{Name: name, Missing: true})
			return "", false
		}
		return v, true
	}
	malformed := func(name, format string, a ...any) {
		bad = append(bad, &VarError{Name: name, Reason: fmt.Sprintf(format, a...)})
	}

	if v, ok := get(EnvRequestID); ok {
		env.RequestID = v
	}
	if v, ok := get(EnvDeleteURL); ok {
		if why := checkURL(v); why != "" {
			malformed(EnvDeleteURL, "%s", why)
		} else {
			env.DeleteURL = v
		}
	}
	if v, ok := get(EnvDeleteToken); ok {
		env.DeleteToken = v
	}
	if v, ok := get(EnvDeploymentLocation); ok {
		if why := decodeObject(v, &env.Location); why != "" {
			malformed(EnvDeploymentLocation, "%s", why)
		} else {
			env.LocationJSON = v
		}
	}
	if v, ok := get(EnvContextURL); ok {
		if why := checkURL(v); why != "" {
			malformed(EnvContextURL, "%s", why)
		} else {
			env.ContextURL = v
		}
	}
	if v, ok := get(EnvContextToken); ok {
		env.ContextToken = v
	}
	if v, ok := get(EnvPublicIP); ok {
		ip, err := netip.ParseAddr(v)
		if err != nil || ip.Zone() != "" {
			malformed(EnvPublicIP, "not an IP address")
		} else {
			env.PublicIP = ip.Unmap()
		}
	}
	if v, ok := get(EnvPortsMapping); ok {
		ports, why := parsePorts(v)
		if why != "" {
			malformed(EnvPortsMapping, "%s", why)
		} else {
			env.Ports, env.PortsJSON = ports, v
		}
	}
	if len(bad) > 0 {
		return Env{}, &EnvError{Vars: bad}
	}
	return env, nil
}

func checkURL(v string) string {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "want an absolute http(s) URL"
	}
	return ""
}

// decodeObject decodes a JSON object into v and describes a failure without
// quoting the input.
func decodeObject(s string, v any) string {
	if len(s) > maxEnvJSON {
		return fmt.Sprintf("%d bytes of JSON, limit %d", len(s), maxEnvJSON)
	}
	b := []byte(s)
	if !json.Valid(b) {
		return "not valid JSON"
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return "want a JSON object"
	}
	if err := json.Unmarshal(b, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			return fmt.Sprintf("field %q is a JSON %s, want %s", te.Field, te.Value, te.Type)
		}
		return "unexpected JSON shape"
	}
	return ""
}

// parsePorts parses {"ports":{"5000":{"name":..,"internal":..,"external":..,"protocol":..}}}.
func parsePorts(s string) (map[string]edgegap.Port, string) {
	var pm struct {
		Ports *map[string]edgegap.Port `json:"ports"`
	}
	if why := decodeObject(s, &pm); why != "" {
		return nil, why
	}
	if pm.Ports == nil {
		return nil, `no "ports" object`
	}
	keys := make([]string, 0, len(*pm.Ports))
	for k := range *pm.Ports {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := (*pm.Ports)[k]
		if p.Internal < 0 || p.Internal > 65535 || p.External < 0 || p.External > 65535 {
			return nil, fmt.Sprintf("port %q: internal %d / external %d, want 0 to 65535", k, p.Internal, p.External)
		}
	}
	return *pm.Ports, ""
}

// GamePort returns the port clients connect to: the entry whose name (or
// key) is name, else the entry with the smallest key. ok is false when there
// are no ports.
func (e Env) GamePort(name string) (p edgegap.Port, ok bool) {
	d := edgegap.Deployment{Ports: e.Ports}
	return d.GamePort(name)
}

// PublicAddr is the address clients reach the game port at, PublicIP and
// the external port of GamePort(name); the address connect tokens are
// minted for.
func (e Env) PublicAddr(name string) (netip.AddrPort, bool) {
	p, ok := e.GamePort(name)
	if !ok || !e.PublicIP.IsValid() || p.External < 1 || p.External > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(e.PublicIP, uint16(p.External)), true
}

// String describes the environment with the tokens redacted.
func (e Env) String() string {
	return fmt.Sprintf("gameserver.Env{RequestID: %q, PublicIP: %s, ContextURL: %q, ContextToken: %s, DeleteURL: %q, DeleteToken: %s, Ports: %d, Location: %q}",
		e.RequestID, e.PublicIP, e.ContextURL, redact(e.ContextToken), e.DeleteURL, redact(e.DeleteToken), len(e.Ports), e.Location.City)
}

// GoString is String, so that %#v does not print the tokens either.
func (e Env) GoString() string { return e.String() }

// LogValue implements slog.LogValuer with the tokens redacted.
func (e Env) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("request_id", e.RequestID),
		slog.String("public_ip", e.PublicIP.String()),
		slog.String("context_url", e.ContextURL),
		slog.String("context_token", redact(e.ContextToken)),
		slog.String("delete_token", redact(e.DeleteToken)),
		slog.Int("ports", len(e.Ports)),
		slog.String("city", e.Location.City),
	)
}

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

// CAFromArgs returns the PEM text of a --ca_contents process argument
// (caarg.Decode, where the format lives).
func CAFromArgs(args []string) (pem string, ok bool) { return caarg.Decode(args) }
