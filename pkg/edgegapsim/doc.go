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
//	GET    /v1/deployments?page=&limit=     live deployments
//	GET    /v1/status/{request_id}          deployment status
//	DELETE /v1/stop/{request_id}            stop a deployment (410 when already stopped)
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
// # Faults and rate limits
//
// Faults (settable at run time with SetFaults and FailNext) inject latency,
// 5xx answers and 429 answers with Retry-After. RateLimits reproduces
// Edgegap's per-class limits (40/s session creation, 10/s status, session
// and context GETs) and answers 429 with Retry-After when exceeded. With
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
// http_context.go: the handlers). faults.go, ratelimit.go, stats.go and
// webhooks.go are the parts that own their own state and lock.
package edgegapsim
