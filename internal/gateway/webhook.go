package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"regexp"
	"time"
)

var hookNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// hookBodyTimeout bounds reading a webhook body.
const hookBodyTimeout = 30 * time.Second

// handleHook is POST /hook/{name}: publish the raw body on webhook.<name>
// and answer 200 "OK" once the NATS server has it.
func (s *Server) handleHook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	outcome := s.hook(w, r)
	s.observe(routeHook, start, outcome)
}

func (s *Server) hook(w http.ResponseWriter, r *http.Request) string {
	name := r.PathValue("name")
	if !hookNameRE.MatchString(name) {
		writeText(w, http.StatusBadRequest, "invalid hook name: use 1 to 64 letters, digits, '_' or '-'")
		return outBadRequest
	}
	if s.cfg.WebhookSecret != "" && !s.hookSecretOK(r) {
		s.metrics.rejections.WithLabelValues("unauthorized").Inc()
		writeText(w, http.StatusUnauthorized, "unauthorized")
		return outRejected
	}
	select {
	case s.hookSem <- struct{}{}:
		defer func() { <-s.hookSem }()
	default:
		s.metrics.rejections.WithLabelValues("webhook_busy").Inc()
		writeText(w, http.StatusServiceUnavailable, "busy, try again")
		return outRejected
	}
	if r.ContentLength > s.cfg.WebhookMaxBody {
		s.metrics.rejections.WithLabelValues("too_large").Inc()
		writeText(w, http.StatusRequestEntityTooLarge, "body too large")
		return outBadRequest
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(hookBodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.WebhookMaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.metrics.rejections.WithLabelValues("too_large").Inc()
			writeText(w, http.StatusRequestEntityTooLarge, "body too large")
			return outBadRequest
		}
		return outClientGone
	}
	subj := s.cfg.Names.Webhook(name)
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	err = s.nc.Publish(subj, body)
	if err == nil {
		err = s.nc.FlushWithContext(ctx)
	}
	if err != nil {
		s.log.Warn("webhook publish failed", "subject", subj, "err", err)
		writeText(w, http.StatusServiceUnavailable, "nats unavailable, try again")
		return outUnavailable
	}
	s.log.Debug("webhook published", "subject", subj, "bytes", len(body))
	writeText(w, http.StatusOK, "OK")
	return outOK
}

// hookSecretOK compares the offered secret in constant time (hashing both
// sides first so lengths leak nothing either).
func (s *Server) hookSecretOK(r *http.Request) bool {
	got := r.Header.Get("X-Bevygap-Webhook-Secret")
	if got == "" {
		got = r.URL.Query().Get("secret")
	}
	a := sha256.Sum256([]byte(got))
	b := sha256.Sum256([]byte(s.cfg.WebhookSecret))
	return got != "" && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
