// Package simserver is the simulated game server of bevygap dev and
// `bevygap gameserver --simulate`: a UDP server speaking netcode 1.02
// ([UDPServer], [Listen]), bevygap's own netcode client ([Connect], used by
// `bevygap play --connect`), and [SimulatorHook], the edgegapsim OnDeploy
// hook that starts one, with a gameserver.Agent, for every simulated
// deployment.
//
// # Wire format
//
// Server and client speak netcode 1.02 as its standard (STANDARD.md of
// mas-bandwidth/netcode) defines it, so a standard client (Lightyear's UDP
// transport, the reference client) connects to the simulated server and
// bevygap's client connects to a real one:
//
//   - The client sends the connection request (1078 bytes, the connect
//     token's private part) until the server answers with a challenge: a
//     challenge token (client id and user data) the server encrypted with a
//     random key of its own. The server checks the request in the
//     standard's order (size, version, protocol id, expiry, the private
//     key, its own public address in the token, a connected address or
//     client id, the token used from another address) and ignores a
//     request that fails a check: the client times out.
//   - The client sends the challenge response until the server answers
//     with a keep-alive (client index, max clients). Only a response whose
//     challenge token decrypts connects the client: the Admitter records it
//     (active_connections) then. A client that only sends requests is
//     never connected.
//   - Connected, both sides send keep-alive (the server every
//     KeepAliveInterval), payload (the simulated game echoes each payload)
//     and disconnect packets (several, as UDP may lose one), encrypted with
//     ChaCha20-Poly1305 and the token's keys, with replay protection. The
//     server disconnects a client that sends nothing for the token's
//     timeout (never, when it is negative), and every client when it
//     closes.
//
// # Admission
//
// The Admitter (a gameserver.Agent) keeps bevygap's rules: a client id
// without a seat (sessions_ly2eg) or that connected before is refused, and
// so is a session that already has a connection. It is asked on the
// request (so a refused client learns it at once) and again, before
// recording, on the response. These refusals, and a full server, are
// answered with a connection denied packet, as the standard allows; a
// standard client then stops. Every refusal, answered or ignored, is logged
// with its DenyReason and reported to ServerConfig.OnDeny. Packets from an
// address without a handshake, that do not decrypt, of another type or
// size, or larger than MaxPacketSize bytes are ignored: nothing a peer
// sends can crash the server.
package simserver
