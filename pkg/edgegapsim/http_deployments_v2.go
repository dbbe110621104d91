package edgegapsim

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
)

// handleV2Create serves POST /v2/deployments: 202 {request_id}.
func (s *Simulator) handleV2Create(w http.ResponseWriter, r *http.Request) {
	var req v2Request
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, aerr := s.createV2Locked(&req)
	if aerr != nil {
		writeError(w, aerr.status, aerr.msg)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"request_id": d.id})
}

// handleDeploymentsBulkStop serves POST /v1/deployments/bulk-stop: 202
// {processable: [{request_id}]}.
func (s *Simulator) handleDeploymentsBulkStop(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Filters []bulkFilter `json:"filters"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(body.Filters) == 0 {
		writeError(w, http.StatusBadRequest, "filters: at least one filter is required")
		return
	}
	for i, f := range body.Filters {
		if aerr := f.check(i); aerr != nil {
			writeError(w, aerr.status, aerr.msg)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	type item struct {
		RequestID string `json:"request_id"`
	}
	out := []item{}
	for _, id := range s.bulkStopLocked(body.Filters) {
		out = append(out, item{id})
	}
	writeJSON(w, http.StatusAccepted, map[string][]item{"processable": out})
}

// tagJSON is Edgegap's DeploymentTagResponse.
type tagJSON struct {
	Name        string `json:"name"`
	CreateTime  string `json:"create_time"`
	LastUpdated string `json:"last_updated"`
}

// liveDeploymentLocked returns the live deployment of the request's {id}, or
// answers 404.
func (s *Simulator) liveDeploymentLocked(w http.ResponseWriter, r *http.Request) *deployment {
	id := r.PathValue("id")
	d := s.deployments[id]
	if d == nil || d.stopped {
		writeError(w, http.StatusNotFound, fmt.Sprintf("deployment %q not found", id))
		return nil
	}
	return d
}

func (s *Simulator) handleTagCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.Name == "" || len(body.Name) > edgegap.MaxTagLen {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("name: want 1 to %d characters", edgegap.MaxTagLen))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.liveDeploymentLocked(w, r)
	if d == nil {
		return
	}
	if slices.Contains(d.tags, body.Name) {
		writeError(w, http.StatusConflict, fmt.Sprintf("tag %q already exists", body.Name))
		return
	}
	d.tags = append(d.tags, body.Name)
	now := time.Now().UTC().Format(TimeLayout)
	writeJSON(w, http.StatusOK, tagJSON{Name: body.Name, CreateTime: now, LastUpdated: now})
}

func (s *Simulator) handleTagList(w http.ResponseWriter, r *http.Request) {
	page, limit, err := pageParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.liveDeploymentLocked(w, r)
	if d == nil {
		return
	}
	start, end, p := pageBounds(len(d.tags), page, limit)
	tags := make([]tagJSON, 0, end-start)
	created := d.started.UTC().Format(TimeLayout)
	for _, t := range d.tags[start:end] {
		tags = append(tags, tagJSON{Name: t, CreateTime: created, LastUpdated: created})
	}
	writeJSON(w, http.StatusOK, struct {
		Tags       []tagJSON  `json:"tags"`
		TotalCount int        `json:"total_count"`
		Pagination pagination `json:"pagination"`
	}{tags, len(d.tags), p})
}

func (s *Simulator) handleTagDelete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.liveDeploymentLocked(w, r)
	if d == nil {
		return
	}
	tag := r.PathValue("tag")
	i := slices.Index(d.tags, tag)
	if i < 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("tag %q not found", tag))
		return
	}
	d.tags = slices.Delete(d.tags, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}
