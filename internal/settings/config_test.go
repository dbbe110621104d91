package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if err := os.WriteFile("bevygap.yaml", []byte("nats-host: file:4222\napp-name: from-file\napp-version: v9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATS_HOST", "legacy:4222")
	t.Setenv("BEVYGAP_APP_NAME", "from-env")
	c, err := Load("", flags(t, "--lightyear-protocol-id", "7"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"nats-host":             {"legacy:4222", "env NATS_HOST"},
		"app-name":              {"from-env", "env BEVYGAP_APP_NAME"},
		"app-version":           {"v9", "file bevygap.yaml"},
		"lightyear-protocol-id": {"7", "flag --lightyear-protocol-id"},
		"edgegap-url":           {"https://api.edgegap.com", "default"},
	}
	for k, w := range want {
		if got, src := c.String(k), string(c.Source(k)); got != w[0] || src != w[1] {
			t.Errorf("%s = %q from %q, want %q from %q", k, got, src, w[0], w[1])
		}
	}
	// BEVYGAP_ name beats the Rust name.
	t.Setenv("BEVYGAP_NATS_HOST", "new:4222")
	c, _ = Load("", flags(t))
	if c.String("nats-host") != "new:4222" {
		t.Errorf("BEVYGAP_NATS_HOST did not win: %q", c.String("nats-host"))
	}
}

func TestLegacyInsecureIsPresence(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("NATS_INSECURE", "no")
	c, _ := Load("", flags(t))
	if b, err := c.Bool("nats-insecure"); !b || err != nil {
		t.Fatalf("NATS_INSECURE=no must mean insecure (Rust: set to anything), got %v %v", b, err)
	}
	t.Setenv("BEVYGAP_NATS_INSECURE", "maybe")
	c, _ = Load("", flags(t))
	_, err := c.Bool("nats-insecure")
	if err == nil || !strings.Contains(err.Error(), "nats-insecure") || !strings.Contains(err.Error(), "BEVYGAP_NATS_INSECURE") {
		t.Fatalf("bad bool not named: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := Load("missing.yaml", nil); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing explicit file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("nats-hots: x\n"), 0o600)
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), `unknown setting "nats-hots"`) {
		t.Fatalf("typo in file: %v", err)
	}
	os.WriteFile(p, []byte("nats-host: [\n"), 0o600)
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("broken yaml: %v", err)
	}
	t.Setenv("BEVYGAP_LIGHTYEAR_PROTOCOL_ID", "-1")
	c, _ := Load("", nil)
	if _, err := c.Uint64("lightyear-protocol-id"); err == nil || !strings.Contains(err.Error(), "lightyear-protocol-id") {
		t.Fatalf("negative protocol id: %v", err)
	}
}

func TestSecretsRedacted(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("NATS_PASSWORD", "hunter2-pass")
	t.Setenv("EDGEGAP_API_KEY", "token sekrit-api-key")
	t.Setenv("LIGHTYEAR_PRIVATE_KEY", "1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1")
	c, _ := Load("", nil)
	for _, e := range c.Entries() {
		if e.Secret && e.Value != "" && e.Value != Redacted {
			t.Errorf("%s shown as %q", e.Key, e.Value)
		}
	}
	// A bad secret value is named without being printed.
	t.Setenv("BEVYGAP_NATS_PASSWORD", "x")
}

func TestEveryKeyHasEnvName(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Settings {
		if seen[s.Key] {
			t.Errorf("duplicate key %s", s.Key)
		}
		seen[s.Key] = true
		if s.Usage == "" {
			t.Errorf("%s has no usage text", s.Key)
		}
		if !strings.HasPrefix(s.Envs()[0], "BEVYGAP_") {
			t.Errorf("%s: first env %s", s.Key, s.Envs()[0])
		}
	}
}

func TestBoolFlagsWorkBare(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, s := range Settings {
		if s.Bool && s.Default != "true" && s.Default != "false" {
			t.Errorf("%s: bool setting with default %q", s.Key, s.Default)
		}
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, "allow-insecure-key", "nats-listen", "require-cert-digest")
	if err := fs.Parse([]string{"--allow-insecure-key", "--nats-listen", "1.2.3.4:5", "--require-cert-digest=false"}); err != nil {
		t.Fatal(err)
	}
	c, _ := Load("", fs)
	if b, _ := c.Bool("allow-insecure-key"); !b || c.String("nats-listen") != "1.2.3.4:5" {
		t.Fatalf("bare bool flag: %v %q", b, c.String("nats-listen"))
	}
	if b, _ := c.Bool("require-cert-digest"); b {
		t.Fatal("--require-cert-digest=false ignored")
	}
}

// The README's configuration table lists every setting.
func TestREADMEListsEverySetting(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings {
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
}
