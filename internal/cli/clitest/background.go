package clitest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/natstest"
)

// Background is a long-running command (dev, serve, simulate) running
// in-process while the test talks to it.
type Background struct {
	t      testing.TB
	Out    *Buffer // its standard output
	Err    *Buffer // its standard error
	cancel context.CancelFunc
	done   chan int
	once   sync.Once
	code   int
}

// Start runs args with run (cli.RunIn) in the environment of o until Stop;
// the test's end stops it if the test has not.
func Start(t testing.TB, run Runner, o Opts, args ...string) *Background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	io, _, _, _ := iostreams.Test()
	b := &Background{t: t, Out: &Buffer{}, Err: &Buffer{}, cancel: cancel, done: make(chan int, 1)}
	io.Out, io.ErrOut = b.Out, b.Err
	env := o.Environ(t)
	go func() { b.done <- run(ctx, io, env, args) }()
	t.Cleanup(func() { b.Stop() })
	return b
}

// WaitFor checks ready until it returns nil (at most timeout, every 20ms);
// the command ending first fails the test with its standard error.
func (b *Background) WaitFor(timeout time.Duration, ready func() error) {
	b.t.Helper()
	natstest.CheckFor(b.t, timeout, 20*time.Millisecond, func() error {
		select {
		case code := <-b.done:
			b.done <- code
			b.t.Fatalf("exited %d:\n%s", code, b.Err.String())
		default:
		}
		return ready()
	})
}

// Stop interrupts the command and returns its exit code; a command still
// running 30s later fails the test.
func (b *Background) Stop() int {
	b.once.Do(func() {
		b.cancel()
		select {
		case b.code = <-b.done:
			b.done <- b.code
		case <-time.After(30 * time.Second):
			b.code = -1
			b.t.Error("did not stop 30s after the interrupt")
		}
	})
	return b.code
}

// StopWant stops the command and fails the test unless it exits with want.
func (b *Background) StopWant(want int) {
	b.t.Helper()
	if code := b.Stop(); code != want {
		b.t.Errorf("exit %d after the interrupt, want %d:\n%s", code, want, b.Err.String())
	}
}
