// Package config resolves bevygap's settings: flag > environment > config
// file > default, with one viper instance per process and no globals. Every
// setting has a BEVYGAP_<KEY> environment name; the Rust bevygap names keep
// working.
package settings

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Setting describes one configuration key.
type Setting struct {
	Key     string   // flag name, config-file key and BEVYGAP_ env suffix
	Legacy  []string // Rust env names, read after BEVYGAP_<KEY>
	Default string
	Usage   string
	// Bool settings get flags that work bare (--x means --x=true).
	Bool   bool
	Secret bool
	// Aliases are other flag names that set this key (e.g. --private-key
	// for lightyear-private-key in `token mint`).
	Aliases []string
	// PresenceTrue makes any non-empty value of a legacy env name mean true
	// (the Rust NATS_INSECURE is "set to anything").
	PresenceTrue bool
}

// EnvName is the BEVYGAP_ environment name of a key.
func EnvName(key string) string {
	return "BEVYGAP_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// Envs lists the environment names read for the setting, in precedence order.
func (s Setting) Envs() []string { return append([]string{EnvName(s.Key)}, s.Legacy...) }

// Source says where a value came from.
type Source string

// Config is the resolved configuration of one process.
type Config struct {
	v     *viper.Viper
	file  string
	flags *pflag.FlagSet
}

// ErrConfigFile means the config file could not be used.
var ErrConfigFile = errors.New("config file")

// Load reads the config file (explicit path, or bevygap.yaml in . then
// $XDG_CONFIG_HOME/bevygap/) and binds the settings' flags present in fs.
func Load(path string, fs *pflag.FlagSet) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	for _, s := range Settings {
		v.SetDefault(s.Key, s.Default)
	}
	c := &Config{v: v, flags: fs}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w %s: %v", ErrConfigFile, path, err)
		}
		c.file = path
	} else {
		for _, dir := range searchDirs() {
			p := filepath.Join(dir, "bevygap.yaml")
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				c.file = p
				break
			}
		}
	}
	if c.file != "" {
		v.SetConfigFile(c.file)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("%w %s: %v", ErrConfigFile, c.file, err)
		}
		for _, k := range v.AllKeys() {
			if _, ok := lookup(k); !ok && v.InConfig(k) {
				return nil, fmt.Errorf("%w %s: unknown setting %q (see `bevygap config show` for the list)", ErrConfigFile, c.file, k)
			}
		}
	}
	for _, s := range Settings {
		if err := v.BindEnv(append([]string{s.Key}, s.Envs()...)...); err != nil {
			return nil, err
		}
		if f := c.flag(s); f != nil {
			if err := v.BindPFlag(s.Key, f); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

func searchDirs() []string {
	dirs := []string{"."}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		dirs = append(dirs, filepath.Join(x, "bevygap"))
	} else if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, ".config", "bevygap"))
	}
	return dirs
}

func lookup(key string) (Setting, bool) {
	for _, s := range Settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// flag returns the flag that sets s in this command: the changed one of its
// names, else the first present.
func (c *Config) flag(s Setting) *pflag.Flag {
	if c.flags == nil {
		return nil
	}
	var first *pflag.Flag
	for _, name := range append([]string{s.Key}, s.Aliases...) {
		if f := c.flags.Lookup(name); f != nil {
			if f.Changed {
				return f
			}
			if first == nil {
				first = f
			}
		}
	}
	return first
}

// File is the config file in use, or "".
func (c *Config) File() string { return c.file }

// String returns a setting's value.
func (c *Config) String(key string) string {
	s, ok := lookup(key)
	if !ok {
		panic("config: unknown key " + key) // programming error, caught by tests
	}
	if s.PresenceTrue {
		if src := c.Source(key); strings.HasPrefix(string(src), "env ") && !strings.HasPrefix(string(src), "env BEVYGAP_") {
			return "true"
		}
	}
	return strings.TrimSpace(c.v.GetString(key))
}

// Set overrides a setting in this process (used by dev/serve to wire parts).
func (c *Config) Set(key, value string) { c.v.Set(key, value) }

// Bool parses a boolean setting.
func (c *Config) Bool(key string) (bool, error) {
	raw := c.String(key)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, c.invalid(key, raw, "true or false")
	}
	return b, nil
}

// Duration parses a duration setting ("5s", "2m").
func (c *Config) Duration(key string) (time.Duration, error) {
	raw := c.String(key)
	if raw == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, c.invalid(key, raw, "a duration like 30s or 2m")
	}
	return d, nil
}

// Int parses an integer setting within [lo, hi].
func (c *Config) Int(key string, lo, hi int) (int, error) {
	raw := c.String(key)
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, c.invalid(key, raw, fmt.Sprintf("a whole number from %d to %d", lo, hi))
	}
	return n, nil
}

// Uint64 parses an unsigned 64-bit setting.
func (c *Config) Uint64(key string) (uint64, error) {
	raw := c.String(key)
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return 0, c.invalid(key, raw, "a whole number from 0 to 18446744073709551615")
	}
	return n, nil
}

// List splits a comma-separated setting.
func (c *Config) List(key string) []string {
	var out []string
	if s, ok := lookup(key); ok {
		if f := c.flag(s); f != nil && f.Changed {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				return slices.DeleteFunc(sv.GetSlice(), func(s string) bool { return strings.TrimSpace(s) == "" })
			}
		}
	}
	raw := c.v.Get(key)
	var parts []string
	switch r := raw.(type) {
	case []any:
		for _, x := range r {
			parts = append(parts, fmt.Sprint(x))
		}
	case []string:
		parts = r
	default:
		s := strings.Trim(fmt.Sprint(r), "[]")
		parts = strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	}
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// InvalidError names a setting, where its value came from and what is allowed.
type InvalidError struct {
	Key, Source, Want string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid %s (from %s): want %s", e.Key, e.Source, e.Want)
}

func (c *Config) invalid(key, raw, want string) error {
	s, _ := lookup(key)
	src := string(c.Source(key))
	if !s.Secret {
		src = fmt.Sprintf("%s, value %q", src, raw)
	}
	return &InvalidError{Key: key, Source: src, Want: want}
}

// Source reports where the effective value of key came from: "flag --x",
// "env NAME", "file PATH" or "default".
func (c *Config) Source(key string) Source {
	s, ok := lookup(key)
	if !ok {
		return ""
	}
	if f := c.flag(s); f != nil && f.Changed {
		return Source("flag --" + f.Name)
	}
	for _, e := range s.Envs() {
		if v, ok := os.LookupEnv(e); ok && v != "" {
			return Source("env " + e)
		}
	}
	if c.file != "" && c.v.InConfig(key) {
		return Source("file " + c.file)
	}
	return "default"
}

// Entry is one row of `config show`.
type Entry struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
	Env    string `json:"env"`
	Secret bool   `json:"secret"`
}

// Redacted is what a set secret shows as.
const Redacted = "[redacted]"

// Entries lists every setting with its effective value (secrets redacted) and source.
func (c *Config) Entries() []Entry {
	out := make([]Entry, 0, len(Settings))
	for _, s := range Settings {
		val := c.String(s.Key)
		if s.Secret && val != "" {
			val = Redacted
		}
		out = append(out, Entry{Key: s.Key, Value: val, Source: string(c.Source(s.Key)), Env: strings.Join(s.Envs(), ", "), Secret: s.Secret})
	}
	return out
}

// AddFlags registers flags for the named settings on fs, with the registry's
// usage text. Defaults are shown in help but resolved by Load.
func AddFlags(fs *pflag.FlagSet, keys ...string) {
	for _, k := range keys {
		s, ok := lookup(k)
		if !ok {
			panic("config: unknown key " + k)
		}
		if fs.Lookup(k) != nil {
			continue
		}
		usage := s.Usage + " (env " + strings.Join(s.Envs(), ", ") + ")"
		fs.String(k, s.Default, usage)
		if s.Bool {
			fs.Lookup(k).NoOptDefVal = "true"
		}
	}
}

// AddListFlag registers a repeatable flag for a list setting.
func AddListFlag(fs *pflag.FlagSet, key string) {
	s, ok := lookup(key)
	if !ok {
		panic("config: unknown key " + key)
	}
	var def []string
	if s.Default != "" {
		def = strings.Split(s.Default, ",")
	}
	fs.StringSlice(key, def, s.Usage+" (repeatable; env "+strings.Join(s.Envs(), ", ")+", comma-separated)")
}

// AddFlagAs registers a setting's flag under one of its aliases (e.g.
// --private-key for lightyear-private-key).
func AddFlagAs(fs *pflag.FlagSet, key, name string) {
	s, ok := lookup(key)
	if !ok || !slices.Contains(s.Aliases, name) {
		panic("config: " + name + " is not an alias of " + key)
	}
	fs.String(name, s.Default, s.Usage+" (config "+key+"; env "+strings.Join(s.Envs(), ", ")+")")
}
