package state

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/internal/natstest"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	srv := natstest.RunJetStream(t)
	s, err := Open(context.Background(), srv.Conn(t), Names{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSeatRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	const max = ^uint64(0)
	if err := s.PutSeat(ctx, max, "abc123def456-S"); err != nil {
		t.Fatal(err)
	}
	sid, err := s.SessionForClient(ctx, max)
	if err != nil || sid != "abc123def456-S" {
		t.Fatalf("SessionForClient = %q, %v", sid, err)
	}
	cid, err := s.ClientForSession(ctx, "abc123def456-S")
	if err != nil || cid != max {
		t.Fatalf("ClientForSession = %d, %v", cid, err)
	}
	// The raw value is decimal text, as the Rust game server reads it.
	e, _ := s.eg2ly.Get(ctx, "abc123def456-S")
	if string(e.Value()) != "18446744073709551615" {
		t.Fatalf("eg2ly value %q", e.Value())
	}
	if _, err := s.SessionForClient(ctx, 7); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing client: %v", err)
	}
}

func TestActiveAndUnclaimed(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.PutUnclaimed(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.IsUnclaimed(ctx, "s1"); !ok || err != nil {
		t.Fatalf("IsUnclaimed = %v, %v", ok, err)
	}
	if err := s.DeleteUnclaimed(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.IsUnclaimed(ctx, "s1"); ok {
		t.Fatal("still unclaimed after delete")
	}
	if err := s.DeleteUnclaimed(ctx, "never"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if err := s.PutActive(ctx, "s1", 42); err != nil {
		t.Fatal(err)
	}
	if id, err := s.ActiveClient(ctx, "s1"); id != 42 || err != nil {
		t.Fatalf("ActiveClient = %d, %v", id, err)
	}
	if err := s.DeleteActive(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActiveClient(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestWaitCertDigest(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if _, err := s.WaitCertDigest(ctx, []string{"10.0.0.1"}, time.Time{}, 50*time.Millisecond); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing digest: %v", err)
	}
	done := make(chan string, 1)
	go func() {
		d, _ := s.WaitCertDigest(ctx, []string{"10.0.0.2"}, time.Time{}, 5*time.Second)
		done <- d
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.PutCertDigest(ctx, "10.0.0.2", "e3:76:4d"); err != nil {
		t.Fatal(err)
	}
	if d := <-done; d != "e3:76:4d" {
		t.Fatalf("digest %q", d)
	}
	// Already present: returned at once.
	if d, err := s.WaitCertDigest(ctx, []string{"10.0.0.2"}, time.Time{}, time.Second); d != "e3:76:4d" || err != nil {
		t.Fatalf("present digest: %q %v", d, err)
	}
}

func TestEnqueueDeleteDeduplicates(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for range 3 {
		if err := s.EnqueueDelete(ctx, "dup-S"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EnqueueDelete(ctx, "other-S"); err != nil {
		t.Fatal(err)
	}
	c, err := s.DeleteConsumer(ctx, 5, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(10, jetstream.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
		_ = m.Ack()
	}
	if len(got) != 2 || got[0] != "dup-S" || got[1] != "other-S" {
		t.Fatalf("queue held %v, want [dup-S other-S]", got)
	}
}

func TestWaitCertDigestTinyWaitIsNotFound(t *testing.T) {
	s := openStore(t)
	for _, wait := range []time.Duration{time.Nanosecond, time.Millisecond} {
		if _, err := s.WaitCertDigest(context.Background(), []string{"10.9.9.9"}, time.Time{}, wait); !errors.Is(err, ErrNotFound) {
			t.Fatalf("wait %v: %v, want ErrNotFound", wait, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.WaitCertDigest(ctx, []string{"10.9.9.9"}, time.Time{}, time.Second); errors.Is(err, ErrNotFound) || err == nil {
		t.Fatalf("a cancelled caller must see its own cancellation, got %v", err)
	}
}

// A deployment's own key (request id) wins over its public IP; an IP entry
// written before notBefore (an earlier server on the same IP) is ignored
// until a fresh one arrives.
func TestWaitCertDigestKeysAndFreshness(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.PutCertDigest(ctx, "127.0.0.5", "old"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	since := time.Now()
	if _, err := s.WaitCertDigest(ctx, []string{"rid1", "127.0.0.5"}, since, 50*time.Millisecond); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stale IP digest accepted: %v", err)
	}
	if d, err := s.WaitCertDigest(ctx, []string{"rid1", "127.0.0.5"}, time.Time{}, time.Second); d != "old" || err != nil {
		t.Fatalf("IP digest without freshness: %q %v", d, err)
	}
	done := make(chan string, 1)
	go func() {
		d, _ := s.WaitCertDigest(ctx, []string{"rid1", "127.0.0.5"}, since, 5*time.Second)
		done <- d
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.PutCertDigest(ctx, "rid1", "mine"); err != nil {
		t.Fatal(err)
	}
	if d := <-done; d != "mine" {
		t.Fatalf("digest %q, want mine", d)
	}
	if err := s.PutCertDigest(ctx, "127.0.0.5", "newer-ip"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.WaitCertDigest(ctx, []string{"rid1", "127.0.0.5"}, since, time.Second); d != "mine" {
		t.Fatalf("request id key not preferred: %q", d)
	}
}
