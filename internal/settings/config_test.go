package settings

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, "nats-host", "app-name", "lightyear-protocol-id", "nats-insecure", "edgegap-api-key")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func load(t *testing.T, env Env, file string, fs *pflag.FlagSet) (*Loaded, error) {
	t.Helper()
	return Load(LoadOptions{Env: env, File: file, Flags: fs})
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bevygap.yaml"), []byte("nats-host: file:4222\napp-name: from-file\napp-version: v9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"XDG_CONFIG_HOME": t.TempDir(), "NATS_HOST": "legacy:4222", "BEVYGAP_APP_NAME": "from-env"}
	c, err := load(t, MapEnv(dir, vars), "", flags(t, "--lightyear-protocol-id", "7"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"nats-host":             {"legacy:4222", "env NATS_HOST"},
		"app-name":              {"from-env", "env BEVYGAP_APP_NAME"},
		"app-version":           {"v9", "file " + filepath.Join(dir, "bevygap.yaml")},
		"lightyear-protocol-id": {"7", "flag --lightyear-protocol-id"},
		"edgegap-url":           {"https://api.edgegap.com", "default"},
	}
	got := map[string]string{"nats-host": c.NATS.Host, "app-name": c.Matchmaker.AppName, "app-version": c.Matchmaker.AppVersion,
		"lightyear-protocol-id": formatUint(c.Matchmaker.ProtocolID), "edgegap-url": c.Edgegap.URL}
	for k, w := range want {
		if src := string(c.Source(k)); got[k] != w[0] || src != w[1] {
			t.Errorf("%s = %q from %q, want %q from %q", k, got[k], src, w[0], w[1])
		}
	}
	// BEVYGAP_ name beats the Rust name.
	vars["BEVYGAP_NATS_HOST"] = "new:4222"
	c, _ = load(t, MapEnv(dir, vars), "", flags(t))
	if c.NATS.Host != "new:4222" {
		t.Errorf("BEVYGAP_NATS_HOST did not win: %q", c.NATS.Host)
	}
	// The config file in $XDG_CONFIG_HOME/bevygap is found when the
	// directory has none.
	xdg := vars["XDG_CONFIG_HOME"]
	os.MkdirAll(filepath.Join(xdg, "bevygap"), 0o700)
	os.WriteFile(filepath.Join(xdg, "bevygap", "bevygap.yaml"), []byte("app-version: v-xdg\n"), 0o600)
	c, err = load(t, MapEnv(t.TempDir(), vars), "", flags(t))
	if err != nil || c.Matchmaker.AppVersion != "v-xdg" {
		t.Errorf("XDG config file: %q %v", c.Matchmaker.AppVersion, err)
	}
}

func formatUint(n uint64) string {
	d, _ := Lookup("lightyear-protocol-id")
	s := Settings{}
	s.Matchmaker.ProtocolID = n
	return d.Format(&s)
}

func TestLegacyInsecureIsPresence(t *testing.T) {
	t.Parallel()
	c, _ := load(t, MapEnv(t.TempDir(), map[string]string{"NATS_INSECURE": "no"}), "", flags(t))
	if !c.NATS.Insecure {
		t.Fatalf("NATS_INSECURE=no must mean insecure (Rust: set to anything)")
	}
	_, err := load(t, MapEnv(t.TempDir(), map[string]string{"NATS_INSECURE": "no", "BEVYGAP_NATS_INSECURE": "maybe"}), "", flags(t))
	if err == nil || !strings.Contains(err.Error(), "nats-insecure") || !strings.Contains(err.Error(), "BEVYGAP_NATS_INSECURE") {
		t.Fatalf("bad bool not named: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := MapEnv(dir, nil)
	if _, err := load(t, env, filepath.Join(dir, "missing.yaml"), nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing explicit file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("nats-hots: x\n"), 0o600)
	if _, err := load(t, env, p, nil); err == nil || !strings.Contains(err.Error(), `unknown setting "nats-hots"`) || !errors.Is(err, ErrConfigFile) {
		t.Fatalf("typo in file: %v", err)
	}
	os.WriteFile(p, []byte("nats-host: [\n"), 0o600)
	if _, err := load(t, env, p, nil); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("broken yaml: %v", err)
	}
	_, err := Load(LoadOptions{Env: MapEnv(dir, map[string]string{"BEVYGAP_LIGHTYEAR_PROTOCOL_ID": "-1"}), Keys: []string{"lightyear-protocol-id"}})
	if err == nil || !strings.Contains(err.Error(), "lightyear-protocol-id") {
		t.Fatalf("negative protocol id: %v", err)
	}
	// A bad value of a setting the command does not read is not an error,
	// but config show reports it.
	c, err := Load(LoadOptions{Env: MapEnv(dir, map[string]string{"BEVYGAP_READY_TIMEOUT": "soon"})})
	if err != nil {
		t.Fatalf("unused bad setting failed the load: %v", err)
	}
	for _, e := range c.Entries() {
		if e.Key == "ready-timeout" && !strings.Contains(e.Error, "a duration like 30s") {
			t.Errorf("config show does not report the bad ready-timeout: %+v", e)
		}
	}
}

// Validate names the key, the value, the source and the limit.
func TestValidateNamesKeyValueLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key, value, want string
	}{
		{"ready-timeout", "-5s", "a positive duration"},
		{"deploy-delay", "-1s", "not negative"},
		{"nats-listen", "127.0.0.1:70000", "port from 0 to 65535"},
		{"gateway-listen", "nohost", "host:port"},
		{"rate-per-minute", "-1", "a number from 0 to 1e+06"},
		{"max-inflight", "0", "a whole number from 1 to 1000000"},
		{"edgegap-url", "ftp://x", "http:// or https:// URL"},
		{"edgegap-url", "https://", "with a host"},
		{"session-webhook-url", "nope", "http:// or https://"},
		{"session-webhook-url", "https://:443/hook/session", "with a host"},
		{"edgegap-url", "http://h:0", "a port from 1 to 65535"},
		{"webhook-public-url", "https://h:70000", "a port from 1 to 65535"},
		{"nats-host", "ftp://n", `scheme "ftp" not supported`},
		{"nats-host", "n1:4222,,n3:4222", "a stray comma"},
		{"nats-host", "nats://n:99999", "must be 1..65535"},
		{"sockets", "10001", "from 1 to 10000"},
	} {
		env := MapEnv(t.TempDir(), map[string]string{EnvName(c.key): c.value})
		_, err := Load(LoadOptions{Env: env, Keys: []string{c.key}})
		var inv *InvalidError
		if !errors.As(err, &inv) || inv.Key != c.key || !strings.Contains(err.Error(), "env "+EnvName(c.key)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: %v", c.key, c.value, err)
			continue
		}
		if d, _ := Lookup(c.key); !d.Secret && !strings.Contains(err.Error(), c.value) {
			t.Errorf("%s=%s: value not named: %v", c.key, c.value, err)
		}
	}
	// A nats-host URL's password never reaches the error.
	_, err := Load(LoadOptions{Env: MapEnv(t.TempDir(), map[string]string{"NATS_HOST": "nats://u:hunter2@n:4222,ftp://x"}), Keys: []string{"nats-host"}})
	if err == nil || !strings.Contains(err.Error(), "nats-host") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("nats-host with a password: %v", err)
	}
	s := Defaults()
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	s.Matchmaker.UnclaimedTTL = -time.Second
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), `unclaimed-ttl (value "-1s")`) {
		t.Fatalf("Settings.Validate: %v", err)
	}
}

func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	env := MapEnv(t.TempDir(), map[string]string{
		"NATS_PASSWORD":         "hunter2-pass",
		"EDGEGAP_API_KEY":       "token sekrit-api-key",
		"LIGHTYEAR_PRIVATE_KEY": "1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1",
	})
	c, err := load(t, env, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range c.Entries() {
		if e.Secret && e.Value != "" && e.Value != Redacted {
			t.Errorf("%s shown as %q", e.Key, e.Value)
		}
	}
	// A bad secret value is named without being printed.
	_, err = Load(LoadOptions{Env: MapEnv(t.TempDir(), map[string]string{"BEVYGAP_SESSION_WEBHOOK_URL": "sekrit-not-a-url"}), Keys: []string{"session-webhook-url"}})
	if err == nil || !strings.Contains(err.Error(), "session-webhook-url") || strings.Contains(err.Error(), "sekrit") {
		t.Fatalf("bad secret: %v", err)
	}
}

func TestEveryKeyHasEnvName(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range Defs {
		if seen[s.Key] {
			t.Errorf("duplicate key %s", s.Key)
		}
		seen[s.Key] = true
		if s.Usage == "" || s.Section == "" {
			t.Errorf("%s has no usage text or section", s.Key)
		}
		if !strings.HasPrefix(s.Envs()[0], "BEVYGAP_") {
			t.Errorf("%s: first env %s", s.Key, s.Envs()[0])
		}
	}
}

func TestBoolFlagsWorkBare(t *testing.T) {
	t.Parallel()
	for _, s := range Defs {
		if s.Type() == "bool" && s.Default != "true" && s.Default != "false" {
			t.Errorf("%s: bool setting with default %q", s.Key, s.Default)
		}
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, "allow-insecure-key", "nats-listen", "require-cert-digest")
	if err := fs.Parse([]string{"--allow-insecure-key", "--nats-listen", "1.2.3.4:5", "--require-cert-digest=false"}); err != nil {
		t.Fatal(err)
	}
	c, _ := load(t, MapEnv(t.TempDir(), nil), "", fs)
	if !c.Matchmaker.AllowInsecureKey || c.Serve.NATSListen != "1.2.3.4:5" {
		t.Fatalf("bare bool flag: %v %q", c.Matchmaker.AllowInsecureKey, c.Serve.NATSListen)
	}
	if c.Matchmaker.RequireCertDigest {
		t.Fatal("--require-cert-digest=false ignored")
	}
}

// Flags are typed: help shows duration, int, bool, float64, ip, not string.
func TestFlagsAreTyped(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	keys := make([]string, 0, len(Defs))
	for _, d := range Defs {
		keys = append(keys, d.Key)
	}
	AddFlags(fs, keys...)
	for key, typ := range map[string]string{"ready-timeout": "duration", "max-inflight": "int", "allow-insecure-key": "bool",
		"rate-per-minute": "float64", "fake-ip": "ip", "cors": "stringSlice", "trusted-proxies": "cidrs", "lightyear-protocol-id": "uint64"} {
		if got := fs.Lookup(key).Value.Type(); got != typ {
			t.Errorf("--%s is %s, want %s", key, got, typ)
		}
	}
	if err := fs.Parse([]string{"--trusted-proxies", "10.0.0.0/8", "--trusted-proxies", "192.168.1.1", "--cors", "a,b", "--fake-ip", "1.2.3.4"}); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, MapEnv(t.TempDir(), nil), "", fs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32")}; len(c.Gateway.TrustedProxies) != 2 || c.Gateway.TrustedProxies[0] != want[0] || c.Gateway.TrustedProxies[1] != want[1] {
		t.Errorf("trusted proxies %v", c.Gateway.TrustedProxies)
	}
	if strings.Join(c.Gateway.CORS, "|") != "a|b" || c.Gateway.FakeIP != netip.MustParseAddr("1.2.3.4") {
		t.Errorf("cors %v fake-ip %v", c.Gateway.CORS, c.Gateway.FakeIP)
	}
	// Lists from the environment are comma-separated, from the file YAML lists.
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("cors: [x, y]\ntrusted-proxies: 10.1.0.0/16\n"), 0o600)
	c, err = Load(LoadOptions{Env: MapEnv(t.TempDir(), map[string]string{"BEVYGAP_CORS": ""}), File: p})
	if err != nil || strings.Join(c.Gateway.CORS, "|") != "x|y" || len(c.Gateway.TrustedProxies) != 1 {
		t.Errorf("file lists: %v %v %v", c.Gateway.CORS, c.Gateway.TrustedProxies, err)
	}
}

// A preset lays defaults below the file, env and flags.
func TestPreset(t *testing.T) {
	t.Parallel()
	p := Preset{Name: "dev", Defaults: map[string]string{"unclaimed-ttl": "5s", "app-name": "preset-app"}}
	c, err := Load(LoadOptions{Env: MapEnv(t.TempDir(), map[string]string{"BEVYGAP_UNCLAIMED_TTL": "9s"}), Preset: p})
	if err != nil {
		t.Fatal(err)
	}
	if c.Matchmaker.UnclaimedTTL != 9*time.Second || c.Matchmaker.AppName != "preset-app" || c.Source("app-name") != "preset dev" {
		t.Fatalf("preset: ttl %v app %q from %q", c.Matchmaker.UnclaimedTTL, c.Matchmaker.AppName, c.Source("app-name"))
	}
	s := Defaults()
	if err := p.Apply(&s); err != nil || s.Matchmaker.UnclaimedTTL != 5*time.Second {
		t.Fatalf("Apply: %v %v", s.Matchmaker.UnclaimedTTL, err)
	}
}

// The README's configuration table is generated from the declaration
// (scripts/gen-docs.sh) and lists every setting with its help text.
func TestREADMEListsEverySetting(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Defs {
		i := strings.Index(string(b), "| `"+s.Key+"` |")
		if i < 0 {
			t.Errorf("README.md configuration table lacks %s", s.Key)
			continue
		}
		row := string(b)[i:]
		row = row[:strings.Index(row, "\n")]
		if !strings.Contains(row, s.Usage) {
			t.Errorf("README.md row of %s does not say %q", s.Key, s.Usage)
		}
	}
	if want, err := ReplaceTable(string(b)); err != nil || want != string(b) {
		t.Errorf("README.md configuration table is not the generated one (run scripts/gen-docs.sh): %v", err)
	}
}
