package edgegap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Sentinel errors matched by *APIError through errors.Is, by HTTP status.
var (
	// ErrBadRequest matches 400 answers.
	ErrBadRequest = errors.New("edgegap: bad request")
	// ErrUnauthorized matches 401 answers (missing or invalid API key or
	// context token).
	ErrUnauthorized = errors.New("edgegap: unauthorized")
	// ErrForbidden matches 403 answers.
	ErrForbidden = errors.New("edgegap: forbidden")
	// ErrNotFound matches 404 answers.
	ErrNotFound = errors.New("edgegap: not found")
	// ErrConflict matches 409 answers.
	ErrConflict = errors.New("edgegap: conflict")
	// ErrGone matches 410 answers ("already terminated").
	ErrGone = errors.New("edgegap: gone")
	// ErrRateLimited matches 429 answers.
	ErrRateLimited = errors.New("edgegap: rate limited")
	// ErrServer matches 5xx answers.
	ErrServer = errors.New("edgegap: server error")
)

// ErrNoAPIKey is returned, without any network call, by methods that need
// the API key when the client was created without one.
var ErrNoAPIKey = errors.New("edgegap: no API key configured")

// ErrResponseTooLarge is returned when a response body exceeds
// Config.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("edgegap: response body too large")

// APIError is a non-2xx answer from Edgegap.
type APIError struct {
	// Op is the Edgegap operation id, e.g. "get-session".
	Op string
	// Status is the HTTP status code.
	Status int
	// Message is Edgegap's {"message": ...} text, or a short excerpt of the
	// body when it has no such field.
	Message string
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
	// Attempts is the number of HTTP attempts made before giving up.
	Attempts int
	// RequestID is the request_id of the error body, when Edgegap sent one
	// (POST /v2/deployments does with its 422).
	RequestID string
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "edgegap %s: status %d", e.Op, e.Status)
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Message != "" && e.Message != http.StatusText(e.Status) {
		b.WriteString(": " + e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Is reports whether target is the sentinel error for e's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrGone:
		return e.Status == http.StatusGone
	case ErrAlreadyGone:
		return e.Op == EndpointDeploymentDelete && (e.Status == http.StatusNotFound || e.Status == http.StatusGone)
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrServer:
		return e.Status >= 500 && e.Status <= 599
	}
	return false
}

// Retryable reports whether repeating the request later may succeed (429 and
// 5xx).
func (e *APIError) Retryable() bool {
	return retryableStatus(e.Status)
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || (status >= 500 && status <= 599)
}

// IsNotFound reports whether err is a 404 from Edgegap.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsGone reports whether err is a 410 from Edgegap (already terminated).
func IsGone(err error) bool { return errors.Is(err, ErrGone) }

// IsUnauthorized reports whether err is a 401 from Edgegap.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsRateLimited reports whether err is a 429 from Edgegap.
func IsRateLimited(err error) bool { return errors.Is(err, ErrRateLimited) }

// IsRetryable reports whether err is worth retrying later: a 429 or 5xx
// answer, or a transport error. Context cancellation and deadline errors are
// not retryable.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae.Retryable()
	}
	if _, ok := errors.AsType[*url.Error](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return false
}

// StatusCode returns the HTTP status of an *APIError in err's chain, or 0.
func StatusCode(err error) int {
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae.Status
	}
	return 0
}

const maxMessageLen = 512

// errorMessage extracts Edgegap's {"message": ...} from an error body. A
// message that is not a string (some endpoints send a list or an object) is
// kept as compact JSON; a body that is not JSON is kept as text. The result
// is bounded, has control characters removed and never contains secret.
func errorMessage(body []byte, secret string) string {
	var msg string
	var e struct {
		Message json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err == nil && len(e.Message) > 0 && string(e.Message) != "null" {
		var s string
		var compact bytes.Buffer
		switch {
		case json.Unmarshal(e.Message, &s) == nil:
			msg = s
		case json.Compact(&compact, e.Message) == nil:
			msg = compact.String()
		default:
			msg = string(e.Message)
		}
	} else {
		msg = string(body)
	}
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg)
	msg = strings.TrimSpace(msg)
	if secret != "" {
		msg = redact(msg, secret)
	}
	if len(msg) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !isRuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	return msg
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// redact removes the API key (with or without its "token " prefix) from s.
func redact(s, key string) string {
	if key == "" {
		return s
	}
	s = strings.ReplaceAll(s, key, redacted)
	if bare, ok := strings.CutPrefix(key, tokenPrefix); ok && bare != "" {
		s = strings.ReplaceAll(s, bare, redacted)
	}
	return s
}

// ErrOutcomeUnknown matches an *OutcomeUnknownError: a creation whose request
// may have reached Edgegap but whose answer was lost.
var ErrOutcomeUnknown = errors.New("edgegap: outcome unknown")

// OutcomeUnknownError is the failure of a create call (a session or a
// deployment) after the request may have reached Edgegap: a 5xx answer, a
// connection broken after the request was sent, or a 2xx answer that could
// not be read. Edgegap may have created what was asked for, and nobody
// knows its id: it is never retried. Whoever gets it should look for the
// creation by what it carries (a deployment's tags, a session's IP) or
// leave it to a prune.
type OutcomeUnknownError struct {
	// Op is the endpoint name, e.g. "v2-deployment-create".
	Op string
	// Err is the failure: an *APIError for a 5xx, else the transport or
	// decoding error.
	Err error
}

// Error implements error.
func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("edgegap %s: outcome unknown, Edgegap may have created it: %v", e.Op, e.Err)
}

// Unwrap returns the underlying failure.
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// Is matches ErrOutcomeUnknown.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

// IsOutcomeUnknown reports whether err is an *OutcomeUnknownError.
func IsOutcomeUnknown(err error) bool { return errors.Is(err, ErrOutcomeUnknown) }

// ErrCouldNotAllocate matches an *AllocationError.
var ErrCouldNotAllocate = errors.New("edgegap: could not allocate server")

// AllocationError is Edgegap's 422 "Couldn't Allocate Server" answer to
// POST /v2/deployments: no location could take the deployment. Edgegap
// registered the request under RequestID.
type AllocationError struct {
	// RequestID is the request_id Edgegap returned with the 422 (empty if
	// the body had none).
	RequestID string
	// Err is the 422 *APIError (with Edgegap's message).
	Err *APIError
}

// Error implements error.
func (e *AllocationError) Error() string {
	if e.RequestID == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v (request_id %s)", e.Err, e.RequestID)
}

// Unwrap returns the *APIError.
func (e *AllocationError) Unwrap() error { return e.Err }

// Is matches ErrCouldNotAllocate.
func (e *AllocationError) Is(target error) bool { return target == ErrCouldNotAllocate }

// ErrAlreadyGone matches the 404 and 410 answers of DELETE /v1/stop: the
// deployment is unknown or already terminated, so there is nothing to stop.
var ErrAlreadyGone = errors.New("edgegap: deployment already gone")

// IsAlreadyGone reports whether err says a deployment to stop is already
// gone (ErrAlreadyGone).
func IsAlreadyGone(err error) bool { return errors.Is(err, ErrAlreadyGone) }

// maxRequestIDLen bounds the request_id kept from an error body.
const maxRequestIDLen = 128

// errorRequestID returns the request_id string field of a JSON error body,
// or "" when there is none (or it is not a short printable string).
func errorRequestID(body []byte) string {
	var e struct {
		RequestID json.RawMessage `json:"request_id"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.RequestID) == 0 {
		return ""
	}
	var id string
	if json.Unmarshal(e.RequestID, &id) != nil || len(id) > maxRequestIDLen {
		return ""
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ""
		}
	}
	return id
}
