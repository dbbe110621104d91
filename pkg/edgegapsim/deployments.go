package edgegapsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"
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

// newDeploymentLocked creates a deployment for sessions and starts its
// goroutine.
func (s *Simulator) newDeploymentLocked(a *app, v *version) *deployment {
	return s.startDeploymentLocked(a, v, nil)
}

// startDeploymentLocked creates a deployment and starts its goroutine; v2
// is nil for a session's deployment, else what POST /v2/deployments asked.
func (s *Simulator) startDeploymentLocked(a *app, v *version, v2 *deploymentV2) *deployment {
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
		v2:             v2,
	}
	if v2 != nil {
		d.tags = slices.Clone(v2.initialTags)
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
	s.counts.deploymentsCreated++
	info := s.infoLocked(d)
	delay := s.deployDelay
	if delay == 0 && s.cfg.OnDeploy == nil {
		// Instant deployments are ready before the session that asked
		// for them is even answered.
		d.ready = true
	}
	info.SetPorts = func(ports map[string]int) { s.applyPorts(d, ports) }
	info.SetPublicIP = func(ip string) { s.setPublicIP(d, ip) }
	info.Fail = func(err error) { s.failDeployment(d, err) }
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
	if d.v2 != nil {
		for k, v := range d.v2.env {
			if _, injected := info.Env[k]; !injected {
				info.Env[k] = v
			}
		}
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

func (s *Simulator) setPublicIP(d *deployment, ip string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d.publicIP = a.Unmap().String()
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
	s.settledLocked(d)
}

func (s *Simulator) failDeployment(d *deployment, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.stopped || d.failed {
		return
	}
	d.failed = true
	d.errDetail = fmt.Sprintf("deployment failed: %v", err)
	for _, sess := range sortedSessions(d) {
		s.notifyLocked(sess)
	}
	s.settledLocked(d)
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
	s.deploymentWebhookLocked(d, hookTerminated)
	s.counts.deploymentsStopped++
	s.termOrder = append(s.termOrder, d.id)
	if len(s.termOrder) > maxTerminated {
		drop := len(s.termOrder) - maxTerminated
		for _, old := range s.termOrder[:drop] {
			delete(s.deployments, old)
		}
		s.termOrder = slices.Clone(s.termOrder[drop:])
	}
}
