package settings

// Settings is the registry of every setting bevygap reads. Defaults equal the
// Rust bevygap defaults where it has one.
var Settings = []Setting{
	// NATS (PROTOCOL.md section 2)
	{Key: "nats-host", Legacy: []string{"NATS_HOST"}, Usage: "NATS server: host, host:port or nats:// / tls:// URL"},
	{Key: "nats-user", Legacy: []string{"NATS_USER"}, Usage: "NATS user"},
	{Key: "nats-password", Legacy: []string{"NATS_PASSWORD"}, Usage: "NATS password", Secret: true},
	{Key: "nats-ca", Legacy: []string{"NATS_CA"}, Usage: "path to a PEM root CA for the NATS server certificate"},
	{Key: "nats-ca-contents", Legacy: []string{"NATS_CA_CONTENTS"}, Usage: "PEM text of the NATS root CA", Secret: true},
	{Key: "nats-insecure", Bool: true, Legacy: []string{"NATS_INSECURE"}, Default: "false", Usage: "connect to NATS without TLS", PresenceTrue: true},
	{Key: "nats-namespace", Usage: "prefix for every bucket, stream and subject (empty = Rust compatible)"},

	// Edgegap (PROTOCOL.md section 10)
	{Key: "edgegap-url", Default: "https://api.edgegap.com", Usage: "Edgegap API base URL"},
	{Key: "edgegap-api-key", Legacy: []string{"EDGEGAP_API_KEY"}, Usage: "Edgegap API key ('token XXX' or 'XXX')", Secret: true},
	{Key: "edgegap-create-rate", Default: "40", Usage: "session creations per second this process sends to Edgegap (Edgegap documents 40; 0 = unlimited)"},
	{Key: "edgegap-status-rate", Default: "10", Usage: "status calls per second this process sends to Edgegap (Edgegap documents 10; 0 = unlimited)"},

	// Matchmaker (PROTOCOL.md section 7)
	{Key: "app-name", Default: "spacepit_server", Usage: "Edgegap application name"},
	{Key: "app-version", Default: "v0.0.1", Usage: "Edgegap application version"},
	{Key: "lightyear-private-key", Legacy: []string{"LIGHTYEAR_PRIVATE_KEY"}, Usage: "Lightyear private key: 32 numbers '1,2,3,...', 64 hex digits or base64", Secret: true, Aliases: []string{"private-key"}},
	{Key: "lightyear-protocol-id", Default: "1982", Usage: "Lightyear protocol id (u64)", Aliases: []string{"protocol-id"}},
	{Key: "session-webhook-url", Usage: "public URL Edgegap POSTs session events to: the webhook sink's /hook/session, with ?secret=<webhook-secret> when one is set", Secret: true},

	// Matchmaker tuning (bevygap additions)
	{Key: "port-name", Usage: "deployment port clients connect to (default: the only port, else the lowest name)"},
	{Key: "ready-timeout", Default: "60s", Usage: "give up on a session that is not ready after this long (Error 408)"},
	{Key: "cert-digest-wait", Default: "5s", Usage: "how long to wait for the game server's certificate digest"},
	{Key: "require-cert-digest", Bool: true, Default: "true", Usage: "fail a seat without a certificate digest (Rust behaviour); false sends an empty digest"},
	{Key: "unclaimed-ttl", Default: "62s", Usage: "delete a seat no client connected to after this long"},
	{Key: "max-inflight", Default: "1000", Usage: "requests served at once; beyond it the matchmaker answers 503 busy"},
	{Key: "allow-insecure-key", Bool: true, Default: "false", Usage: "allow the all-zero Lightyear private key (local development only)"},
	{Key: "skip-edgegap-check", Bool: true, Default: "false", Usage: "start without checking that the Edgegap app and version exist"},

	// Gateway (PROTOCOL.md section 6)
	{Key: "gateway-listen", Default: "0.0.0.0:3000", Usage: "address of the game-client gateway"},
	{Key: "webhook-listen", Default: "0.0.0.0:3001", Usage: "address of the Edgegap webhook sink"},
	{Key: "metrics-addr", Usage: "address serving Prometheus /metrics (empty: only the gateway's /metrics)"},
	{Key: "cors", Default: "http://localhost:8000", Usage: "allowed browser origin (repeatable; * allows any)"},
	{Key: "trusted-proxies", Usage: "CIDRs whose X-Forwarded-For is trusted (repeatable)"},
	{Key: "allow-client-ip-override", Bool: true, Default: "false", Usage: "honour the client_ip query parameter (development)"},
	{Key: "fake-ip", Default: "81.128.157.100", Usage: "client IP used instead of loopback addresses"},
	{Key: "rate-per-minute", Default: "6", Usage: "seat requests per minute per client IP (0 = unlimited)"},
	{Key: "rate-burst", Default: "3", Usage: "requests a client IP may make back to back"},
	{Key: "max-pending-per-ip", Default: "4", Usage: "requests one client IP may have waiting at once"},
	{Key: "max-pending-total", Default: "10000", Usage: "requests the gateway holds waiting at once"},
	{Key: "webhook-secret", Usage: "shared secret Edgegap must send (?secret= or X-Bevygap-Webhook-Secret)", Secret: true},

	// Embedded NATS (serve without a NATS server; dev)
	{Key: "nats-listen", Default: "127.0.0.1:4222", Usage: "address of the embedded nats-server"},
	{Key: "data-dir", Usage: "JetStream store of the embedded nats-server (serve default: $XDG_STATE_HOME/bevygap/nats-<port>, kept across restarts; dev: a temporary one)"},
	{Key: "nats-tls-cert", Usage: "PEM certificate for the embedded nats-server (TLS for game servers)"},
	{Key: "nats-tls-key", Usage: "PEM key file for the embedded nats-server"},
}
