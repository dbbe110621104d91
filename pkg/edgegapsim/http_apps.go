package edgegapsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

func appJSON(a *app) gen.Application {
	return gen.Application{
		Name:        a.name,
		IsActive:    !a.inactive,
		CreateTime:  a.created.UTC().Format(TimeLayout),
		LastUpdated: a.updated.UTC().Format(TimeLayout),
	}
}

// versionJSON is an app version as Edgegap returns it, with the
// undocumented arguments field.
type versionJSON struct {
	gen.AppVersionPayload
	Arguments *string `json:"arguments"`
}

func (s *Simulator) versionJSONLocked(v *version) versionJSON {
	ttl := max(1, int((s.emptyTTL+time.Minute-1)/time.Minute))
	portName := s.cfg.PortName
	out := versionJSON{
		AppVersionPayload: gen.AppVersionPayload{
			Name:             v.name,
			IsActive:         ptr(!v.inactive),
			DockerRepository: v.dockerRepository,
			DockerImage:      v.dockerImage,
			DockerTag:        v.dockerTag,
			ReqCpu:           256,
			ReqMemory:        256,
			MaxDuration:      ptr(0),
			InjectContextEnv: ptr(true),
			Ports: &[]gen.AppVersionPort{{
				Port:     s.cfg.InternalPort,
				Protocol: s.cfg.PortProtocol,
				Name:     &portName,
				ToCheck:  ptr(false),
			}},
			SessionConfig: &gen.AppVersionCreateSessionConfig{
				Kind:     gen.AppVersionCreateSessionConfigKindSeat,
				Sockets:  s.socketsOf(v),
				EmptyTtl: ptr(ttl),
			},
		},
		Arguments: v.arguments,
	}
	if v.noSessionConfig {
		out.SessionConfig = nil
	}
	return out
}

func (s *Simulator) handleAppsList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.apps))
	for n := range s.apps {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]gen.Application, 0, len(names))
	for _, n := range names {
		out = append(out, appJSON(s.apps[n]))
	}
	writeJSON(w, http.StatusOK, gen.Applications{Applications: &out})
}

func (s *Simulator) handleAppGet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[name]
	if a == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("application %q not found", name))
		return
	}
	writeJSON(w, http.StatusOK, appJSON(a))
}

func (s *Simulator) handleVersionsList(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("app")
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[name]
	if a == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("application %q not found", name))
		return
	}
	out := make([]versionJSON, 0, len(a.versions))
	for _, v := range a.versions {
		out = append(out, s.versionJSONLocked(v))
	}
	writeJSON(w, http.StatusOK, struct {
		Versions   []versionJSON `json:"versions"`
		TotalCount int           `json:"total_count"`
	}{out, len(out)})
}

// lookupVersionLocked finds app/version from the path, writing a 404 when
// either is unknown.
func (s *Simulator) lookupVersionLocked(w http.ResponseWriter, r *http.Request) (*app, *version) {
	appName, versionName := r.PathValue("app"), r.PathValue("version")
	a := s.apps[appName]
	if a == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("application %q not found", appName))
		return nil, nil
	}
	v := a.version(versionName)
	if v == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("app version %q of application %q not found", versionName, appName))
		return nil, nil
	}
	return a, v
}

func (s *Simulator) handleVersionGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, v := s.lookupVersionLocked(w, r)
	if v == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.versionJSONLocked(v))
}

// handleVersionPatch applies arguments, is_active, docker_repository,
// docker_image, docker_tag and session_config.sockets; other fields are
// accepted and ignored.
func (s *Simulator) handleVersionPatch(w http.ResponseWriter, r *http.Request) {
	p, err := parseVersionPatch(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, v := s.lookupVersionLocked(w, r)
	if v == nil {
		return
	}
	p.apply(v)
	v.updated = time.Now()
	writeJSON(w, http.StatusOK, struct {
		Success bool        `json:"success"`
		Version versionJSON `json:"version"`
	}{true, s.versionJSONLocked(v)})
}

// versionPatch is what an app version PATCH changes.
type versionPatch struct {
	argsSet bool // arguments given: args (nil for null) replaces them
	args    *string
	active  *bool
	strs    map[string]*string // versionStringFields given
	sockets *int
}

// versionStringFields are the string fields a PATCH may set.
var versionStringFields = []string{"docker_repository", "docker_image", "docker_tag"}

// parseVersionPatch reads and checks a PATCH body; errors name the field.
func parseVersionPatch(r *http.Request) (versionPatch, error) {
	var body map[string]json.RawMessage
	if err := decodeBody(r, &body); err != nil {
		return versionPatch{}, err
	}
	if body == nil {
		return versionPatch{}, errors.New("invalid JSON body: want an object")
	}
	p := versionPatch{strs: map[string]*string{}}
	for _, parse := range []func(map[string]json.RawMessage) error{p.parseArguments, p.parseActive, p.parseStrings, p.parseSessionConfig} {
		if err := parse(body); err != nil {
			return versionPatch{}, err
		}
	}
	return p, nil
}

// decodeField decodes body[key] into dst and says whether key was there; a
// value that does not decode is an error naming key and what it wants.
func decodeField[T any](body map[string]json.RawMessage, key, want string, dst *T) (bool, error) {
	raw, ok := body[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, errors.New(key + ": want " + want)
	}
	return true, nil
}

func (p *versionPatch) parseArguments(body map[string]json.RawMessage) error {
	var a *string // null: no arguments
	set, err := decodeField(body, "arguments", "a string or null", &a)
	if err != nil {
		return err
	}
	p.argsSet, p.args = set, a
	return nil
}

func (p *versionPatch) parseActive(body map[string]json.RawMessage) error {
	var b bool
	set, err := decodeField(body, "is_active", "a boolean", &b)
	if err != nil {
		return err
	}
	if set {
		p.active = &b
	}
	return nil
}

func (p *versionPatch) parseStrings(body map[string]json.RawMessage) error {
	for _, f := range versionStringFields {
		var v string
		set, err := decodeField(body, f, "a non-empty string", &v)
		if err != nil || (set && strings.TrimSpace(v) == "") {
			return errors.New(f + ": want a non-empty string")
		}
		if set {
			p.strs[f] = &v
		}
	}
	return nil
}

func (p *versionPatch) parseSessionConfig(body map[string]json.RawMessage) error {
	var sc struct {
		Sockets *int `json:"sockets"`
	}
	if _, err := decodeField(body, "session_config", "an object", &sc); err != nil {
		return err
	}
	if sc.Sockets != nil {
		if *sc.Sockets < 1 || *sc.Sockets > 10000 {
			return errors.New("session_config.sockets: want 1-10000")
		}
		p.sockets = sc.Sockets
	}
	return nil
}

// apply changes v as the patch says.
func (p versionPatch) apply(v *version) {
	if p.argsSet {
		v.arguments = p.args
	}
	if p.active != nil {
		v.inactive = !*p.active
	}
	for f, dst := range map[string]*string{"docker_repository": &v.dockerRepository, "docker_image": &v.dockerImage, "docker_tag": &v.dockerTag} {
		if val := p.strs[f]; val != nil {
			*dst = *val
		}
	}
	if p.sockets != nil {
		v.sockets = *p.sockets
	}
}
