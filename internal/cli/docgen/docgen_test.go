package docgen

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The committed docs/cli, docs/man and completions/ must equal what the
// current command tree generates. Fix with: scripts/gen-docs.sh
func TestGeneratedFilesUpToDate(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	if err := Write(tmp); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join("..", "..", "..")
	for _, d := range []string{MarkdownDir, ManDir, CompletionsDir} {
		want := map[string][]byte{}
		_ = filepath.WalkDir(filepath.Join(tmp, d), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(tmp, p)
				want[rel] = b
			}
			return nil
		})
		got := map[string]bool{}
		_ = filepath.WalkDir(filepath.Join(repo, d), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				rel, _ := filepath.Rel(repo, p)
				got[rel] = true
				b, _ := os.ReadFile(p)
				if w, ok := want[rel]; !ok {
					t.Errorf("%s is committed but no longer generated (run scripts/gen-docs.sh)", rel)
				} else if !bytes.Equal(w, b) {
					t.Errorf("%s is out of date (run scripts/gen-docs.sh)", rel)
				}
			}
			return nil
		})
		for rel := range want {
			if !got[rel] {
				t.Errorf("%s is generated but not committed (run scripts/gen-docs.sh)", rel)
			}
		}
	}
}

// Man pages keep the placeholders of usage lines and help texts (the man
// generator reads markdown and dropped <bucket> as an HTML tag).
func TestManKeepsPlaceholders(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	if err := Write(tmp); err != nil {
		t.Fatal(err)
	}
	for page, want := range map[string]string{
		"bevygap-kv-get.1":  `bevygap kv get <bucket> <key> [flags]`,
		"bevygap-play.1":    `bevygap play [<url>] [flags]`,
		"bevygap-ca-args.1": `--ca_contents '<the PEM with its newlines removed>`,
	} {
		b, err := os.ReadFile(filepath.Join(tmp, ManDir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %q:\n%s", page, want, b)
		}
	}
}
