package gen_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/edgegapgen"
)

// specPath is Edgegap's Swagger 2.0 document in the shared directory that
// sits beside the repository (the repository root is three levels up).
const specPath = "../../../../shared/edgegap/swagger.yaml"

// TestGeneratedClientUpToDate regenerates the client from the shared spec and
// fails when the committed edgegap.gen.go differs. Run
// scripts/gen-edgegap-client.sh ../shared/edgegap/swagger.yaml to update it.
func TestGeneratedClientUpToDate(t *testing.T) {
	spec, err := os.ReadFile(specPath)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("Edgegap spec %s not present (the shared directory is not checked out beside the repository); cannot check generated code for drift", specPath)
	}
	if err != nil {
		t.Fatalf("read spec: %v", err)
	}
	want, err := edgegapgen.Generate(spec)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	got, err := os.ReadFile("edgegap.gen.go")
	if err != nil {
		t.Fatalf("read committed output: %v", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	// Keep the fresh output after the test for inspection with diff.
	where := "(could not save the fresh output)"
	if dir, err := os.MkdirTemp("", "edgegap-gen-drift-"); err == nil {
		fresh := filepath.Join(dir, "edgegap.gen.go")
		if os.WriteFile(fresh, want, 0o644) == nil {
			where = "fresh output in " + fresh
		}
	}
	t.Fatalf("pkg/edgegap/gen/edgegap.gen.go is out of date with %s (%s); run scripts/gen-edgegap-client.sh ../shared/edgegap/swagger.yaml\n%s",
		specPath, where, firstDiff(string(got), string(want)))
}

// TestGeneratorVersionMatchesGoMod checks that the version written into the
// generated header is the one go.mod pins (test binaries carry no
// dependency build info, so Generate cannot check it itself here).
func TestGeneratorVersionMatchesGoMod(t *testing.T) {
	mod, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	want := edgegapgen.GeneratorModule + " " + edgegapgen.GeneratorVersion
	for line := range strings.Lines(string(mod)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == edgegapgen.GeneratorModule {
			if got := f[0] + " " + f[1]; got != want {
				t.Fatalf("go.mod requires %q, edgegapgen.GeneratorVersion says %q", got, want)
			}
			return
		}
		if len(f) >= 3 && f[0] == "require" && f[1] == edgegapgen.GeneratorModule {
			if got := f[1] + " " + f[2]; got != want {
				t.Fatalf("go.mod requires %q, edgegapgen.GeneratorVersion says %q", got, want)
			}
			return
		}
	}
	t.Fatalf("go.mod does not require %s", edgegapgen.GeneratorModule)
}

// firstDiff describes the first line where committed and fresh output differ.
func firstDiff(got, want string) string {
	g := strings.Split(got, "\n")
	w := strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("first difference at line %d:\n  committed: %s\n  generated: %s", i+1, gl, wl)
		}
	}
	return "outputs differ"
}
