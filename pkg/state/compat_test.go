package state

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/internal/natstest"
)

// fixtures are the exact $JS.API.STREAM.CREATE bodies async-nats 0.36 sends
// for the Rust components (copied from shared/compat/jetstream-create).
func fixtures(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/jetstream-create/*.json")
	if err != nil || len(files) != 6 {
		t.Fatalf("want 6 fixtures, got %d (%v)", len(files), err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return out
}

type apiResp struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

func sendFixture(t *testing.T, nc *nats.Conn, name string, body []byte) *apiResp {
	t.Helper()
	msg, err := nc.Request("$JS.API.STREAM.CREATE."+name, body, 5*time.Second)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	var r apiResp
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatalf("create %s: bad reply %q", name, msg.Data)
	}
	return &r
}

func TestSpecsMatchFixtureNames(t *testing.T) {
	fx := fixtures(t)
	for _, s := range Specs(Names{}) {
		if _, ok := fx[s.Config.Name]; !ok {
			t.Errorf("no fixture for %s", s.Config.Name)
		}
	}
}

// (a) the Rust side created everything first; bevygap's setup must accept it.
func TestCompatRustFirst(t *testing.T) {
	srv := natstest.RunJetStream(t)
	nc := srv.Conn(t)
	for name, body := range fixtures(t) {
		if r := sendFixture(t, nc, name, body); r.Error != nil {
			t.Fatalf("fixture %s refused on a fresh server: %+v", name, *r.Error)
		}
	}
	js, _ := jetstream.New(nc)
	res, err := EnsureAll(context.Background(), js, Names{})
	if err != nil {
		t.Fatalf("EnsureAll after the Rust side: %v", err)
	}
	for _, r := range res {
		if r.Created {
			t.Errorf("%s reported created, but the Rust side had created it", r.Stream)
		}
	}
}

// (b) bevygap first; every Rust create must then succeed.
func TestCompatBevygapFirst(t *testing.T) {
	srv := natstest.RunJetStream(t)
	nc := srv.Conn(t)
	js, _ := jetstream.New(nc)
	res, err := EnsureAll(context.Background(), js, Names{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 6 {
		t.Fatalf("want 6 streams, got %d", len(res))
	}
	for _, r := range res {
		if !r.Created {
			t.Errorf("%s not reported created on a fresh server", r.Stream)
		}
	}
	for name, body := range fixtures(t) {
		if r := sendFixture(t, nc, name, body); r.Error != nil {
			t.Errorf("Rust create of %s refused after bevygap setup: %+v", name, *r.Error)
		}
	}
	// Idempotent.
	res, err = EnsureAll(context.Background(), js, Names{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Created {
			t.Errorf("second EnsureAll created %s again", r.Stream)
		}
	}
}

// A config that differs in one field must break (b), and EnsureAll must name it.
func TestCompatDetectsChangedField(t *testing.T) {
	mutations := map[string]func(*jetstream.StreamConfig){
		"max_age":     func(c *jetstream.StreamConfig) { c.MaxAge = 31 * time.Second },
		"description": func(c *jetstream.StreamConfig) { c.Description += "." },
		"max_msg_size": func(c *jetstream.StreamConfig) {
			c.MaxMsgSize = 2048
		},
	}
	for field, mutate := range mutations {
		t.Run(field, func(t *testing.T) {
			srv := natstest.RunJetStream(t)
			nc := srv.Conn(t)
			js, _ := jetstream.New(nc)
			spec := Specs(Names{})[0] // sessions_eg2ly
			mutate(&spec.Config)
			if _, err := js.CreateStream(context.Background(), spec.Config); err != nil {
				t.Fatal(err)
			}
			r := sendFixture(t, nc, spec.Config.Name, fixtures(t)[spec.Config.Name])
			if r.Error == nil || r.Error.ErrCode != 10058 {
				t.Fatalf("Rust create accepted a config with a changed %s: %+v", field, r.Error)
			}
			_, err := EnsureAll(context.Background(), js, Names{})
			if err == nil || !strings.Contains(err.Error(), field) {
				t.Fatalf("EnsureAll did not name %s: %v", field, err)
			}
		})
	}
}

func TestNamespace(t *testing.T) {
	if _, err := NewNames("bad name!"); err == nil {
		t.Fatal("accepted an invalid namespace")
	}
	n, err := NewNames("game1")
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.RunJetStream(t)
	nc := srv.Conn(t)
	if _, err := Open(context.Background(), nc, n); err != nil {
		t.Fatal(err)
	}
	// A Rust deployment on the same server is unaffected.
	for name, body := range fixtures(t) {
		if r := sendFixture(t, nc, name, body); r.Error != nil {
			t.Errorf("Rust create of %s refused next to a namespace: %+v", name, *r.Error)
		}
	}
	js, _ := jetstream.New(nc)
	if _, err := js.KeyValue(context.Background(), "game1_active_connections"); err != nil {
		t.Fatalf("namespaced bucket missing: %v", err)
	}
	if got := n.DeleteSubject("abc-S"); got != "game1.edgegap_delete_session_q.abc-S" {
		t.Fatalf("delete subject %q", got)
	}
}
