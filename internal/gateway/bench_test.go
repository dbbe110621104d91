package gateway

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkWaitingConnections measures the memory a websocket client costs
// while it waits for the matchmaker (heap and stacks, client side included:
// the clients are bare TCP connections without buffers or goroutines).
//
//	go test -run XXX -bench WaitingConnections -benchtime 1x ./internal/gateway/
//
// BEVYGAP_BENCH_CONNS sets the number of clients (default 2000).
func BenchmarkWaitingConnections(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("BEVYGAP_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		b.StopTimer()
		perConn := measureWaiting(b, n)
		b.ReportMetric(perConn, "bytes/conn")
	}
}

func measureWaiting(b *testing.B, n int) float64 {
	e := newBenchEnv(b)
	sub, err := e.mm.Subscribe(e.names.MatchmakerRequest("g", "1"), func(*nats.Msg) {}) // never answers
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	e.mm.Flush()
	u, _ := url.Parse(e.srv.URL())

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := rawWebsocket(u.Host, `{"game":"g","version":"1","client_ip":null}`)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.srv.limits.pending() < n || e.srv.replies.count() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d requests pending", e.srv.limits.pending(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := float64((after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse))
	b.Logf("heap %d B/conn, stacks %d B/conn, goroutines %d",
		(after.HeapInuse-before.HeapInuse)/uint64(n), (after.StackInuse-before.StackInuse)/uint64(n), runtime.NumGoroutine())
	if os.Getenv("BEVYGAP_HEAPPROFILE") != "" {
		f, _ := os.Create(os.Getenv("BEVYGAP_HEAPPROFILE"))
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	return used / float64(n)
}

// rawWebsocket does a websocket handshake by hand and sends one masked text
// frame, leaving no goroutine or buffer behind on the client side. With
// early, the frame goes out with the handshake, before the 101 arrives.
func rawWebsocket(host, msg string, early ...bool) (net.Conn, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	frame := []byte{0x81, 0x80 | byte(len(msg))}
	var key [4]byte
	rand.Read(key[:])
	frame = append(frame, key[:]...)
	for i := range len(msg) {
		frame = append(frame, msg[i]^key[i%4])
	}
	hs := fmt.Sprintf("GET /matchmaker/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host)
	if len(early) > 0 && early[0] {
		_, err := c.Write(append([]byte(hs), frame...))
		return c, err
	}
	if _, err := c.Write([]byte(hs)); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if strings.HasPrefix(line, "HTTP/1.1 ") && !strings.HasPrefix(line, "HTTP/1.1 101") {
			c.Close()
			return nil, fmt.Errorf("handshake: %s", line)
		}
		if line == "\r\n" {
			break
		}
	}
	_, err = c.Write(frame)
	return c, err
}
