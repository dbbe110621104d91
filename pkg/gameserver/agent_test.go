package gameserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/simtest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

const testDigest = "e3:76:4d:00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13:14:15:16:17:18:19:1a:1b:1c"

func TestAgentStart(t *testing.T) {
	st, nc := simtest.Store(t)
	sim, info, env := deployedEnv(t)
	sub, err := nc.SubscribeSync(state.Names{}.GameServerContexts())
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAgent(AgentConfig{Store: st, NC: nc, Env: env, CertDigest: testDigest})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}

	if d, err := st.CertDigest(t.Context(), info.PublicIP); err != nil || d != testDigest {
		t.Errorf("cert_digests[%s] = %q, %v", info.PublicIP, d, err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dc := a.Context()
	if dc == nil || !bytes.Equal(msg.Data, dc.Raw) {
		t.Errorf("published %s, fetched %v", msg.Data, dc)
	}
	var got map[string]any
	if err := json.Unmarshal(msg.Data, &got); err != nil {
		t.Fatal(err)
	}
	loc, _ := got["location"].(map[string]any)
	if got["request_id"] != info.RequestID || got["public_ip"] != info.PublicIP || got["fqdn"] != info.FQDN ||
		got["sockets"] != float64(info.Sockets) || loc["city"] != "Montreal" || loc["country"] != "Canada" {
		t.Errorf("context = %s", msg.Data)
	}
	if n := sim.Stats().Count(edgegapsim.EndpointContextGet, http.StatusOK); n != 1 {
		t.Errorf("context fetched %d times", n)
	}
}

func TestAgentStartBadContextToken(t *testing.T) {
	st, nc := simtest.Store(t)
	sim, info, env := deployedEnv(t)
	const wrong = "0123456789abcdef-not-the-token"
	env.ContextToken = wrong
	a := newAgent(t, st, nc, env)
	a.digest = testDigest
	err := a.Start(t.Context())
	if !edgegap.IsUnauthorized(err) || !strings.Contains(err.Error(), EnvContextToken) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Start with a wrong context token = %v", err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), info.ContextToken) {
		t.Errorf("error shows a token: %v", err)
	}
	if _, err := st.CertDigest(t.Context(), info.PublicIP); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("cert digest put after a failed start: %v", err)
	}
	if n := sim.Stats().Total(edgegapsim.EndpointContextGet); n != 1 {
		t.Errorf("a refused token was tried %d times", n)
	}
}

func TestAgentStartRetries(t *testing.T) {
	st, nc := simtest.Store(t)
	sim, _, env := deployedEnv(t)
	eg, err := edgegap.New(edgegap.Config{MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer eg.CloseIdleConnections()
	if err := sim.FailNext(edgegapsim.EndpointContextGet, 503, 502, 500); err != nil {
		t.Fatal(err)
	}
	a, err := NewAgent(AgentConfig{Store: st, NC: nc, Env: env, Edgegap: eg, CertDigest: testDigest, ContextBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatalf("Start after 3 server errors = %v", err)
	}
	if n := sim.Stats().Total(edgegapsim.EndpointContextGet); n != 4 {
		t.Errorf("context fetched %d times, want 4", n)
	}

	// Out of attempts: the last error, with the attempt count.
	if err := sim.FailNext(edgegapsim.EndpointContextGet, 503, 503, 503, 503); err != nil {
		t.Fatal(err)
	}
	a.attempts = 2
	err = a.Start(t.Context())
	if !errors.Is(err, edgegap.ErrServer) || !strings.Contains(err.Error(), "attempt 2 of 2") {
		t.Errorf("Start = %v", err)
	}
}

func TestAgentStartNeedsEnv(t *testing.T) {
	st, nc := simtest.Store(t)
	a := newAgent(t, st, nc, Env{})
	if err := a.Start(t.Context()); err == nil || !strings.Contains(err.Error(), EnvContextURL) {
		t.Errorf("Start without env = %v", err)
	}
	if _, err := NewAgent(AgentConfig{NC: nc}); err == nil {
		t.Error("NewAgent without a store")
	}
	if _, err := NewAgent(AgentConfig{Store: st}); err == nil {
		t.Error("NewAgent without NATS")
	}
}

func TestAgentConnectDisconnect(t *testing.T) {
	st, nc := simtest.Store(t)
	a := newAgent(t, st, nc, Env{})
	ctx := t.Context()
	if err := st.PutSeat(ctx, 42, "sess-42"); err != nil {
		t.Fatal(err)
	}
	if err := a.Authorize(ctx, 42); err != nil {
		t.Fatalf("Authorize = %v", err)
	}
	if err := a.ClientConnected(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if id, err := st.ActiveClient(ctx, "sess-42"); err != nil || id != 42 {
		t.Errorf("active_connections[sess-42] = %d, %v", id, err)
	}
	e, err := st.Active().Get(ctx, "sess-42")
	if err != nil || string(e.Value()) != "42" {
		t.Errorf("active_connections value %q, %v; want decimal text", e.Value(), err)
	}
	if err := a.ClientDisconnected(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ActiveClient(ctx, "sess-42"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("after disconnect: %v", err)
	}
	if err := a.ClientDisconnected(ctx, 42); err != nil {
		t.Errorf("second disconnect = %v", err)
	}

	// Unknown to the agent (e.g. connected by an earlier process): looked
	// up in sessions_ly2eg, as the Rust would have to.
	if err := st.PutSeat(ctx, 43, "sess-43"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutActive(ctx, "sess-43", 43); err != nil {
		t.Fatal(err)
	}
	if err := a.ClientDisconnected(ctx, 43); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ActiveClient(ctx, "sess-43"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("after disconnect: %v", err)
	}
	if err := a.ClientDisconnected(ctx, 44); !errors.Is(err, ErrUnknownClient) {
		t.Errorf("disconnect of an unknown client = %v", err)
	}
	if err := a.ClientConnected(ctx, 45); !errors.Is(err, ErrUnknownClient) {
		t.Errorf("connect of an unknown client = %v", err)
	}
	// A failed connect does not use the seat up.
	if err := st.PutSeat(ctx, 45, "sess-45"); err != nil {
		t.Fatal(err)
	}
	if err := a.ClientConnected(ctx, 45); err != nil {
		t.Errorf("connect after the seat appeared = %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	st, nc := simtest.Store(t)
	a := newAgent(t, st, nc, Env{})
	ctx := t.Context()
	for id, s := range map[uint64]string{1: "s1", 2: "s2", 3: "s3"} {
		if err := st.PutSeat(ctx, id, s); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	check("no seat", a.Authorize(ctx, 99), ErrUnknownClient)
	check("seat", a.Authorize(ctx, 1), nil)
	check("connect", a.ClientConnected(ctx, 1), nil)
	check("double connect: Authorize", a.Authorize(ctx, 1), ErrAlreadyConnected)
	check("double connect: ClientConnected", a.ClientConnected(ctx, 1), ErrAlreadyConnected)
	check("disconnect", a.ClientDisconnected(ctx, 1), nil)
	check("reconnect after disconnect: Authorize", a.Authorize(ctx, 1), ErrSeatUsed)
	check("reconnect after disconnect: ClientConnected", a.ClientConnected(ctx, 1), ErrSeatUsed)

	// The session is connected elsewhere (another game server or process).
	if err := st.PutActive(ctx, "s2", 77); err != nil {
		t.Fatal(err)
	}
	check("session active elsewhere", a.Authorize(ctx, 2), ErrAlreadyConnected)
	check("other seat", a.Authorize(ctx, 3), nil)

	// Errors name the client, never a token.
	if err := a.Authorize(ctx, 99); !strings.Contains(err.Error(), "client 99") {
		t.Errorf("error %q does not name the client", err)
	}
}

func TestAgentForgetsOldestDisconnected(t *testing.T) {
	st, nc := simtest.Store(t)
	a, err := NewAgent(AgentConfig{Store: st, NC: nc, MaxRemembered: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := t.Context()
	for id := uint64(1); id <= 3; id++ {
		if err := st.PutSeat(ctx, id, "s"+string(rune('0'+id))); err != nil {
			t.Fatal(err)
		}
		if err := a.ClientConnected(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := a.ClientDisconnected(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	a.mu.Lock()
	n := len(a.seats)
	_, has1 := a.seats[1]
	a.mu.Unlock()
	if n != 2 || has1 {
		t.Errorf("remembered %d seats (client 1: %v), want the 2 newest", n, has1)
	}
	if err := a.Authorize(ctx, 3); !errors.Is(err, ErrSeatUsed) {
		t.Errorf("newest seat: %v", err)
	}
}

// A disconnect that could not be recorded (NATS down or slow past the
// caller's deadline: the chaos suite's NATS kill) is retried in the
// background: else the session's active_connections entry stays, the
// matchmaker and the reconciler see the session connected, and it is never
// deleted (a paid session nobody uses).
func TestAgentRetriesADisconnectItCouldNotRecord(t *testing.T) {
	st, nc := simtest.Store(t)
	a, err := NewAgent(AgentConfig{Store: st, NC: nc, ContextBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	ctx := t.Context()
	if err := st.PutSeat(ctx, 42, "sess-42"); err != nil {
		t.Fatal(err)
	}
	if err := a.ClientConnected(ctx, 42); err != nil {
		t.Fatal(err)
	}
	dead, cancel := context.WithCancel(ctx)
	cancel() // the caller's deadline passed while NATS was away
	if err := a.ClientDisconnected(dead, 42); err == nil {
		t.Fatal("ClientDisconnected with a dead context = nil, want the recording error")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st.ActiveClient(ctx, "sess-42")
		if errors.Is(err, state.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("active_connections[sess-42] still there 10s after the failed disconnect (err %v): the session looks connected forever", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The seat stays used.
	if err := a.ClientConnected(ctx, 42); !errors.Is(err, ErrSeatUsed) {
		t.Errorf("reconnect after the retried disconnect = %v, want ErrSeatUsed", err)
	}
}
