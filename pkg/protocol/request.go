package protocol

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
)

// RequestSession is the first (and only) message a game client sends on the
// websocket, and the body the gateway forwards to the matchmaker (with the
// resolved client_ip filled in).
type RequestSession struct {
	Game     string  `json:"game"`
	Version  string  `json:"version"`
	ClientIP *string `json:"client_ip"`
}

// MaxNameLen is the longest game name or version accepted (Rust: 30 chars).
const MaxNameLen = 30

// nameRE is the Rust gateway's rule minus whitespace: the Rust allowed \s,
// but a NATS subject cannot carry it, so such a request could never reach a
// matchmaker. The messages are the Rust ones.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Validate checks game and version with the Rust gateway's rules and messages.
func (r RequestSession) Validate() error {
	switch {
	case !nameRE.MatchString(r.Game):
		return &Error{Code: 400, Message: "Game name invalid"}
	case !nameRE.MatchString(r.Version):
		return &Error{Code: 400, Message: "Game version invalid"}
	case len(r.Game) > MaxNameLen:
		return &Error{Code: 400, Message: "Game name too long (max 30 chars)"}
	case len(r.Version) > MaxNameLen:
		return &Error{Code: 400, Message: "Game version too long (max 30 chars)"}
	}
	return nil
}

// MatchmakerRequest is the JSON the gateway sends on
// matchmaker.request.<game>.<version> and session.gensession.
type MatchmakerRequest struct {
	ClientIP string `json:"client_ip"`
	Game     string `json:"game,omitempty"`
	Version  string `json:"version,omitempty"`
}

// ParseMatchmakerRequest decodes and validates a matchmaker request body:
// client_ip must be present and be an IP address.
func ParseMatchmakerRequest(b []byte) (MatchmakerRequest, error) {
	var r MatchmakerRequest
	if len(b) > 4096 {
		return r, &Error{Code: 400, Message: fmt.Sprintf("request is %d bytes, over the 4096 byte limit", len(b))}
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, &Error{Code: 400, Message: "request is not valid JSON: " + err.Error()}
	}
	if r.ClientIP == "" {
		return r, &Error{Code: 400, Message: "request has no client_ip"}
	}
	if _, err := netip.ParseAddr(r.ClientIP); err != nil {
		return r, &Error{Code: 400, Message: fmt.Sprintf("client_ip %q is not an IP address", r.ClientIP)}
	}
	return r, nil
}

// SessionResponse is the reply of the session.gensession service and of
// POST /matchmaker/wannaplay.
type SessionResponse struct {
	ConnectToken   string `json:"connect_token"`
	GameserverIP   string `json:"gameserver_ip"`
	GameserverPort uint16 `json:"gameserver_port"`
	CertDigest     string `json:"cert_digest"`
}
