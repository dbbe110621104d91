package dev

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/app"
	"github.com/bevygap/bevygap/internal/settings"
)

func TestInvocation(t *testing.T) {
	t.Parallel()
	yes := func(string) bool { return true }
	no := func(string) bool { return false }
	for _, c := range []struct {
		arg0, exe string
		checkout  func(string) bool
		want      string
	}{
		{"/tmp/go-build123/b001/exe/bevygap", "/tmp/go-build123/b001/exe/bevygap", yes, "go run ./cmd/bevygap"},
		{"/tmp/go-build123/b001/exe/bevygap", "/tmp/go-build123/b001/exe/bevygap", no, "go run github.com/bevygap/bevygap/cmd/bevygap@latest"},
		{"bevygap", "/home/me/go/bin/bevygap", yes, "bevygap"},
		{"./bevygap", "/home/me/src/bevygap/bevygap", yes, "./bevygap"},
		{"/usr/bin/bevygap", "/usr/bin/bevygap", no, "/usr/bin/bevygap"},
		{"", "", no, "bevygap"},
	} {
		if got := Invocation(c.arg0, c.exe, c.checkout); got != c.want {
			t.Errorf("Invocation(%q, %q) = %q, want %q", c.arg0, c.exe, got, c.want)
		}
	}
	if got := playCommand("bevygap", playDefaultURL, "bevygap-spaceships", "1"); got != "bevygap play --connect" {
		t.Errorf("play on the default gateway: %q", got)
	}
	if got := playCommand("./bevygap", "ws://127.0.0.1:8080/matchmaker/ws", "my game", "v2"); got != "./bevygap play ws://127.0.0.1:8080/matchmaker/ws --game 'my game' --game-version 'v2' --connect" {
		t.Errorf("play on another gateway and game: %q", got)
	}
}

// A default address in use falls back to a free port with a warning; one
// set explicitly fails, naming the setting, its source and the flag.
func TestFreePorts(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()

	s := app.DevSettings()
	s.Gateway.Listen, s.Dev.EdgegapListen, s.Serve.NATSListen = busy, "127.0.0.1:0", ""
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if err := freePorts(&s, func(string) settings.Source { return "preset dev" }, log); err != nil {
		t.Fatal(err)
	}
	if s.Gateway.Listen != "127.0.0.1:0" || !strings.Contains(logs.String(), "setting=gateway-listen addr="+busy) || !strings.Contains(logs.String(), "--listen chooses one") {
		t.Errorf("fallback: listen %q, log %s", s.Gateway.Listen, logs.String())
	}

	s.Gateway.Listen, s.Dev.EdgegapListen = "127.0.0.1:0", busy
	err = freePorts(&s, func(k string) settings.Source {
		return settings.Source("env BEVYGAP_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_")))
	}, log)
	if err == nil || !strings.Contains(err.Error(), "edgegap-listen "+busy+" (from env BEVYGAP_EDGEGAP_LISTEN) is in use") || !strings.Contains(err.Error(), "--edgegap-listen") {
		t.Errorf("explicit busy address: %v", err)
	}
}
