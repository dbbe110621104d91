package check_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/clitest"
	"github.com/bevygap/bevygap/internal/golden"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

type item struct {
	Check, Status, Detail, Hint string
}

func run(t *testing.T, vars map[string]string, args ...string) ([]item, clitest.Result) {
	t.Helper()
	r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: vars}, append([]string{"check", "-o", "json"}, args...)...)
	var items []item
	if err := json.Unmarshal([]byte(r.Stdout), &items); err != nil {
		t.Fatalf("check -o json: %q %v (%s)", r.Stdout, err, r.Stderr)
	}
	return items, r
}

func status(items []item) map[string]string {
	m := map[string]string{}
	for _, it := range items {
		m[it.Check] = it.Status
	}
	return m
}

// setup starts a simulator and a NATS server for one test, which runs in
// parallel with the others; the commands see only the returned environment.
func setup(t *testing.T, tag string) (*natstest.Server, map[string]string) {
	t.Parallel()
	sim, err := edgegapsim.Start(context.Background(), edgegapsim.Config{Apps: []edgegapsim.App{{Name: "game", Versions: []edgegapsim.Version{{Name: "v1", DockerTag: tag}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	srv := natstest.RunJetStream(t)
	return srv, map[string]string{
		"NATS_HOST": srv.URL, "NATS_INSECURE": "1", "EDGEGAP_API_KEY": edgegapsim.DefaultAPIKey, "BEVYGAP_EDGEGAP_URL": sim.URL(),
		"BEVYGAP_APP_NAME": "game", "BEVYGAP_APP_VERSION": "v1", "BEVYGAP_LIGHTYEAR_PROTOCOL_ID": "80085",
		"LIGHTYEAR_PRIVATE_KEY": "1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1",
	}
}

func TestAllGood(t *testing.T) {
	_, vars := setup(t, "v1.2.3")
	if r := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: vars}, "kv", "init"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	items, r := run(t, vars)
	if r.Code != 0 {
		t.Fatalf("exit %d: %+v", r.Code, items)
	}
	for _, it := range items {
		if it.Status != "ok" {
			t.Errorf("%s: %s %s", it.Check, it.Status, it.Detail)
		}
	}
	if len(items) != 11 {
		t.Fatalf("%d checks, want 11", len(items))
	}
	tr := clitest.Exec(t, cli.RunIn, clitest.Opts{Env: vars}, "check")
	golden.Assert(t, "all-good.plain.golden", []byte(portRE.ReplaceAllString(tr.Stdout, "127.0.0.1:<port>")))
}

func TestWarningsAndFailures(t *testing.T) {
	_, vars := setup(t, "latest")
	vars["LIGHTYEAR_PRIVATE_KEY"] = ""
	vars["BEVYGAP_LIGHTYEAR_PROTOCOL_ID"] = ""
	items, r := run(t, vars)
	st := status(items)
	if r.Code != 0 || st["docker tag pinned"] != "warn" || st["lightyear private key"] != "warn" || st["buckets compatible"] != "warn" || st["lightyear protocol id"] != "warn" {
		t.Fatalf("exit %d: %+v", r.Code, items)
	}
	for _, it := range items {
		if it.Status == "warn" && it.Hint == "" {
			t.Errorf("%s warns without a hint", it.Check)
		}
	}
	// --strict turns the warnings into failures.
	_, r = run(t, vars, "--strict")
	if r.Code != 1 {
		t.Fatalf("--strict with warnings: exit %d", r.Code)
	}
	// A refused key and a missing app fail; a refused key is refused
	// credentials, exit 4 like every other command (README exit codes).
	vars["EDGEGAP_API_KEY"] = "token nope"
	items, r = run(t, vars)
	if st := status(items); r.Code != 4 || st["edgegap api key"] != "fail" || st["app exists and active"] != "" && st["app exists and active"] != "skip" {
		t.Fatalf("wrong key: exit %d %+v", r.Code, items)
	}
	vars["EDGEGAP_API_KEY"] = edgegapsim.DefaultAPIKey
	vars["BEVYGAP_APP_NAME"] = "nope"
	items, r = run(t, vars)
	if st := status(items); r.Code != 1 || st["app exists and active"] != "fail" || st["version exists and active"] != "skip" {
		t.Fatalf("missing app: exit %d %+v", r.Code, items)
	}
	// NATS down: its checks fail or skip, the others still run.
	vars["NATS_HOST"] = "127.0.0.1:1"
	items, r = run(t, vars)
	if st := status(items); r.Code != 1 || st["nats reachable"] != "fail" || st["jetstream enabled"] != "skip" || st["edgegap api key"] != "ok" {
		t.Fatalf("nats down: exit %d %+v", r.Code, items)
	}
}

func TestIncompatibleBucketFails(t *testing.T) {
	srv, vars := setup(t, "v1")
	nc := srv.Conn(t)
	// Someone created sessions_eg2ly with another TTL.
	body := `{"name":"KV_sessions_eg2ly","subjects":["$KV.sessions_eg2ly.>"],"retention":"limits","max_msgs_per_subject":1,"discard":"new","max_age":60000000000,"max_msg_size":1024,"description":"Maps Edgegap Session IDs to Lightyear Client IDs","storage":"file","num_replicas":1,"allow_rollup_hdrs":true,"deny_delete":true,"allow_direct":true}`
	if _, err := nc.Request("$JS.API.STREAM.CREATE.KV_sessions_eg2ly", []byte(body), 5e9); err != nil {
		t.Fatal(err)
	}
	items, r := run(t, vars)
	for _, it := range items {
		if it.Check == "buckets compatible" && (it.Status != "fail" || !strings.Contains(it.Detail, "max_age")) {
			t.Fatalf("incompatible bucket: %+v", it)
		}
	}
	if r.Code != 1 {
		t.Fatalf("exit %d", r.Code)
	}
}

// A version without session_config implies the deployments API; allocator
// sessions on it fails with a hint (--allocator is the setting's flag).
func TestDeploymentsVersion(t *testing.T) {
	t.Parallel()
	sim, err := edgegapsim.Start(context.Background(), edgegapsim.Config{Apps: []edgegapsim.App{{Name: "game", Versions: []edgegapsim.Version{{Name: "v2", DockerTag: "v2", NoSessionConfig: true}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	vars := map[string]string{"EDGEGAP_API_KEY": edgegapsim.DefaultAPIKey, "BEVYGAP_EDGEGAP_URL": sim.URL(), "BEVYGAP_APP_NAME": "game", "BEVYGAP_APP_VERSION": "v2", "NATS_HOST": "127.0.0.1:1"}
	items, _ := run(t, vars)
	byName := map[string]item{}
	for _, it := range items {
		byName[it.Check] = it
	}
	if it := byName["edgegap api"]; it.Status != "ok" || !strings.HasPrefix(it.Detail, "deployments: app version has no Seat or Match session_config") {
		t.Errorf("api row: %+v", it)
	}
	if it := byName["allocator"]; it.Status != "ok" || !strings.HasPrefix(it.Detail, "deployments (auto:") {
		t.Errorf("allocator row: %+v", it)
	}
	items, r := run(t, vars, "--allocator", "sessions")
	for _, it := range items {
		if it.Check == "allocator" && (it.Status != "fail" || !strings.Contains(it.Detail, "refuses its sessions") || !strings.Contains(it.Hint, "deployments")) {
			t.Errorf("allocator sessions on a deployments version: %+v", it)
		}
	}
	if r.Code != 1 {
		t.Fatalf("exit %d", r.Code)
	}
}
