package state

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bevygap/bevygap/internal/natstest"
)

func openFleet(t *testing.T, srv *natstest.Server, n Names) *Fleet {
	t.Helper()
	js, err := jetstream.New(srv.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenFleet(context.Background(), js, n, FleetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newDep(id string, capacity int, st DeploymentState) *Deployment {
	return &Deployment{ID: id, App: "game", Version: "v1", State: st, Capacity: capacity}
}

// Two replicas (separate connections) and 40 concurrent reservations on one
// deployment of 6 seats: exactly 6 succeed, the others get ErrFull.
func TestFleetReserveNeverExceedsCapacity(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunJetStream(t)
	a, b := openFleet(t, srv, Names{}), openFleet(t, srv, Names{})
	if err := a.Create(ctx, newDep("d1", 6, DeploymentDeploying)); err != nil {
		t.Fatal(err)
	}
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		seats, full int
	)
	for i := range 40 {
		wg.Go(func() {
			f := a
			if i%2 == 1 {
				f = b
			}
			_, _, err := f.Reserve(ctx, "d1")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				seats++
			case errors.Is(err, ErrFull):
				full++
			default:
				t.Errorf("reserve: %v", err)
			}
		})
	}
	wg.Wait()
	d, err := a.Get(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if seats != 6 || full != 34 || len(d.Seats) != 6 || d.Free() != 0 {
		t.Fatalf("seats %d, full %d, recorded %d (free %d); want 6, 34, 6 (0)", seats, full, len(d.Seats), d.Free())
	}
	for id, s := range d.Seats {
		if DeploymentOfSeat(id) != "d1" || s.State != SeatReserved {
			t.Fatalf("seat %s = %+v", id, s)
		}
	}
}

func TestFleetSeatLifecycle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	srv := natstest.RunJetStream(t)
	js, _ := jetstream.New(srv.Conn(t))
	f, err := OpenFleet(ctx, js, Names{Namespace: "g1"}, FleetOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if f.KV().Bucket() != "g1_bevygap_deployments" {
		t.Fatalf("bucket %s", f.KV().Bucket())
	}
	if err := f.Create(ctx, newDep("d1", 2, DeploymentReady)); err != nil {
		t.Fatal(err)
	}
	if err := f.Create(ctx, newDep("d1", 2, DeploymentReady)); err == nil {
		t.Fatal("second Create of d1 succeeded")
	}
	seat, _, err := f.Reserve(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(seat, "d1_") || DeploymentOfSeat(seat) != "d1" {
		t.Fatalf("seat id %q", seat)
	}
	// Handing the reserved seat to a client records its id, the state
	// staying reserved (regression: the id was assigned before the
	// no-change check, so nothing was written and unclaimed-ttl never
	// applied to a seat of the deployments allocator).
	d, err := f.SetSeat(ctx, seat, 41, SeatReserved)
	if err != nil || d.Seats[seat].ClientID != 41 || d.Seats[seat].State != SeatReserved {
		t.Fatalf("SetSeat(reserved, client 41) = %+v, %v", d, err)
	}
	if got, err := f.Get(ctx, "d1"); err != nil || got.Seats[seat].ClientID != 41 {
		t.Fatalf("stored seat after SetSeat: %+v, %v", got, err)
	}
	d, err = f.SetSeat(ctx, seat, 42, SeatConnected)
	if err != nil || d.Seats[seat].ClientID != 42 || d.Seats[seat].State != SeatConnected {
		t.Fatalf("SetSeat = %+v, %v", d, err)
	}
	rev := d.Revision
	if d, err = f.SetSeat(ctx, seat, 42, SeatConnected); err != nil || d.Revision != rev {
		t.Fatalf("unchanged SetSeat wrote: rev %d -> %d, %v", rev, d.Revision, err)
	}
	now = now.Add(time.Minute)
	d, err = f.Release(ctx, seat)
	if err != nil || len(d.Seats) != 0 || !d.EmptySince.Equal(now) {
		t.Fatalf("Release = %+v, %v", d, err)
	}
	// Idempotent: twice, and for a deployment that no longer exists.
	if _, err := f.Release(ctx, seat); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if _, err := f.Release(ctx, "nosuch_abc"); err != nil {
		t.Fatalf("Release on a missing deployment: %v", err)
	}
	if _, err := f.SetSeat(ctx, "d1_zzz", 1, SeatConnected); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetSeat of an unknown seat: %v", err)
	}
	// Draining takes no seats.
	if _, err := f.Update(ctx, "d1", func(d *Deployment) error { d.State = DeploymentDraining; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Reserve(ctx, "d1"); !errors.Is(err, ErrFull) {
		t.Fatalf("Reserve on draining: %v", err)
	}
	if err := f.Remove(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, "d1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Remove: %v", err)
	}
}

func TestFleetFindAndList(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunJetStream(t)
	f := openFleet(t, srv, Names{})
	for i, id := range []string{"a", "b", "c"} {
		d := newDep(id, 6, DeploymentDeploying)
		d.RequestID = "rid-" + id
		d.Created = time.Unix(int64(1000-i), 0).UTC()
		if err := f.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	all, err := f.List(ctx)
	if err != nil || len(all) != 3 || all[0].ID != "c" || all[2].ID != "a" {
		t.Fatalf("List = %v, %v", all, err)
	}
	d, err := f.FindByRequestID(ctx, "rid-b")
	if err != nil || d.ID != "b" {
		t.Fatalf("FindByRequestID = %v, %v", d, err)
	}
	if _, err := f.FindByRequestID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown request id: %v", err)
	}
}

func TestCandidatesOrder(t *testing.T) {
	seats := func(n int) map[string]FleetSeat {
		m := map[string]FleetSeat{}
		for i := range n {
			m[string(rune('a'+i))] = FleetSeat{}
		}
		return m
	}
	mk := func(id string, st DeploymentState, used int, app string) *Deployment {
		d := newDep(id, 6, st)
		d.Seats, d.App = seats(used), app
		return d
	}
	all := []*Deployment{
		mk("deploying-full-ish", DeploymentDeploying, 5, "game"),
		mk("ready-1", DeploymentReady, 1, "game"),
		mk("ready-4", DeploymentReady, 4, "game"),
		mk("ready-full", DeploymentReady, 6, "game"),
		mk("draining", DeploymentDraining, 0, "game"),
		mk("other-app", DeploymentReady, 3, "other"),
		mk("gone", DeploymentGone, 0, "game"),
	}
	var got []string
	for _, d := range Candidates(all, "game", "v1") {
		got = append(got, d.ID)
	}
	want := "ready-4 ready-1 deploying-full-ish"
	if strings.Join(got, " ") != want {
		t.Fatalf("Candidates = %v, want %s", got, want)
	}
}

func TestDecodeDeploymentBounds(t *testing.T) {
	if _, err := DecodeDeployment("k", 1, make([]byte, maxRecordBytes+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized record: %v", err)
	}
	if _, err := DecodeDeployment("k", 1, []byte(`{"id":"other"}`)); err == nil {
		t.Fatal("record under the wrong key accepted")
	}
	if _, err := DecodeDeployment("k", 1, []byte(`{`)); err == nil {
		t.Fatal("broken JSON accepted")
	}
	if _, err := OpenFleet(context.Background(), nil, Names{}, FleetOptions{Replicas: 7}); err == nil || !strings.Contains(err.Error(), "1 to 5") {
		t.Fatalf("replicas 7: %v", err)
	}
}

func TestLeasesAndStopQueue(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	srv := natstest.RunJetStream(t)
	js, _ := jetstream.New(srv.Conn(t))
	l, err := OpenLeases(ctx, js, Names{}, 1, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	key := LeaseKey("my game", "v1.0")
	_, rev, err := l.Acquire(ctx, key, "a", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Acquire(ctx, key, "b", 5*time.Second); !errors.Is(err, ErrLeaseBusy) {
		t.Fatalf("second holder: %v", err)
	}
	if err := l.Release(ctx, key, rev, "dep1"); err != nil {
		t.Fatal(err)
	}
	cur, rev, err := l.Acquire(ctx, key, "b", 5*time.Second)
	if err != nil || cur.Last != "dep1" {
		t.Fatalf("after release: %+v, %v", cur, err)
	}
	// An expired lease is taken over; the old holder's release is a no-op.
	now = now.Add(6 * time.Second)
	if _, _, err := l.Acquire(ctx, key, "c", 5*time.Second); err != nil {
		t.Fatalf("taking over an expired lease: %v", err)
	}
	if err := l.Release(ctx, key, rev, "stale"); err != nil {
		t.Fatalf("stale release: %v", err)
	}
	if _, _, err := l.Acquire(ctx, key, "d", time.Second); !errors.Is(err, ErrLeaseBusy) {
		t.Fatalf("lease of c was released by a stale holder: %v", err)
	}

	q, err := OpenStopQueue(ctx, js, Names{Namespace: "g"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // de-duplicated: one job
		if err := q.Enqueue(ctx, "abc123"); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Enqueue(ctx, "a.b"); err == nil {
		t.Fatal("request id with a dot accepted")
	}
	st, err := js.Stream(ctx, "g_"+StopStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("pending = %d; want 1", n)
	}
}
