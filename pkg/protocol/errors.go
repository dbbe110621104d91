package protocol

import "fmt"

// Error is a failure with the HTTP-like code the Rust side uses in Error
// feedback and service error headers (400, 401, 408, 409, 429, 500, 503).
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

// Errorf builds an *Error.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Well-known codes.
const (
	CodeBadRequest   = 400
	CodeUnauthorized = 401
	CodeTimeout      = 408
	CodeConflict     = 409
	CodeTooMany      = 429
	CodeInternal     = 500
	CodeUnavailable  = 503
)
