package natstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
)

// Proxy is a TCP proxy on loopback in front of the server whose
// server-to-client direction can be held, as a congested network or a
// stalled server would: clients behind it stop hearing from the server
// (heartbeats, replies) while what they send still arrives.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	held   bool
	resume chan struct{} // closed by Release
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Proxy starts a proxy to s; it closes when the test ends.
func (s *Server) Proxy(t testing.TB) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{ln: ln, target: strings.TrimPrefix(s.URL, "nats://"), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept() // owner: p, stopped by close
	t.Cleanup(p.close)
	return p
}

// Conn connects a client through the proxy; it is closed when the test ends.
func (p *Proxy) Conn(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect("nats://"+p.ln.Addr().String(), nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("connect through proxy: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Hold stops forwarding from the server to clients until Release.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.held {
		p.held, p.resume = true, make(chan struct{})
	}
}

// Release forwards what the server sent while held, and from then on.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		p.held = false
		close(p.resume)
	}
}

// gate blocks while the proxy is held; false once it is closed.
func (p *Proxy) gate() bool {
	p.mu.Lock()
	held, resume, closed := p.held, p.resume, p.closed
	p.mu.Unlock()
	if held {
		<-resume
	}
	return !closed
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			return
		}
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(s, c, false) // client to server
		go p.pipe(c, s, true)  // server to client, holdable
	}
}

// pipe copies from src to dst; when both directions end, both are closed.
func (p *Proxy) pipe(dst, src net.Conn, holdable bool) {
	defer p.wg.Done()
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if holdable && !p.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or a closed connection: the other side ends too
		}
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	if p.held {
		p.held = false
		close(p.resume)
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}
