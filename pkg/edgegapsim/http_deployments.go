package edgegapsim

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

func (s *Simulator) portsJSONLocked(d *deployment) map[string]gen.PortMapping {
	out := make(map[string]gen.PortMapping, len(d.ports))
	for name, p := range d.ports {
		out[name] = gen.PortMapping{
			Name:       ptr(p.Name),
			Internal:   ptr(p.Internal),
			External:   ptr(p.External),
			Protocol:   ptr(p.Protocol),
			TlsUpgrade: ptr(false),
			Link:       ptr(net.JoinHostPort(d.fqdn, strconv.Itoa(p.External))),
		}
	}
	return out
}

func (s *Simulator) locationJSON() gen.DeploymentLocation {
	l := s.cfg.Location
	return gen.DeploymentLocation{
		City:                   l.City,
		Country:                l.Country,
		Continent:              l.Continent,
		AdministrativeDivision: l.AdministrativeDivision,
		Timezone:               l.Timezone,
		Latitude:               float32(l.Latitude),
		Longitude:              float32(l.Longitude),
	}
}

func (s *Simulator) deploymentJSONLocked(d *deployment) gen.Deployment {
	return gen.Deployment{
		RequestId:           d.id,
		PublicIp:            d.publicIP,
		Fqdn:                d.fqdn,
		Status:              d.status(),
		Ready:               d.ready,
		WhitelistingActive:  false,
		Ports:               ptr(s.portsJSONLocked(d)),
		Location:            ptr(s.locationJSON()),
		Tags:                &[]string{},
		Sockets:             ptr(d.sockets),
		SocketsUsage:        ptr(d.used),
		IsJoinableBySession: ptr(!d.stopped && !d.failed && d.used < d.sockets),
	}
}

func (s *Simulator) liveDeploymentsLocked() []*deployment {
	out := make([]*deployment, 0, len(s.deployments))
	for _, d := range s.deployments {
		if !d.stopped {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *deployment) int { return int(a.seq - b.seq) })
	return out
}

// handleDeploymentsList serves GET /v1/deployments, filtered by the query
// parameter (edgegap.DecodeDeploymentQuery).
func (s *Simulator) handleDeploymentsList(w http.ResponseWriter, r *http.Request) {
	q, err := edgegap.DecodeDeploymentQuery(r.URL.Query().Get("query"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list := func() []*deployment {
		return slices.DeleteFunc(s.liveDeploymentsLocked(), func(d *deployment) bool { return !matches(d, q) })
	}
	servePage(s, w, r, list, func(d *deployment) gen.DeploymentListData {
		return gen.DeploymentListData{
			RequestId:           d.id,
			Fqdn:                d.fqdn,
			PublicIp:            d.publicIP,
			Ready:               d.ready,
			StartTime:           d.started.UTC().Format(TimeLayout),
			Ports:               ptr(s.portsJSONLocked(d)),
			Tags:                ptr(slices.Clone(d.tagList())),
			Sockets:             ptr(d.sockets),
			SocketsUsage:        ptr(d.used),
			IsJoinableBySession: ptr(!d.failed && d.used < d.sockets),
		}
	})
}

func (s *Simulator) statusJSONLocked(d *deployment) gen.Status {
	end := time.Now()
	if d.stopped {
		end = d.removed
	}
	sessions := []gen.DeploymentSessionContext{}
	for _, sess := range sortedSessions(d) {
		status, ready := sessionStatus(sess)
		sessions = append(sessions, gen.DeploymentSessionContext{
			SessionId: sess.id, Status: status, Ready: ready, Linked: true,
			Kind: "Seat", UserCount: len(sess.ips),
		})
	}
	st := gen.Status{
		RequestId:          d.id,
		AppName:            d.app,
		AppVersion:         d.version,
		CurrentStatus:      d.status(),
		Running:            d.ready && !d.stopped,
		WhitelistingActive: false,
		Fqdn:               d.fqdn,
		PublicIp:           d.publicIP,
		StartTime:          d.started.UTC().Format(TimeLayout),
		ElapsedTime:        int(end.Sub(d.started).Seconds()),
		Error:              d.failed,
		Ports:              ptr(s.portsJSONLocked(d)),
		Location:           ptr(s.locationJSON()),
		Sessions:           &sessions,
		Sockets:            ptr(d.sockets),
		SocketsUsage:       ptr(d.used),
		Tags:               ptr(slices.Clone(d.tagList())),
	}
	if d.arguments != "" {
		st.Arguments = ptr(d.arguments)
	}
	if d.failed {
		st.ErrorDetail = ptr(d.errDetail)
	}
	if d.stopped {
		st.RemovalTime = ptr(d.removed.UTC().Format(TimeLayout))
	}
	return st
}

func (s *Simulator) handleStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[id]
	if d == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("deployment %q not found", id))
		return
	}
	writeJSON(w, http.StatusOK, s.statusJSONLocked(d))
}

func (s *Simulator) handleStop(w http.ResponseWriter, r *http.Request) {
	s.stopDeployment(w, r.PathValue("id"))
}

func (s *Simulator) stopDeployment(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[id]
	if d == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("deployment %q not found", id))
		return
	}
	summary := s.statusJSONLocked(d)
	switch s.stopStatusLocked(d) {
	case http.StatusGone:
		writeError(w, http.StatusGone, "Instance Already terminated")
	case http.StatusAccepted:
		writeJSON(w, http.StatusAccepted, map[string]string{"message": fmt.Sprintf("%s - Delete request will be processed once the deployment is ready", id)})
	default:
		writeJSON(w, http.StatusOK, gen.Delete{
			Message:           fmt.Sprintf("Instance %s will be deleted", id),
			DeploymentSummary: &summary,
		})
	}
}
