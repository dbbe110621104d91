package simserver

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/bevygap/bevygap/pkg/netcode"
)

// referenceVectors are packets and a challenge token written by the netcode
// reference implementation (testdata/reference_packets.json says how).
type referenceVectors struct {
	PacketKey      string `json:"packet_key"`
	ProtocolID     uint64 `json:"protocol_id"`
	ChallengeKey   string `json:"challenge_key"`
	ChallengeToken struct {
		Sequence  uint64 `json:"sequence"`
		ClientID  uint64 `json:"client_id"`
		Encrypted string `json:"encrypted"`
	} `json:"challenge_token"`
	Packets []struct {
		Name              string `json:"name"`
		Sequence          uint64 `json:"sequence"`
		ChallengeSequence uint64 `json:"challenge_sequence"`
		ClientIndex       uint32 `json:"client_index"`
		MaxClients        uint32 `json:"max_clients"`
		Payload           string `json:"payload"`
		Packet            string `json:"packet"`
	} `json:"packets"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key32(t *testing.T, s string) *[netcode.KeySize]byte {
	t.Helper()
	var k [netcode.KeySize]byte
	if copy(k[:], unhex(t, s)) != netcode.KeySize {
		t.Fatalf("key %s", s)
	}
	return &k
}

// The packet and challenge token code writes exactly what the reference
// implementation writes, and reads it back.
func TestReferenceVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/reference_packets.json")
	if err != nil {
		t.Fatal(err)
	}
	var v referenceVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	packetKey, err := newAEAD(key32(t, v.PacketKey))
	if err != nil {
		t.Fatal(err)
	}
	challengeKey, err := newAEAD(key32(t, v.ChallengeKey))
	if err != nil {
		t.Fatal(err)
	}

	var userData [netcode.UserDataSize]byte
	for i := range userData {
		userData[i] = byte(i * 3)
	}
	ct := v.ChallengeToken
	token := unhex(t, ct.Encrypted)
	if got := sealChallenge(challengeKey, ct.Sequence, ct.ClientID, &userData); !bytes.Equal(got, token) {
		t.Errorf("challenge token\n got %x\nwant %x", got, token)
	}
	if id, ud, err := openChallenge(challengeKey, ct.Sequence, token); err != nil || id != ct.ClientID || ud != userData {
		t.Errorf("open challenge token: client %d, %v", id, err)
	}

	types := map[string]byte{"denied": packetDenied, "challenge": packetChallenge, "response": packetResponse, "keep-alive": packetKeepAlive, "payload": packetPayload, "disconnect": packetDisconnect}
	for _, p := range v.Packets {
		typ, ok := types[p.Name]
		if !ok {
			t.Fatalf("unknown packet %q", p.Name)
		}
		var body []byte
		switch typ {
		case packetChallenge, packetResponse:
			body = challengeBody(p.ChallengeSequence, token)
		case packetKeepAlive:
			body = keepAliveBody(p.ClientIndex, p.MaxClients)
		case packetPayload:
			body = unhex(t, p.Payload)
		}
		want := unhex(t, p.Packet)
		if got := sealPacket(packetKey, v.ProtocolID, typ, p.Sequence, body); !bytes.Equal(got, want) {
			t.Errorf("%s (sequence %d)\n got %x\nwant %x", p.Name, p.Sequence, got, want)
		}
		h, err := readHeader(want, func(byte) bool { return true })
		if err != nil || h.typ != typ || h.seq != p.Sequence {
			t.Errorf("%s: header %+v, %v", p.Name, h, err)
			continue
		}
		var rp replayProtection
		got, err := openPacket(packetKey, v.ProtocolID, h, &rp)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: opened %x, %v; want %x", p.Name, got, err, body)
		}
		if _, err := openPacket(packetKey, v.ProtocolID+1, h, nil); err == nil {
			t.Errorf("%s opens with another protocol id", p.Name)
		}
	}
}

// The standard's example: sequence 1000 takes two bytes, written low byte
// first (0xE8, 0x03), and the prefix byte's high 4 bits say 2.
func TestSequenceEncoding(t *testing.T) {
	k := [netcode.KeySize]byte{}
	key, err := newAEAD(&k)
	if err != nil {
		t.Fatal(err)
	}
	b := sealPacket(key, 1, packetPayload, 1000, []byte{1})
	if b[0] != 2<<4|packetPayload || b[1] != 0xe8 || b[2] != 0x03 {
		t.Errorf("packet %x", b[:3])
	}
	for seq, n := range map[uint64]int{0: 1, 255: 1, 256: 2, 1 << 32: 5, 1<<64 - 1: 8} {
		if got := sequenceBytes(seq); got != n {
			t.Errorf("sequenceBytes(%d) = %d, want %d", seq, got, n)
		}
	}
}

// Replay protection: a packet is accepted once, old ones outside the
// window never, and the window slides.
func TestReplayProtection(t *testing.T) {
	var r replayProtection
	if r.received(0) {
		t.Fatal("nothing arrived yet")
	}
	r.advance(0)
	if !r.received(0) {
		t.Error("sequence 0 again")
	}
	r.advance(1000)
	for _, c := range []struct {
		seq  uint64
		want bool
	}{{1000, true}, {999, false}, {1000 - replayWindow + 1, false}, {1000 - replayWindow, true}, {0, true}, {1001, false}} {
		if got := r.received(c.seq); got != c.want {
			t.Errorf("received(%d) = %v, want %v", c.seq, got, c.want)
		}
	}
	r.advance(999)
	if !r.received(999) {
		t.Error("999 after it arrived")
	}
	r.advance(1000 + replayWindow)
	if !r.received(1000) || r.received(1000+replayWindow-1) {
		t.Error("window did not slide")
	}
}
