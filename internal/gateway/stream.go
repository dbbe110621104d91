package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/bevygap/bevygap/pkg/protocol"
)

// handleStream is POST /matchmaker/request/{game}/{version}: the websocket
// flow with the feedback messages streamed as a chunked body, one JSON
// message per line. Failures known before the first message use the HTTP
// status (400, 429, 503) with an Error feedback line as the body; later ones
// end the stream with an Error feedback line.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	outcome := s.stream(w, r, start)
	s.observe(routeStream, start, outcome)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, start time.Time) string {
	game, version := r.PathValue("game"), r.PathValue("version")
	started := false
	rc := http.NewResponseController(w)
	send := func(msg []byte) error {
		if !started {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		if err := rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(append(msg, '\n')); err != nil {
			return err
		}
		return rc.Flush()
	}
	fail := func(outcome string, e *protocol.Error) string {
		if !started {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(e.Code)
			started = true
		}
		_ = send(protocol.Failure(e.Code, e.Message).Encode())
		return outcome
	}

	if err := validateNames(game, version); err != nil {
		return fail(outBadRequest, asProtocolError(err))
	}
	ca, err := s.resolveClient(r)
	if err != nil {
		return fail(outBadRequest, asProtocolError(err))
	}
	select {
	case <-s.stopping:
		return fail(outShutdown, shutdownError())
	default:
	}
	release, rej := s.limits.acquire(ca.network)
	if rej != nil {
		s.metrics.rejections.WithLabelValues(rej.reason).Inc()
		return fail(outRejected, protocol.Errorf(rej.code, "%s", rej.msg))
	}
	defer release()
	wt, perr := s.publishRequest(game, version, ca.client)
	if perr != nil {
		return fail(outUnavailable, perr)
	}
	defer wt.done()
	res := s.newRelay(feed{send: send, gone: r.Context().Done()}, wt, start.Add(s.cfg.MaxRequestDuration), game, version).run()
	switch {
	case res.outcome == outClientGone:
	case res.fail != nil:
		fail(res.outcome, res.fail)
	case !started:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	}
	return res.outcome
}
