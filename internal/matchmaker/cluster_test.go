package matchmaker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/netcode"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// connTo connects to the cluster through node first (then any other), so
// the test decides which node each party starts on.
func connTo(t *testing.T, c *natstest.Cluster, first int) *nats.Conn {
	t.Helper()
	urls := []string{c.Nodes[first].URL}
	for i, n := range c.Nodes {
		if i != first {
			urls = append(urls, n.URL)
		}
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Name(t.Name()), nats.DontRandomize(),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// The seat path on a 3-node JetStream cluster, namespaced with replicas 3:
// two matchmaker replicas on two nodes, the requesting client on the third;
// a seat is served, its records are readable from every node, and after the
// node leading the session maps stops, seats are still served and the
// earlier records are still there.
func TestSeatPathOnClusterReplicas3(t *testing.T) {
	c := natstest.RunCluster(t, 3)
	names := state.Names{Namespace: "clustered"}
	ctx := context.Background()

	client := connTo(t, c, 2)
	store, err := state.Open(ctx, client, names, state.Replicas(3))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := edgegapsim.Start(ctx, edgegapsim.Config{Seed: 1, Sockets: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	key, err := netcode.ParsePrivateKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, nc: client, store: store, sim: sim, key: key, logs: &clitest.Buffer{}}
	s.eg = s.client(edgegap.Config{})
	s.digest()
	for i := range 2 {
		nc := connTo(t, c, i)
		st, err := state.Open(ctx, nc, names, state.Replicas(3))
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.config()
		cfg.NC, cfg.Store, cfg.Registry = nc, st, prometheus.NewRegistry()
		cfg.UnclaimedTTL = 3 * time.Second // sessions of lost requests are reaped soon
		s.start(cfg)
	}

	// Every bevygap stream keeps 3 copies, the dead letters included.
	dead, err := store.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streams := []string{"KV_" + dead.Bucket()}
	for _, sp := range state.Specs(names) {
		streams = append(streams, sp.Config.Name)
	}
	for _, name := range streams {
		natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			st, err := store.JS.Stream(ctx, name)
			if err != nil {
				return err
			}
			info := st.CachedInfo()
			if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
				return fmt.Errorf("%s: replicas %d, cluster %+v; want a leader and 2 more copies", name, info.Config.Replicas, info.Cluster)
			}
			return nil
		})
	}

	subject := names.MatchmakerRequest(edgegapsim.DefaultApp, edgegapsim.DefaultVersion)
	seat := func() (string, uint64, error) {
		fb, err := requestFeedback(client, subject, []byte(`{"client_ip":"81.128.157.100"}`), 8*time.Second)
		if err != nil {
			return "", 0, err
		}
		if len(fb) < 2 || fb[len(fb)-1].Kind != protocol.KindReady {
			return "", 0, fmt.Errorf("no seat: %v", fb)
		}
		raw, err := base64.StdEncoding.DecodeString(fb[len(fb)-1].Seat.Token)
		if err != nil {
			return "", 0, err
		}
		tok, err := netcode.Parse(raw)
		if err != nil {
			return "", 0, err
		}
		pd, err := tok.Decrypt(key, 80085)
		if err != nil {
			return "", 0, fmt.Errorf("token does not decrypt: %w", err)
		}
		return fb[1].SessionID, pd.ClientID, nil
	}
	sid, cid, err := seat()
	if err != nil {
		t.Fatal(err)
	}
	// The seat's records, read through each node.
	for i := range c.Nodes {
		st, err := state.Open(ctx, connTo(t, c, i), names, state.Replicas(3))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := st.SessionForClient(ctx, cid); got != sid || err != nil {
			t.Fatalf("via %s: sessions_ly2eg[%d] = %q, %v; want %s", c.Nodes[i].Name, cid, got, err, sid)
		}
		if ok, err := st.IsUnclaimed(ctx, sid); !ok || err != nil {
			t.Fatalf("via %s: %s not unclaimed: %v", c.Nodes[i].Name, sid, err)
		}
	}
	claim := func(sid string, cid uint64) {
		t.Helper()
		natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			if err := store.PutActive(ctx, sid, cid); err != nil {
				return err
			}
			if ok, _ := store.IsUnclaimed(ctx, sid); ok {
				return fmt.Errorf("%s still unclaimed", sid)
			}
			return nil
		})
	}
	claim(sid, cid) // the player connected to the game server

	// Stop the node that leads the session map; 2 of 3 copies remain.
	var leader *natstest.Node
	natstest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if leader = c.StreamLeader("KV_" + names.Bucket(state.BucketSessionsLY2EG)); leader == nil {
			return errors.New("no leader for the session map")
		}
		return nil
	})
	leader.Stop()
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		got, err := store.SessionForClient(ctx, cid)
		if err != nil || got != sid {
			return fmt.Errorf("after stopping %s: sessions_ly2eg[%d] = %q, %v; want %s", leader.Name, cid, got, err, sid)
		}
		if got, err := store.ActiveClient(ctx, sid); err != nil || got != cid {
			return fmt.Errorf("after stopping %s: active_connections[%s] = %d, %v; want %d", leader.Name, sid, got, err, cid)
		}
		return nil
	})
	// A request in flight when the node stopped may be lost (its reply
	// inbox or the matchmaker's subscription was on that node): the player
	// retries after a few seconds without an answer, as a client may.
	var sid2 string
	var cid2 uint64
	natstest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		sid2, cid2, err = seat()
		return err
	})
	claim(sid2, cid2)

	// Both players leave: both sessions are deleted, and so is any session a
	// lost request created (the reaper's), none leaks.
	for _, p := range []string{sid, sid2} {
		if err := store.DeleteActive(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	s.noLeaks(0)
	if _, err := dead.Get(ctx, sid); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("session %s dead-lettered: %v", sid, err)
	}
}
