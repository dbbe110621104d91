// Package docgen writes bevygap's generated reference from the cobra tree:
// one markdown page per command, man pages, and shell completions; and the
// README's configuration table from the settings declaration.
package docgen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/bevygap/bevygap/internal/cli"
	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/settings"
)

// Dirs relative to the output root.
const (
	MarkdownDir    = "docs/cli"
	ManDir         = "docs/man"
	CompletionsDir = "completions"
)

// Root builds the command tree with neutral streams, so generated text does
// not depend on the terminal it was built from.
func Root() *cobra.Command {
	io, _, _, _ := iostreams.Test()
	root := cli.NewRootCmd(factory.New(io, settings.MapEnv("", nil)))
	root.DisableAutoGenTag = true
	return root
}

// WriteREADME regenerates the configuration table of dir/README.md from
// the settings declaration.
func WriteREADME(dir string) error {
	p := filepath.Join(dir, "README.md")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	out, err := settings.ReplaceTable(string(b))
	if err != nil {
		return err
	}
	return os.WriteFile(p, []byte(out), 0o644)
}

// Write generates everything under dir (the repository root).
func Write(dir string) error {
	root := Root()
	md := filepath.Join(dir, MarkdownDir)
	man := filepath.Join(dir, ManDir)
	comp := filepath.Join(dir, CompletionsDir)
	for _, d := range []string{md, man, comp} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := doc.GenMarkdownTree(root, md); err != nil {
		return fmt.Errorf("markdown: %w", err)
	}
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // fixed: generated files must not drift by date
	// The man generator reads text as markdown, where <bucket> is an HTML
	// tag it drops: escape angle brackets on a tree of its own.
	manRoot := Root()
	manRoot.DisableAutoGenTag = true
	escapeForMan(manRoot)
	if err := doc.GenManTree(manRoot, &doc.GenManHeader{Title: "BEVYGAP", Section: "1", Source: "bevygap", Manual: "bevygap manual", Date: &date}, man); err != nil {
		return fmt.Errorf("man: %w", err)
	}
	gens := map[string]func(*bytes.Buffer) error{
		"bevygap.bash": func(b *bytes.Buffer) error { return root.GenBashCompletionV2(b, true) },
		"_bevygap":     func(b *bytes.Buffer) error { return root.GenZshCompletion(b) },
		"bevygap.fish": func(b *bytes.Buffer) error { return root.GenFishCompletion(b, true) },
		"bevygap.ps1":  func(b *bytes.Buffer) error { return root.GenPowerShellCompletionWithDesc(b) },
	}
	for name, gen := range gens {
		var b bytes.Buffer
		if err := gen(&b); err != nil {
			return fmt.Errorf("completion %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(comp, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

var manEscaper = strings.NewReplacer("<", `\<`, ">", `\>`)

// escapeForMan escapes < and > in the usage lines, help texts, examples
// and flag usages of c and its subcommands.
func escapeForMan(c *cobra.Command) {
	c.Use = manEscaper.Replace(c.Use)
	c.Short = manEscaper.Replace(c.Short)
	c.Long = manEscaper.Replace(c.Long)
	c.Example = manEscaper.Replace(c.Example)
	c.LocalFlags().VisitAll(func(f *pflag.Flag) { f.Usage = manEscaper.Replace(f.Usage) })
	c.PersistentFlags().VisitAll(func(f *pflag.Flag) { f.Usage = manEscaper.Replace(f.Usage) })
	for _, sub := range c.Commands() {
		escapeForMan(sub)
	}
}
