// Package simserver is the simulated game server of bevygap dev and
// `bevygap gameserver --simulate`: a UDP server that accepts netcode 1.02
// connection requests ([UDPServer], [Listen]), its client ([Connect]), and
// [SimulatorHook], the edgegapsim OnDeploy hook that starts one, with a
// gameserver.Agent, for every simulated deployment.
//
// # Wire format
//
// The simulated game server is not Lightyear: after the standard netcode
// 1.02 CONNECTION REQUEST packet (1078 bytes: prefix byte 0, version info
// "NETCODE 1.02\x00", protocol id u64, expire timestamp u64, nonce 24 bytes,
// encrypted private connect token data 1024 bytes) it speaks this small
// protocol of its own. Integers are little-endian. The session tag is 8
// random bytes the server picks for each accepted connection; it proves
// that later packets come from the client that was accepted.
//
//	packet      direction        bytes  layout
//	accept      server → client     17  0xB0, client id u64, session tag [8]
//	deny        server → client      2  0xB1, reason u8 (see DenyReason)
//	disconnect  both ways           17  0xB2, client id u64, session tag [8]
//	keepalive   both ways           17  0xB3, client id u64, session tag [8]
//
// A client sends the connection request, resending it a few times until an
// accept or a deny arrives. The server answers a valid request with accept
// (and answers a resent request from the same address with the same accept)
// or with deny and a reason: 1 invalid token (does not decrypt: forged or
// altered), 2 expired, 3 wrong protocol id, 4 wrong server (the token's
// private address list does not name this server's public address), 5
// unknown client (no seat), 6 already connected, 7 seat used (the client id
// connected before: a reconnect needs a new seat), 8 server full, 9 internal
// error (NATS unreachable).
//
// A connected client sends keepalive packets; the server answers each with a
// keepalive. The server disconnects a client that sends nothing for the
// token's timeout seconds (never, when the timeout is negative) and tells it
// with a disconnect packet, as it does when it shuts down. A client leaves
// by sending disconnect packets. Packets from an address that is not
// connected, with another client id or session tag, of another length or
// type, or larger than MaxPacketSize bytes are ignored: the server never
// answers them and nothing a peer sends can crash it.
package simserver
