package matchmaker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// onRequest serves one matchmaker.request message. It never blocks the
// subscription: beyond MaxInFlight it answers 503 at once.
func (m *Matchmaker) onRequest(msg *nats.Msg) {
	if msg.Reply == "" {
		m.log.Warn("request without reply subject dropped", "subject", msg.Subject)
		return
	}
	done, ok := m.admitRequest()
	if !ok {
		m.send(msg.Reply, protocol.Failure(protocol.CodeUnavailable, "matchmaker shutting down"))
		m.end(msg.Reply)
		return
	}
	select {
	case m.inflight <- struct{}{}:
	default:
		done()
		m.metrics.requests.WithLabelValues("503").Inc()
		m.send(msg.Reply, protocol.Failure(protocol.CodeUnavailable, "matchmaker busy"))
		m.end(msg.Reply)
		return
	}
	go func() {
		defer done()
		defer func() { <-m.inflight }()
		m.metrics.inflight.Inc()
		defer m.metrics.inflight.Dec()
		defer m.end(msg.Reply)
		req, err := protocol.ParseMatchmakerRequest(msg.Data)
		if err != nil {
			m.fail(msg.Reply, err)
			return
		}
		progress, stop := m.keepAlive(msg.Reply)
		seat, sid, err := m.Seat(m.reqCtx, req.ClientIP, progress)
		stop()
		if err != nil {
			m.fail(msg.Reply, err)
			return
		}
		m.log.Info("seat ready", "session_id", sid, "ip", seat.IP, "port", seat.Port)
		m.send(msg.Reply, protocol.Ready(*seat))
	}()
}

// keepAlive returns the progress function of a request that also sends a
// progress report whenever nothing was sent for a Heartbeat (during the
// create call, the certificate digest wait...): the gateway takes a
// matchmaker silent for three heartbeats for dead. stop ends the keepalive
// before the final feedback is sent.
func (m *Matchmaker) keepAlive(reply string) (progress func(protocol.Feedback), stop func()) {
	var mu sync.Mutex
	start := m.cfg.Now()
	last := time.Now()
	progress = func(f protocol.Feedback) {
		mu.Lock()
		defer mu.Unlock()
		m.send(reply, f)
		last = time.Now()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // owner: keepAlive's stop, which waits for it
		tick := time.NewTicker(m.cfg.Heartbeat / 2)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			mu.Lock()
			if time.Since(last) >= m.cfg.Heartbeat {
				m.send(reply, protocol.Progress(fmt.Sprintf("Working (%s)", m.cfg.Now().Sub(start).Round(time.Second))))
				last = time.Now()
			}
			mu.Unlock()
		}
	})
	return progress, func() { close(done); wg.Wait() }
}

func (m *Matchmaker) send(reply string, f protocol.Feedback) {
	if err := m.cfg.NC.Publish(reply, f.Encode()); err != nil {
		m.log.Warn("publishing feedback failed", "err", err)
	}
}

// end sends the empty message that ends a feedback stream.
func (m *Matchmaker) end(reply string) {
	if err := m.cfg.NC.Publish(reply, nil); err != nil {
		m.log.Warn("publishing end of feedback failed", "err", err)
	}
}

func (m *Matchmaker) fail(reply string, err error) {
	f := protocol.FailureFrom(err)
	m.metrics.requests.WithLabelValues(strconv.Itoa(f.Code)).Inc()
	if f.Code >= 500 {
		m.log.Warn("request failed", "code", f.Code, "err", f.Message)
	} else {
		m.log.Info("request refused", "code", f.Code, "err", f.Message)
	}
	m.send(reply, f)
}

// Seat places a client through the allocator and returns the seat and the
// id written where the Rust protocol has the session id (an Edgegap session
// id, or a fleet seat id). progress receives Acknowledged,
// SessionRequestAccepted and ProgressReport feedback as they happen (nil
// ignores them). Errors are *protocol.Error with the code the client sees.
// Whatever cannot be handed out is released (a session queued for
// deletion, a seat freed) before Seat returns.
func (m *Matchmaker) Seat(ctx context.Context, clientIP string, progress func(protocol.Feedback)) (*protocol.Seat, string, error) {
	if progress == nil {
		progress = func(protocol.Feedback) {}
	}
	start := m.cfg.Now()
	progress(protocol.Acknowledged())
	seat, id, err := m.alloc.seat(ctx, clientIP, progress)
	if err != nil {
		return nil, id, err
	}
	m.metrics.timeToReady.Observe(m.cfg.Now().Sub(start).Seconds())
	m.metrics.requests.WithLabelValues("seat").Inc()
	return seat, id, nil
}

// sessionSeat creates an Edgegap session for a client, waits for it to be
// ready and returns the seat (the sessions allocator). A session that
// cannot be handed out is queued for deletion before it returns.
func (m *Matchmaker) sessionSeat(ctx context.Context, clientIP string, progress func(protocol.Feedback)) (*protocol.Seat, string, error) {
	// Record the intent first: a crash during the create call, or an answer
	// lost after Edgegap created the session, leaves it behind, and the
	// reconciler deletes the ghost session as this create's.
	intent := state.Intent{ID: state.NewFleetID(), App: m.cfg.AppName, Version: m.cfg.AppVersion, ClientIP: clientIP, Time: m.cfg.Now().UTC()}
	if err := m.intents.Put(ctx, intent); err != nil {
		m.log.Error("recording a session create intent failed", "err", err)
		return nil, "", protocol.Errorf(protocol.CodeUnavailable, "could not record the session request")
	}
	// Once sent, the creation itself is not cancelled by shutdown (the
	// Edgegap client detaches that attempt: an answer never read would leave
	// a session whose id nobody knows); waiting for the create budget is.
	created, err := m.cfg.Edgegap.CreateSession(ctx, edgegap.SessionRequest{
		AppName: m.cfg.AppName, VersionName: m.cfg.AppVersion, IPList: []string{clientIP}, WebhookURL: m.cfg.WebhookURL,
	})
	if err != nil {
		if edgegap.IsOutcomeUnknown(err) {
			m.log.Warn("session create outcome unknown: a session Edgegap made is left to the reconciler", "intent", intent.ID, "err", err)
		} else {
			m.resolveIntent(intent.ID) // Edgegap certainly made nothing
		}
		return nil, "", edgegapFailure(ctx, "creating the session", err)
	}
	sid := created.ID
	log := m.log.With("session_id", sid)
	log.Info("session created", "client_ip", clientIP, "deployment", created.DeploymentRequestID)
	// Record it at once: from here on, a crash still leaves it to the reaper.
	if err := m.cfg.Store.PutUnclaimed(context.WithoutCancel(ctx), sid); err != nil {
		log.Error("recording unclaimed session failed; queueing it for deletion", "err", err)
		if m.abandon(sid, err) {
			m.resolveIntent(intent.ID)
		}
		return nil, sid, protocol.Errorf(protocol.CodeUnavailable, "could not record session %s", sid)
	}
	m.resolveIntent(intent.ID)
	progress(protocol.Accepted(sid))
	seat, err := m.awaitSeat(ctx, sid, progress)
	if err != nil {
		// Nobody will use this session: delete it now rather than at the reaper's TTL.
		m.abandon(sid, err)
		return nil, sid, err
	}
	return seat, sid, nil
}

// abandon queues a session nobody will use for deletion; false when that
// failed (the reaper or the reconciler will find it).
func (m *Matchmaker) abandon(sid string, why error) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.reqCtx), 5*time.Second)
	defer cancel()
	if err := m.cfg.Store.EnqueueDelete(ctx, sid); err != nil {
		if ok, _ := m.cfg.Store.IsUnclaimed(ctx, sid); ok {
			m.log.Error("queueing abandoned session for deletion failed; the reaper will retry", "session_id", sid, "err", err)
		} else {
			m.log.Error("queueing abandoned session for deletion failed; the reconciler will delete it", "session_id", sid, "err", err)
		}
		return false
	}
	_ = m.cfg.Store.DeleteUnclaimed(ctx, sid)
	m.log.Info("session abandoned and queued for deletion", "session_id", sid, "reason", why)
	return true
}

// resolveIntent removes a create intent whose outcome is known; a failure
// only leaves it to the reconciler, which resolves stale intents.
func (m *Matchmaker) resolveIntent(id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.reqCtx), 5*time.Second)
	defer cancel()
	if err := m.intents.Resolve(ctx, id); err != nil {
		m.log.Warn("resolving a session create intent failed; the reconciler will", "intent", id, "err", err)
	}
}

func (m *Matchmaker) awaitSeat(ctx context.Context, sid string, progress func(protocol.Feedback)) (*protocol.Seat, error) {
	s, err := m.awaitReady(ctx, sid, progress)
	if err != nil {
		return nil, err
	}
	addr, err := m.seatAddr(sid, s.Deployment)
	if err != nil {
		return nil, err
	}
	digest, err := m.certDigest(ctx, []string{s.Deployment.PublicIP}, time.Time{})
	if err != nil {
		return nil, err
	}
	clientID, err := m.clientID()
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInternal, "client id: %v", err)
	}
	return m.handOut(ctx, sid, addr, digest, clientID, func() error {
		// Restart the unclaimed clock: the client gets the full TTL to connect.
		if err := m.cfg.Store.PutUnclaimed(ctx, sid); err != nil {
			m.log.Warn("refreshing unclaimed session failed", "session_id", sid, "err", err)
		}
		return nil
	})
}

// handOut turns a ready game server address, its certificate digest and a
// client id into the client's seat: the connect token and the two mapping
// puts keyed by id (a session id or a seat id); handed then records the
// hand-out.
func (m *Matchmaker) handOut(ctx context.Context, id string, addr netip.AddrPort, digest string, clientID uint64, handed func() error) (*protocol.Seat, error) {
	tok, err := m.minter.Mint(netcode.Params{ServerAddrs: []netip.AddrPort{addr}, ProtocolID: m.cfg.ProtocolID, ClientID: clientID})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInternal, "minting the connect token: %v", err)
	}
	if err := m.cfg.Store.PutSeat(ctx, clientID, id); err != nil {
		// NATS unavailable (a node or its stream leader lost): the player
		// may try again, as after any other state failure.
		if ctx.Err() != nil {
			return nil, interrupted(ctx)
		}
		m.log.Error("recording the seat failed", "id", id, "err", err)
		return nil, protocol.Errorf(protocol.CodeUnavailable, "matchmaker state unavailable while recording the seat")
	}
	if err := handed(); err != nil {
		return nil, protocol.Errorf(protocol.CodeInternal, "recording the seat: %v", err)
	}
	return &protocol.Seat{Token: tok.Base64(), IP: addr.Addr().String(), Port: addr.Port(), CertDigest: digest}, nil
}

// seatAddr is the address clients connect to on a ready session's
// deployment: its public IP and the external port of the configured port
// (or the only one, or the lowest name).
func (m *Matchmaker) seatAddr(sid string, d *edgegap.Deployment) (netip.AddrPort, error) {
	if d == nil || d.PublicIP == "" {
		return netip.AddrPort{}, protocol.Errorf(protocol.CodeInternal, "session %s is ready but has no deployment", sid)
	}
	port, ok := d.GamePort(m.cfg.PortName)
	if !ok {
		return netip.AddrPort{}, protocol.Errorf(protocol.CodeInternal, "deployment %s has no ports", d.RequestID)
	}
	if m.cfg.PortName == "" && len(d.Ports) > 1 {
		m.portOnce.Do(func() {
			m.log.Warn("deployment has several ports and no port-name is set: using the lowest name", "port_name", port.Name, "ports", len(d.Ports))
		})
	}
	if m.cfg.PortName != "" && port.Name != m.cfg.PortName {
		if _, named := d.Ports[m.cfg.PortName]; !named {
			return netip.AddrPort{}, protocol.Errorf(protocol.CodeInternal, "deployment %s has no port named %q", d.RequestID, m.cfg.PortName)
		}
	}
	if port.External < 1 || port.External > 65535 {
		return netip.AddrPort{}, protocol.Errorf(protocol.CodeInternal, "deployment %s port %q has external port %d", d.RequestID, port.Name, port.External)
	}
	ip, err := netip.ParseAddr(d.PublicIP)
	if err != nil {
		return netip.AddrPort{}, protocol.Errorf(protocol.CodeInternal, "deployment %s public_ip %q is not an IP address", d.RequestID, d.PublicIP)
	}
	return netip.AddrPortFrom(ip, uint16(port.External)), nil
}

// certDigest waits for the game server's certificate digest under the
// first of keys that has one (a deployment's request id, then its public
// IP); without RequireCertDigest a missing one is sent empty.
func (m *Matchmaker) certDigest(ctx context.Context, keys []string, notBefore time.Time) (string, error) {
	publicIP := keys[len(keys)-1]
	digest, err := m.cfg.Store.WaitCertDigest(ctx, keys, notBefore, m.cfg.CertDigestWait)
	if err == nil {
		return digest, nil
	}
	if ctx.Err() != nil {
		return "", interrupted(ctx)
	}
	if m.cfg.RequireCertDigest || !errors.Is(err, state.ErrNotFound) {
		return "", protocol.Errorf(protocol.CodeInternal, "no certificate digest for game server %s", publicIP)
	}
	return "", nil
}

func (m *Matchmaker) clientID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(m.cfg.Rand, b[:]); err != nil {
			return 0, err
		}
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id, nil
		}
	}
}

func interrupted(ctx context.Context) error {
	return protocol.Errorf(protocol.CodeUnavailable, "matchmaker shutting down: %v", context.Cause(ctx))
}

// edgegapFailure maps an Edgegap error to the client-visible code: 400, 401
// and 409 pass through Edgegap's message (as in Rust); the rest is 503.
func edgegapFailure(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return interrupted(ctx)
	}
	var ae *edgegap.APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case 400, 401, 409:
			msg := ae.Message
			if msg == "" {
				msg = fmt.Sprintf("edgegap refused %s", what)
			}
			return &protocol.Error{Code: ae.Status, Message: msg}
		}
		return protocol.Errorf(protocol.CodeUnavailable, "edgegap error %d while %s", ae.Status, what)
	}
	return protocol.Errorf(protocol.CodeUnavailable, "edgegap unreachable while %s", what)
}
