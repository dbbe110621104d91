package check

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/natstest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
	"github.com/bevygap/bevygap/pkg/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1"

// env is a real nats-server and the Edgegap simulator with the apps given.
type env struct {
	srv *natstest.Server
	sim *edgegapsim.Server
}

func newEnv(t *testing.T, apps ...edgegapsim.App) *env {
	t.Helper()
	sim, err := edgegapsim.Start(context.Background(), edgegapsim.Config{Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return &env{srv: natstest.RunJetStream(t), sim: sim}
}

// config is a configuration where every check passes once the buckets exist.
func (e *env) config(t *testing.T) Config {
	return Config{
		Names: func() (state.Names, error) { return state.Names{}, nil },
		Connect: func(ctx context.Context) (*nats.Conn, error) {
			return natsconn.Connect(ctx, natsconn.Options{Host: e.srv.URL, Insecure: true})
		},
		Edgegap: func() (*edgegap.Client, error) {
			c, err := edgegap.New(edgegap.Config{BaseURL: e.sim.URL(), APIKey: edgegapsim.DefaultAPIKey})
			if err == nil {
				t.Cleanup(c.CloseIdleConnections)
			}
			return c, err
		},
		AppName: "game", AppVersion: "v1",
		PrivateKey: testKey,
		ProtocolID: func() (uint64, bool, error) { return 80085, false, nil },
	}
}

func statuses(items []Item) map[string]Status {
	m := map[string]Status{}
	for _, it := range items {
		m[it.Check] = it.Status
	}
	return m
}

func TestAllGood(t *testing.T) {
	e := newEnv(t, edgegapsim.App{Name: "game", Versions: []edgegapsim.Version{{Name: "v1", DockerTag: "v1.2.3"}}})
	if _, err := state.Open(context.Background(), e.srv.Conn(t), state.Names{}); err != nil {
		t.Fatal(err)
	}
	items := Run(context.Background(), e.config(t))
	if len(items) != len(Checks) {
		t.Fatalf("%d items for %d checks", len(items), len(Checks))
	}
	for i, it := range items {
		if it.Check != Checks[i].Name || it.Status != OK {
			t.Errorf("row %d: %+v, want %s ok", i, it, Checks[i].Name)
		}
	}
	if n := Failures(items, true); n != 0 {
		t.Errorf("%d failures", n)
	}
}

// A failed prerequisite skips the checks that need it; the others still run.
func TestPrerequisites(t *testing.T) {
	e := newEnv(t, edgegapsim.App{Name: "game", Versions: []edgegapsim.Version{{Name: "v1", DockerTag: "latest"}}})
	cfg := e.config(t)
	cfg.Connect = func(context.Context) (*nats.Conn, error) { return nil, errors.New("no route") }
	cfg.Edgegap = func() (*edgegap.Client, error) { return nil, errors.New("no edgegap-api-key") }
	items := Run(context.Background(), cfg)
	want := map[string]Status{
		"nats reachable": Fail, "jetstream enabled": Skip, "buckets compatible": Skip,
		"edgegap api key": Fail, "app exists and active": Skip, "version exists and active": Skip, "docker tag pinned": Skip,
		"lightyear private key": OK, "lightyear protocol id": OK,
	}
	got := statuses(items)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if n := Failures(items, false); n != 2 {
		t.Errorf("%d failures, want 2", n)
	}
	for _, it := range items {
		if it.Status == Fail && it.Hint == "" {
			t.Errorf("%s fails without a hint", it.Check)
		}
	}

	// A names error fails the NATS row before dialing.
	cfg = e.config(t)
	cfg.Names = func() (state.Names, error) { return state.Names{}, errors.New("bad namespace") }
	cfg.Connect = func(context.Context) (*nats.Conn, error) {
		t.Error("dialed with a bad namespace")
		return nil, errors.New("x")
	}
	if it := Run(context.Background(), cfg)[0]; it.Status != Fail || it.Detail != "bad namespace" || !strings.Contains(it.Hint, "nats-namespace") {
		t.Errorf("bad namespace: %+v", it)
	}
}

// Warnings: missing buckets, a "latest" tag, no private key, the default
// protocol id. Strict counts them as failures.
func TestWarnings(t *testing.T) {
	e := newEnv(t, edgegapsim.App{Name: "game", Versions: []edgegapsim.Version{{Name: "v1", DockerTag: "latest"}}})
	cfg := e.config(t)
	cfg.PrivateKey = ""
	cfg.ProtocolID = func() (uint64, bool, error) { return 1982, true, nil }
	items := Run(context.Background(), cfg)
	got := statuses(items)
	for _, k := range []string{"buckets compatible", "docker tag pinned", "lightyear private key", "lightyear protocol id"} {
		if got[k] != Warn {
			t.Errorf("%s: %s, want warn", k, got[k])
		}
	}
	for _, it := range items {
		if it.Status == Warn && it.Hint == "" {
			t.Errorf("%s warns without a hint", it.Check)
		}
	}
	if n, strict := Failures(items, false), Failures(items, true); n != 0 || strict != 4 {
		t.Errorf("failures %d, strict %d; want 0 and 4", n, strict)
	}
}

// An inactive app, a missing or inactive version, a bad key or protocol id fail.
func TestFailures(t *testing.T) {
	e := newEnv(t,
		edgegapsim.App{Name: "game", Versions: []edgegapsim.Version{{Name: "v1", DockerTag: "v1", Inactive: true}}},
		edgegapsim.App{Name: "off", Inactive: true, Versions: []edgegapsim.Version{{Name: "v1"}}},
	)
	for _, c := range []struct {
		name string
		mod  func(*Config)
		want map[string]Status
	}{
		{"inactive version", nil, map[string]Status{"version exists and active": Fail, "docker tag pinned": OK}},
		{"missing version", func(c *Config) { c.AppVersion = "v404" }, map[string]Status{"version exists and active": Fail, "docker tag pinned": Skip}},
		{"inactive app", func(c *Config) { c.AppName = "off" }, map[string]Status{"app exists and active": Fail, "version exists and active": Skip}},
		{"missing app", func(c *Config) { c.AppName = "nope" }, map[string]Status{"edgegap api key": OK, "app exists and active": Fail}},
		{"bad private key", func(c *Config) { c.PrivateKey = "1,2,3" }, map[string]Status{"lightyear private key": Fail}},
		{"zero private key", func(c *Config) { c.PrivateKey = strings.Repeat("0", 64) }, map[string]Status{"lightyear private key": Warn}},
		{"bad protocol id", func(c *Config) {
			c.ProtocolID = func() (uint64, bool, error) { return 0, false, errors.New("lightyear-protocol-id: not a number") }
		}, map[string]Status{"lightyear protocol id": Fail}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := e.config(t)
			if c.mod != nil {
				c.mod(&cfg)
			}
			got := statuses(Run(context.Background(), cfg))
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s: %s, want %s", k, got[k], v)
				}
			}
		})
	}
	// A refused key fails its row and skips the app.
	cfg := e.config(t)
	cfg.Edgegap = func() (*edgegap.Client, error) {
		c, err := edgegap.New(edgegap.Config{BaseURL: e.sim.URL(), APIKey: "token nope"})
		if err == nil {
			t.Cleanup(c.CloseIdleConnections)
		}
		return c, err
	}
	items := Run(context.Background(), cfg)
	if got := statuses(items); got["edgegap api key"] != Fail || got["app exists and active"] != Skip {
		t.Errorf("refused key: %+v", items)
	}
}

func details(items []Item) map[string]Item {
	m := map[string]Item{}
	for _, it := range items {
		m[it.Check] = it
	}
	return m
}

// The API row says which Edgegap API the version implies (sessions with a
// Seat session_config, deployments without one) and that the key can use
// it; the allocator row says what the setting resolves to and why, and
// fails sessions on a version without session_config.
func TestAPIAndAllocator(t *testing.T) {
	e := newEnv(t, edgegapsim.App{Name: "game", Versions: []edgegapsim.Version{{Name: "v1", DockerTag: "v1"}, {Name: "v2", DockerTag: "v2", NoSessionConfig: true}}})
	for _, c := range []struct {
		version, allocator string
		api, alloc         Status
		apiHas, allocHas   string
	}{
		{"v1", "", OK, OK, "sessions: app version has a Seat session_config; the key can use it", "sessions (auto: app version has a Seat session_config)"},
		{"v2", "", OK, OK, "deployments: app version has no Seat or Match session_config; the key can use it", "deployments (auto: app version has no"},
		{"v2", "auto", OK, OK, "deployments:", "deployments (auto:"},
		{"v1", "deployments", OK, OK, "sessions:", "deployments (set by allocator)"},
		{"v2", "sessions", OK, Fail, "deployments:", "Edgegap refuses its sessions"},
		{"v404", "", Skip, Skip, "needs the version", "auto needs the version"},
		{"v404", "deployments", Skip, OK, "needs the version", "deployments (set by allocator)"},
	} {
		t.Run(c.version+"/"+c.allocator, func(t *testing.T) {
			cfg := e.config(t)
			cfg.AppVersion, cfg.Allocator = c.version, c.allocator
			got := details(Run(context.Background(), cfg))
			api, alloc := got["edgegap api"], got["allocator"]
			if api.Status != c.api || !strings.Contains(api.Detail, c.apiHas) {
				t.Errorf("api row %+v, want %s with %q", api, c.api, c.apiHas)
			}
			if alloc.Status != c.alloc || !strings.Contains(alloc.Detail, c.allocHas) {
				t.Errorf("allocator row %+v, want %s with %q", alloc, c.alloc, c.allocHas)
			}
			if alloc.Status == Fail && alloc.Hint == "" {
				t.Error("allocator fails without a hint")
			}
		})
	}
	// An Edgegap that does not serve the sessions API (the 2026 API: the
	// simulator behind a proxy without /v1/sessions) fails the row of a
	// session_config version, saying so.
	target, err := url.Parse(e.sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	no2024 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/session") {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(no2024.Close)
	cfg := e.config(t)
	cfg.Edgegap = func() (*edgegap.Client, error) {
		c, err := edgegap.New(edgegap.Config{BaseURL: no2024.URL, APIKey: edgegapsim.DefaultAPIKey})
		if err == nil {
			t.Cleanup(c.CloseIdleConnections)
		}
		return c, err
	}
	api := details(Run(context.Background(), cfg))["edgegap api"]
	if api.Status != Fail || !strings.Contains(api.Detail, "does not serve the sessions API") || api.Hint == "" {
		t.Errorf("no sessions API: %+v", api)
	}
}
