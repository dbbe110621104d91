// Package devservertest builds the test game server of internal/devserver
// (testdata/gameserver: a Go program running the game-server agent and a
// netcode UDP server from the ARBITRIUM_* and NATS environment) for the
// tests that run it, and reads the pid files it writes.
package devservertest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var build struct {
	once     sync.Once
	mu       sync.Mutex
	dir, bin string
	err      error
}

// GameServer builds the test game server once per test binary and returns
// its path. Remove deletes it (from TestMain, after the tests).
func GameServer() (string, error) {
	build.once.Do(func() {
		build.mu.Lock()
		defer build.mu.Unlock()
		mod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			build.err = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(mod)))
		if root == "." || strings.TrimSpace(string(mod)) == os.DevNull {
			build.err = errors.New("not inside the bevygap module")
			return
		}
		if build.dir, build.err = os.MkdirTemp("", "devserver-gameserver-"); build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "gameserver")
		cmd := exec.Command("go", "build", "-o", build.bin, "./internal/devserver/testdata/gameserver")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("build the test game server: %v\n%s", err, out)
		}
	})
	return build.bin, build.err
}

// Remove deletes the built game server, if any.
func Remove() {
	build.mu.Lock()
	defer build.mu.Unlock()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}

// ReadPID reads the process id the game server wrote to path (-pidfile).
func ReadPID(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// Running reports whether process pid runs: it exists and is not a zombie
// (dead, waiting for its parent to reap it: when the shell that started it
// died first, that parent is PID 1, which reaps in its own time).
func Running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// pid (comm) state ...: the state follows the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
	}
	return true
}
