package simserver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/simtest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/gameserver"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestSimulatorHook(t *testing.T) {
	st, nc := simtest.Store(t)
	sub, err := nc.SubscribeSync(state.Names{}.GameServerContexts())
	if err != nil {
		t.Fatal(err)
	}
	sim := simtest.Start(t, edgegapsim.Config{
		OnDeploy:    SimulatorHook(HookConfig{NC: nc, PrivateKey: testKey, ProtocolID: testProtocolID}),
		DeployDelay: 10 * time.Millisecond,
	})
	api := simtest.Client(t, sim)
	ctx := t.Context()

	cs, err := api.CreateSession(ctx, edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, VersionName: edgegapsim.DefaultVersion, IPList: []string{"81.128.157.100"}})
	if err != nil {
		t.Fatal(err)
	}
	var sess *edgegap.Session
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		s, err := api.GetSession(ctx, cs.ID)
		if err != nil {
			return err
		}
		if !s.Ready || s.Deployment == nil {
			return errNotYet
		}
		sess = s
		return nil
	})
	port, ok := sess.Deployment.GamePort(edgegapsim.DefaultPortName)
	if !ok || port.External < 1 || port.External == edgegapsim.DefaultFirstExternalPort {
		t.Fatalf("game port %+v: want the bound UDP port, not the planned one", port)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr(sess.Deployment.PublicIP), uint16(port.External))

	// Ready means reported: the digest and the context are published.
	d, err := st.CertDigest(ctx, sess.Deployment.PublicIP)
	if err != nil || !digestRE.MatchString(d) {
		t.Errorf("cert_digests[%s] = %q, %v", sess.Deployment.PublicIP, d, err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil || !strings.Contains(string(msg.Data), `"request_id":"`+sess.Deployment.RequestID+`"`) {
		t.Fatalf("context message %s, %v", msg.Data, err)
	}
	// The published context shows the port the game server really bound.
	if want := fmt.Sprintf(`"external":%d`, port.External); !strings.Contains(string(msg.Data), want) {
		t.Errorf("context message %s lacks %s", msg.Data, want)
	}

	// A client with a token minted for public_ip:external connects.
	const clientID = 424242
	putSeat(t, st, clientID, cs.ID)
	c, err := connect(t, mint(t, testKey, time.Now, addr, clientID, nil), ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := st.ActiveClient(ctx, cs.ID); err != nil || id != clientID {
		t.Errorf("active_connections[%s] = %d, %v", cs.ID, id, err)
	}
	// The same seat again is refused: the client id is connected, so the
	// server ignores the request, as netcode 1.02 says.
	if _, err := connect(t, mint(t, testKey, time.Now, addr, clientID, nil), ConnectOptions{Attempts: 2}); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("second connect with one seat: %v", err)
	}

	// Stopping the deployment stops the game server: the client is told
	// and its connection record removed.
	if _, err := api.StopDeployment(ctx, sess.Deployment.RequestID); err != nil {
		t.Fatal(err)
	}
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, err := st.ActiveClient(ctx, cs.ID); !errors.Is(err, state.ErrNotFound) {
			return errNotYet
		}
		return nil
	})
	kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Keepalive(kctx); !errors.Is(err, ErrServerDisconnected) {
		t.Errorf("Keepalive after the deployment stopped = %v", err)
	}
}

// A per-deployment NATS connection, as a real game server has; a broken
// environment fails the deployment with a clear error.
func TestSimulatorHookOwnConnection(t *testing.T) {
	ns := natstest.RunJetStream(t)
	st, err := state.Open(t.Context(), ns.Conn(t), state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	hook := SimulatorHook(HookConfig{NATS: natsOptions{URL: ns.URL}.options(), PrivateKey: testKey, ProtocolID: testProtocolID})
	var captured edgegapsim.DeploymentInfo
	sim := simtest.Start(t, edgegapsim.Config{OnDeploy: func(ctx context.Context, info edgegapsim.DeploymentInfo) (edgegapsim.DeployHandle, error) {
		captured = info
		return hook(ctx, info)
	}})
	api := simtest.Client(t, sim)
	cs, err := api.CreateSession(t.Context(), edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, IPList: []string{"81.128.157.100"}})
	if err != nil {
		t.Fatal(err)
	}
	var publicIP string
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		s, err := api.GetSession(t.Context(), cs.ID)
		if err != nil || !s.Ready || s.Deployment == nil {
			return errNotYet
		}
		publicIP = s.Deployment.PublicIP
		return nil
	})
	if _, err := st.CertDigest(t.Context(), publicIP); err != nil {
		t.Errorf("cert digest: %v", err)
	}

	// Direct calls: no NATS at all, and a broken environment.
	h := SimulatorHook(HookConfig{PrivateKey: testKey})
	if _, err := h(t.Context(), captured); err == nil || !strings.Contains(err.Error(), "NATS") {
		t.Errorf("hook without NATS = %v", err)
	}
	bad := captured
	bad.Env = map[string]string{}
	if _, err := h(t.Context(), bad); err == nil || !strings.Contains(err.Error(), gameserver.EnvContextURL) {
		t.Errorf("hook with no environment = %v", err)
	}
}

// Two simulated deployments have distinct public IPs (loopback addresses
// of their own), so their cert_digests entries are distinct, and each entry
// is the digest of its own game server's certificate. A seat connects to
// each.
func TestSimulatorHookDistinctAddresses(t *testing.T) {
	st, nc := simtest.Store(t)
	servers := make(chan GameServer, 2)
	sim := simtest.Start(t, edgegapsim.Config{
		Sockets:  1, // one seat per deployment: two sessions, two deployments
		OnDeploy: SimulatorHook(HookConfig{NC: nc, PrivateKey: testKey, ProtocolID: testProtocolID, OnReady: func(g GameServer) { servers <- g }}),
	})
	api := simtest.Client(t, sim)
	ctx := t.Context()
	var sessions []*edgegap.Session
	for _, ip := range []string{"81.128.157.100", "81.128.157.101"} {
		cs, err := api.CreateSession(ctx, edgegap.SessionRequest{AppName: edgegapsim.DefaultApp, IPList: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			s, err := api.GetSession(ctx, cs.ID)
			if err != nil || !s.Ready || s.Deployment == nil {
				return errNotYet
			}
			sessions = append(sessions, s)
			return nil
		})
	}
	byIP := map[string]GameServer{}
	for range 2 {
		g := <-servers
		byIP[g.Addr.Addr().String()] = g
	}
	a, b := sessions[0].Deployment, sessions[1].Deployment
	if a.RequestID == b.RequestID || a.PublicIP == b.PublicIP {
		t.Fatalf("deployments %s at %s and %s at %s: want two with distinct public IPs", a.RequestID, a.PublicIP, b.RequestID, b.PublicIP)
	}
	digests := map[string]bool{}
	for i, s := range sessions {
		ip := s.Deployment.PublicIP
		if addr := netip.MustParseAddr(ip); !addr.IsLoopback() || addr == netip.MustParseAddr(edgegapsim.DefaultPublicIP) {
			t.Errorf("public IP %s: want a loopback address of its own", ip)
		}
		g, ok := byIP[ip]
		if !ok || g.RequestID != s.Deployment.RequestID {
			t.Fatalf("no game server at %s for %s: %+v", ip, s.Deployment.RequestID, byIP)
		}
		d, err := st.CertDigest(ctx, ip)
		if err != nil || d != gameserver.CertDigest(g.Cert.DER) {
			t.Errorf("cert_digests[%s] = %q, %v; its server's certificate has %s", ip, d, err, gameserver.CertDigest(g.Cert.DER))
		}
		digests[d] = true
		port, _ := s.Deployment.GamePort(edgegapsim.DefaultPortName)
		if port.External != int(g.Addr.Port()) {
			t.Errorf("game port %d, server at %s", port.External, g.Addr)
		}
		id := uint64(8000 + i)
		putSeat(t, st, id, s.ID)
		if _, err := connect(t, mint(t, testKey, time.Now, g.Addr, id, nil), ConnectOptions{}); err != nil {
			t.Errorf("seat on %s: %v", g.Addr, err)
		}
	}
	if len(digests) != 2 {
		t.Errorf("cert_digests entries %v: want two distinct", digests)
	}
}
