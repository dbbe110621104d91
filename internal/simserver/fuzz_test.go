package simserver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bevygap/bevygap/pkg/netcode"
)

// fuzzServerAddr is the public address the fuzz seeds' tokens are minted for.
var fuzzServerAddr = netip.MustParseAddrPort("127.0.0.1:6420")

// FuzzHandlePacket feeds arbitrary datagrams to the server's packet handler
// (no socket, no Admitter): it must never panic, and it answers only with
// well-formed netcode packets (a challenge or a denied packet to a
// request). Seeds: testdata/fuzz/FuzzHandlePacket and below.
func FuzzHandlePacket(f *testing.F) {
	now := func() time.Time { return time.Unix(1_750_000_000, 0) }
	m, err := netcode.NewMinter(testKey)
	if err != nil {
		f.Fatal(err)
	}
	m.Now = now
	tok, err := m.Mint(netcode.Params{ServerAddrs: []netip.AddrPort{fuzzServerAddr}, ProtocolID: testProtocolID, ClientID: 9, ExpireSeconds: -1})
	if err != nil {
		f.Fatal(err)
	}
	req, _ := tok.ConnectionRequest().MarshalBinary()
	key, err := newAEAD(&tok.ClientToServerKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(req)
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(make([]byte, ConnectionRequestSize))
	f.Add(sealPacket(key, testProtocolID, packetKeepAlive, 0, keepAliveBody(0, 0)))
	f.Add(sealPacket(key, testProtocolID, packetPayload, 1, []byte("hello")))
	f.Add(sealPacket(key, testProtocolID, packetDisconnect, 2, nil))
	f.Add(sealPacket(key, testProtocolID, packetResponse, 0, make([]byte, challengeDataSize)))

	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := newServer(t.Context(), ServerConfig{PublicAddr: fuzzServerAddr, PrivateKey: testKey, ProtocolID: testProtocolID, Now: now, MaxClients: 4})
		if err != nil {
			t.Fatal(err)
		}
		from := netip.MustParseAddrPort("127.0.0.1:50000")
		for range 2 { // the second time exercises the resend path
			for _, r := range s.handle(from, b) {
				h, err := readHeader(r, func(typ byte) bool { return typ == packetChallenge || typ == packetDenied })
				if err != nil {
					t.Fatalf("reply %x", r)
				}
				body := len(h.sealed) - tagSize
				if (h.typ == packetChallenge && body != challengeDataSize) || (h.typ == packetDenied && body != 0) {
					t.Fatalf("reply %x: type %d with a %d-byte body", r, h.typ, body)
				}
			}
		}
		if n := len(s.Clients()); n > 0 {
			t.Fatalf("%d clients without a challenge response", n)
		}
	})
}
