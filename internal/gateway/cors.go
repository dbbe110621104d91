package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// cors answers preflight requests and refuses cross-origin requests from
// origins that are not allowed. Allowed: no Origin header (native clients
// such as the Rust game client), the gateway's own origin, and the configured
// origins ("*" only when listed). A refused origin gets 403 and no
// Access-Control-Allow-Origin, so a foreign page can neither read answers nor
// make the gateway act (start sessions) on a visitor's behalf.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			m := r.Header.Get("Access-Control-Request-Method")
			if origin == "" || !s.originAllowed(origin, r.Host) || (m != http.MethodGet && m != http.MethodPost) {
				s.metrics.rejections.WithLabelValues("cors").Inc()
				http.Error(w, "cross-origin request not allowed", http.StatusForbidden)
				return
			}
			s.allowOrigin(h, origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
				h.Set("Access-Control-Allow-Headers", "Content-Type")
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if origin != "" {
			if !s.originAllowed(origin, r.Host) {
				s.metrics.rejections.WithLabelValues("cors").Inc()
				s.log.Debug("origin refused", "origin", origin, "path", r.URL.Path)
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			s.allowOrigin(h, origin)
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) allowOrigin(h http.Header, origin string) {
	if slices.Contains(s.cfg.CORSOrigins, origin) {
		h.Set("Access-Control-Allow-Origin", origin)
	} else if slices.Contains(s.cfg.CORSOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	// Same-origin requests need no CORS header.
}

// originAllowed reports whether a browser on origin may use the gateway.
func (s *Server) originAllowed(origin, host string) bool {
	if slices.Contains(s.cfg.CORSOrigins, origin) || slices.Contains(s.cfg.CORSOrigins, "*") {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, host)
}
