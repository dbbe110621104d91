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
// well-formed packets. Seeds: testdata/fuzz/FuzzHandlePacket and below.
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
	f.Add(req)
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(make([]byte, ConnectionRequestSize))
	f.Add(control{typ: PacketKeepalive, clientID: 9}.marshal())
	f.Add(control{typ: PacketDisconnect, clientID: 9}.marshal())
	f.Add(denyPacket(DenyExpired))

	f.Fuzz(func(t *testing.T, b []byte) {
		s := newServer(t.Context(), ServerConfig{PublicAddr: fuzzServerAddr, PrivateKey: testKey, ProtocolID: testProtocolID, Now: now, MaxClients: 4})
		from := netip.MustParseAddrPort("127.0.0.1:50000")
		for range 2 { // the second time exercises the resend path
			r := s.handle(from, b)
			switch {
			case r == nil:
			case len(r) == denyPacketSize && r[0] == PacketDeny && denyNames[DenyReason(r[1])] != "":
			case len(r) == controlPacketSize && (r[0] == PacketAccept || r[0] == PacketKeepalive):
			default:
				t.Fatalf("reply %x", r)
			}
		}
		if n := len(s.Clients()); n > 1 {
			t.Fatalf("%d clients from one address", n)
		}
	})
}
