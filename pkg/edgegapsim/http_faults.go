package edgegapsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Endpoints lists the simulated endpoints (Edgegap operation ids) that
// SetEndpointFaults and the /_sim/faults admin endpoint accept.
func Endpoints() []string {
	return []string{
		EndpointSessionPost, EndpointGetSession, EndpointSessionDelete, EndpointListSessions, EndpointSessionsBulkStop,
		EndpointApplicationGet, EndpointApplicationsGet, EndpointAppVersionGet, EndpointAppVersionsPatch, EndpointAppVersionsGet,
		EndpointDeploymentsGet, EndpointDeploymentStatusGet, EndpointDeploymentDelete, EndpointContextGet,
		EndpointSelfDeploymentDelete, EndpointDeploymentCreate, EndpointDeploymentsBulkStop,
		EndpointDeploymentTagCreate, EndpointDeploymentTagList, EndpointDeploymentTagDelete,
	}
}

// faultsJSON is EndpointFaults on the /_sim/faults admin endpoint.
type faultsJSON struct {
	ErrorRate    float64 `json:"error_rate"`
	ErrorStatus  int     `json:"error_status,omitempty"`
	Latency      string  `json:"latency,omitempty"`
	CapacityRate float64 `json:"capacity_rate"`
	GhostRate    float64 `json:"ghost_rate"`
	GhostStatus  int     `json:"ghost_status,omitempty"`
	GhostDrop    bool    `json:"ghost_drop"`
}

func toFaultsJSON(f EndpointFaults) faultsJSON {
	j := faultsJSON{ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, CapacityRate: f.CapacityRate, GhostRate: f.GhostRate, GhostStatus: f.GhostStatus, GhostDrop: f.GhostDrop}
	if f.Latency > 0 {
		j.Latency = f.Latency.String()
	}
	return j
}

func (j faultsJSON) faults() (EndpointFaults, error) {
	f := EndpointFaults{ErrorRate: j.ErrorRate, ErrorStatus: j.ErrorStatus, CapacityRate: j.CapacityRate, GhostRate: j.GhostRate, GhostStatus: j.GhostStatus, GhostDrop: j.GhostDrop}
	if j.Latency != "" {
		d, err := time.ParseDuration(j.Latency)
		if err != nil {
			return f, fmt.Errorf("latency %q: want a duration like 50ms", j.Latency)
		}
		f.Latency = d
	}
	return f, nil
}

// handleFaultsGet answers GET /_sim/faults: the injected faults by endpoint.
func (s *Simulator) handleFaultsGet(w http.ResponseWriter, _ *http.Request) {
	out := map[string]faultsJSON{}
	s.epFaults.mu.Lock()
	for name, f := range s.epFaults.by {
		out[name] = toFaultsJSON(f)
	}
	s.epFaults.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// handleFaultsPut answers PUT /_sim/faults/{endpoint} with a JSON body
// (error_rate, error_status, latency, capacity_rate, ghost_rate,
// ghost_status, ghost_drop): SetEndpointFaults over HTTP, for a simulator in
// another process. The endpoint "*" sets every endpoint; an all-zero body
// removes the faults.
func (s *Simulator) handleFaultsPut(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("endpoint")
	targets := []string{name}
	if name == "*" {
		targets = Endpoints()
	} else if !slices.Contains(Endpoints(), name) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown endpoint %q", name))
		return
	}
	var j faultsJSON
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		writeError(w, http.StatusBadRequest, "faults body: "+err.Error())
		return
	}
	f, err := j.faults()
	if err == nil {
		for _, t := range targets {
			if err = s.SetEndpointFaults(t, f); err != nil {
				break
			}
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.handleFaultsGet(w, r)
}
