package edgegapcmd_test

import (
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
)

// The simulator runs until interrupted, prints its URL and key, and other
// commands can use it (the acceptance flow: sessions ls prints []).
func TestSimulateThenSessionsLs(t *testing.T) {
	t.Parallel()
	addr, banner, stop := clitest.Simulate(t, cli.RunIn)
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
	if code := stop(); code != 130 {
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
