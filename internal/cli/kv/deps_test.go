package kv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/pkg/state"
)

// The kv commands take their dependencies, so a test builds them directly:
// streams, a clock, a format and a connection to a test NATS server.
func TestCommandsTakeDeps(t *testing.T) {
	t.Parallel()
	srv := natstest.RunJetStream(t)
	io, _, out, _ := iostreams.Test()
	connect := func(context.Context, string) (*nats.Conn, error) { return nats.Connect(srv.URL) }
	d := &Deps{
		IO: io, Now: func() time.Time { return time.Unix(0, 0) }, Format: func() output.Format { return output.Plain },
		Names: func() (state.Names, error) { return state.NewNames("ns1") }, NATS: connect, ServiceNATS: connect,
		Confirm: func(bool, string) error { return nil },
	}
	if err := initRun(t.Context(), &InitOptions{D: d}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := lsRun(t.Context(), &LsOptions{D: d, Names: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ns1_active_connections") {
		t.Fatalf("kv ls --names with namespace ns1: %q", out.String())
	}
}
