// Package output formats command results: tables (styled on a terminal,
// tab-separated without a header otherwise), JSON, and the one theme every
// command uses.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/bevygap/bevygap/internal/iostreams"
)

// Format is the value of -o/--output.
type Format string

// Output formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	Plain Format = "plain"
)

// ParseFormat validates -o; "" picks table on a terminal and plain otherwise.
func ParseFormat(s string, io *iostreams.IOStreams) (Format, error) {
	switch Format(s) {
	case "":
		if io.IsStdoutTTY() {
			return Table, nil
		}
		return Plain, nil
	case Table, JSON, Plain:
		return Format(s), nil
	}
	return "", fmt.Errorf("invalid output format %q: use table, json or plain", s)
}

// Theme holds every style bevygap prints with.
type Theme struct {
	Header, Bold, Muted, OK, Warn, Fail, Accent lipgloss.Style
}

// NewTheme returns the theme, plain when colour is off.
func NewTheme(io *iostreams.IOStreams) Theme {
	r := lipgloss.NewRenderer(io.Out)
	if io.ColorEnabled() {
		r.SetColorProfile(termenv.ANSI256)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return Theme{
		Header: r.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		Bold:   r.NewStyle().Bold(true),
		Muted:  r.NewStyle().Foreground(lipgloss.Color("8")),
		OK:     r.NewStyle().Foreground(lipgloss.Color("10")),
		Warn:   r.NewStyle().Foreground(lipgloss.Color("11")),
		Fail:   r.NewStyle().Foreground(lipgloss.Color("9")).Bold(true),
		Accent: r.NewStyle().Foreground(lipgloss.Color("14")),
	}
}

// TablePrinter collects rows and renders them for the stream's kind.
type TablePrinter struct {
	io     *iostreams.IOStreams
	header []string
	rows   [][]string
}

// NewTable starts a table with the given column names.
func NewTable(io *iostreams.IOStreams, header ...string) *TablePrinter {
	return &TablePrinter{io: io, header: header}
}

// AddRow appends a row; cells are rendered with fmt's %v.
func (t *TablePrinter) AddRow(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, row)
}

// Render writes the table: a styled grid on a terminal, TSV without a header otherwise.
func (t *TablePrinter) Render() error {
	if !t.io.IsStdoutTTY() {
		for _, r := range t.rows {
			if _, err := fmt.Fprintln(t.io.Out, strings.Join(sanitizeTSV(r), "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	var buf strings.Builder
	tbl := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenRows: tw.Off, BetweenColumns: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.On),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithTrimSpace(tw.Off),
	)
	hdr := make([]any, len(t.header))
	for i, h := range t.header {
		hdr[i] = h
	}
	tbl.Header(hdr...)
	for _, r := range t.rows {
		if err := tbl.Append(r); err != nil {
			return err
		}
	}
	if err := tbl.Render(); err != nil {
		return err
	}
	// Style the header line as a whole: styling cells inside tablewriter
	// would make it count escape codes as width.
	th := NewTheme(t.io)
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	for i, l := range lines {
		l = strings.TrimRight(strings.TrimPrefix(l, " "), " ")
		if i == 0 {
			l = th.Header.Render(l)
		}
		if _, err := fmt.Fprintln(t.io.Out, l); err != nil {
			return err
		}
	}
	return nil
}

func sanitizeTSV(r []string) []string {
	out := make([]string, len(r))
	for i, c := range r {
		out[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(c)
	}
	return out
}

// WriteJSON writes v as indented JSON; nil slices become [].
func WriteJSON(w io.Writer, v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = []any{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Ago formats the time since t for people ("3m ago"); RFC 3339 off a terminal.
func Ago(io *iostreams.IOStreams, now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if !io.IsStdoutTTY() {
		return t.UTC().Format(time.RFC3339)
	}
	return Duration(now.Sub(t)) + " ago"
}

// Duration formats a duration briefly (45s, 3m, 2h, 5d).
func Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// Bytes formats a byte count (1.5 KiB).
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Truncate shortens s to n runes with an ellipsis.
func Truncate(s string, n int) string {
	r := []rune(s)
	if n <= 0 || len(r) <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}
