package edgegapcmd_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/iostreams"
)

type syncBuf struct {
	ch chan string
}

func (s *syncBuf) Write(p []byte) (int, error) { s.ch <- string(p); return len(p), nil }

// The simulator runs until interrupted, prints its URL and key, and other
// commands can use it (the acceptance flow: sessions ls prints []).
func TestSimulateThenSessionsLs(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	io, _, _, _ := iostreams.Test()
	out := &syncBuf{ch: make(chan string, 16)}
	io.Out = out
	done := make(chan int, 1)
	go func() {
		done <- cli.RunIn(ctx, io, clitest.Opts{}.Environ(t), []string{"edgegap", "simulate", "--listen", addr, "-o", "json", "--deploy-delay", "0s"})
	}()
	var banner map[string]string
	select {
	case s := <-out.ch:
		if err := json.Unmarshal([]byte(s), &banner); err != nil {
			t.Fatalf("banner %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("simulator did not start")
	}
	if banner["url"] != "http://"+addr || banner["api_key"] != "token bevygap-dev" {
		t.Fatalf("banner %v", banner)
	}
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"EDGEGAP_API_KEY": banner["api_key"]}}, "sessions", "ls", "-o", "json", "--edgegap-url", banner["url"])
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "[]" {
		t.Fatalf("sessions ls: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	r = clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"EDGEGAP_API_KEY": "token wrong"}}, "sessions", "ls", "-o", "json", "--edgegap-url", banner["url"])
	if r.Code != 4 {
		t.Fatalf("wrong key: exit %d", r.Code)
	}
	cancel()
	if code := <-done; code != 130 {
		t.Fatalf("simulate exit %d after Ctrl-C, want 130", code)
	}
}

func TestSimulateFlagErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"edgegap", "simulate", "--error-rate", "2"},
		{"edgegap", "simulate", "--sockets", "0"},
	} {
		if r := clitest.Exec(t, cli.RunIn, clitest.Opts{}, args...); r.Code != 2 {
			t.Errorf("%v: exit %d", args, r.Code)
		}
	}
}
