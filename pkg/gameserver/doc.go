// Package gameserver is the game-server side of bevygap: the Go equivalent
// of the Rust bevygap_server_plugin (the [Agent]), for Go game servers and
// sidecars. The simulated UDP game server bevygap dev runs lives in
// internal/simserver; this package does not depend on it or on the Edgegap
// simulator.
//
// # Agent
//
// A game server on Edgegap learns about its deployment from the ARBITRIUM_*
// environment ([ReadEnv], [EnvFromMap]) and, when its NATS server uses a
// self-signed certificate, from a `--ca_contents '<PEM>'` process argument
// ([CAFromArgs]). [Agent.Start] then does what the Rust plugin does at boot
// (PROTOCOL.md section 8): it fetches the deployment context (GET
// ARBITRIUM_CONTEXT_URL with the context token), puts
// cert_digests[context.public_ip] = the certificate digest, and publishes
// the context JSON, exactly as received, to gameserver.contexts.
//
// [Agent.ClientConnected] and [Agent.ClientDisconnected] record connections
// as the Rust plugin does: sessions_ly2eg[client id] gives the session id,
// then active_connections[session id] = client id (decimal) is put, and
// deleted on disconnect. [Agent.Authorize] is the admission control the
// Rust plugin left as a TODO; see its documentation for the exact rules.
//
// # Certificate digest
//
// WebTransport clients pin the game server's self-signed certificate by its
// SHA-256 digest. [SelfSignedCert] makes a certificate browsers accept for
// that (ECDSA P-256, valid for less than 14 days) and [CertDigest] formats a
// digest the way Lightyear reports it (wtransport's Sha256Digest Display):
// 32 lowercase two-digit hex bytes joined by colons, "e3:76:4d:...".
package gameserver
