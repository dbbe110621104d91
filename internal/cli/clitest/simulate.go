package clitest

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

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
	bg := Start(t, run, Opts{}, "edgegap", "simulate", "--listen", addr, "-o", "json", "--deploy-delay", "0s")
	bg.WaitFor(10*time.Second, func() error {
		out := bg.Out.String()
		err := json.NewDecoder(strings.NewReader(out)).Decode(&banner)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("simulator did not start")
		}
		if err != nil {
			t.Fatalf("banner %q", out)
		}
		return nil
	})
	return addr, banner, bg.Stop
}
