// Package deploy holds the container deployment (compose files, NATS
// configuration, env examples); this test keeps them from rotting.
package deploy_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"

	"github.com/bevygap/bevygap/internal/natsconn"
	"github.com/bevygap/bevygap/internal/settings"
)

// settingEnv looks an environment name up in the settings declaration: it
// returns whether bevygap reads it and whether the setting is a secret.
// (The one place that knows the declaration's shape.)
func settingEnv(name string) (known, secret bool) {
	for _, s := range settings.Settings {
		if name == settings.EnvName(s.Key) || slices.Contains(s.Legacy, name) {
			return true, s.Secret
		}
	}
	return false, false
}

// The subset of the compose format the files use; decoding is strict, so a
// misspelt or unexpected key fails the test.
type composeFile struct {
	XNats          yaml.Node          `yaml:"x-nats"`
	XBevygap       yaml.Node          `yaml:"x-bevygap"`
	XBevygapEnv    yaml.Node          `yaml:"x-bevygap-env"`
	XBevygapTLSEnv yaml.Node          `yaml:"x-bevygap-tls-env"`
	Services       map[string]service `yaml:"services"`
	Volumes        map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string            `yaml:"image"`
	Restart     string            `yaml:"restart"`
	Command     []string          `yaml:"command"`
	EnvFile     []string          `yaml:"env_file"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Expose      []string          `yaml:"expose"`
	DependsOn   []string          `yaml:"depends_on"`
	Deploy      struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

func load(t *testing.T, file string) composeFile {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return c
}

// envFile reads KEY=VALUE lines (comments and blanks skipped).
func envFile(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("env file %s (compose env_file X is documented as a copy of X.example): %v", file, err)
	}
	defer func() { _ = f.Close() }()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", file, line)
		}
		out[k] = v
	}
	return out
}

func isBevygap(s service) bool { return strings.HasPrefix(s.Image, "ghcr.io/bevygap/bevygap:") }

func natsServices(c composeFile) []string {
	var out []string
	for name, s := range c.Services {
		if strings.HasPrefix(s.Image, "nats:") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// checkEnv fails on every environment name of a bevygap service that is not
// a bevygap setting, and on secrets written into the compose file itself.
func checkEnv(t *testing.T, file string, c composeFile) {
	t.Helper()
	for name, s := range c.Services {
		if !isBevygap(s) && s.Image != "" {
			continue
		}
		for k := range s.Environment {
			known, secret := settingEnv(k)
			if !known {
				t.Errorf("%s: service %s sets %s, which no bevygap setting reads", file, name, k)
			}
			if secret {
				t.Errorf("%s: service %s sets the secret %s in the compose file; put it in an env file", file, name, k)
			}
		}
		for _, ef := range s.EnvFile {
			for k := range envFile(t, filepath.Join(filepath.Dir(file), ef+".example")) {
				if known, _ := settingEnv(k); !known {
					t.Errorf("%s.example (service %s): %s is not a bevygap setting", ef, name, k)
				}
			}
		}
	}
}

func TestComposeCluster(t *testing.T) {
	c := load(t, "compose.yaml")
	checkEnv(t, "compose.yaml", c)

	nats := natsServices(c)
	if want := []string{"nats-1", "nats-2", "nats-3"}; !slices.Equal(nats, want) {
		t.Fatalf("nats services %v, want %v", nats, want)
	}
	for _, name := range nats {
		s := c.Services[name]
		if i := slices.Index(s.Command, "--name"); i < 0 || i+1 >= len(s.Command) || s.Command[i+1] != name {
			t.Errorf("%s: command %v must name the server %s (JetStream clusters need distinct names)", name, s.Command, name)
		}
		if !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/data") }) {
			t.Errorf("%s: no volume for the JetStream store /data: %v", name, s.Volumes)
		}
	}

	var matchmakers, gateways, webhooks int
	for name, s := range c.Services {
		if !isBevygap(s) {
			continue
		}
		if len(s.Command) == 0 || s.Command[0] != "serve" {
			t.Errorf("%s: command %v, want serve with --matchmaker/--gateway/--webhook", name, s.Command)
			continue
		}
		n := max(s.Deploy.Replicas, 1)
		for _, part := range s.Command[1:] {
			switch part {
			case "--matchmaker":
				matchmakers += n
			case "--gateway":
				gateways += n
			case "--webhook":
				webhooks += n
			default:
				t.Errorf("%s: unexpected argument %q", name, part)
			}
		}
		// NATS_HOST lists every node of the cluster.
		urls, err := natsconn.Options{Host: s.Environment["BEVYGAP_NATS_HOST"], Insecure: true}.URLs()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var hosts []string
		for _, u := range urls {
			hosts = append(hosts, strings.TrimSuffix(strings.TrimPrefix(u, "nats://"), ":4222"))
		}
		slices.Sort(hosts)
		if !slices.Equal(hosts, nats) {
			t.Errorf("%s: nats-host lists %v, want every node %v", name, hosts, nats)
		}
		for _, dep := range nats {
			if !slices.Contains(s.DependsOn, dep) {
				t.Errorf("%s does not depend on %s", name, dep)
			}
		}
	}
	if matchmakers != 2 || gateways < 1 || webhooks < 1 {
		t.Errorf("%d matchmaker replicas, %d gateways, %d webhook sinks; want 2, at least 1, at least 1", matchmakers, gateways, webhooks)
	}
}

// The image the compose file runs is the one goreleaser publishes.
func TestComposeImageIsTheReleaseImage(t *testing.T) {
	b, err := os.ReadFile("../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var gr struct {
		Dockers []struct {
			Images []string `yaml:"images"`
		} `yaml:"dockers_v2"`
	}
	if err := yaml.Unmarshal(b, &gr); err != nil {
		t.Fatal(err)
	}
	if len(gr.Dockers) != 1 || len(gr.Dockers[0].Images) == 0 {
		t.Fatalf("goreleaser dockers_v2: %+v", gr.Dockers)
	}
	for name, s := range load(t, "compose.yaml").Services {
		if strings.HasPrefix(s.Image, "nats:") {
			continue
		}
		repo, _, _ := strings.Cut(s.Image, ":")
		if !slices.Contains(gr.Dockers[0].Images, repo) {
			t.Errorf("%s runs %s, not an image goreleaser publishes (%v)", name, s.Image, gr.Dockers[0].Images)
		}
	}
}

// The NATS configuration parses with nats-server's own parser and forms the
// cluster the compose file expects.
func TestNATSClusterConfig(t *testing.T) {
	t.Setenv("NATS_USER", "bevygap")
	t.Setenv("NATS_PASSWORD", "s3cret")
	o, err := server.ProcessConfigFile("nats/cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !o.JetStream || o.StoreDir != "/data" {
		t.Errorf("jetstream %v store %q, want on, /data", o.JetStream, o.StoreDir)
	}
	if o.Port != 4222 || o.Cluster.Port != 6222 || o.Cluster.Name == "" {
		t.Errorf("client port %d, cluster %q port %d", o.Port, o.Cluster.Name, o.Cluster.Port)
	}
	var routes []string
	for _, r := range o.Routes {
		routes = append(routes, r.Hostname())
	}
	slices.Sort(routes)
	if want := natsServices(load(t, "compose.yaml")); !slices.Equal(routes, want) {
		t.Errorf("routes to %v, want the compose services %v", routes, want)
	}
	if o.Username != "bevygap" || o.Password != "s3cret" {
		t.Errorf("authorization from the environment: user %q", o.Username)
	}
	// The TLS variant includes it and adds the certificate the overlay mounts.
	b, err := os.ReadFile("nats/cluster-tls.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"include ./cluster.conf", "/etc/nats/certs/server.pem", "/etc/nats/certs/server-key.pem"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("cluster-tls.conf lacks %q", want)
		}
	}
}

func TestComposeTLSOverlay(t *testing.T) {
	base := load(t, "compose.yaml")
	c := load(t, "compose.tls.yaml")
	checkEnv(t, "compose.tls.yaml", c)
	for name, s := range c.Services {
		bs, ok := base.Services[name]
		if !ok {
			t.Errorf("the overlay adds service %s the base lacks", name)
			continue
		}
		if strings.HasPrefix(bs.Image, "nats:") {
			if !slices.Contains(s.Command, "/etc/nats/cluster-tls.conf") || !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/etc/nats/certs:ro") }) {
				t.Errorf("%s: TLS config or certificates not mounted: %v %v", name, s.Command, s.Volumes)
			}
			continue
		}
		env := s.Environment
		if env["BEVYGAP_NATS_INSECURE"] != "false" || !strings.HasPrefix(env["BEVYGAP_NATS_HOST"], "tls://") {
			t.Errorf("%s: the overlay must turn TLS on: %v", name, env)
		}
		ca := env["BEVYGAP_NATS_CA"]
		if ca == "" || !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasSuffix(v, ":"+ca+":ro") }) {
			t.Errorf("%s: nats-ca %q is not mounted (%v)", name, ca, s.Volumes)
		}
	}
}
