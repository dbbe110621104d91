package natstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClusterFormsWithThreeNodes(t *testing.T) {
	c := RunCluster(t, 3)
	if got := len(c.Running()); got != 3 {
		t.Fatalf("%d nodes running, want 3", got)
	}
	for _, n := range c.Nodes {
		s := n.Server()
		if !s.JetStreamIsClustered() {
			t.Errorf("node %s: JetStream is not clustered", n.Name)
		}
		if got := s.NumRoutes(); got < 2 {
			t.Errorf("node %s has %d routes, want at least 2", n.Name, got)
		}
	}
	// A single server refuses replicas 3; the cluster places them.
	js, err := jetstream.New(c.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	if err != nil {
		t.Fatalf("replicas 3 stream: %v", err)
	}
	info := st.CachedInfo()
	if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream cluster info %+v, want a leader and 2 replicas", info.Cluster)
	}
}

func TestKVReplicas3SurvivesOneNodeShutdown(t *testing.T) {
	c := RunCluster(t, 3)
	nc := c.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "seats", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Stop the node that leads the bucket's stream: the worst single loss.
	var leader *Node
	CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if leader = c.StreamLeader("KV_seats"); leader == nil {
			return errors.New("no leader for KV_seats")
		}
		return nil
	})
	leader.Stop()

	// The two survivors elect a new leader; the client reconnects to one of
	// them. Every key written before is still there, and writes go on.
	CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if l := c.StreamLeader("KV_seats"); l == nil || l == leader {
			return errors.New("no new leader for KV_seats")
		}
		_, err := kv.Put(ctx, "after", []byte("stop"))
		return err
	})
	for i := range 20 {
		e, err := kv.Get(ctx, fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatalf("k%d after stopping %s: %v", i, leader.Name, err)
		}
		if got, want := string(e.Value()), fmt.Sprintf("v%d", i); got != want {
			t.Fatalf("k%d = %q, want %q", i, got, want)
		}
	}

	// The stopped node comes back with its store and catches up.
	leader.Start(t)
	c.WaitJetStream(t)
	CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		st, err := js.Stream(ctx, "KV_seats")
		if err != nil {
			return err
		}
		for _, r := range st.CachedInfo().Cluster.Replicas {
			if r.Name == leader.Name && r.Current && !r.Offline {
				return nil
			}
		}
		if st.CachedInfo().Cluster.Leader == leader.Name {
			return nil
		}
		return fmt.Errorf("%s is not a current replica of KV_seats yet", leader.Name)
	})
}

func TestKVReplicas1LosesTheBucketWithItsNode(t *testing.T) {
	// The contrast to replicas 3 that the deployment guide states: a
	// replicas-1 bucket is unavailable while its only node is down.
	c := RunCluster(t, 3)
	js, err := jetstream.New(c.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "single", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var home *Node
	CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if home = c.StreamLeader("KV_single"); home == nil {
			return errors.New("no leader for KV_single")
		}
		return nil
	})
	home.Stop()
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := kv.Get(short, "k"); err == nil {
		t.Fatalf("read a replicas-1 key while its only node %s was down", home.Name)
	}
}

func TestRunClusterRejectsOneNode(t *testing.T) {
	ft := &fatalT{TB: t}
	func() {
		defer func() { _ = recover() }()
		RunCluster(ft, 1)
	}()
	if !ft.failed {
		t.Fatal("RunCluster accepted a 1-node cluster")
	}
}

// fatalT records Fatalf instead of ending the test.
type fatalT struct {
	testing.TB
	failed bool
}

func (f *fatalT) Fatalf(string, ...any) { f.failed = true; panic("fatal") }
func (f *fatalT) Helper()               {}
