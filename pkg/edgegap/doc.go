// Package edgegap is bevygap's client for the Edgegap REST API.
//
// It wraps the code generated from Edgegap's OpenAPI description (package
// gen, see scripts/gen-edgegap-client.sh) with what a long-running
// matchmaker needs:
//
//   - API key handling: "token XXX" and a bare "XXX" are both accepted and
//     sent as "token XXX"; the key never appears in errors, logs or the
//     printed Config.
//   - Typed errors: every non-2xx answer becomes an *APIError carrying the
//     operation, the HTTP status and Edgegap's {"message": ...}. Use
//     errors.Is with ErrNotFound, ErrGone, ErrUnauthorized, ... or the
//     IsNotFound, IsGone, IsUnauthorized and IsRetryable helpers.
//   - Retries with exponential backoff and jitter on 429, 5xx and transport
//     errors, honouring Retry-After, bounded by Config.MaxAttempts and always
//     under the caller's context.
//   - A client-side rate Budget per endpoint class (session creation, status
//     polls) that can be shared by every client and goroutine of a process.
//   - A metrics hook, Config.OnCall, called once per HTTP attempt.
//
// Endpoints are named by their Edgegap operation id ("session-post",
// "get-session", ...); the same names are used by OnCall, the Budget and the
// simulator in package edgegapsim.
package edgegap
