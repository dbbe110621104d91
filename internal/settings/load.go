package settings

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Source says where a value came from: "flag --x", "env NAME",
// "file PATH", "preset NAME" or "default".
type Source string

// Preset is a named set of defaults laid over the declared ones (below the
// config file): `bevygap dev` and its end-to-end tests share one.
type Preset struct {
	Name     string
	Defaults map[string]string
}

// Apply lays the preset's defaults over s (for callers that build Settings
// without Load, such as tests of the composition root).
func (p Preset) Apply(s *Settings) error {
	for _, d := range Defs {
		raw, ok := p.Defaults[d.Key]
		if !ok {
			continue
		}
		if want := d.set(s, splitRaw(d, raw)); want != "" {
			return &InvalidError{Key: d.Key, Value: raw, Source: "preset " + p.Name, Want: want, Secret: d.Secret}
		}
	}
	return nil
}

// Env is how the loader sees the process: its environment and working
// directory. Tests pass their own, so they need not touch the process.
type Env struct {
	// LookupEnv reads an environment variable (nil: os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// Dir is the directory searched first for bevygap.yaml (default ".").
	Dir string
}

// OSEnv is the process's environment and working directory.
func OSEnv() Env { return Env{LookupEnv: os.LookupEnv} }

// MapEnv is an environment made of vars alone, searching dir for the config file.
func MapEnv(dir string, vars map[string]string) Env {
	return Env{Dir: dir, LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
}

// Get returns the value of an environment variable, or "".
func (e Env) Get(name string) string {
	v, _ := e.lookup(name)
	return v
}

func (e Env) lookup(name string) (string, bool) {
	if e.LookupEnv == nil {
		return os.LookupEnv(name)
	}
	return e.LookupEnv(name)
}

// LoadOptions say what to load.
type LoadOptions struct {
	Env Env
	// File is --config (empty: bevygap.yaml in Env.Dir, then
	// $XDG_CONFIG_HOME/bevygap/ or ~/.config/bevygap/).
	File string
	// Flags are the command's flags; settings with a flag (or alias) there
	// are the command's settings: a bad value of one is an error.
	Flags *pflag.FlagSet
	// Keys are further settings the command reads without a flag.
	Keys []string
	// Preset lays its defaults over the declared ones.
	Preset Preset
	// Layers sit between the environment and the config file, first one
	// first (the CLI's .env file, then the selected context).
	Layers []Layer
}

// Layer is a named set of raw values by key (a .env file, a context).
type Layer struct {
	Source Source
	Values map[string]string
}

// Loaded is the resolved configuration of one command run.
type Loaded struct {
	Settings
	file    string
	flags   *pflag.FlagSet
	sources map[string]Source
	raw     map[string]string
	errs    map[string]error
	used    map[string]bool
}

// ErrConfigFile means the config file could not be used.
var ErrConfigFile = errors.New("config file")

// Load resolves every setting (flag > env > file > preset > default). It
// fails on an unusable config file, an unknown key in it, and a bad value
// (unparseable or outside its limits, see Validate) of one of the command's
// settings; other settings with bad values keep their default.
func Load(o LoadOptions) (*Loaded, error) {
	l := &Loaded{Settings: Defaults(), flags: o.Flags, sources: map[string]Source{}, raw: map[string]string{}, errs: map[string]error{}, used: map[string]bool{}}
	if err := o.Preset.Apply(&l.Settings); err != nil {
		return nil, err
	}
	v, err := l.readFile(o.File, o.Env)
	if err != nil {
		return nil, err
	}
	for _, k := range o.Keys {
		mustLookup(k)
		l.used[k] = true
	}
	for _, d := range Defs {
		if l.flag(d) != nil {
			l.used[d.Key] = true
		}
		raw, src := l.resolve(d, o.Env, v, o)
		l.sources[d.Key] = src
		if src == "default" {
			l.raw[d.Key] = d.Format(&l.Settings)
			continue
		}
		l.raw[d.Key] = strings.Join(raw, ",")
		if want := d.set(&l.Settings, raw); want != "" {
			e := &InvalidError{Key: d.Key, Value: l.raw[d.Key], Source: string(src), Want: want, Secret: d.Secret}
			_ = d.set(&l.Settings, splitRaw(d, d.Default))
			if l.used[d.Key] {
				return nil, e
			}
			l.errs[d.Key] = e
		}
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l, nil
}

// Validate checks the command's settings against their limits, naming the
// key, the value, where it came from and the limit.
func (l *Loaded) Validate() error { return l.validate(l.used, l.Source) }

func (l *Loaded) readFile(path string, env Env) (*viper.Viper, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w %s: %v", ErrConfigFile, path, err)
		}
		l.file = path
	} else {
		for _, dir := range searchDirs(env) {
			p := filepath.Join(dir, "bevygap.yaml")
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				l.file = p
				break
			}
		}
	}
	if l.file == "" {
		return nil, nil
	}
	v := viper.New()
	v.SetConfigType("yaml")
	v.SetConfigFile(l.file)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrConfigFile, l.file, err)
	}
	for _, k := range v.AllKeys() {
		if _, ok := Lookup(k); !ok {
			return nil, fmt.Errorf("%w %s: unknown setting %q (see `bevygap config show` for the list)", ErrConfigFile, l.file, k)
		}
	}
	return v, nil
}

func searchDirs(env Env) []string {
	dir := env.Dir
	if dir == "" {
		dir = "."
	}
	dirs := []string{dir}
	if x := env.Get("XDG_CONFIG_HOME"); x != "" {
		dirs = append(dirs, filepath.Join(x, "bevygap"))
	} else if h := env.Get("HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, ".config", "bevygap"))
	}
	return dirs
}

// resolve finds d's raw value and its source.
func (l *Loaded) resolve(d Def, env Env, v *viper.Viper, o LoadOptions) ([]string, Source) {
	if f := l.flag(d); f != nil && f.Changed {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			return sv.GetSlice(), Source("flag --" + f.Name)
		}
		return []string{f.Value.String()}, Source("flag --" + f.Name)
	}
	for i, name := range d.Envs() {
		if val, ok := env.lookup(name); ok && val != "" {
			if d.PresenceTrue && i > 0 {
				val = "true"
			}
			return splitRaw(d, val), Source("env " + name)
		}
	}
	for _, ly := range o.Layers {
		if raw, ok := ly.Values[d.Key]; ok && raw != "" {
			return splitRaw(d, raw), ly.Source
		}
	}
	if v != nil && v.InConfig(d.Key) {
		return fileValue(d, v.Get(d.Key)), Source("file " + l.file)
	}
	if raw, ok := o.Preset.Defaults[d.Key]; ok {
		return splitRaw(d, raw), Source("preset " + o.Preset.Name)
	}
	return nil, "default"
}

func fileValue(d Def, x any) []string {
	switch r := x.(type) {
	case []any:
		out := make([]string, len(r))
		for i, e := range r {
			out[i] = fmt.Sprint(e)
		}
		return out
	case []string:
		return r
	case nil:
		return nil
	}
	return splitRaw(d, fmt.Sprint(x))
}

// flag returns the flag that sets d in this command: the changed one of its
// names, else the first present.
func (l *Loaded) flag(d Def) *pflag.Flag {
	if l.flags == nil {
		return nil
	}
	var first *pflag.Flag
	for _, name := range append([]string{d.Key}, d.Aliases...) {
		if f := l.flags.Lookup(name); f != nil {
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
func (l *Loaded) File() string { return l.file }

// Source reports where the effective value of key came from.
func (l *Loaded) Source(key string) Source {
	mustLookup(key)
	return l.sources[key]
}

// Entry is one row of `config show`.
type Entry struct {
	Key     string `json:"key"`
	Section string `json:"section"`
	Type    string `json:"type"`
	Value   string `json:"value"`
	Source  string `json:"source"`
	Env     string `json:"env"`
	Secret  bool   `json:"secret"`
	Error   string `json:"error,omitempty"`
}

// Redacted is what a set secret shows as.
const Redacted = "[redacted]"

// Entries lists every setting with its effective value (secrets redacted),
// its source, and the error of a bad value that was not used.
func (l *Loaded) Entries() []Entry {
	out := make([]Entry, 0, len(Defs))
	for _, d := range Defs {
		val := l.raw[d.Key]
		if d.Secret && val != "" {
			val = Redacted
		}
		e := Entry{Key: d.Key, Section: d.Section, Type: d.Type(), Value: val, Source: string(l.sources[d.Key]), Env: strings.Join(d.Envs(), ", "), Secret: d.Secret}
		if err := l.errs[d.Key]; err != nil {
			e.Error = err.Error()
		}
		out = append(out, e)
	}
	return out
}
