package settings

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// AddFlags registers typed flags for the named settings on fs, with the
// declared help and defaults (help shows duration, int, bool, ...; a bool
// flag works bare). Values are resolved by Load, not read from the flags.
func AddFlags(fs *pflag.FlagSet, keys ...string) { Preset{}.AddFlags(fs, keys...) }

// AddFlags is the package AddFlags with the preset's defaults shown in help.
func (p Preset) AddFlags(fs *pflag.FlagSet, keys ...string) {
	for _, k := range keys {
		d := mustLookup(k)
		if fs.Lookup(k) != nil {
			continue
		}
		addFlag(fs, d, k, p.usage(d, ""))
		p.presetDefault(fs, d, k)
	}
}

// AddFlagAs registers a setting's flag under one of its aliases (e.g.
// --private-key for lightyear-private-key).
func AddFlagAs(fs *pflag.FlagSet, key, name string) { Preset{}.AddFlagAs(fs, key, name) }

// AddFlagAs is the package AddFlagAs with the preset's defaults shown in help.
func (p Preset) AddFlagAs(fs *pflag.FlagSet, key, name string) {
	d := mustLookup(key)
	if !slices.Contains(d.Aliases, name) {
		panic("settings: " + name + " is not an alias of " + key)
	}
	addFlag(fs, d, name, p.usage(d, key))
	p.presetDefault(fs, d, name)
}

func (p Preset) usage(d Def, key string) string {
	u := d.Usage
	env := "env " + strings.Join(d.Envs(), ", ")
	if d.IsList() {
		if !strings.Contains(u, "repeatable") {
			u += " (repeatable)"
		}
		env += ", comma-separated"
	}
	if key != "" {
		return u + " (config " + key + "; " + env + ")"
	}
	return u + " (" + env + ")"
}

func addFlag(fs *pflag.FlagSet, d Def, name, usage string) {
	var s Settings
	_ = d.set(&s, splitRaw(d, d.Default))
	switch v := d.field(&s).(type) {
	case *string:
		fs.String(name, *v, usage)
	case *bool:
		fs.Bool(name, *v, usage)
	case *int:
		fs.Int(name, *v, usage)
	case *uint64:
		fs.Uint64(name, *v, usage)
	case *float64:
		fs.Float64(name, *v, usage)
	case *time.Duration:
		fs.Duration(name, *v, usage)
	case *[]string:
		fs.StringSlice(name, *v, usage)
	case *netip.Addr:
		fs.Var(&ipValue{s: d.Default}, name, usage)
	case *[]netip.Prefix:
		fs.Var(&cidrsValue{}, name, usage)
	}
}

// presetDefault shows the preset's default in help (a secret's stays hidden).
func (p Preset) presetDefault(fs *pflag.FlagSet, d Def, name string) {
	if raw, ok := p.Defaults[d.Key]; ok && !d.Secret {
		if f := fs.Lookup(name); f != nil {
			f.DefValue = raw
		}
	}
}

// ipValue is an IP flag (checked by Load).
type ipValue struct{ s string }

func (v *ipValue) String() string     { return v.s }
func (v *ipValue) Set(s string) error { _, err := netip.ParseAddr(s); v.s = s; return err }
func (v *ipValue) Type() string       { return "ip" }

// cidrsValue is a repeatable CIDR flag (checked by Load).
type cidrsValue struct{ list []string }

func (v *cidrsValue) String() string { return "[" + strings.Join(v.list, ",") + "]" }
func (v *cidrsValue) Set(s string) error {
	v.list = append(v.list, strings.Split(s, ",")...)
	return nil
}
func (v *cidrsValue) Type() string             { return "cidrs" }
func (v *cidrsValue) Append(s string) error    { return v.Set(s) }
func (v *cidrsValue) Replace(s []string) error { v.list = s; return nil }
func (v *cidrsValue) GetSlice() []string       { return v.list }
