package edgegapsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

// kick wakes a deployment's goroutine to re-check its empty TTL.
func kick(d *deployment) {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (s *Simulator) hexLocked(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[s.rng.IntN(16)]
	}
	return string(b)
}

func (s *Simulator) allocPortLocked() int {
	p := s.nextPort
	s.nextPort++
	if s.nextPort > 65535 {
		s.nextPort = s.cfg.FirstExternalPort
	}
	return p
}

// newDeploymentLocked creates a deployment and starts its goroutine.
func (s *Simulator) newDeploymentLocked(a *app, v *version) *deployment {
	id := s.hexLocked(12)
	for s.deployments[id] != nil {
		id = s.hexLocked(12)
	}
	s.seq++
	ctx, cancel := context.WithCancel(s.ctx)
	d := &deployment{
		seq:            s.seq,
		id:             id,
		app:            a.name,
		version:        v.name,
		dockerTag:      v.dockerTag,
		securityNumber: 1 + s.rng.IntN(99999),
		accessPoint:    1 + s.rng.IntN(999),
		contextToken:   s.hexLocked(32),
		deleteToken:    s.hexLocked(32),
		publicIP:       s.cfg.PublicIP,
		fqdn:           id + "." + s.cfg.FQDNSuffix,
		ports:          map[string]Port{},
		sockets:        s.socketsOf(v),
		sessions:       make(map[string]*session),
		started:        time.Now(),
		ctx:            ctx,
		cancel:         cancel,
		kick:           make(chan struct{}, 1),
	}
	if v.arguments != nil {
		d.arguments = *v.arguments
	}
	d.ports[s.cfg.PortName] = Port{
		Name:     s.cfg.PortName,
		Internal: s.cfg.InternalPort,
		External: s.allocPortLocked(),
		Protocol: s.cfg.PortProtocol,
	}
	d.portOrder = []string{s.cfg.PortName}
	s.deployments[id] = d
	s.stats.deploymentsCreated++
	info := s.infoLocked(d)
	delay := s.deployDelay
	if delay == 0 && s.cfg.OnDeploy == nil {
		// Instant deployments are ready before the session that asked
		// for them is even answered.
		d.ready = true
	}
	info.SetPorts = func(ports map[string]int) { s.applyPorts(d, ports) }
	s.wg.Add(1)
	go s.runDeployment(d, info, delay)
	s.log.Debug("edgegapsim: deployment created", "request_id", d.id, "app", d.app, "version", d.version)
	return d
}

func (s *Simulator) infoLocked(d *deployment) DeploymentInfo {
	base := s.baseURL
	if base == "" {
		base = "http://localhost"
	}
	info := DeploymentInfo{
		RequestID:    d.id,
		App:          d.app,
		Version:      d.version,
		DockerTag:    d.dockerTag,
		Arguments:    d.arguments,
		PublicIP:     d.publicIP,
		FQDN:         d.fqdn,
		Sockets:      d.sockets,
		Ports:        make(map[string]Port, len(d.ports)),
		Location:     *s.cfg.Location,
		ContextURL:   fmt.Sprintf("%s/v1/context/%s/%d", base, d.id, d.securityNumber),
		ContextToken: d.contextToken,
		DeleteURL:    fmt.Sprintf("%s/v1/self/stop/%s/%d", base, d.id, d.accessPoint),
		DeleteToken:  d.deleteToken,
	}
	for k, p := range d.ports {
		info.Ports[k] = p
	}
	loc, _ := json.Marshal(info.Location)
	ports, _ := json.Marshal(struct {
		Ports map[string]Port `json:"ports"`
	}{info.Ports})
	info.Env = map[string]string{
		"ARBITRIUM_REQUEST_ID":          info.RequestID,
		"ARBITRIUM_DELETE_URL":          info.DeleteURL,
		"ARBITRIUM_DELETE_TOKEN":        info.DeleteToken,
		"ARBITRIUM_DEPLOYMENT_LOCATION": string(loc),
		"ARBITRIUM_CONTEXT_URL":         info.ContextURL,
		"ARBITRIUM_CONTEXT_TOKEN":       info.ContextToken,
		"ARBITRIUM_PUBLIC_IP":           info.PublicIP,
		"ARBITRIUM_PORTS_MAPPING":       string(ports),
	}
	return info
}

// runDeployment owns a deployment's life: the OnDeploy hook, the deploy
// delay, the empty TTL, and the hook's stop function.
func (s *Simulator) runDeployment(d *deployment, info DeploymentInfo, delay time.Duration) {
	defer s.wg.Done()
	if hook := s.cfg.OnDeploy; hook != nil {
		h, err := hook(d.ctx, info)
		if h.Stop != nil {
			defer h.Stop()
		}
		if err != nil {
			s.failDeployment(d, err)
			delay = -1
		} else {
			s.applyPorts(d, h.Ports)
		}
	}
	var readyC <-chan time.Time
	switch {
	case delay == 0:
		s.markReady(d)
	case delay > 0:
		t := time.NewTimer(delay)
		defer t.Stop()
		readyC = t.C
	}
	var ttl *time.Timer
	defer func() {
		if ttl != nil {
			ttl.Stop()
		}
	}()
	for {
		var ttlC <-chan time.Time
		if ttl != nil {
			ttl.Stop()
			ttl = nil
		}
		if deadline, ok := s.emptyDeadline(d); ok {
			ttl = time.NewTimer(time.Until(deadline))
			ttlC = ttl.C
		}
		select {
		case <-d.ctx.Done():
			s.log.Debug("edgegapsim: deployment stopped", "request_id", d.id)
			return
		case <-readyC:
			readyC = nil
			s.markReady(d)
		case <-d.kick:
		case <-ttlC:
			s.expireIfEmpty(d)
		}
	}
}

func (s *Simulator) applyPorts(d *deployment, ports map[string]int) {
	if len(ports) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(ports))
	for name := range ports {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ext := ports[name]
		if ext < 1 || ext > 65535 {
			continue
		}
		p, ok := d.ports[name]
		if !ok {
			p = Port{Name: name, Internal: ext, Protocol: s.cfg.PortProtocol}
			d.portOrder = append(d.portOrder, name)
		}
		p.External = ext
		d.ports[name] = p
	}
}

func (s *Simulator) emptyDeadline(d *deployment) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.stopped || len(d.sessions) > 0 || d.emptySince.IsZero() {
		return time.Time{}, false
	}
	return d.emptySince.Add(s.emptyTTL), true
}

func (s *Simulator) expireIfEmpty(d *deployment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.stopped || len(d.sessions) > 0 || d.emptySince.IsZero() {
		return
	}
	if time.Since(d.emptySince) >= s.emptyTTL {
		s.stopLocked(d)
	}
}

func (s *Simulator) markReady(d *deployment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.stopped || d.failed || d.ready {
		return
	}
	d.ready = true
	for _, sess := range sortedSessions(d) {
		s.notifyLocked(sess)
	}
}

func (s *Simulator) failDeployment(d *deployment, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.stopped {
		return
	}
	d.failed = true
	d.errDetail = fmt.Sprintf("deployment failed: %v", err)
	for _, sess := range sortedSessions(d) {
		s.notifyLocked(sess)
	}
}

func sortedSessions(d *deployment) []*session {
	out := make([]*session, 0, len(d.sessions))
	for _, sess := range d.sessions {
		out = append(out, sess)
	}
	slices.SortFunc(out, func(a, b *session) int { return int(a.seq - b.seq) })
	return out
}

// stopLocked terminates a deployment and deletes its sessions. The
// deployment's goroutine notices the cancelled context and calls the hook's
// stop function.
func (s *Simulator) stopLocked(d *deployment) {
	if d.stopped {
		return
	}
	for _, sess := range sortedSessions(d) {
		s.deleteSessionLocked(sess)
	}
	d.stopped = true
	d.ready = false
	d.removed = time.Now()
	d.cancel()
	s.stats.deploymentsStopped++
	s.termOrder = append(s.termOrder, d.id)
	if len(s.termOrder) > maxTerminated {
		drop := len(s.termOrder) - maxTerminated
		for _, old := range s.termOrder[:drop] {
			delete(s.deployments, old)
		}
		s.termOrder = slices.Clone(s.termOrder[drop:])
	}
}

// notifyLocked POSTs a session's webhook once, when it turned ready or its
// deployment failed.
func (s *Simulator) notifyLocked(sess *session) {
	if sess.webhookURL == "" || sess.notified || s.closed {
		return
	}
	sess.notified = true
	body, err := json.Marshal(sessionContext(sess))
	if err != nil {
		return
	}
	s.wg.Add(1)
	go s.deliver(sess.webhookURL, sess.id, body)
}

func (s *Simulator) deliver(url, sessionID string, body []byte) {
	defer s.wg.Done()
	select {
	case s.hooks <- struct{}{}:
		defer func() { <-s.hooks }()
	case <-s.ctx.Done():
		s.countWebhook(false)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	ok := false
	defer func() { s.countWebhook(ok) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		s.log.Debug("edgegapsim: webhook request", "session_id", sessionID, "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "edgegapsim")
	rsp, err := s.hc.Do(req)
	if err != nil {
		s.log.Debug("edgegapsim: webhook failed", "session_id", sessionID, "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(rsp.Body, 64<<10))
	rsp.Body.Close()
	ok = rsp.StatusCode >= 200 && rsp.StatusCode <= 299
	s.log.Debug("edgegapsim: webhook delivered", "session_id", sessionID, "status", rsp.StatusCode)
}

func (s *Simulator) countWebhook(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.stats.webhooksSent++
	} else {
		s.stats.webhooksFailed++
	}
}

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

func (s *Simulator) handleDeploymentsList(w http.ResponseWriter, r *http.Request) {
	servePage(s, w, r, s.liveDeploymentsLocked, func(d *deployment) gen.DeploymentListData {
		return gen.DeploymentListData{
			RequestId:           d.id,
			Fqdn:                d.fqdn,
			PublicIp:            d.publicIP,
			Ready:               d.ready,
			StartTime:           d.started.UTC().Format(TimeLayout),
			Ports:               ptr(s.portsJSONLocked(d)),
			Tags:                &[]string{},
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
		Tags:               &[]string{},
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

func (s *Simulator) stopDeployment(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[id]
	if d == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("deployment %q not found", id))
		return
	}
	if d.stopped {
		writeError(w, http.StatusGone, "Instance Already terminated")
		return
	}
	summary := s.statusJSONLocked(d)
	s.stopLocked(d)
	writeJSON(w, http.StatusOK, gen.Delete{
		Message:           fmt.Sprintf("Instance %s will be deleted", id),
		DeploymentSummary: &summary,
	})
}

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
