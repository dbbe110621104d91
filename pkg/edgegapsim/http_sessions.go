package edgegapsim

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

// sessionRequest is a checked POST /v1/session body.
type sessionRequest struct {
	app       string
	version   string // "" for the first active version
	requestID string // "" to let the simulator place the session
	webhook   string
	ips       []string
}

// parseSessionRequest reads and checks a session request; errors name the
// field.
func parseSessionRequest(r *http.Request) (sessionRequest, error) {
	var m gen.SessionModel
	if err := decodeBody(r, &m); err != nil {
		return sessionRequest{}, err
	}
	if m.AppName == "" {
		return sessionRequest{}, errors.New("app_name is required")
	}
	req := sessionRequest{app: m.AppName}
	if m.IpList != nil {
		for i, ip := range *m.IpList {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return sessionRequest{}, fmt.Errorf("ip_list[%d] %q is not a valid IP address", i, ip)
			}
			req.ips = append(req.ips, a.Unmap().String())
		}
	}
	if m.WebhookUrl != nil && *m.WebhookUrl != "" {
		req.webhook = *m.WebhookUrl
		if !validWebhookURL(req.webhook) {
			return sessionRequest{}, fmt.Errorf("webhook_url %q is not an absolute http(s) URL", req.webhook)
		}
	}
	if m.VersionName != nil {
		req.version = *m.VersionName
	}
	if m.DeploymentRequestId != nil {
		req.requestID = *m.DeploymentRequestId
	}
	return req, nil
}

func (s *Simulator) handleSessionPost(w http.ResponseWriter, r *http.Request) {
	req, err := parseSessionRequest(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		writeError(w, http.StatusServiceUnavailable, "simulator closed")
		return
	}
	sess, aerr := s.createSessionLocked(req)
	if aerr != nil {
		writeError(w, aerr.status, aerr.msg)
		return
	}
	writeJSON(w, http.StatusOK, gen.SessionRequest{
		SessionId:           sess.id,
		App:                 sess.app,
		Version:             sess.version,
		DeploymentRequestId: ptr(sess.dep.id),
		WebhookUrl:          optString(sess.webhookURL),
	})
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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
