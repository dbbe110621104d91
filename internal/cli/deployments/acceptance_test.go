package deployments_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// The acceptance of issue "Edgegap 2026", item 4, over real HTTP:
// `bevygap edgegap simulate`, then `deployments ls -o json` shows [];
// a deployment created with a raw v2 POST (as curl would send it) appears
// with its tags; stop, then ls shows it gone; stop of an unknown id exits 0
// reporting "already gone"; a wrong API key exits 4.
func TestAcceptanceSimulateLsStop(t *testing.T) {
	t.Parallel()
	_, banner, stop := clitest.Simulate(t, cli.RunIn)
	defer func() {
		if code := stop(); code != 130 { // interrupted, as the exit-code table says
			t.Errorf("simulate exit %d", code)
		}
	}()
	base, key := banner["url"], banner["api_key"]
	run := func(key string, args ...string) clitest.Result {
		t.Helper()
		return clitest.Exec(t, cli.RunIn, clitest.Opts{Env: map[string]string{"EDGEGAP_API_KEY": key}}, append(args, "--edgegap-url", base)...)
	}
	ls := func() []row {
		t.Helper()
		r := run(key, "deployments", "ls", "-o", "json")
		var rows []row
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &rows) != nil {
			t.Fatalf("ls: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
		}
		return rows
	}
	if r := run(key, "deployments", "ls", "-o", "json"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "[]" {
		t.Fatalf("ls on a fresh simulator: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}

	// curl -X POST $URL/v2/deployments -H "Authorization: $KEY" -d '…'
	body := fmt.Sprintf(`{"application":%q,"version":%q,"users":[{"user_type":"ip_address","user_data":{"ip_address":"203.0.113.7"}}],"tags":["bevygap","made-with-curl"]}`,
		edgegapsim.DefaultApp, edgegapsim.DefaultVersion)
	req, err := http.NewRequest(http.MethodPost, base+"/v2/deployments", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", key)
	req.Header.Set("Content-Type", "application/json")
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		RequestID string `json:"request_id"`
	}
	err = json.NewDecoder(rsp.Body).Decode(&created)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusAccepted || err != nil || created.RequestID == "" {
		t.Fatalf("POST /v2/deployments: %d %+v %v", rsp.StatusCode, created, err)
	}
	natstest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		rows := ls()
		if len(rows) != 1 || rows[0].RequestID != created.RequestID || rows[0].Status != "ready" {
			return fmt.Errorf("ls: %+v", rows)
		}
		if strings.Join(rows[0].Tags, ",") != "bevygap,made-with-curl" || rows[0].App != edgegapsim.DefaultApp {
			return errors.New("tags or app missing")
		}
		return nil
	})

	r := run(key, "deployments", "stop", "--yes", created.RequestID)
	if r.Code != 0 || !strings.Contains(r.Stdout, "stopped") {
		t.Fatalf("stop: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if rows := ls(); len(rows) != 0 {
		t.Fatalf("ls after stop: %+v", rows)
	}
	r = run(key, "deployments", "stop", "--yes", "000000000000")
	if r.Code != 0 || !strings.Contains(r.Stdout, "already gone") {
		t.Fatalf("stop of an unknown id: exit %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	for _, args := range [][]string{{"deployments", "ls"}, {"deployments", "stop", "--yes", "000000000000"}} {
		if r := run("token wrong", args...); r.Code != 4 {
			t.Fatalf("%v with a wrong key: exit %d %s", args, r.Code, r.Stderr)
		}
	}
}
