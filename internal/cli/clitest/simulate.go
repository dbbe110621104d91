package clitest

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/iostreams"
)

// lines hands what a running command prints to the test, a write at a time.
type lines struct{ ch chan string }

func (l *lines) Write(p []byte) (int, error) { l.ch <- string(p); return len(p), nil }

// Simulate runs `bevygap edgegap simulate -o json --deploy-delay 0s` on a
// free loopback port (run is cli.RunIn) and returns the address and the
// JSON banner it printed first. stop interrupts it and returns its exit
// code; it runs at the end of the test if the test has not called it.
func Simulate(t *testing.T, run Runner) (addr string, banner map[string]string, stop func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	io, _, _, _ := iostreams.Test()
	out := &lines{ch: make(chan string, 16)}
	io.Out = out
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, io, Opts{}.Environ(t), []string{"edgegap", "simulate", "--listen", addr, "-o", "json", "--deploy-delay", "0s"})
	}()
	var once sync.Once
	var code int
	stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { stop() })
	select {
	case s := <-out.ch:
		if err := json.Unmarshal([]byte(s), &banner); err != nil {
			t.Fatalf("banner %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("simulator did not start")
	}
	return addr, banner, stop
}
