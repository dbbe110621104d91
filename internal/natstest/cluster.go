package natstest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is an in-process JetStream cluster of real nats-servers on
// loopback, each with its own temp store, routed to each other.
type Cluster struct {
	t     testing.TB
	Name  string
	Nodes []*Node
}

// Node is one server of a Cluster. It can be stopped and started again with
// the same ports, name and store, as a crashed and restarted node would be.
type Node struct {
	Name string
	URL  string // nats://127.0.0.1:<port>

	opts *server.Options
	mu   sync.Mutex
	srv  *server.Server // nil while stopped
}

// RunCluster starts an n-node JetStream cluster (n >= 3 for replicas 3) and
// waits until it has a JetStream meta leader. Every node shuts down when the
// test ends.
func RunCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 2 {
		t.Fatalf("natstest.RunCluster: a cluster needs at least 2 nodes, got %d", n)
	}
	var c *Cluster
	var err error
	// The ports are free when picked but another process may take one before
	// the server binds it; try again with fresh ones.
	for range 3 {
		if c, err = startCluster(t, n); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("natstest.RunCluster: %v", err)
	}
	t.Cleanup(c.shutdownAll)
	c.WaitJetStream(t)
	return c
}

func startCluster(t testing.TB, n int) (*Cluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{t: t, Name: "natstest"}
	var routes []*url.URL
	for i := range n {
		routes = append(routes, &url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[n+i]))})
	}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		opts := &server.Options{
			ServerName: name,
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster: server.ClusterOpts{
				Name: c.Name,
				Host: "127.0.0.1",
				Port: ports[n+i],
			},
			Routes: routes,
		}
		node := &Node{Name: name, URL: fmt.Sprintf("nats://127.0.0.1:%d", ports[i]), opts: opts}
		if err := node.start(); err != nil {
			c.shutdownAll()
			return nil, err
		}
		c.Nodes = append(c.Nodes, node)
	}
	return c, nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return fmt.Errorf("node %s is already running", n.Name)
	}
	// NewServer keeps a pointer to the options and fills in defaults: give
	// every start its own copy.
	srv, err := server.NewServer(n.opts.Clone())
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	go srv.Start() // returns once running; stopped by Shutdown
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("node %s did not start on %s (port taken?)", n.Name, n.URL)
	}
	n.srv = srv
	return nil
}

// Server is the running nats-server of the node, or nil while it is stopped.
func (n *Node) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Stop shuts the node down and waits for it; a stopped node stays stopped.
func (n *Node) Stop() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Start restarts a stopped node with its ports, name and store.
func (n *Node) Start(t testing.TB) {
	t.Helper()
	if err := n.start(); err != nil {
		t.Fatalf("natstest: %v", err)
	}
}

func (c *Cluster) shutdownAll() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.Stop() }() // owner: shutdownAll, waits
	}
	wg.Wait()
}

// URLs is the comma-separated client URL list of every node, as NATS_HOST
// takes it.
func (c *Cluster) URLs() string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.URL)
	}
	return strings.Join(out, ",")
}

// Conn connects a client that knows every node and reconnects to any of them
// forever; it is closed when the test ends.
func (c *Cluster) Conn(t testing.TB, extra ...nats.Option) *nats.Conn {
	t.Helper()
	opts := append([]nats.Option{
		nats.Name(t.Name()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond),
	}, extra...)
	nc, err := nats.Connect(c.URLs(), opts...)
	if err != nil {
		t.Fatalf("connect to cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Node returns the node whose server name is name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Running are the nodes not stopped.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.Server() != nil {
			out = append(out, n)
		}
	}
	return out
}

// MetaLeader is the running node that leads the JetStream meta group, or nil.
func (c *Cluster) MetaLeader() *Node {
	for _, n := range c.Running() {
		if s := n.Server(); s != nil && s.JetStreamIsLeader() {
			return n
		}
	}
	return nil
}

// StreamLeader is the running node that leads the replicated stream (global
// account), or nil.
func (c *Cluster) StreamLeader(stream string) *Node {
	for _, n := range c.Running() {
		s := n.Server()
		if s == nil {
			continue
		}
		if s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return n
		}
	}
	return nil
}

// WaitJetStream waits until the running nodes agree on a JetStream meta
// leader and every one of them is current with it.
func (c *Cluster) WaitJetStream(t testing.TB) {
	t.Helper()
	CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if c.MetaLeader() == nil {
			return errors.New("no JetStream meta leader yet")
		}
		for _, n := range c.Running() {
			if s := n.Server(); s != nil && !s.JetStreamIsCurrent() {
				return fmt.Errorf("node %s is not current with the meta leader", n.Name)
			}
		}
		return nil
	})
}
