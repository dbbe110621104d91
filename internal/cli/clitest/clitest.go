// Package clitest runs the bevygap command tree in-process for tests.
package clitest

import (
	"bytes"
	"context"
	"regexp"
	"sync"
	"testing"

	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/settings"
)

// Result is what one invocation printed and returned.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Runner is cli.RunIn; injected to avoid an import cycle with package cli.
type Runner func(ctx context.Context, io *iostreams.IOStreams, env settings.Env, args []string) int

// Opts configures one invocation.
type Opts struct {
	TTY   bool
	Stdin string
	// Env is the whole environment the command sees (nothing of the
	// process's), so tests that pass their own can run in parallel.
	Env map[string]string
	// Dir is searched for bevygap.yaml (default: a fresh empty directory).
	Dir string
}

// Environ is o's environment for the loader.
func (o Opts) Environ(t testing.TB) settings.Env {
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	return settings.MapEnv(dir, o.Env)
}

// Exec runs args with the given runner.
func Exec(t testing.TB, run Runner, o Opts, args ...string) Result {
	t.Helper()
	io, in, out, errOut := iostreams.Test()
	io.SetTTY(o.TTY)
	in.WriteString(o.Stdin)
	code := run(context.Background(), io, o.Environ(t), args)
	return Result{Stdout: out.String(), Stderr: errOut.String(), Code: code}
}

var (
	rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	ago     = regexp.MustCompile(`\b\d+(ms|s|m|h|d) ago\b`)
)

// Scrub replaces timestamps and relative ages so output can be compared with
// golden files.
func Scrub(s string) string {
	s = rfc3339.ReplaceAllString(s, "<time>")
	return ago.ReplaceAllString(s, "<age>")
}

// Buffer is a bytes.Buffer safe for a running command to write while the
// test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
