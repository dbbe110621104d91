package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/pkg/protocol"
)

// Request outcomes (the "outcome" label of requests_total).
const (
	outSeat            = "seat"              // SessionReady relayed
	outMatchmakerError = "matchmaker_error"  // Error feedback from the matchmaker relayed
	outEnded           = "ended"             // end message without a seat or an error
	outNoMatchmaker    = "no_matchmaker"     // no responders
	outTimeout         = "timeout"           // MaxRequestDuration passed
	outSilent          = "matchmaker_silent" // no feedback for MatchmakerSilence
	outBadReply        = "bad_reply"         // malformed matchmaker message
	outClientGone      = "client_gone"       // the client went away
	outShutdown        = "shutdown"          // the gateway is shutting down
	outRejected        = "rejected"          // rate limit or pending cap
	outBadRequest      = "bad_request"       // invalid request from the client
	outUnavailable     = "unavailable"       // NATS unusable
	outOK              = "ok"                // wannaplay / webhook success
)

// result is how a relayed request ended. fail, when set, is the gateway's
// own failure to report to the client as an Error feedback.
type result struct {
	outcome string
	fail    *protocol.Error
	sent    int
}

// validateNames checks game and version with the Rust rules and messages
// (protocol.RequestSession.Validate, which also refuses whitespace).
func validateNames(game, version string) error {
	return protocol.RequestSession{Game: game, Version: version}.Validate()
}

// publishRequest sends the session request of PROTOCOL.md section 4 with a
// fresh reply subject of the reply mux.
func (s *Server) publishRequest(game, version string, client netip.Addr) (*waiter, *protocol.Error) {
	body, err := json.Marshal(protocol.MatchmakerRequest{ClientIP: client.String(), Game: game, Version: version})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInternal, "encoding the matchmaker request failed")
	}
	if !s.nc.IsConnected() {
		// Publishing now would sit in the reconnect buffer until the deadline.
		return nil, protocol.Errorf(protocol.CodeUnavailable, "matchmaker unreachable, try again later")
	}
	w := s.replies.register()
	subj := s.cfg.Names.MatchmakerRequest(game, version)
	if err := s.nc.PublishMsg(&nats.Msg{Subject: subj, Reply: w.inbox, Data: body}); err != nil {
		w.done()
		s.log.Warn("publishing session request failed", "subject", subj, "err", err)
		if errors.Is(err, nats.ErrBadSubject) {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "Game name invalid")
		}
		return nil, protocol.Errorf(protocol.CodeUnavailable, "matchmaker unreachable, try again later")
	}
	s.log.Debug("session request sent", "subject", subj, "client_ip", client.String())
	return w, nil
}

// feed is the client side of a relayed request.
type feed struct {
	send      func(msg []byte) error // relay one feedback message
	gone      <-chan struct{}        // closed when the client went away
	tick      <-chan time.Time       // keepalive ticks (nil: none)
	keepalive func() error
}

// relay forwards the matchmaker's replies on w to a client until the empty
// end message, a failure, the deadline, the client leaving or shutdown.
// Every reply is validated as a SessionRequestFeedback and re-encoded, so
// nothing but well-formed feedback reaches a client. After SessionReady or
// Error the end message gets a short grace, then the stream counts as done.
//
// It is a state machine stepped by a small loop rather than one big
// function: thousands of clients wait parked in step, and a shallow stack
// there keeps each waiting goroutine at the smallest stack size.
type relay struct {
	s        *Server
	f        feed
	w        *waiter
	game     string
	version  string
	deadline time.Time
	timer    *time.Timer
	// silence fires when the matchmaker sent nothing for MatchmakerSilence:
	// it sends progress at least every heartbeat, so it has died.
	silence  *time.Timer
	terminal bool
	done     bool
	res      result
}

func (s *Server) newRelay(f feed, w *waiter, deadline time.Time, game, version string) *relay {
	return &relay{s: s, f: f, w: w, game: game, version: version, deadline: deadline,
		timer: time.NewTimer(time.Until(deadline)), silence: time.NewTimer(s.cfg.MatchmakerSilence)}
}

// run steps the relay to its end.
func (r *relay) run() result {
	for r.step() {
	}
	return r.res
}

// step waits for one event and handles it; false once the relay is done.
func (r *relay) step() bool {
	select {
	case <-r.s.stopping:
		r.finish(outShutdown, shutdownError())
	case <-r.f.gone:
		r.finish(outClientGone, nil)
	case <-r.timer.C:
		r.expired()
	case <-r.silence.C:
		r.silent()
	case <-r.f.tick:
		r.keepalive()
	case <-r.w.notify:
		r.deliver()
	}
	return !r.done
}

func (r *relay) finish(outcome string, fail *protocol.Error) {
	r.res.outcome, r.res.fail, r.done = outcome, fail, true
	r.timer.Stop()
	r.silence.Stop()
}

// silent ends a request whose matchmaker stopped answering (killed, cut
// off from NATS): the client learns at once instead of at the deadline, and
// the session it may have made is the surviving replicas' reaper's.
func (r *relay) silent() {
	if r.terminal {
		return // the final feedback came; the end grace decides
	}
	r.s.log.Warn("matchmaker stopped answering", "game", r.game, "version", r.version, "silent_for", r.s.cfg.MatchmakerSilence)
	r.finish(outSilent, protocol.Errorf(protocol.CodeUnavailable, "matchmaker stopped answering"))
}

func (r *relay) expired() {
	if r.terminal {
		r.finish(r.res.outcome, nil)
		return
	}
	r.finish(outTimeout, protocol.Errorf(504, "matchmaker did not finish within %s", r.s.cfg.MaxRequestDuration))
}

func (r *relay) keepalive() {
	if err := r.f.keepalive(); err != nil {
		r.finish(outClientGone, nil)
	}
}

func (r *relay) deliver() {
	msgs, overflow := r.w.take()
	if len(msgs) > 0 {
		r.silence.Reset(r.s.cfg.MatchmakerSilence)
	}
	for _, m := range msgs {
		r.message(m)
		if r.done {
			return
		}
	}
	if overflow && !r.terminal {
		r.s.log.Error("matchmaker replies overflowed a slow client", "game", r.game, "version", r.version)
		r.finish(outBadReply, protocol.Errorf(502, "too many matchmaker messages"))
	}
}

func (r *relay) message(m *nats.Msg) {
	s := r.s
	switch {
	case isNoResponders(m):
		r.finish(outNoMatchmaker, protocol.Errorf(protocol.CodeUnavailable, "no matchmaker for %s %s", r.game, r.version))
		return
	case isStatus(m):
		s.log.Warn("status message on the reply inbox", "status", m.Header.Get("Status"), "game", r.game, "version", r.version)
		r.finish(outBadReply, protocol.Errorf(502, "matchmaker reply failed"))
		return
	case len(m.Data) == 0:
		if r.res.outcome == "" {
			r.res.outcome = outEnded
		}
		r.finish(r.res.outcome, nil)
		return
	case r.terminal:
		s.log.Warn("dropping matchmaker message after the final feedback", "game", r.game, "version", r.version)
		return
	}
	var fb protocol.Feedback
	if err := json.Unmarshal(m.Data, &fb); err != nil {
		s.log.Error("malformed matchmaker message", "game", r.game, "version", r.version, "err", err, "bytes", len(m.Data))
		r.finish(outBadReply, protocol.Errorf(502, "malformed reply from the matchmaker"))
		return
	}
	if err := r.f.send(fb.Encode()); err != nil {
		s.log.Debug("client write failed", "err", err)
		r.finish(outClientGone, nil)
		return
	}
	r.res.sent++
	switch fb.Kind {
	case protocol.KindReady:
		r.res.outcome, r.terminal = outSeat, true
	case protocol.KindError:
		r.res.outcome, r.terminal = outMatchmakerError, true
	default:
		return
	}
	if g := r.s.endGrace; time.Until(r.deadline) > g {
		r.timer.Reset(g)
	}
}

// observe records a finished request.
func (s *Server) observe(route string, start time.Time, outcome string) {
	s.metrics.requests.WithLabelValues(route, outcome).Inc()
	s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

func durationText(d time.Duration) string {
	return fmt.Sprint(d.Round(time.Millisecond))
}
