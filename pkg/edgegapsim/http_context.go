package edgegapsim

import (
	"fmt"
	"net/http"
	"strconv"
)

// The endpoints a game server calls from inside its deployment: its
// context (ARBITRIUM_CONTEXT_URL, authorized by the context token) and its
// self-stop (ARBITRIUM_DELETE_URL, authorized by the delete token).

func (s *Simulator) handleContext(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "security_number must be an integer")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[id]
	if d == nil || d.stopped {
		writeError(w, http.StatusNotFound, fmt.Sprintf("deployment %q not found", id))
		return
	}
	if d.securityNumber != n || r.Header.Get("Authorization") != d.contextToken {
		writeError(w, http.StatusUnauthorized, "invalid context token")
		return
	}
	writeJSON(w, http.StatusOK, s.deploymentJSONLocked(d))
}

func (s *Simulator) handleSelfStop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "access_point_id must be an integer")
		return
	}
	s.mu.Lock()
	d := s.deployments[id]
	authorized := d != nil && d.accessPoint == n && r.Header.Get("Authorization") == d.deleteToken
	s.mu.Unlock()
	if !authorized {
		writeError(w, http.StatusUnauthorized, "invalid delete token")
		return
	}
	s.stopDeployment(w, id)
}
