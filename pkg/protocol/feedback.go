// Package protocol holds the wire types bevygap shares with the Rust game
// clients: the session request a client sends, and the SessionRequestFeedback
// messages streamed back (a serde externally-tagged enum, PROTOCOL.md
// section 5). They are defined here once; the gateway, the matchmaker and the
// CLI all use them.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Kind names a feedback variant.
type Kind string

// The feedback variants, in the order a successful request sees them.
const (
	KindAcknowledged    Kind = "Acknowledged"
	KindAccepted        Kind = "SessionRequestAccepted"
	KindProgress        Kind = "ProgressReport"
	KindReady           Kind = "SessionReady"
	KindError           Kind = "Error"
	maxFeedbackMsgBytes      = 16 << 10
)

// Seat is the payload of SessionReady: where to connect, with what.
type Seat struct {
	Token      string `json:"token"`
	IP         string `json:"ip"`
	Port       uint16 `json:"port"`
	CertDigest string `json:"cert_digest"`
}

// Feedback is one SessionRequestFeedback message. Exactly one of the payload
// fields is meaningful, chosen by Kind.
type Feedback struct {
	Kind      Kind
	SessionID string // SessionRequestAccepted
	Progress  string // ProgressReport
	Seat      *Seat  // SessionReady
	Code      int    // Error
	Message   string // Error
}

// Constructors for each variant.
func Acknowledged() Feedback             { return Feedback{Kind: KindAcknowledged} }
func Accepted(sessionID string) Feedback { return Feedback{Kind: KindAccepted, SessionID: sessionID} }
func Progress(msg string) Feedback       { return Feedback{Kind: KindProgress, Progress: msg} }
func Ready(seat Seat) Feedback           { return Feedback{Kind: KindReady, Seat: &seat} }
func Failure(code int, msg string) Feedback {
	return Feedback{Kind: KindError, Code: code, Message: msg}
}

// FailureFrom turns an error into an Error feedback, using the code of a
// *Error when there is one and 500 otherwise.
func FailureFrom(err error) Feedback {
	var pe *Error
	if errors.As(err, &pe) {
		return Failure(pe.Code, pe.Message)
	}
	return Failure(500, err.Error())
}

// MarshalJSON writes the serde externally-tagged form.
func (f Feedback) MarshalJSON() ([]byte, error) {
	switch f.Kind {
	case KindAcknowledged:
		return []byte(`"Acknowledged"`), nil
	case KindAccepted:
		return json.Marshal(map[string]string{string(KindAccepted): f.SessionID})
	case KindProgress:
		return json.Marshal(map[string]string{string(KindProgress): f.Progress})
	case KindReady:
		if f.Seat == nil {
			return nil, errors.New("SessionReady feedback without a seat")
		}
		return json.Marshal(map[string]*Seat{string(KindReady): f.Seat})
	case KindError:
		if f.Code < 0 || f.Code > 65535 {
			return nil, fmt.Errorf("error feedback code %d does not fit u16", f.Code)
		}
		return json.Marshal(map[string][2]any{string(KindError): {f.Code, f.Message}})
	}
	return nil, fmt.Errorf("unknown feedback kind %q", f.Kind)
}

// UnmarshalJSON reads the serde externally-tagged form, strictly: anything
// else is an error (as in the Rust client plugin).
func (f *Feedback) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > maxFeedbackMsgBytes {
		return fmt.Errorf("feedback message is %d bytes, over the %d byte limit", len(b), maxFeedbackMsgBytes)
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != string(KindAcknowledged) {
			return fmt.Errorf("unknown feedback variant %q", s)
		}
		*f = Acknowledged()
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("feedback is not a SessionRequestFeedback: %w", err)
	}
	if len(m) != 1 {
		return fmt.Errorf("feedback object has %d keys, want exactly 1", len(m))
	}
	for k, v := range m {
		switch Kind(k) {
		case KindAccepted, KindProgress:
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if Kind(k) == KindAccepted {
				*f = Accepted(s)
			} else {
				*f = Progress(s)
			}
		case KindReady:
			var seat Seat
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&seat); err != nil {
				return fmt.Errorf("SessionReady: %w", err)
			}
			*f = Ready(seat)
		case KindError:
			var pair []json.RawMessage
			if err := json.Unmarshal(v, &pair); err != nil || len(pair) != 2 {
				return fmt.Errorf("Error: want [code, message]")
			}
			var code uint16
			var msg string
			if err := json.Unmarshal(pair[0], &code); err != nil {
				return fmt.Errorf("Error code: %w", err)
			}
			if err := json.Unmarshal(pair[1], &msg); err != nil {
				return fmt.Errorf("Error message: %w", err)
			}
			*f = Failure(int(code), msg)
		default:
			return fmt.Errorf("unknown feedback variant %q", k)
		}
	}
	return nil
}

// String is the human form the Rust client plugin shows.
func (f Feedback) String() string {
	switch f.Kind {
	case KindAcknowledged:
		return "Sending request"
	case KindAccepted:
		return "Request accepted: " + f.SessionID
	case KindProgress:
		return "In-progress: " + f.Progress
	case KindReady:
		if f.Seat != nil {
			return fmt.Sprintf("Session Ready! %s:%d", f.Seat.IP, f.Seat.Port)
		}
	case KindError:
		return fmt.Sprintf("Error %d: %s", f.Code, f.Message)
	}
	return string(f.Kind)
}

// Encode is json.Marshal for callers that already validated the feedback.
func (f Feedback) Encode() []byte {
	b, err := f.MarshalJSON()
	if err != nil {
		b, _ = Failure(500, "internal error encoding feedback").MarshalJSON()
	}
	return b
}
