package state

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/internal/natstest"
)

func replicasOf(t *testing.T, js jetstream.JetStream, stream string) int {
	t.Helper()
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	return max(st.CachedInfo().Config.Replicas, 1)
}

// One 3-node cluster for every replica case (namespaces keep them apart).
func TestReplicasOnCluster(t *testing.T) {
	c := natstest.RunCluster(t, 3)
	nc := c.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("compat buckets stay at replicas 1, dead letters take 3", func(t *testing.T) {
		s, err := Open(ctx, nc, Names{}, Replicas(3))
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range Specs(Names{}, Replicas(3)) {
			if got := replicasOf(t, js, sp.Config.Name); got != 1 {
				t.Errorf("%s has %d replicas in compat mode, want 1", sp.Config.Name, got)
			}
		}
		// Every unmodified Rust component can still create its streams.
		for name, body := range fixtures(t) {
			if r := sendFixture(t, nc, name, body); r.Error != nil {
				t.Errorf("Rust create of %s refused on the cluster: %+v", name, *r.Error)
			}
		}
		dead, err := s.DeadLetters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := replicasOf(t, js, "KV_"+dead.Bucket()); got != 3 {
			t.Fatalf("dead letters have %d replicas, want 3", got)
		}
	})

	t.Run("a Rust server refuses a compat bucket with replicas 3", func(t *testing.T) {
		// Why the compat buckets are pinned: had bevygap created one with 3
		// replicas, every Rust game server would fail to start.
		sp := Specs(Names{})[0]
		if err := js.DeleteStream(ctx, sp.Config.Name); err != nil {
			t.Fatal(err)
		}
		r3 := sp.Config
		r3.Replicas = 3
		if _, err := js.CreateStream(ctx, r3); err != nil {
			t.Fatal(err)
		}
		r := sendFixture(t, nc, sp.Config.Name, fixtures(t)[sp.Config.Name])
		if r.Error == nil || r.Error.ErrCode != 10058 {
			t.Fatalf("Rust create accepted a replicas-3 %s: %+v", sp.Config.Name, r.Error)
		}
		_, err := EnsureAll(ctx, js, Names{}, Replicas(3))
		if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "replicas is 3, want 1") {
			t.Fatalf("EnsureAll on a replicas-3 compat bucket: %v", err)
		}
		if err := Check(ctx, js, sp); err == nil || !strings.Contains(err.Error(), "replicas") {
			t.Fatalf("Check did not name replicas: %v", err)
		}
	})

	t.Run("namespaced streams take the replica count", func(t *testing.T) {
		n := Names{Namespace: "r3"}
		res, err := EnsureAll(ctx, js, n, Replicas(3))
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 6 {
			t.Fatalf("%d streams, want 6", len(res))
		}
		for _, r := range res {
			if got := replicasOf(t, js, r.Stream); got != 3 || !r.Created {
				t.Errorf("%s: replicas %d created %v, want 3 and created", r.Stream, got, r.Created)
			}
		}
		// A game-server agent with the default count accepts them and does not
		// lower them; Check with its default spec is satisfied.
		if _, err := Open(ctx, nc, n); err != nil {
			t.Fatalf("default-count Open next to replicas 3: %v", err)
		}
		for _, sp := range Specs(n) {
			if got := replicasOf(t, js, sp.Config.Name); got != 3 {
				t.Errorf("%s lowered to %d replicas", sp.Config.Name, got)
			}
			if err := Check(ctx, js, sp); err != nil {
				t.Errorf("Check: %v", err)
			}
		}
	})

	t.Run("raising nats-replicas scales existing namespaced streams", func(t *testing.T) {
		n := Names{Namespace: "grow"}
		if _, err := EnsureAll(ctx, js, n); err != nil {
			t.Fatal(err)
		}
		sp := Specs(n, Replicas(3))[2]
		if err := Check(ctx, js, sp); err == nil || !strings.Contains(err.Error(), "want at least 3") {
			t.Fatalf("Check of a replicas-1 stream against 3: %v", err)
		}
		res, err := EnsureAll(ctx, js, n, Replicas(3))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Created {
				t.Errorf("%s reported created again", r.Stream)
			}
			if got := replicasOf(t, js, r.Stream); got != 3 {
				t.Errorf("%s has %d replicas after raising to 3", r.Stream, got)
			}
		}
	})

	t.Run("another changed field is still incompatible", func(t *testing.T) {
		n := Names{Namespace: "bad"}
		sp := Specs(n)[0]
		sp.Config.MaxAge = time.Minute
		if _, err := js.CreateStream(ctx, sp.Config); err != nil {
			t.Fatal(err)
		}
		_, err := EnsureAll(ctx, js, n, Replicas(3))
		if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "max_age") {
			t.Fatalf("EnsureAll did not name max_age: %v", err)
		}
		if got := replicasOf(t, js, sp.Config.Name); got != 1 {
			t.Fatalf("an incompatible stream was changed to %d replicas", got)
		}
	})
}

func TestReplicasBadValues(t *testing.T) {
	srv := natstest.RunJetStream(t)
	nc := srv.Conn(t)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	for _, n := range []int{0, -1, 6} {
		_, err := EnsureAll(ctx, js, Names{}, Replicas(n))
		if err == nil || !strings.Contains(err.Error(), "nats-replicas") || !strings.Contains(err.Error(), "1 to 5") {
			t.Errorf("Replicas(%d): %v, want an error naming nats-replicas and the limit", n, err)
		}
		if _, err := Open(ctx, nc, Names{}, Replicas(n)); err == nil {
			t.Errorf("Open accepted Replicas(%d)", n)
		}
	}
	// A single server cannot keep 3 copies: the error says which setting asked.
	_, err := EnsureAll(ctx, js, Names{Namespace: "one"}, Replicas(3))
	if err == nil || !strings.Contains(err.Error(), "nats-replicas 3") {
		t.Fatalf("replicas 3 on one server: %v", err)
	}
	// Compat mode ignores the count for the compat streams, so it works there.
	if _, err := EnsureAll(ctx, js, Names{}, Replicas(3)); err != nil {
		t.Fatalf("compat streams with nats-replicas 3 on one server: %v", err)
	}
}

// Replicas starting together against a fresh cluster all open the state: a
// cluster may leave a request racing a stream's creation elsewhere
// unanswered (about one run in three failed before setup retried timeouts).
func TestConcurrentOpenOnFreshCluster(t *testing.T) {
	c := natstest.RunCluster(t, 3)
	n := Names{Namespace: "together"}
	errs := make(chan error, 3)
	for range 3 {
		nc := c.Conn(t)
		go func() { // owner: this test, which reads errs three times
			s, err := Open(context.Background(), nc, n, Replicas(3))
			if err == nil {
				_, err = s.DeadLetters(context.Background())
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
