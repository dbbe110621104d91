package deadletters_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/cli/deadletters"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestLsRetryRm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := natstest.RunJetStream(t)
	st, err := state.Open(ctx, srv.Conn(t), state.Names{})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := st.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for key, dl := range map[string]matchmaker.DeadLetter{
		"aaaaaaaaaaaa-S":          {SessionID: "aaaaaaaaaaaa-S", Attempts: 20, LastError: "edgegap 503: " + strings.Repeat("busy ", 30), Time: when},
		"bbbbbbbbbbbb-S":          {SessionID: "bbbbbbbbbbbb-S", Attempts: 20, LastError: "timeout", Time: when},
		"deployment.d0d0d0d0d0d0": {DeploymentID: "d0d0d0d0d0d0", Kind: "deployment", Attempts: 20, LastError: "edgegap 500", Time: when},
	} {
		b, _ := json.Marshal(dl)
		if _, err := dead.Put(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"NATS_HOST": srv.URL, "NATS_INSECURE": "1"}
	run := func(o clitest.Opts, args ...string) clitest.Result {
		o.Env = env
		return clitest.Exec(t, cli.RunIn, o, args...)
	}
	r := run(clitest.Opts{}, "deadletters", "ls", "-o", "json")
	var ls []deadletters.Letter
	if err := json.Unmarshal([]byte(r.Stdout), &ls); err != nil || r.Code != 0 || len(ls) != 3 {
		t.Fatalf("ls: exit %d %q %v", r.Code, r.Stdout, err)
	}
	if d := ls[2]; d.Kind != "deployment" || d.ID != "d0d0d0d0d0d0" || d.Attempts != 20 || !d.Time.Equal(when) {
		t.Fatalf("deployment letter %+v", d)
	}
	r = run(clitest.Opts{TTY: true}, "deadletters", "ls")
	if !strings.Contains(r.Stdout, "session     aaaaaaaaaaaa-S") || !strings.Contains(r.Stdout, "…") {
		t.Fatalf("ls table: %q", r.Stdout)
	}
	if r = run(clitest.Opts{}, "__complete", "deadletters", "retry", ""); !strings.Contains(r.Stdout, "d0d0d0d0d0d0\tdeployment\n") {
		t.Fatalf("retry <TAB>: %q", r.Stdout)
	}
	// An unknown id does nothing.
	if r = run(clitest.Opts{}, "deadletters", "retry", "aaaaaaaaaaaa-S", "nope"); r.Code != 1 || !strings.Contains(r.Stderr, `no dead letter for "nope"`) {
		t.Fatalf("retry unknown: exit %d %s", r.Code, r.Stderr)
	}
	if r = run(clitest.Opts{}, "deadletters", "retry"); r.Code != 2 {
		t.Fatalf("retry without ids: exit %d", r.Code)
	}
	// Retry queues a session's delete and a deployment's stop, and forgets
	// the letters.
	r = run(clitest.Opts{}, "deadletters", "retry", "aaaaaaaaaaaa-S", "d0d0d0d0d0d0", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"done": 2`) {
		t.Fatalf("retry: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	assertQueued(t, st, state.DeleteStream, "aaaaaaaaaaaa-S")
	assertQueued(t, st, state.StopStream, "d0d0d0d0d0d0")
	// rm asks; --yes forgets without queueing.
	if r = run(clitest.Opts{}, "deadletters", "rm", "--all"); r.Code != 2 {
		t.Fatalf("rm without --yes: exit %d", r.Code)
	}
	if r = run(clitest.Opts{}, "deadletters", "rm", "--all", "--yes"); r.Code != 0 || r.Stdout != "Forgot 1 dead letter(s)\n" {
		t.Fatalf("rm --all --yes: exit %d %q", r.Code, r.Stdout)
	}
	assertQueued(t, st, state.DeleteStream, "aaaaaaaaaaaa-S") // still one job: rm queued nothing
	if r = run(clitest.Opts{}, "deadletters", "ls", "-o", "json"); strings.TrimSpace(r.Stdout) != "[]" {
		t.Fatalf("ls after: %q", r.Stdout)
	}
}

// assertQueued checks that the work-queue stream holds exactly one job,
// for id.
func assertQueued(t *testing.T, st *state.Store, stream, id string) {
	t.Helper()
	ctx := context.Background()
	s, err := st.JS.Stream(ctx, st.Names.Stream(stream))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("%s holds %d jobs (%v), want 1", stream, info.State.Msgs, err)
	}
	m, err := s.GetMsg(ctx, info.State.FirstSeq)
	if err != nil || string(m.Data) != id {
		t.Fatalf("%s job %q (%v), want %s", stream, m.Data, err, id)
	}
}
