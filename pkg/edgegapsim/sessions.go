package edgegapsim

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// createSessionLocked places a session on a deployment of the requested
// app version: the one the request names, else a live one with free
// sockets, else a new one.
func (s *Simulator) createSessionLocked(req sessionRequest) (*session, *apiError) {
	a, v, aerr := s.activeVersionLocked(req.app, req.version)
	if aerr != nil {
		return nil, aerr
	}
	if v.noSessionConfig {
		return nil, badRequest("app version %q of application %q has no session_config: deploy it with POST /v2/deployments", v.name, a.name)
	}
	seats := max(1, len(req.ips))
	if sockets := s.socketsOf(v); seats > sockets {
		return nil, badRequest("%d users do not fit a deployment of %d sockets", seats, sockets)
	}
	d, aerr := s.placeLocked(a, v, req.requestID, seats)
	if aerr != nil {
		return nil, aerr
	}
	s.seq++
	sess := &session{
		seq:        s.seq,
		id:         s.newSessionIDLocked(),
		app:        a.name,
		version:    v.name,
		versionID:  v.id,
		ips:        req.ips,
		seats:      seats,
		created:    time.Now(),
		webhookURL: req.webhook,
		dep:        d,
	}
	s.sessions[sess.id] = sess
	s.counts.sessionsCreated++
	d.sessions[sess.id] = sess
	d.used += seats
	d.emptySince = time.Time{}
	kick(d)
	if d.ready {
		s.notifyLocked(sess)
	}
	return sess, nil
}

// activeVersionLocked returns the active app and version a session asks
// for; an empty versionName picks the first active version.
func (s *Simulator) activeVersionLocked(appName, versionName string) (*app, *version, *apiError) {
	a := s.apps[appName]
	if a == nil {
		return nil, nil, badRequest("application %q not found", appName)
	}
	if a.inactive {
		return nil, nil, badRequest("application %q is not active", a.name)
	}
	if versionName == "" {
		for _, cand := range a.versions {
			if !cand.inactive {
				return a, cand, nil
			}
		}
		return nil, nil, badRequest("application %q has no active version", a.name)
	}
	v := a.version(versionName)
	if v == nil {
		return nil, nil, badRequest("app version %q of application %q not found", versionName, a.name)
	}
	if v.inactive {
		return nil, nil, badRequest("app version %q of application %q is not active", v.name, a.name)
	}
	return a, v, nil
}

// placeLocked returns the deployment for seats more seats of a/v: the
// deployment requestID names (it must be live with enough free sockets),
// else one with free sockets (see findSeatLocked), else a new one.
func (s *Simulator) placeLocked(a *app, v *version, requestID string, seats int) (*deployment, *apiError) {
	if requestID == "" {
		if d := s.findSeatLocked(a.name, v.name, seats); d != nil {
			return d, nil
		}
		return s.newDeploymentLocked(a, v), nil
	}
	d := s.deployments[requestID]
	if d == nil || d.stopped || d.failed || d.v2 != nil || d.stopPending || d.app != a.name || d.version != v.name {
		return nil, badRequest("deployment %q is not a live deployment of %s/%s", requestID, a.name, v.name)
	}
	if d.sockets-d.used < seats {
		return nil, &apiError{status: http.StatusConflict, msg: fmt.Sprintf("deployment %q has no %d free sockets", requestID, seats)}
	}
	return d, nil
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
		if d.stopped || d.failed || d.v2 != nil || d.stopPending || d.app != appName || d.version != versionName || d.sockets-d.used < seats {
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
	s.counts.sessionsDeleted++
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
