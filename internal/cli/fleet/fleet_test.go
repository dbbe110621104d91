package fleet_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/state"
)

// setup starts a NATS server with a fleet ledger for one test, which runs
// in parallel with the others: the commands see only the returned
// environment.
func setup(t *testing.T) (*state.Fleet, map[string]string) {
	t.Parallel()
	srv := natstest.RunJetStream(t)
	store, err := state.Open(context.Background(), srv.Conn(t), state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	led, err := state.OpenFleet(context.Background(), store.JS, state.Names{}, state.FleetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return led, map[string]string{"NATS_HOST": srv.URL, "NATS_INSECURE": "1"}
}

func run(t *testing.T, vars map[string]string, tty bool, args ...string) clitest.Result {
	t.Helper()
	return clitest.Exec(t, cli.RunIn, clitest.Opts{Env: vars, TTY: tty}, args...)
}

func TestFleetAndSeats(t *testing.T) {
	led, vars := setup(t)
	for _, args := range [][]string{{"fleet", "-o", "json"}, {"seats", "ls", "-o", "json"}} {
		if r := run(t, vars, false, args...); r.Code != 0 || strings.TrimSpace(r.Stdout) != "[]" {
			t.Fatalf("%v on an empty ledger: exit %d %q %s", args, r.Code, r.Stdout, r.Stderr)
		}
	}
	ctx := context.Background()
	now := time.Now().UTC()
	hourAgo := now.Add(-90 * time.Minute)
	for _, d := range []*state.Deployment{
		{ID: "aaaaaaaaaaaa", RequestID: "f00000000001", State: state.DeploymentReady, Capacity: 6, Created: hourAgo, Ready: hourAgo.Add(time.Second),
			PublicIP: "127.0.0.1", Location: "Montreal, Canada", Seats: map[string]state.FleetSeat{
				"aaaaaaaaaaaa_000000000001": {ClientID: 42, State: state.SeatConnected, Since: now.Add(-time.Hour)},
				"aaaaaaaaaaaa_000000000002": {State: state.SeatReserved, Since: now.Add(-2 * time.Second)},
			}},
		{ID: "bbbbbbbbbbbb", RequestID: "f00000000002", State: state.DeploymentReady, Capacity: 6, Created: hourAgo, EmptySince: now.Add(-5 * time.Minute)},
		{ID: "cccccccccccc", RequestID: "f00000000003", State: state.DeploymentGone, Capacity: 6, Created: hourAgo, Reason: "empty for empty-ttl; stopped"},
	} {
		d.App, d.Version = "game", "v1"
		if err := led.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		tty  bool
		args []string
	}{
		{"fleet.tty", true, []string{"fleet"}},
		{"fleet.json", false, []string{"fleet", "-o", "json"}},
		{"seats.tty", true, []string{"seats", "ls"}},
		{"seats.json", false, []string{"seats", "ls", "-o", "json"}},
	} {
		r := run(t, vars, c.tty, c.args...)
		if r.Code != 0 {
			t.Fatalf("%s: exit %d %s", c.name, r.Code, r.Stderr)
		}
		golden.Assert(t, c.name+".golden", []byte(clitest.Scrub(r.Stdout)))
		if c.name == "fleet.tty" && !strings.Contains(r.Stderr, "2 of 12 seats used on deploying and ready deployments (17% packed)") {
			t.Errorf("fleet summary: %q", r.Stderr)
		}
	}
	var rows []struct {
		ID         string     `json:"id"`
		SeatsUsed  int        `json:"seats_used"`
		Connected  int        `json:"connected"`
		EmptySince *time.Time `json:"empty_since"`
	}
	r := run(t, vars, false, "fleet", "--state", "ready", "-o", "json")
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil || len(rows) != 2 || rows[0].SeatsUsed != 2 || rows[0].Connected != 1 ||
		rows[0].EmptySince != nil || rows[1].EmptySince == nil {
		t.Fatalf("fleet --state ready: %q %v", r.Stdout, err)
	}
	var seats []struct {
		SeatID   string `json:"seat_id"`
		ClientID string `json:"client_id"`
	}
	r = run(t, vars, false, "seats", "ls", "--state", "connected", "-o", "json")
	if err := json.Unmarshal([]byte(r.Stdout), &seats); err != nil || len(seats) != 1 || seats[0].ClientID != "42" {
		t.Fatalf("seats ls --state connected: %q %v", r.Stdout, err)
	}
	for _, args := range [][]string{{"fleet", "--state", "full"}, {"seats", "ls", "--state", "gone"}} {
		if r := run(t, vars, false, args...); r.Code != 2 || !strings.Contains(r.Stderr, "--state") {
			t.Errorf("%v: exit %d %q", args, r.Code, r.Stderr)
		}
	}
	// Without NATS the commands fail with the NATS hint (exit 4).
	if r := run(t, map[string]string{}, false, "fleet"); r.Code != 4 || !strings.Contains(r.Stderr, "nats-host") {
		t.Errorf("no NATS: exit %d %q", r.Code, r.Stderr)
	}
}
