// Package settings declares and resolves bevygap's settings: one typed
// declaration (Defs) gives the flags, the environment names, the config-file
// keys, the limits Validate checks, `config show` and the README table.
// Precedence: flag > environment > config file > preset > default. Every
// setting has a BEVYGAP_<KEY> environment name; the Rust bevygap names keep
// working.
package settings

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bevygap/bevygap/internal/natsconn"
)

// Def declares one setting.
type Def struct {
	Key     string   // flag name, config-file key and BEVYGAP_ env suffix
	Section string   // one of the Section* names
	Legacy  []string // Rust env names, read after BEVYGAP_<KEY>
	Default string
	Usage   string
	Secret  bool
	// Aliases are other flag names a command may register for this key
	// (e.g. --private-key for lightyear-private-key).
	Aliases []string
	// PresenceTrue makes any non-empty value of a legacy env name mean true
	// (the Rust NATS_INSECURE is "set to anything").
	PresenceTrue bool

	field func(*Settings) any // pointer to the typed field
	check func(v any) string  // "" or what is allowed
}

// EnvName is the BEVYGAP_ environment name of a key.
func EnvName(key string) string {
	return "BEVYGAP_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// Envs lists the environment names read for the setting, in precedence order.
func (d Def) Envs() []string { return append([]string{EnvName(d.Key)}, d.Legacy...) }

// Type is the setting's value type as flags show it: string, bool, int,
// uint64, float64, duration, strings, ip or cidrs.
func (d Def) Type() string {
	switch d.field(&Settings{}).(type) {
	case *bool:
		return "bool"
	case *int:
		return "int"
	case *uint64:
		return "uint64"
	case *float64:
		return "float64"
	case *time.Duration:
		return "duration"
	case *[]string:
		return "strings"
	case *netip.Addr:
		return "ip"
	case *[]netip.Prefix:
		return "cidrs"
	}
	return "string"
}

// IsList says the setting takes several values (repeatable flag,
// comma-separated env, YAML list).
func (d Def) IsList() bool { t := d.Type(); return t == "strings" || t == "cidrs" }

// Lookup returns the declaration of key.
func Lookup(key string) (Def, bool) {
	for _, d := range Defs {
		if d.Key == key {
			return d, true
		}
	}
	return Def{}, false
}

func mustLookup(key string) Def {
	d, ok := Lookup(key)
	if !ok {
		panic("settings: unknown key " + key) // programming error, caught by tests
	}
	return d
}

// Defaults returns the settings at their declared defaults.
func Defaults() Settings {
	var s Settings
	for _, d := range Defs {
		if err := d.set(&s, splitRaw(d, d.Default)); err != "" {
			panic("settings: default of " + d.Key + ": " + err)
		}
	}
	return s
}

func splitRaw(d Def, raw string) []string {
	if !d.IsList() {
		return []string{raw}
	}
	return strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' })
}

// set parses raw into d's field of s; it returns "" or what is allowed.
func (d Def) set(s *Settings, raw []string) string {
	switch p := d.field(s).(type) {
	case *[]string:
		*p = cleanList(raw)
		return ""
	case *[]netip.Prefix:
		return setPrefixes(p, raw)
	}
	one := ""
	if len(raw) > 0 {
		one = strings.TrimSpace(raw[0])
	}
	return d.setOne(s, one)
}

// setOne parses a single-valued setting.
func (d Def) setOne(s *Settings, one string) string {
	var err error
	want := ""
	switch p := d.field(s).(type) {
	case *string:
		*p = one
	case *bool:
		want = "true or false"
		*p = false
		if one != "" {
			*p, err = strconv.ParseBool(one)
		}
	case *int:
		want = "a whole number"
		*p, err = strconv.Atoi(one)
	case *uint64:
		want = "a whole number from 0 to 18446744073709551615"
		*p, err = strconv.ParseUint(one, 10, 64)
	case *float64:
		want = "a number"
		*p, err = strconv.ParseFloat(one, 64)
	case *time.Duration:
		want = "a duration like 30s or 2m"
		*p = 0
		if one != "" {
			*p, err = time.ParseDuration(one)
		}
	case *netip.Addr:
		want = "an IP address"
		*p, err = netip.ParseAddr(one)
	default:
		panic(fmt.Sprintf("settings: %s has unsupported type %T", d.Key, p))
	}
	if err != nil {
		return want
	}
	return ""
}

func setPrefixes(p *[]netip.Prefix, raw []string) string {
	var out []netip.Prefix
	for _, x := range cleanList(raw) {
		pre, err := netip.ParsePrefix(x)
		if err != nil {
			a, aerr := netip.ParseAddr(x)
			if aerr != nil {
				return "CIDRs like 10.0.0.0/8 or addresses"
			}
			pre = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, pre)
	}
	*p = out
	return ""
}

func cleanList(raw []string) []string {
	var out []string
	for _, r := range raw {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// Format renders d's value in s the way a flag or env var would set it.
func (d Def) Format(s *Settings) string {
	switch p := d.field(s).(type) {
	case *string:
		return *p
	case *[]string:
		return strings.Join(*p, ",")
	case *[]netip.Prefix:
		parts := make([]string, len(*p))
		for i, x := range *p {
			parts[i] = x.String()
		}
		return strings.Join(parts, ",")
	case *netip.Addr:
		if !p.IsValid() {
			return ""
		}
		return p.String()
	case *time.Duration:
		return p.String()
	case *float64:
		return strconv.FormatFloat(*p, 'g', -1, 64)
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *uint64:
		return strconv.FormatUint(*p, 10)
	}
	panic(fmt.Sprintf("settings: %s has unsupported type", d.Key))
}

// Limits, named by what they allow.

func intIn(lo, hi int) func(any) string {
	return func(v any) string {
		if n := v.(int); n < lo || n > hi {
			return fmt.Sprintf("a whole number from %d to %d", lo, hi)
		}
		return ""
	}
}

func floatIn(lo, hi float64) func(any) string {
	return func(v any) string {
		if f := v.(float64); f < lo || f > hi || f != f {
			return fmt.Sprintf("a number from %g to %g", lo, hi)
		}
		return ""
	}
}

func oneOf(values ...string) func(any) string {
	return func(v any) string {
		if slices.Contains(values, v.(string)) {
			return ""
		}
		return "one of " + strings.Join(values, ", ")
	}
}

func positiveDuration(v any) string {
	if v.(time.Duration) <= 0 {
		return "a positive duration"
	}
	return ""
}

func nonNegativeDuration(v any) string {
	if v.(time.Duration) < 0 {
		return "a duration that is not negative"
	}
	return ""
}

func optional(check func(any) string) func(any) string {
	return func(v any) string {
		if v.(string) == "" {
			return ""
		}
		return check(v)
	}
}

func httpURL(v any) string {
	u, err := url.Parse(v.(string))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "an http:// or https:// URL with a host"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > maxPort {
			return fmt.Sprintf("an http:// or https:// URL with a host and a port from 1 to %d", maxPort)
		}
	}
	return ""
}

// natsHost is one server or a comma-separated cluster: host, host:port or
// nats:// / tls:// / ws:// / wss:// URLs (natsconn parses it).
func natsHost(v any) string {
	if err := natsconn.CheckHost(v.(string)); err != nil {
		_, why, _ := strings.Cut(err.Error(), ": ")
		return "host, host:port or nats:// / tls:// URLs, comma-separated (" + why + ")"
	}
	return ""
}

func hostPort(v any) string {
	_, port, err := net.SplitHostPort(v.(string))
	if err != nil {
		return "host:port"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > maxPort {
		return fmt.Sprintf("host:port with a port from 0 to %d", maxPort)
	}
	return ""
}

// InvalidError names a setting, its value (unless secret), where it came
// from and what is allowed.
type InvalidError struct {
	Key, Value, Source, Want string
	Secret                   bool
}

func (e *InvalidError) Error() string {
	var where []string
	if e.Source != "" {
		where = append(where, "from "+e.Source)
	}
	if !e.Secret {
		// A URL's user:password@ never reaches an error (nats-host may hold one).
		where = append(where, fmt.Sprintf("value %q", natsconn.RedactHost(e.Value)))
	}
	if len(where) == 0 {
		return fmt.Sprintf("invalid %s: want %s", e.Key, e.Want)
	}
	return fmt.Sprintf("invalid %s (%s): want %s", e.Key, strings.Join(where, ", "), e.Want)
}

// Validate checks every setting against its limits; the error names the
// key, the value and the limit.
func (s *Settings) Validate() error { return s.validate(nil, nil) }

func (s *Settings) validate(keys map[string]bool, source func(string) Source) error {
	for _, d := range Defs {
		if keys != nil && !keys[d.Key] || d.check == nil {
			continue
		}
		v := d.field(s)
		var val any
		switch p := v.(type) {
		case *string:
			val = *p
		case *int:
			val = *p
		case *float64:
			val = *p
		case *time.Duration:
			val = *p
		default:
			continue
		}
		if want := d.check(val); want != "" {
			e := &InvalidError{Key: d.Key, Value: d.Format(s), Want: want, Secret: d.Secret}
			if source != nil {
				e.Source = string(source(d.Key))
			}
			return e
		}
	}
	return nil
}
