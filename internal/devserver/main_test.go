//go:build unix

package devserver_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/bevygap/bevygap/internal/devserver/devservertest"
)

// gameServerBin is the test game server (testdata/gameserver), built once.
var gameServerBin string

func TestMain(m *testing.M) {
	var err error
	if gameServerBin, err = devservertest.GameServer(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		devservertest.Remove()
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		devservertest.Remove()
		os.Exit(code)
	}))
}
