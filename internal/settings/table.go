package settings

import (
	"fmt"
	"strings"
)

// Markdown table markers in README.md: the text between them is
// MarkdownTable(), kept in sync by a test and by scripts/gen-docs.sh.
const (
	TableBegin = "<!-- settings table: generated from internal/settings (scripts/gen-docs.sh) -->"
	TableEnd   = "<!-- end of settings table -->"
)

// MarkdownTable renders the declaration as the README's configuration table.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| key | type | env | default | meaning |\n|---|---|---|---|---|\n")
	section := ""
	for _, d := range Defs {
		if d.Section != section {
			section = d.Section
			fmt.Fprintf(&b, "| **%s** | | | | |\n", section)
		}
		envs := make([]string, 0, 2)
		for _, e := range d.Envs() {
			envs = append(envs, "`"+e+"`")
		}
		def := ""
		if d.Default != "" {
			def = "`" + d.Default + "`"
		}
		usage := d.Usage
		if d.Secret {
			usage += " (secret)"
		}
		if len(d.Aliases) > 0 {
			usage += " (flag alias: --" + strings.Join(d.Aliases, ", --") + ")"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", d.Key, d.Type(), strings.Join(envs, ", "), def, strings.ReplaceAll(usage, "|", `\|`))
	}
	return b.String()
}

// ReplaceTable returns readme with the text between the markers replaced by
// MarkdownTable(), or an error when the markers are missing.
func ReplaceTable(readme string) (string, error) {
	i := strings.Index(readme, TableBegin)
	j := strings.Index(readme, TableEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("README.md lacks the settings table markers %q ... %q", TableBegin, TableEnd)
	}
	return readme[:i+len(TableBegin)] + "\n" + MarkdownTable() + readme[j:], nil
}
