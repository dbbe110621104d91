// Package edgegapsim simulates the parts of the Edgegap API that bevygap
// uses, as an http.Handler, so that the matchmaker, the CLI and end-to-end
// tests can run without Edgegap.
//
// Endpoints (JSON shaped by Edgegap's spec, errors as {"message": ...}):
//
//	POST   /v1/session                      create a session (seat)
//	GET    /v1/session/{id}                 session, with its deployment once linked
//	DELETE /v1/session/{id}                 404 unknown, 410 already deleted
//	GET    /v1/sessions?page=&limit=        paginated: data, total_count, pagination
//	POST   /v1/sessions/bulk-stop           delete sessions by session_id / request_id / deployment_tags
//	GET    /v1/apps, /v1/app/{app}          applications
//	GET    /v1/app/{app}/versions           versions of an application
//	GET    /v1/app/{app}/version/{version}  a version, incl. the undocumented "arguments"
//	PATCH  /v1/app/{app}/version/{version}  stores arguments, is_active, docker_* and session_config.sockets
//	POST   /v2/deployments                  create a deployment (2026 API): 202 {request_id}
//	GET    /v1/deployments?query=&page=&limit=  live deployments, filtered by the query document
//	GET    /v1/status/{request_id}          deployment status (also the deployment webhook body)
//	DELETE /v1/stop/{request_id}            stop: 200, 202 before READY/ERROR (stops once there), 404 unknown, 410 already stopped
//	POST   /v1/deployments/bulk-stop        stop deployments by request_id / deployment_tags (any, all, not)
//	POST   /v1/deployments/{id}/tags        add a tag (409 when present)
//	GET    /v1/deployments/{id}/tags        list tags (paginated)
//	DELETE /v1/deployments/{id}/tags/{tag}  remove a tag
//	GET    /v1/context/{request_id}/{n}     the deployment's context, authorized by its context token
//	DELETE /v1/self/stop/{request_id}/{n}   stop from inside, authorized by its delete token
//	GET    /_sim/stats                      Stats as JSON (no auth)
//
// All /v1 endpoints except context and self-stop need the API key
// (Config.APIKey, default "token bevygap-dev") in the Authorization header,
// in exactly that normalised "token X" form.
//
// # Seats and deployments
//
// Sessions are Edgegap "Seat" sessions. Each deployment has Sockets seats
// (default 4); a session takes one seat per IP in its ip_list (at least one).
// A new session fills a live deployment of the same app version that has
// enough free seats, ready ones first, before a new deployment is started.
// A new deployment calls Config.OnDeploy, waits DeployDelay and then becomes
// ready; its sessions then turn ready too and their webhooks are POSTed.
// When the last session of a deployment is deleted the deployment keeps
// running for EmptyTTL, then stops (calling the stop function OnDeploy
// returned).
//
// # Deployments of the 2026 API
//
// POST /v2/deployments starts a deployment without sessions (a version made
// with Version.NoSessionConfig accepts only these): the same OnDeploy hook
// and deploy delay, DEPLOYING -> READY, its environment variables added to
// DeploymentInfo.Env, its tags, and its three webhooks (webhook_on_ready,
// webhook_on_error, webhook_on_terminated) POSTed with the /v1/status body,
// in that order per deployment. A receiver that does not answer within
// DefaultDeploymentWebhookTimeout (SetDeploymentWebhookTimeout) gets no
// further webhooks for that deployment, as Edgegap documents. It runs until
// stopped (DELETE /v1/stop, bulk stop or the self-stop URL).
//
// # Faults and rate limits
//
// Faults (settable at run time with SetFaults and FailNext) inject latency,
// 5xx answers and 429 answers with Retry-After. SetEndpointFaults adds, per
// endpoint and at any time, an error rate, latency, 422 "Couldn't Allocate
// Server" answers to POST /v2/deployments, and ghost creates (the session or
// deployment is created, the caller gets a 5xx or a dropped connection).
// RateLimits reproduces Edgegap's per-class limits (the client's classes:
// 40/s session creation, 10/s session and context GETs, 40/s deployment
// creation, 20/s deployment status, 10/s deployment listing; on by default)
// and answers 429 with Retry-After when exceeded. Stats (and GET
// /_sim/stats) count calls per endpoint and status, and per second. With
// Config.Seed set, ids and fault decisions are deterministic for a
// deterministic sequence of requests.
//
// Every goroutine the simulator starts (deployments, webhooks) stops on
// Close.
//
// # Source layout
//
// state.go holds the simulated state (apps, sessions, deployments, under one
// lock), with apps.go, sessions.go and deployments.go changing it; the
// http*.go files are the HTTP layer (http.go: routing and the endpoint
// wrapper; http_sessions.go, http_deployments.go, http_apps.go and
// http_context.go, http_deployments_v2.go: the handlers).
// deployments_v2.go holds the 2026 deployments (body validation, stop,
// query and bulk-stop matching). faults.go, faults_endpoint.go,
// ratelimit.go, stats.go, webhooks.go and webhooks_deployments.go are the
// parts that own their own state and lock.
package edgegapsim
