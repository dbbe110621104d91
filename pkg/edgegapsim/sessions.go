package edgegapsim

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

func (s *Simulator) handleSessionPost(w http.ResponseWriter, r *http.Request) {
	var m gen.SessionModel
	if err := decodeBody(r, &m); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if m.AppName == "" {
		writeError(w, http.StatusBadRequest, "app_name is required")
		return
	}
	var ips []string
	if m.IpList != nil {
		for i, ip := range *m.IpList {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("ip_list[%d] %q is not a valid IP address", i, ip))
				return
			}
			ips = append(ips, a.Unmap().String())
		}
	}
	webhook := ""
	if m.WebhookUrl != nil && *m.WebhookUrl != "" {
		webhook = *m.WebhookUrl
		if !validWebhookURL(webhook) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("webhook_url %q is not an absolute http(s) URL", webhook))
			return
		}
	}
	versionName := ""
	if m.VersionName != nil {
		versionName = *m.VersionName
	}
	requestID := ""
	if m.DeploymentRequestId != nil {
		requestID = *m.DeploymentRequestId
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		writeError(w, http.StatusServiceUnavailable, "simulator closed")
		return
	}
	a := s.apps[m.AppName]
	if a == nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("application %q not found", m.AppName))
		return
	}
	if a.inactive {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("application %q is not active", a.name))
		return
	}
	var v *version
	if versionName == "" {
		for _, cand := range a.versions {
			if !cand.inactive {
				v = cand
				break
			}
		}
		if v == nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("application %q has no active version", a.name))
			return
		}
	} else {
		v = a.version(versionName)
		if v == nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("app version %q of application %q not found", versionName, a.name))
			return
		}
		if v.inactive {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("app version %q of application %q is not active", v.name, a.name))
			return
		}
	}
	seats := max(1, len(ips))
	sockets := s.socketsOf(v)
	if seats > sockets {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%d users do not fit a deployment of %d sockets", seats, sockets))
		return
	}
	var d *deployment
	if requestID != "" {
		d = s.deployments[requestID]
		if d == nil || d.stopped || d.failed || d.app != a.name || d.version != v.name {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("deployment %q is not a live deployment of %s/%s", requestID, a.name, v.name))
			return
		}
		if d.sockets-d.used < seats {
			writeError(w, http.StatusConflict, fmt.Sprintf("deployment %q has no %d free sockets", requestID, seats))
			return
		}
	} else {
		d = s.findSeatLocked(a.name, v.name, seats)
	}
	if d == nil {
		d = s.newDeploymentLocked(a, v)
	}
	s.seq++
	sess := &session{
		seq:        s.seq,
		id:         s.newSessionIDLocked(),
		app:        a.name,
		version:    v.name,
		versionID:  v.id,
		ips:        ips,
		seats:      seats,
		created:    time.Now(),
		webhookURL: webhook,
		dep:        d,
	}
	s.sessions[sess.id] = sess
	s.stats.sessionsCreated++
	d.sessions[sess.id] = sess
	d.used += seats
	d.emptySince = time.Time{}
	kick(d)
	if d.ready {
		s.notifyLocked(sess)
	}
	writeJSON(w, http.StatusOK, gen.SessionRequest{
		SessionId:           sess.id,
		App:                 a.name,
		Version:             v.name,
		DeploymentRequestId: ptr(d.id),
		WebhookUrl:          optString(webhook),
	})
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Simulator) socketsOf(v *version) int {
	if v.sockets > 0 {
		return v.sockets
	}
	return s.cfg.Sockets
}

// findSeatLocked returns the live deployment of app/version with enough
// free sockets, preferring ready ones, then the oldest.
func (s *Simulator) findSeatLocked(appName, versionName string, seats int) *deployment {
	var best *deployment
	for _, d := range s.deployments {
		if d.stopped || d.failed || d.app != appName || d.version != versionName || d.sockets-d.used < seats {
			continue
		}
		if best == nil || (d.ready && !best.ready) || (d.ready == best.ready && d.seq < best.seq) {
			best = d
		}
	}
	return best
}

func (s *Simulator) newSessionIDLocked() string {
	for {
		id := fmt.Sprintf("%012x-S", s.rng.Uint64()&0xffffffffffff)
		_, live := s.sessions[id]
		_, dead := s.tombstones[id]
		if !live && !dead {
			return id
		}
	}
}

// sessionStatus is the status string and ready flag of a session.
func sessionStatus(sess *session) (string, bool) {
	d := sess.dep
	switch {
	case d.failed:
		return "Error", false
	case d.ready:
		return "Ready", true
	}
	return "Waiting", false
}

func (s *Simulator) handleSessionGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("session %q not found", id))
		return
	}
	status, ready := sessionStatus(sess)
	users := make([]gen.SessionUser, 0, len(sess.ips))
	for _, ip := range sess.ips {
		users = append(users, gen.SessionUser{Ip: ip})
	}
	out := gen.SessionGet{
		SessionId:    sess.id,
		Status:       status,
		Ready:        ready,
		Linked:       true,
		Kind:         "Seat",
		UserCount:    len(sess.ips),
		AppVersion:   sess.versionID,
		CreateTime:   sess.created.UTC().Format(TimeLayout),
		Elapsed:      int(time.Since(sess.created).Seconds()),
		SessionIps:   &users,
		SessionUsers: &users,
		WebhookUrl:   optString(sess.webhookURL),
		Deployment:   ptr(s.deploymentJSONLocked(sess.dep)),
	}
	if sess.dep.failed {
		out.Error = ptr(sess.dep.errDetail)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Simulator) handleSessionDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, gone := s.tombstones[id]; gone {
		writeError(w, http.StatusGone, "Instance Already terminated")
		return
	}
	sess := s.sessions[id]
	if sess == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("session %q not found", id))
		return
	}
	s.deleteSessionLocked(sess)
	writeJSON(w, http.StatusOK, gen.SessionDelete{
		SessionId: id,
		Message:   fmt.Sprintf("Session %s will be deleted", id),
	})
}

// deleteSessionLocked removes a live session, leaving a tombstone.
func (s *Simulator) deleteSessionLocked(sess *session) {
	delete(s.sessions, sess.id)
	s.tombstones[sess.id] = struct{}{}
	s.tombOrder = append(s.tombOrder, sess.id)
	if len(s.tombOrder) > maxTombstones {
		drop := len(s.tombOrder) - maxTombstones
		for _, old := range s.tombOrder[:drop] {
			delete(s.tombstones, old)
		}
		s.tombOrder = slices.Clone(s.tombOrder[drop:])
	}
	s.stats.sessionsDeleted++
	d := sess.dep
	if _, ok := d.sessions[sess.id]; ok {
		delete(d.sessions, sess.id)
		d.used -= sess.seats
		if len(d.sessions) == 0 {
			d.emptySince = time.Now()
			kick(d)
		}
	}
}

// liveSessionsLocked returns live sessions in creation order.
func (s *Simulator) liveSessionsLocked() []*session {
	out := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, sess)
	}
	slices.SortFunc(out, func(a, b *session) int { return int(a.seq - b.seq) })
	return out
}

func sessionContext(sess *session) gen.SessionContext {
	status, ready := sessionStatus(sess)
	return gen.SessionContext{
		SessionId:           sess.id,
		Status:              status,
		Ready:               ready,
		Linked:              true,
		Kind:                "Seat",
		UserCount:           len(sess.ips),
		DeploymentRequestId: ptr(sess.dep.id),
		WebhookUrl:          optString(sess.webhookURL),
	}
}

func (s *Simulator) handleSessionsList(w http.ResponseWriter, r *http.Request) {
	servePage(s, w, r, s.liveSessionsLocked, sessionContext)
}

func (s *Simulator) handleBulkStop(w http.ResponseWriter, r *http.Request) {
	var body gen.SessionBulkStopPayload
	if err := decodeBody(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(body.Filters) == 0 {
		writeError(w, http.StatusBadRequest, "filters is required")
		return
	}
	for i, f := range body.Filters {
		switch f.Field {
		case "session_id", "request_id", "deployment_tags":
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("filters[%d].field %q: want session_id, request_id or deployment_tags", i, f.Field))
			return
		}
		switch f.FilterType {
		case "any", "all", "not":
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("filters[%d].filter_type %q: want any, all or not", i, f.FilterType))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stopped := []gen.SessionStopResponse{}
	for _, sess := range s.liveSessionsLocked() {
		if matchesAll(sess, body.Filters) {
			s.deleteSessionLocked(sess)
			stopped = append(stopped, gen.SessionStopResponse{SessionId: sess.id})
		}
	}
	writeJSON(w, http.StatusOK, gen.SessionBulkStopResponse{Processable: stopped})
}

// matchesAll reports whether a session matches every filter. Deployments
// in the simulator have no tags.
func matchesAll(sess *session, filters []gen.SessionBulkStopFiltersPayload) bool {
	for _, f := range filters {
		var have []string
		switch f.Field {
		case "session_id":
			have = []string{sess.id}
		case "request_id":
			have = []string{sess.dep.id}
		}
		var ok bool
		switch f.FilterType {
		case "any":
			ok = slices.ContainsFunc(f.Values, func(v string) bool { return slices.Contains(have, v) })
		case "all":
			ok = len(f.Values) > 0 && !slices.ContainsFunc(f.Values, func(v string) bool { return !slices.Contains(have, v) })
		case "not":
			ok = !slices.ContainsFunc(f.Values, func(v string) bool { return slices.Contains(have, v) })
		}
		if !ok {
			return false
		}
	}
	return true
}
