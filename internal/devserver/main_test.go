//go:build unix

package devserver_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// gameServerBin is the test game server (testdata/gameserver), built once.
var gameServerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "devserver-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gameServerBin = filepath.Join(dir, "gameserver")
	if out, err := exec.Command("go", "build", "-o", gameServerBin, "./testdata/gameserver").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test game server: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}
