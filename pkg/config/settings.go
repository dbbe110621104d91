package config

// Settings is the registry of every setting bevygap reads. Defaults equal the
// Rust bevygap defaults where it has one.
var Settings = []Setting{
	// NATS (PROTOCOL.md section 2)
	{Key: "nats-host", Legacy: []string{"NATS_HOST"}, Usage: "NATS server: host, host:port or nats:// / tls:// URL"},
	{Key: "nats-user", Legacy: []string{"NATS_USER"}, Usage: "NATS user"},
	{Key: "nats-password", Legacy: []string{"NATS_PASSWORD"}, Usage: "NATS password", Secret: true},
	{Key: "nats-ca", Legacy: []string{"NATS_CA"}, Usage: "path to a PEM root CA for the NATS server certificate"},
	{Key: "nats-ca-contents", Legacy: []string{"NATS_CA_CONTENTS"}, Usage: "PEM text of the NATS root CA", Secret: true},
	{Key: "nats-insecure", Legacy: []string{"NATS_INSECURE"}, Default: "false", Usage: "connect to NATS without TLS", PresenceTrue: true},
	{Key: "nats-namespace", Usage: "prefix for every bucket, stream and subject (empty = Rust compatible)"},

	// Edgegap (PROTOCOL.md section 10)
	{Key: "edgegap-url", Default: "https://api.edgegap.com", Usage: "Edgegap API base URL"},
	{Key: "edgegap-api-key", Legacy: []string{"EDGEGAP_API_KEY"}, Usage: "Edgegap API key ('token XXX' or 'XXX')", Secret: true},

	// Matchmaker (PROTOCOL.md section 7)
	{Key: "app-name", Default: "spacepit_server", Usage: "Edgegap application name"},
	{Key: "app-version", Default: "v0.0.1", Usage: "Edgegap application version"},
	{Key: "lightyear-private-key", Legacy: []string{"LIGHTYEAR_PRIVATE_KEY"}, Usage: "Lightyear private key: 32 numbers '1,2,3,...', 64 hex digits or base64", Secret: true},
	{Key: "lightyear-protocol-id", Default: "1982", Usage: "Lightyear protocol id (u64)"},
	{Key: "session-webhook-url", Usage: "URL Edgegap POSTs session events to (the webhook sink's /hook/session)"},
}
