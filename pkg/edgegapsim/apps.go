package edgegapsim

import (
	"encoding/json"
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
	return versionJSON{
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
	var body map[string]json.RawMessage
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if body == nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: want an object")
		return
	}
	var (
		args        *string
		argsSet     bool
		active      *bool
		strs        = map[string]*string{}
		sockets     *int
		stringField = []string{"docker_repository", "docker_image", "docker_tag"}
	)
	if raw, ok := body["arguments"]; ok {
		argsSet = true
		if string(raw) != "null" {
			var a string
			if err := json.Unmarshal(raw, &a); err != nil {
				writeError(w, http.StatusBadRequest, "arguments: want a string or null")
				return
			}
			args = &a
		}
	}
	if raw, ok := body["is_active"]; ok {
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			writeError(w, http.StatusBadRequest, "is_active: want a boolean")
			return
		}
		active = &b
	}
	for _, f := range stringField {
		if raw, ok := body[f]; ok {
			var v string
			if err := json.Unmarshal(raw, &v); err != nil || strings.TrimSpace(v) == "" {
				writeError(w, http.StatusBadRequest, f+": want a non-empty string")
				return
			}
			strs[f] = &v
		}
	}
	if raw, ok := body["session_config"]; ok {
		var sc struct {
			Sockets *int `json:"sockets"`
		}
		if err := json.Unmarshal(raw, &sc); err != nil {
			writeError(w, http.StatusBadRequest, "session_config: want an object")
			return
		}
		if sc.Sockets != nil {
			if *sc.Sockets < 1 || *sc.Sockets > 10000 {
				writeError(w, http.StatusBadRequest, "session_config.sockets: want 1-10000")
				return
			}
			sockets = sc.Sockets
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	_, v := s.lookupVersionLocked(w, r)
	if v == nil {
		return
	}
	if argsSet {
		v.arguments = args
	}
	if active != nil {
		v.inactive = !*active
	}
	if p := strs["docker_repository"]; p != nil {
		v.dockerRepository = *p
	}
	if p := strs["docker_image"]; p != nil {
		v.dockerImage = *p
	}
	if p := strs["docker_tag"]; p != nil {
		v.dockerTag = *p
	}
	if sockets != nil {
		v.sockets = *sockets
	}
	v.updated = time.Now()
	writeJSON(w, http.StatusOK, struct {
		Success bool        `json:"success"`
		Version versionJSON `json:"version"`
	}{true, s.versionJSONLocked(v)})
}
