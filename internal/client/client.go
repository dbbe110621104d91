// Package client is a Go game client for the bevygap gateway: it requests a
// session over the matchmaker websocket exactly like the Rust
// bevygap_client_plugin does (PROTOCOL.md sections 5 and 6), and runs many
// such requests as a load test.
package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/bevygap/bevygap/pkg/protocol"
)

// Errors of Request besides a matchmaker's Error feedback (returned as a
// *protocol.Error) and transport errors (wrapped, see IsTransport).
var (
	// ErrUnexpectedMessage: a text frame that is not a SessionRequestFeedback.
	// The Rust client plugin gives up on these too.
	ErrUnexpectedMessage = errors.New("unexpected message from the matchmaker")
	// ErrBadSeat: a SessionReady whose token is not standard base64 of 2048
	// bytes starting with "NETCODE 1.02", or whose address does not parse.
	ErrBadSeat = errors.New("invalid seat from the matchmaker")
	// ErrClosed: the connection ended before SessionReady or an Error.
	ErrClosed = errors.New("matchmaker closed the connection without a seat")
)

// DefaultURL is the gateway websocket the Rust client plugin uses by default.
const DefaultURL = "ws://localhost:3000/matchmaker/ws"

const (
	tokenSize     = 2048
	tokenVersion  = "NETCODE 1.02\x00"
	readLimit     = 64 << 10
	defaultLinger = 5 * time.Second
)

// Options configures one session request.
type Options struct {
	// URL is the gateway's websocket endpoint (default DefaultURL); http and
	// https URLs work too.
	URL string
	// Game and Version name the game, as in the Rust plugin's config.
	Game    string
	Version string
	// ClientIP, when set, asks for a session near that address: it is sent
	// as the client_ip field of the request (as the Rust plugin's
	// fake_client_ip) and as the client_ip query parameter (which the Go
	// gateway honours when started with client IP overrides allowed).
	ClientIP string
	// Header adds headers to the websocket handshake (e.g. Origin).
	Header http.Header
	// HTTPClient performs the handshake (nil: a client of its own).
	HTTPClient *http.Client
	// OnFeedback, when set, sees every feedback message as it arrives.
	OnFeedback func(protocol.Feedback)
	// CloseWait bounds the wait for the gateway's close after SessionReady
	// (default 5s).
	CloseWait time.Duration
}

// Result is a granted seat.
type Result struct {
	// Seat is where and how to connect.
	Seat protocol.Seat
	// SessionID is the Edgegap session id from SessionRequestAccepted.
	SessionID string
	// Elapsed is the time from dialing to SessionReady.
	Elapsed time.Duration
	// Progress holds every ProgressReport text, in order.
	Progress []string
}

// MarshalJSON writes snake_case fields, the elapsed time in milliseconds
// and progress as [] when empty.
func (r Result) MarshalJSON() ([]byte, error) {
	p := r.Progress
	if p == nil {
		p = []string{}
	}
	return json.Marshal(struct {
		Seat      protocol.Seat `json:"seat"`
		SessionID string        `json:"session_id"`
		ElapsedMS float64       `json:"elapsed_ms"`
		Progress  []string      `json:"progress"`
	}{r.Seat, r.SessionID, ms(r.Elapsed), p})
}

// TransportError is a failure to talk to the gateway at all (dial, read,
// write), as opposed to an answer from it.
type TransportError struct{ Err error }

func (e *TransportError) Error() string { return "matchmaker websocket: " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// Request asks the gateway for a session and waits for the seat. It returns
// a *protocol.Error for an Error feedback (errors.As), ErrUnexpectedMessage,
// ErrBadSeat or ErrClosed (errors.Is), a *TransportError, or ctx's error.
func Request(ctx context.Context, o Options) (Result, error) {
	start := time.Now()
	var res Result
	u, err := requestURL(o)
	if err != nil {
		return res, err
	}
	body, err := json.Marshal(protocol.RequestSession{Game: o.Game, Version: o.Version, ClientIP: optional(o.ClientIP)})
	if err != nil {
		return res, err
	}
	hc := o.HTTPClient
	if hc == nil {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
		defer tr.CloseIdleConnections()
		hc = &http.Client{Transport: tr}
	}
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: o.Header})
	if err != nil {
		return res, transport(ctx, err)
	}
	defer c.CloseNow()
	c.SetReadLimit(readLimit)
	if err := c.Write(ctx, websocket.MessageText, body); err != nil {
		return res, transport(ctx, err)
	}
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != -1 {
				var ce websocket.CloseError
				errors.As(err, &ce)
				return res, fmt.Errorf("%w (close %d %q)", ErrClosed, int(ce.Code), ce.Reason)
			}
			return res, transport(ctx, err)
		}
		if typ != websocket.MessageText {
			continue // the Rust plugin ignores binary messages
		}
		var f protocol.Feedback
		if err := json.Unmarshal(data, &f); err != nil {
			return res, fmt.Errorf("%w: %.100q", ErrUnexpectedMessage, data)
		}
		if o.OnFeedback != nil {
			o.OnFeedback(f)
		}
		switch f.Kind {
		case protocol.KindAccepted:
			res.SessionID = f.SessionID
		case protocol.KindProgress:
			res.Progress = append(res.Progress, f.Progress)
		case protocol.KindError:
			return res, &protocol.Error{Code: f.Code, Message: f.Message}
		case protocol.KindReady:
			if err := CheckSeat(*f.Seat); err != nil {
				return res, err
			}
			res.Seat = *f.Seat
			res.Elapsed = time.Since(start)
			awaitClose(ctx, c, o.CloseWait)
			return res, nil
		}
	}
}

// CheckSeat checks a seat the way the Rust client plugin relies on it: the
// token is standard base64 of exactly 2048 bytes starting with the netcode
// version "NETCODE 1.02", and ip:port is a socket address.
func CheckSeat(s protocol.Seat) error {
	tok, err := base64.StdEncoding.DecodeString(s.Token)
	switch {
	case err != nil:
		return fmt.Errorf("%w: token is not standard base64: %v", ErrBadSeat, err)
	case len(tok) != tokenSize:
		return fmt.Errorf("%w: token is %d bytes, want %d", ErrBadSeat, len(tok), tokenSize)
	case !bytes.HasPrefix(tok, []byte(tokenVersion)):
		return fmt.Errorf("%w: token does not start with %q", ErrBadSeat, tokenVersion[:12])
	}
	if _, err := netip.ParseAddr(s.IP); err != nil {
		return fmt.Errorf("%w: ip %.64q: %v", ErrBadSeat, s.IP, err)
	}
	if s.Port == 0 {
		return fmt.Errorf("%w: port 0", ErrBadSeat)
	}
	return nil
}

// awaitClose reads until the gateway's close (1000 "Goodbye") or the bound;
// the seat is good either way.
func awaitClose(ctx context.Context, c *websocket.Conn, d time.Duration) {
	if d <= 0 {
		d = defaultLinger
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
	}
}

// WSPath is the gateway's websocket route.
const WSPath = "/matchmaker/ws"

// ErrURL marks a gateway URL that cannot be used.
var ErrURL = errors.New("gateway url")

// GatewayURL completes what a person types for the gateway: host:port
// becomes ws://host:port/matchmaker/ws, and a ws(s):// or http(s):// URL
// without a path gets /matchmaker/ws. Anything else is an ErrURL naming
// the forms that work.
func GatewayURL(raw string) (string, error) {
	if raw == "" {
		return DefaultURL, nil
	}
	if !strings.Contains(raw, "://") {
		if _, port, err := net.SplitHostPort(raw); err != nil || port == "" {
			return "", fmt.Errorf("%w %q: want host:port or a ws://, wss://, http:// or https:// URL (e.g. ws://127.0.0.1:3000%s)", ErrURL, raw, WSPath)
		}
		raw = "ws://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w %q: want host:port or a ws://, wss://, http:// or https:// URL with a host (e.g. ws://127.0.0.1:3000%s)", ErrURL, raw, WSPath)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return "", fmt.Errorf("%w %q: want a ws://, wss://, http:// or https:// URL, not %s://", ErrURL, raw, u.Scheme)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = WSPath
	}
	return u.String(), nil
}

func requestURL(o Options) (string, error) {
	full, err := GatewayURL(o.URL)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(full)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrURL, full, err)
	}
	if o.ClientIP != "" {
		q := u.Query()
		q.Set("client_ip", o.ClientIP)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// transport wraps err as a *TransportError unless ctx ended (then ctx's error).
func transport(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("matchmaker request: %w", context.Cause(ctx))
	}
	return &TransportError{Err: err}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
