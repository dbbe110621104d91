// Package gatewaytest provides test doubles of the matchmaker's NATS side
// for tests of the gateway and its clients: a scripted responder on
// matchmaker.request.<game>.<version> (real NATS subscription, real
// replies) and a gensession micro service.
package gatewaytest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// Script answers one session request by calling reply once per message.
// The responder sends the empty end message after Script returns, unless
// the test ended (ctx done). Scripts run on their own goroutine and may
// block until ctx is done.
type Script func(ctx context.Context, req protocol.MatchmakerRequest, reply func(data []byte))

// Responder is a scripted matchmaker subscribed to one request subject.
type Responder struct {
	// Requests receives every request body the responder got (buffered; a
	// full buffer drops, never blocks).
	Requests chan protocol.MatchmakerRequest
}

// Respond subscribes a scripted matchmaker on names.MatchmakerRequest(game,
// version). It stops when the test ends, after every script returned.
func Respond(t testing.TB, nc *nats.Conn, names state.Names, game, version string, script Script) *Responder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	r := &Responder{Requests: make(chan protocol.MatchmakerRequest, 1000)}
	sub, err := nc.Subscribe(names.MatchmakerRequest(game, version), func(m *nats.Msg) {
		var req protocol.MatchmakerRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			t.Errorf("responder: request %q is not JSON: %v", m.Data, err)
			return
		}
		select {
		case r.Requests <- req:
		default:
		}
		wg.Go(func() {
			script(ctx, req, func(data []byte) { _ = nc.Publish(m.Reply, data) })
			if ctx.Err() == nil {
				_ = nc.Publish(m.Reply, nil)
			}
		})
	})
	if err != nil {
		t.Fatalf("responder subscribe: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("responder flush: %v", err)
	}
	t.Cleanup(func() {
		_ = sub.Unsubscribe()
		cancel()
		wg.Wait()
	})
	return r
}

// Feedback returns a Script that replies the given messages in order.
func Feedback(msgs ...protocol.Feedback) Script {
	return func(_ context.Context, _ protocol.MatchmakerRequest, reply func([]byte)) {
		for _, f := range msgs {
			reply(f.Encode())
		}
	}
}

// Raw returns a Script that replies the given raw payloads in order.
func Raw(msgs ...string) Script {
	return func(_ context.Context, _ protocol.MatchmakerRequest, reply func([]byte)) {
		for _, m := range msgs {
			reply([]byte(m))
		}
	}
}

// Hold returns a Script that replies Acknowledged, then waits until the
// test ends (or release is closed, then sends msgs).
func Hold(release <-chan struct{}, msgs ...protocol.Feedback) Script {
	return func(ctx context.Context, _ protocol.MatchmakerRequest, reply func([]byte)) {
		reply(protocol.Acknowledged().Encode())
		select {
		case <-ctx.Done():
		case <-release:
			for _, f := range msgs {
				reply(f.Encode())
			}
		}
	}
}

// Token is a well-formed ConnectToken for tests: standard base64 of 2048
// bytes starting with "NETCODE 1.02\x00" (the rest is a fixed pattern, not
// a real sealed token).
func Token() string {
	b := make([]byte, 2048)
	copy(b, "NETCODE 1.02\x00")
	for i := 13; i < len(b); i++ {
		b[i] = byte(i)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Seat is the seat of Success.
var Seat = protocol.Seat{IP: "1.2.3.4", Port: 30004, CertDigest: "e3:76:4d"}

// Success is the message sequence of a successful request (without the
// empty end message).
func Success() []protocol.Feedback {
	seat := Seat
	seat.Token = Token()
	return []protocol.Feedback{
		protocol.Acknowledged(),
		protocol.Accepted("950dd2eaff09-S"),
		protocol.Progress("Status.DEPLOYING (0.2s)"),
		protocol.Progress("Status.READY (0.4s)"),
		protocol.Ready(seat),
	}
}

// GenSession registers a "gensession" micro service like the matchmaker's
// (group names.GenSessionGroup(), queue group session_queue) with handler.
// It stops when the test ends.
func GenSession(t testing.TB, nc *nats.Conn, names state.Names, handler micro.HandlerFunc) micro.Service {
	t.Helper()
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "gensession",
		Version:     "0.0.1",
		Description: "Generate sessions for clients who want to play",
	})
	if err != nil {
		t.Fatalf("gensession service: %v", err)
	}
	g := svc.AddGroup(names.GenSessionGroup(), micro.WithGroupQueueGroup("session_queue"))
	if err := g.AddEndpoint("gensession", handler); err != nil {
		t.Fatalf("gensession endpoint: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("gensession flush: %v", err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	return svc
}

// SessionResponse is the reply GenSessionOK sends.
func SessionResponse() protocol.SessionResponse {
	return protocol.SessionResponse{ConnectToken: Token(), GameserverIP: "1.2.3.4", GameserverPort: 30004, CertDigest: "e3:76:4d"}
}

// GenSessionOK is a gensession handler answering SessionResponse().
func GenSessionOK(req micro.Request) {
	b, _ := json.Marshal(SessionResponse())
	_ = req.Respond(b)
}
