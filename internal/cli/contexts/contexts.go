// Package contexts stores named sets of settings (a NATS server, an
// Edgegap endpoint, an app) in $XDG_CONFIG_HOME/bevygap/contexts.yaml, like
// kubectl's contexts and natscli's. The selected context sits under flags
// and the environment (and above the config file). Secrets are stored by
// reference, env:NAME or file:PATH, resolved when a command runs; a secret
// is written in clear only when the user asks (value:...).
package contexts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bevygap/bevygap/internal/settings"
)

// Keys are the settings a context may hold.
var Keys = []string{
	"nats-host", "nats-user", "nats-password", "nats-ca", "nats-ca-contents", "nats-insecure", "nats-namespace",
	"edgegap-url", "edgegap-api-key", "app-name", "app-version", "lightyear-private-key", "lightyear-protocol-id",
	"gateway-url", "metrics-url",
}

// EnvName selects a context instead of the current one (below --context).
const EnvName = "BEVYGAP_CONTEXT"

// ErrContext means the selected context cannot be used (unknown, or a
// secret reference that does not resolve): missing configuration, exit 4.
var ErrContext = errors.New("context")

// Context is one named set of settings.
type Context struct {
	Name        string            `yaml:"-" json:"name"`
	Description string            `yaml:"description,omitempty" json:"description,omitempty"`
	Settings    map[string]string `yaml:"settings,omitempty" json:"settings"`
	// Secrets are references: env:NAME, file:PATH or value:CLEAR.
	Secrets map[string]string `yaml:"secrets,omitempty" json:"secrets"`
}

// File is the contexts file.
type File struct {
	Current  string              `yaml:"current,omitempty"`
	Contexts map[string]*Context `yaml:"contexts,omitempty"`

	path string
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName validates a context name.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid context name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Path is where the contexts file lives for env.
func Path(env settings.Env) (string, error) {
	if x := env.Get("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "bevygap", "contexts.yaml"), nil
	}
	if h := env.Get("HOME"); h != "" {
		return filepath.Join(h, ".config", "bevygap", "contexts.yaml"), nil
	}
	return "", errors.New("contexts: neither XDG_CONFIG_HOME nor HOME is set")
}

// Load reads the contexts file (empty when there is none).
func Load(env settings.Env) (*File, error) {
	p, err := Path(env)
	if err != nil {
		return nil, err
	}
	f := &File{path: p, Contexts: map[string]*Context{}}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	if f.Contexts == nil {
		f.Contexts = map[string]*Context{}
	}
	for name, c := range f.Contexts {
		if c == nil {
			c = &Context{}
			f.Contexts[name] = c
		}
		c.Name = name
		for k := range c.Settings {
			if !slices.Contains(Keys, k) {
				return nil, fmt.Errorf("%s: context %s: unknown setting %q", p, name, k)
			}
		}
		for k, ref := range c.Secrets {
			if _, _, err := parseRef(ref); err != nil || !slices.Contains(Keys, k) {
				return nil, fmt.Errorf("%s: context %s: secret %q: want env:NAME, file:PATH or value:TEXT", p, name, k)
			}
		}
	}
	return f, nil
}

// FilePath is the path the file is read from and saved to.
func (f *File) FilePath() string { return f.path }

// Save writes the file (0600: it may hold references to secrets, or
// secrets the user chose to store).
func (f *File) Save() error {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return err
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}

// Names lists the contexts, sorted.
func (f *File) Names() []string {
	out := make([]string, 0, len(f.Contexts))
	for n := range f.Contexts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get returns a context or an error naming the ones there are.
func (f *File) Get(name string) (*Context, error) {
	c, ok := f.Contexts[name]
	if !ok {
		if len(f.Contexts) == 0 {
			return nil, fmt.Errorf("%w %q not found: there are no contexts (see `bevygap context add`)", ErrContext, name)
		}
		return nil, fmt.Errorf("%w %q not found; contexts: %s", ErrContext, name, strings.Join(f.Names(), ", "))
	}
	return c, nil
}

func parseRef(ref string) (kind, arg string, err error) {
	kind, arg, ok := strings.Cut(ref, ":")
	if !ok || arg == "" || (kind != "env" && kind != "file" && kind != "value") {
		return "", "", fmt.Errorf("secret reference %q: want env:NAME, file:PATH or value:TEXT", ref)
	}
	return kind, arg, nil
}

// Resolve reads a secret reference: an environment variable (which must be
// set), a file (trailing newline dropped) or a stored value.
func Resolve(env settings.Env, ref string) (string, error) {
	kind, arg, err := parseRef(ref)
	if err != nil {
		return "", err
	}
	switch kind {
	case "env":
		v := env.Get(arg)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is not set", arg)
		}
		return v, nil
	case "file":
		b, err := os.ReadFile(arg)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return arg, nil
}

// Describe shows a secret reference without the secret.
func Describe(ref string) string {
	if strings.HasPrefix(ref, "value:") {
		return "stored value " + settings.Redacted
	}
	return ref
}

// Selected names the context in effect: --context, else BEVYGAP_CONTEXT,
// else the file's current one ("" when none).
func Selected(env settings.Env, flag string, f *File) string {
	if flag != "" {
		return flag
	}
	if v := env.Get(EnvName); v != "" {
		return v
	}
	return f.Current
}

// Apply returns the selected context as a settings layer, or nil when no
// context is selected. Secrets are resolved; one that does not resolve is
// an ErrContext when the command reads it (used), else left out.
func Apply(env settings.Env, flag string, used map[string]bool) (*settings.Layer, error) {
	if flag == "" && env.Get(EnvName) == "" {
		if _, err := Path(env); err != nil {
			return nil, nil // nowhere to keep contexts, so none is selected
		}
	}
	f, err := Load(env)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrContext, err)
	}
	name := Selected(env, flag, f)
	if name == "" {
		return nil, nil
	}
	c, err := f.Get(name)
	if err != nil {
		return nil, err
	}
	vals := map[string]string{}
	for k, v := range c.Settings {
		vals[k] = v
	}
	for k, ref := range c.Secrets {
		v, err := Resolve(env, ref)
		if err != nil {
			if !used[k] {
				continue // not read by this command: no reason to fail it
			}
			return nil, fmt.Errorf("%w %s: %s from %s: %v", ErrContext, name, k, Describe(ref), err)
		}
		vals[k] = v
	}
	return &settings.Layer{Source: settings.Source("context " + name), Values: vals}, nil
}
