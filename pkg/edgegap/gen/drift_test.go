package gen_test

import (
	"bytes"
	"errors"
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
	// Write the fresh output into a temp dir so a failing run leaves it for
	// inspection with diff.
	fresh := filepath.Join(t.TempDir(), "edgegap.gen.go")
	if err := os.WriteFile(fresh, want, 0o644); err != nil {
		t.Fatalf("write fresh output: %v", err)
	}
	got, err := os.ReadFile("edgegap.gen.go")
	if err != nil {
		t.Fatalf("read committed output: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("pkg/edgegap/gen/edgegap.gen.go is out of date with %s (%s); run scripts/gen-edgegap-client.sh ../shared/edgegap/swagger.yaml\n%s",
			specPath, fresh, firstDiff(string(got), string(want)))
	}
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
			return "first difference at line " + itoa(i+1) + ":\n  committed: " + gl + "\n  generated: " + wl
		}
	}
	return "outputs differ"
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}
