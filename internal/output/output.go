// Package output formats command results exactly as -o asks: table (aligned
// columns with a header, long cells shortened, colour only on a terminal),
// wide (the table with every column and no cell shortened), plain
// (tab-separated, no header, no colour) and json; --jq filters JSON output;
// and the one theme every command uses.
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
	Wide  Format = "wide"
	JSON  Format = "json"
	Plain Format = "plain"
)

// Formats lists the values of -o.
var Formats = []string{string(Table), string(Wide), string(Plain), string(JSON)}

// ParseFormat validates -o; "" picks table on a terminal and plain otherwise.
func ParseFormat(s string, io *iostreams.IOStreams) (Format, error) {
	switch Format(s) {
	case "":
		if io.IsStdoutTTY() {
			return Table, nil
		}
		return Plain, nil
	case Table, Wide, JSON, Plain:
		return Format(s), nil
	}
	return "", fmt.Errorf("invalid output format %q: use table, wide, plain or json", s)
}

// IsTable reports whether f prints a table with a header (table or wide).
func (f Format) IsTable() bool { return f == Table || f == Wide }

// Theme holds every style bevygap prints with.
type Theme struct {
	Header, Bold, Muted, OK, Warn, Fail, Accent lipgloss.Style
}

// NewTheme returns the theme for stdout, plain when colour is off there.
func NewTheme(io *iostreams.IOStreams) Theme { return newTheme(io.Out, io.ColorEnabled()) }

// NewErrTheme returns the theme for stderr (progress, banners, hints):
// colour only when stderr is a terminal, so `2>file` stays plain.
func NewErrTheme(io *iostreams.IOStreams) Theme { return newTheme(io.ErrOut, io.StderrColorEnabled()) }

func newTheme(w io.Writer, color bool) Theme {
	r := lipgloss.NewRenderer(w)
	if color {
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

// TablePrinter collects rows and renders them as the format asks: table
// and wide print aligned columns under a header (table shortens cells of
// columns given a maximum width; wide never shortens), plain prints
// tab-separated lines without a header. Columns marked wide-only appear in
// wide and plain only.
type TablePrinter struct {
	io       *iostreams.IOStreams
	format   Format
	header   []string
	maxWidth map[int]int
	wideOnly map[int]bool
	rows     [][]string
}

// NewTable starts a table with the given column names.
func NewTable(io *iostreams.IOStreams, format Format, header ...string) *TablePrinter {
	return &TablePrinter{io: io, format: format, header: header, maxWidth: map[int]int{}, wideOnly: map[int]bool{}}
}

// MaxWidth shortens cells of column col to n runes (with …) in -o table.
func (t *TablePrinter) MaxWidth(col, n int) *TablePrinter { t.maxWidth[col] = n; return t }

// WideOnly hides columns from -o table (they appear in wide and plain).
func (t *TablePrinter) WideOnly(cols ...int) *TablePrinter {
	for _, c := range cols {
		t.wideOnly[c] = true
	}
	return t
}

// AddRow appends a row; cells are rendered with fmt's %v.
func (t *TablePrinter) AddRow(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, row)
}

func (t *TablePrinter) shown(col int) bool { return t.format != Table || !t.wideOnly[col] }

func (t *TablePrinter) cells(r []string) []any {
	var out []any
	for i, c := range r {
		if !t.shown(i) {
			continue
		}
		if n := t.maxWidth[i]; t.format == Table && n > 0 {
			c = Truncate(c, n)
		}
		out = append(out, c)
	}
	return out
}

// Render writes the table in its format.
func (t *TablePrinter) Render() error {
	if !t.format.IsTable() {
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
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	tbl.Header(t.cells(t.header)...)
	for _, r := range t.rows {
		if err := tbl.Append(t.cells(sanitizeTSV(r))...); err != nil {
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

// Ago formats the time since t for people ("3m ago") in a table; RFC 3339
// in plain and JSON output, for programs.
func Ago(f Format, now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if !f.IsTable() {
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
