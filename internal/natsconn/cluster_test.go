package natsconn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/natstest"
)

func TestURLsNameTheBadEntry(t *testing.T) {
	for _, tc := range []struct {
		host, want string
	}{
		{"a:1,,b:2", `nats-host entry "" (server 2 of 3): empty`},
		{"a:1,", `nats-host entry "" (server 2 of 2): empty`},
		{"a:1, http://b:2", `nats-host entry "http://b:2" (server 2 of 2): scheme "http"`},
		{"a:1,b:2,c:70000", `nats-host entry "c:70000" (server 3 of 3): port "70000" must be 1..65535`},
		{"tls://u:hunter2@h:0", `nats-host entry "tls://[redacted]@h:0": port "0"`},
		{"nats://a:1,ws://b:2", `mixes websocket`},
	} {
		_, err := natsconn.Options{Host: tc.host}.URLs()
		if !errors.Is(err, natsconn.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want ErrConfig with %q", tc.host, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: error shows the password: %v", tc.host, err)
		}
	}
	got, err := natsconn.Options{Host: " n1:4222 , nats://n2:4223,tls://n3 ", Insecure: true}.URLs()
	if err != nil || strings.Join(got, ",") != "nats://n1:4222,nats://n2:4223,tls://n3" {
		t.Fatalf("three servers: %v %v", got, err)
	}
}

// NATS_HOST lists every node of a cluster; the client reconnects to any
// running one when the node it uses stops.
func TestConnectClusterReconnectsToAny(t *testing.T) {
	c := natstest.RunCluster(t, 3)
	reconnected := make(chan string, 8)
	nc, err := natsconn.Connect(context.Background(), natsconn.Options{
		Host: c.URLs(), Insecure: true, Name: t.Name(), MaxReconnects: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReconnectHandler(func(nc *nats.Conn) { reconnected <- nc.ConnectedServerName() })

	// A responder on another node's connection: requests cross the cluster.
	other := c.Conn(t)
	if _, err := other.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if err := other.Flush(); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		first := c.Node(nc.ConnectedServerName())
		if first == nil {
			t.Fatalf("connected to unknown server %q", nc.ConnectedServerName())
		}
		first.Stop()
		select {
		case name := <-reconnected:
			if name == first.Name {
				t.Fatalf("round %d: reconnected to the stopped node %s", round, name)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no reconnect after stopping %s", round, first.Name)
		}
		natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			msg, err := nc.Request("echo", []byte(fmt.Sprint(round)), time.Second)
			if err != nil {
				return err
			}
			if string(msg.Data) != fmt.Sprint(round) {
				return fmt.Errorf("echo %q", msg.Data)
			}
			return nil
		})
		first.Start(t)
	}
}

// One unreachable entry does not stop the connection to the others.
func TestConnectSkipsADeadEntry(t *testing.T) {
	srv := natstest.RunJetStream(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	for range 3 { // nats.go shuffles the list: try the orders it may pick
		nc, err := natsconn.Connect(context.Background(), natsconn.Options{
			Host: dead + "," + srv.URL, Insecure: true, ConnectTimeout: time.Second,
		})
		if err != nil {
			t.Fatalf("%s,%s: %v", dead, srv.URL, err)
		}
		nc.Close()
	}
}
