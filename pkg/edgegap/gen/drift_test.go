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

// sharedDir is the shared Edgegap directory beside the repository (the
// repository root is three levels up); the specs are read there in place.
const sharedDir = "../../../../shared/edgegap"

// repoRoot is the repository root, relative to this package.
const repoRoot = "../../.."

// TestGeneratedClientUpToDate regenerates every generated file
// (edgegapgen.Targets: the 2024 client here and the 2026 v1 and v2 clients
// below) from the shared specs and fails when a committed file differs. Run
// scripts/gen-edgegap-client.sh to update them.
func TestGeneratedClientUpToDate(t *testing.T) {
	for _, tg := range edgegapgen.Targets {
		if _, err := os.Stat(filepath.Join(sharedDir, tg.Spec)); errors.Is(err, fs.ErrNotExist) {
			t.Skipf("Edgegap spec %s not present in %s (the shared directory is not checked out beside the repository); cannot check generated code for drift", tg.Spec, sharedDir)
		}
	}
	files, err := edgegapgen.GenerateAll(t.Context(), sharedDir)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	for _, out := range edgegapgen.Outputs() {
		want := files[out]
		got, err := os.ReadFile(filepath.Join(repoRoot, out))
		if err != nil {
			t.Errorf("read committed output: %v", err)
			continue
		}
		if bytes.Equal(got, want) {
			continue
		}
		// Keep the fresh output after the test for inspection with diff.
		where := "(could not save the fresh output)"
		if dir, err := os.MkdirTemp("", "edgegap-gen-drift-"); err == nil {
			fresh := filepath.Join(dir, filepath.Base(out))
			if os.WriteFile(fresh, want, 0o644) == nil {
				where = "fresh output in " + fresh
			}
		}
		t.Errorf("%s is out of date with the specs in %s (%s); run scripts/gen-edgegap-client.sh\n%s",
			out, sharedDir, where, firstDiff(string(got), string(want)))
	}
	// A second run produces the same bytes: running the script twice
	// changes nothing.
	again, err := edgegapgen.GenerateAll(t.Context(), sharedDir)
	if err != nil {
		t.Fatalf("generate again: %v", err)
	}
	for out, code := range files {
		if !bytes.Equal(again[out], code) {
			t.Errorf("%s: a second generation differs from the first", out)
		}
	}
}

// TestNoStaleGeneratedFiles fails when a generated file under
// pkg/edgegap/gen is not produced by the generator any more (the drift test
// would not see it).
func TestNoStaleGeneratedFiles(t *testing.T) {
	want := map[string]bool{}
	for _, out := range edgegapgen.Outputs() {
		want[out] = true
	}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".gen.go") {
			return err
		}
		out := "pkg/edgegap/gen/" + filepath.ToSlash(p)
		if !want[out] {
			t.Errorf("%s is not produced by scripts/gen-edgegap-client.sh (edgegapgen.Targets); delete it or add a target", out)
		}
		delete(want, out)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for out := range want {
		t.Errorf("%s is missing; run scripts/gen-edgegap-client.sh", out)
	}
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
