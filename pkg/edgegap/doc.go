// Package edgegap is bevygap's client for the Edgegap REST API.
//
// It speaks both Edgegap models: sessions on app versions with
// session_config (the 2024 API: CreateSession, GetSession, ...) and the 2026
// deployments API (CreateDeployment on POST /v2/deployments,
// DeploymentStatus, StopDeployment, ListDeployments with a DeploymentQuery,
// BulkStopDeployments, deployment tags, and ParseDeploymentWebhook for the
// webhook_on_ready/error/terminated body).
//
// It wraps the code generated from Edgegap's specifications (packages gen,
// gen/edgegapv1 and gen/edgegapv2, all produced by one run of
// scripts/gen-edgegap-client.sh) with what a long-running matchmaker needs:
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
//   - A client-side rate Budget per endpoint class (session creation and
//     status; deployment creation 40/s, deployment status 20/s, deployment
//     listing 10/s) shared by every client and goroutine of a process that
//     uses the same API key (ProcessBudget), or passed explicitly.
//   - Creates (sessions and deployments) are never retried once they may
//     have reached Edgegap; such a failure is an *OutcomeUnknownError
//     (ErrOutcomeUnknown). A 422 on deployment creation is an
//     *AllocationError carrying Edgegap's request_id.
//   - A metrics hook, Config.OnCall, called once per HTTP attempt.
//
// Endpoints are named by their Edgegap operation id ("session-post",
// "get-session", ...); the same names are used by OnCall, the Budget and the
// simulator in package edgegapsim.
package edgegap
