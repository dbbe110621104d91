package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/bevygap/bevygap/pkg/protocol"
)

// handleWannaplay is POST /matchmaker/wannaplay: one request to the
// session.gensession service, answered with its JSON reply (200), the
// service error's code and message, 408 "Request timeout" or 503
// "No service responders", as the Rust gateway did.
func (s *Server) handleWannaplay(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	outcome := s.wannaplay(w, r)
	s.observe(routeWannaplay, start, outcome)
}

func (s *Server) wannaplay(w http.ResponseWriter, r *http.Request) string {
	ca, err := s.resolveClient(r)
	if err != nil {
		pe := asProtocolError(err)
		writeText(w, pe.Code, pe.Message)
		return outBadRequest
	}
	release, rej := s.limits.acquire(ca.network)
	if rej != nil {
		s.metrics.rejections.WithLabelValues(rej.reason).Inc()
		writeText(w, rej.code, rej.msg)
		return outRejected
	}
	defer release()

	if !s.nc.IsConnected() {
		writeText(w, http.StatusServiceUnavailable, "No service responders")
		return outUnavailable
	}
	body, _ := json.Marshal(protocol.MatchmakerRequest{ClientIP: ca.client.String()})
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WannaplayTimeout)
	defer cancel()
	stop := context.AfterFunc(s.stopCtx, cancel)
	defer stop()
	subj := s.gensessionSubject()
	msg, err := s.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: subj, Data: body})
	switch {
	case err == nil:
	case errors.Is(err, nats.ErrNoResponders):
		writeText(w, http.StatusServiceUnavailable, "No service responders")
		return outNoMatchmaker
	case r.Context().Err() != nil:
		return outClientGone
	case s.stopCtx.Err() != nil:
		writeText(w, http.StatusServiceUnavailable, "gateway shutting down, try again")
		return outShutdown
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		writeText(w, http.StatusRequestTimeout, "Request timeout")
		return outTimeout
	default:
		s.log.Warn("gensession request failed", "subject", subj, "err", err)
		writeText(w, http.StatusInternalServerError, "Unhandled error")
		return outUnavailable
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		n, err := strconv.Atoi(code)
		if err != nil || n < 400 || n > 599 {
			n = http.StatusInternalServerError
		}
		writeText(w, n, msg.Header.Get(micro.ErrorHeader))
		return outMatchmakerError
	}
	var sr protocol.SessionResponse
	if err := json.Unmarshal(msg.Data, &sr); err != nil || sr.ConnectToken == "" {
		s.log.Error("malformed gensession reply", "subject", subj, "bytes", len(msg.Data))
		writeText(w, http.StatusBadGateway, "malformed reply from the matchmaker")
		return outBadReply
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(msg.Data)
	return outSeat
}

// writeText answers with a plain text body, exactly msg (no newline added).
func writeText(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}
