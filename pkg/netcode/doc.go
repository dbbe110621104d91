// Package netcode mints, encodes, parses and decrypts netcode.io 1.02 connect
// tokens exactly as Lightyear (the Rust networking library used by Bevy
// games) does, and encodes and parses the netcode CONNECTION REQUEST packet
// that carries a token's private part to a game server.
//
// # Connect token layout
//
// A connect token is 2048 bytes. Every integer is little-endian.
//
//	offset  size  field
//	     0    13  version info "NETCODE 1.02\x00"
//	    13     8  protocol id (u64)
//	    21     8  create timestamp (u64, unix seconds)
//	    29     8  expire timestamp (u64; math.MaxUint64 means never)
//	    37    24  nonce (XChaCha20-Poly1305)
//	    61  1024  encrypted private data: ciphertext (1008) || Poly1305 tag (16)
//	  1085     4  timeout seconds (i32; negative means no timeout)
//	  1089     4  server address count (u32, 1..32)
//	  1093     …  per address: type u8 (1 = IPv4, 4 bytes; 2 = IPv6, 16 bytes), port u16
//	     …    32  client-to-server key
//	     …    32  server-to-client key
//	     …     …  zero padding to 2048
//
// The private plaintext (1024 bytes, the last 16 of which the tag replaces)
// holds: client id (u64), timeout seconds (i32), address count (u32), the
// addresses in the encoding above (Lightyear's internal addresses, or the
// public list), the client-to-server key, the server-to-client key, 256 bytes
// of user data, then zeros. The first 1008 bytes are sealed with
// XChaCha20-Poly1305 under the server's 32-byte [PrivateKey]; the associated
// data is version info (13) || protocol id (u64) || expire timestamp (u64).
//
// # IPv6 addresses
//
// Lightyear writes an IPv6 address as its 16 octets in network order
// ([IPv6Lightyear], the default). The netcode STANDARD.md and the reference C
// implementation write eight little-endian u16 groups instead
// ([IPv6Standard]). IPv4-only tokens are identical either way.
//
// # Connection request
//
// A client sends the private part to a game server in a 1078-byte
// CONNECTION REQUEST packet: prefix byte 0, version info (13), protocol id
// (u64), expire timestamp (u64), nonce (24), encrypted private data (1024).
// See [ConnectToken.ConnectionRequest] and [ParseConnectionRequest].
//
// # Use
//
// The matchmaker creates one [Minter] per private key and calls
// [Minter.Mint] for every seat; the token travels to the game client as
// [ConnectToken.Base64]. Tools and tests read tokens back with [Parse] or
// [ParseBase64] and open the private part with [ConnectToken.Decrypt].
package netcode
