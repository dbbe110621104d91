// Package dotenv reads the .env file of the working directory, as the Rust
// bevygap does (dotenvy): its variables count as environment variables,
// below the real environment.
package dotenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bevygap/bevygap/internal/settings"
)

// MaxSize bounds the .env file read.
const MaxSize = 1 << 20

// File is a parsed .env file.
type File struct {
	Path string
	Vars map[string]string
}

// Read parses .env in env.Dir (default "."), or returns nil when there is
// none. A malformed line is an error naming the file and the line.
func Read(env settings.Env) (*File, error) {
	dir := env.Dir
	if dir == "" {
		dir = "."
	}
	p := filepath.Join(dir, ".env")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, MaxSize)
	}
	vars, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	return &File{Path: p, Vars: vars}, nil
}

// Parse reads KEY=VALUE lines: `export ` prefixes, # comments, blank
// lines, and values in single quotes (literal) or double quotes (\n, \"
// and \\ escapes) are understood.
func Parse(b []byte) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), MaxSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			return nil, fmt.Errorf("line %d: want KEY=VALUE", n)
		}
		val, err := value(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %v", n, k, err)
		}
		vars[k] = val
	}
	return vars, sc.Err()
}

func value(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '\'', '"':
		end := strings.LastIndexByte(v, q)
		if end == 0 {
			return "", errors.New("unterminated quote")
		}
		if rest := strings.TrimSpace(v[end+1:]); rest != "" && !strings.HasPrefix(rest, "#") {
			return "", errors.New("text after the closing quote")
		}
		inner := v[1:end]
		if q == '"' {
			inner = strings.NewReplacer(`\n`, "\n", `\"`, `"`, `\\`, `\`).Replace(inner)
		}
		return inner, nil
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}

// Env returns env with the file's variables below the real ones.
func (f *File) Env(env settings.Env) settings.Env {
	base := env.LookupEnv
	if base == nil {
		base = os.LookupEnv
	}
	out := env
	out.LookupEnv = func(k string) (string, bool) {
		if v, ok := base(k); ok {
			return v, true
		}
		v, ok := f.Vars[k]
		return v, ok
	}
	return out
}
