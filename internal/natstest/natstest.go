// Package natstest starts real in-process nats-servers with JetStream for tests.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/natsconn"
)

// Server is a running JetStream server on a random loopback port.
type Server struct {
	*natsconn.Embedded
	URL string
}

// RunJetStream starts a nats-server with JetStream on 127.0.0.1 (random port)
// and a temp store; it shuts down when the test ends.
func RunJetStream(t testing.TB) *Server {
	t.Helper()
	e, err := natsconn.StartEmbedded(natsconn.EmbeddedOptions{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return &Server{Embedded: e, URL: e.ClientURL()}
}

// Conn connects a client to the server; it is closed when the test ends.
func (s *Server) Conn(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := s.Connect(t.Name())
	if err != nil {
		t.Fatalf("connect to nats-server: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// CheckFor calls f until it returns nil or the timeout passes, then fails the test
// with f's last error. Use it instead of sleeping.
func CheckFor(t testing.TB, timeout, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(every)
	}
}
