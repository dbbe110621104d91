package simserver_test

// A netcode 1.02 client written from the standard (STANDARD.md of
// mas-bandwidth/netcode), sharing no protocol code with the package: it
// builds the connection request from the connect token's bytes and seals
// and opens packets itself. It talks to a simulated game server over real
// UDP, with the game-server agent recording connections in a real NATS.

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/simserver"
	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/state"
)

// The standard's packet types.
const (
	stdRequest    = 0
	stdDenied     = 1
	stdChallenge  = 2
	stdResponse   = 3
	stdKeepAlive  = 4
	stdPayload    = 5
	stdDisconnect = 6
)

const stdVersion = "NETCODE 1.02\x00"

var stdKey = netcode.PrivateKey{
	9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 5, 4,
	3, 2, 1, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8,
}

const stdProtocolID = 0x1122334455667788

// stdClient is the client side of one connect token.
type stdClient struct {
	t          *testing.T
	uc         *net.UDPConn
	protocolID uint64
	c2s, s2c   cipher.AEAD
	seq        uint64
	request    []byte
}

func newStdClient(t *testing.T, server net.Addr, tok *netcode.ConnectToken) *stdClient {
	t.Helper()
	c2s, err := chacha20poly1305.New(tok.ClientToServerKey[:])
	if err != nil {
		t.Fatal(err)
	}
	s2c, err := chacha20poly1305.New(tok.ServerToClientKey[:])
	if err != nil {
		t.Fatal(err)
	}
	uc, err := net.DialUDP("udp", nil, server.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	// Connect token: version info (13), protocol id (8), create (8),
	// expire (8), nonce (24), encrypted private data (1024), ...
	raw := tok.Bytes()
	req := []byte{stdRequest}
	req = append(req, stdVersion...)
	req = append(req, raw[13:21]...) // protocol id
	req = append(req, raw[29:37]...) // expire timestamp
	req = append(req, raw[37:61]...) // nonce
	req = append(req, raw[61:1085]...)
	if len(req) != 1078 {
		t.Fatalf("request of %d bytes", len(req))
	}
	return &stdClient{t: t, uc: uc, protocolID: tok.ProtocolID, c2s: c2s, s2c: s2c, request: req}
}

func stdNonce(seq uint64) []byte {
	n := make([]byte, 12)
	binary.LittleEndian.PutUint64(n[4:], seq)
	return n
}

func (c *stdClient) ad(prefix byte) []byte {
	ad := append([]byte(stdVersion), make([]byte, 8)...)
	binary.LittleEndian.PutUint64(ad[13:], c.protocolID)
	return append(ad, prefix)
}

// send seals and sends a packet of type typ with the next sequence number.
func (c *stdClient) send(typ byte, body []byte) {
	c.t.Helper()
	var seqBytes []byte
	for s := c.seq; ; s >>= 8 {
		seqBytes = append(seqBytes, byte(s))
		if s>>8 == 0 {
			break
		}
	}
	prefix := byte(len(seqBytes))<<4 | typ
	pkt := append([]byte{prefix}, seqBytes...)
	pkt = c.c2s.Seal(pkt, stdNonce(c.seq), body, c.ad(prefix))
	c.seq++
	if _, err := c.uc.Write(pkt); err != nil {
		c.t.Fatal(err)
	}
}

// sendRequest sends the connection request.
func (c *stdClient) sendRequest() {
	c.t.Helper()
	if _, err := c.uc.Write(c.request); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next packet from the server within d, per "Reading
// Encrypted Packets" (without replay protection: this client reads each
// packet once).
func (c *stdClient) read(d time.Duration) (typ byte, body []byte, err error) {
	buf := make([]byte, 2048)
	_ = c.uc.SetReadDeadline(time.Now().Add(d))
	for {
		n, err := c.uc.Read(buf)
		if err != nil {
			return 0, nil, err
		}
		b := buf[:n]
		if len(b) < 18 || b[0]&0x0f >= 7 || b[0]&0x0f == stdRequest || b[0]&0x0f == stdResponse {
			c.t.Errorf("server sent a packet a client must ignore: %x", b)
			continue
		}
		nseq := int(b[0] >> 4)
		if nseq < 1 || nseq > 8 || len(b) < 1+nseq+16 {
			c.t.Errorf("bad sequence bytes: %x", b)
			continue
		}
		var seq uint64
		for i := nseq; i >= 1; i-- {
			seq = seq<<8 | uint64(b[i])
		}
		body, err := c.s2c.Open(nil, stdNonce(seq), b[1+nseq:], c.ad(b[0]))
		if err != nil {
			c.t.Errorf("packet does not decrypt: %x", b)
			continue
		}
		want := map[byte]int{stdDenied: 0, stdChallenge: 308, stdKeepAlive: 8, stdDisconnect: 0}
		if w, ok := want[b[0]&0x0f]; (ok && len(body) != w) || (b[0]&0x0f == stdPayload && (len(body) < 1 || len(body) > 1200)) {
			c.t.Errorf("type %d with a %d-byte body", b[0]&0x0f, len(body))
			continue
		}
		return b[0] & 0x0f, body, nil
	}
}

// await resends with send every 100 ms until a packet of type want comes,
// up to 50 times; other types are skipped.
func (c *stdClient) await(want byte, send func()) []byte {
	c.t.Helper()
	for range 50 {
		send()
		deadline := time.Now().Add(100 * time.Millisecond)
		for time.Now().Before(deadline) {
			typ, body, err := c.read(time.Until(deadline))
			if err != nil {
				break
			}
			if typ == stdDenied {
				c.t.Fatalf("denied, waiting for type %d", want)
			}
			if typ == want {
				return body
			}
		}
	}
	c.t.Fatalf("no packet of type %d", want)
	return nil
}

// stdServer starts a simulated game server whose Admitter is the
// game-server agent over a real NATS.
func stdServer(t *testing.T) (*simserver.UDPServer, *state.Store) {
	t.Helper()
	nc := natstest.RunJetStream(t).Conn(t)
	st, err := state.Open(t.Context(), nc, state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := gameserver.NewAgent(gameserver.AgentConfig{Store: st, NC: nc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Close)
	srv, err := simserver.Listen(t.Context(), simserver.ServerConfig{PrivateKey: stdKey, ProtocolID: stdProtocolID, Admitter: agent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, st
}

func stdToken(t *testing.T, srv *simserver.UDPServer, clientID uint64) *netcode.ConnectToken {
	t.Helper()
	m, err := netcode.NewMinter(stdKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint(netcode.Params{ServerAddrs: []netip.AddrPort{srv.Addr()}, ProtocolID: stdProtocolID, ClientID: clientID})
	if err != nil {
		t.Fatal(err)
	}
	return &tok
}

// activeClient waits for active_connections[session] to be want (0: no
// entry).
func activeClient(t *testing.T, st *state.Store, session string, want uint64) {
	t.Helper()
	natstest.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		id, err := st.ActiveClient(t.Context(), session)
		switch {
		case want == 0 && errors.Is(err, state.ErrNotFound):
			return nil
		case want != 0 && err == nil && id == want:
			return nil
		}
		return errors.New("active_connections not as wanted yet")
	})
}

func TestStandardClient(t *testing.T) {
	srv, st := stdServer(t)
	const id, session = 77001, "sess-std"
	if err := st.PutSeat(t.Context(), id, session); err != nil {
		t.Fatal(err)
	}
	c := newStdClient(t, net.UDPAddrFromAddrPort(srv.Addr()), stdToken(t, srv, id))

	challenge := c.await(stdChallenge, c.sendRequest)
	ka := c.await(stdKeepAlive, func() { c.send(stdResponse, challenge) })
	if index, maxClients := binary.LittleEndian.Uint32(ka), binary.LittleEndian.Uint32(ka[4:]); index != 0 || maxClients != simserver.DefaultMaxClients {
		t.Errorf("keep-alive: client index %d, max clients %d", index, maxClients)
	}
	activeClient(t, st, session, id)
	if cl := srv.Clients(); len(cl) != 1 || cl[0].ClientID != id {
		t.Fatalf("clients %+v", cl)
	}

	// Encrypted payloads both ways: the simulated game echoes.
	for _, msg := range []string{"hello, netcode", string(bytes.Repeat([]byte{0xa5}, 1200))} {
		if got := c.await(stdPayload, func() { c.send(stdPayload, []byte(msg)) }); string(got) != msg {
			t.Errorf("echo of a %d-byte payload: %d bytes", len(msg), len(got))
		}
	}
	c.send(stdKeepAlive, make([]byte, 8))

	// Disconnect: redundant packets, as the standard says.
	for range 3 {
		c.send(stdDisconnect, nil)
	}
	activeClient(t, st, session, 0)
	if cl := srv.Clients(); len(cl) != 0 {
		t.Errorf("clients after disconnect: %+v", cl)
	}
}

// A client that sends only connection requests is challenged but never
// connected: no active_connections entry until it answers the challenge.
func TestRequestOnlyIsNotConnected(t *testing.T) {
	srv, st := stdServer(t)
	const id, session = 77002, "sess-request-only"
	if err := st.PutSeat(t.Context(), id, session); err != nil {
		t.Fatal(err)
	}
	c := newStdClient(t, net.UDPAddrFromAddrPort(srv.Addr()), stdToken(t, srv, id))
	var challenge []byte
	for range 3 { // each request was handled: each got its challenge
		challenge = c.await(stdChallenge, c.sendRequest)
	}
	if _, err := st.ActiveClient(t.Context(), session); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("active_connections[%s] after requests only: %v", session, err)
	}
	if cl := srv.Clients(); len(cl) != 0 {
		t.Fatalf("clients after requests only: %+v", cl)
	}
	// The same client answering the challenge is connected.
	c.await(stdKeepAlive, func() { c.send(stdResponse, challenge) })
	activeClient(t, st, session, id)
}
