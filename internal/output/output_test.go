package output

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/iostreams"
)

// --jq filters each JSON value as it is written: one document, or a
// stream of them (kv watch, top); strings print raw.
func TestFilterStream(t *testing.T) {
	t.Parallel()
	q, err := ParseJQ(`select(.op == "DELETE") | .key`)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	f := q.NewFilter(&out)
	for _, line := range []string{`{"op":"PUT","key":"a"}`, `{"op":"DELETE","key":"b"}`, `{"op":"DELETE",`, `"key":"c"}`} {
		if _, err := f.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil || out.String() != "b\nc\n" {
		t.Fatalf("%q %v", out.String(), err)
	}
	out.Reset()
	f = q.NewFilter(&out)
	_, _ = f.Write([]byte("Deleted 3 entries\n"))
	if err := f.Close(); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("text through --jq: %v", err)
	}
	if _, err := ParseJQ(".["); err == nil || !strings.Contains(err.Error(), `invalid --jq expression ".["`) {
		t.Fatalf("bad expression: %v", err)
	}
}

// Colour follows each stream: a terminal stdout may be coloured while a
// redirected stderr is not; NO_COLOR turns it off everywhere.
func TestThemesPerStream(t *testing.T) {
	t.Parallel()
	io, _, _, _ := iostreams.Test()
	io.SetColorEnabled(true)
	io.SetStdoutTTY(true)
	io.SetStderrTTY(false)
	if s := NewTheme(io).OK.Render("x"); !strings.Contains(s, "\x1b[") {
		t.Fatalf("stdout theme on a colour terminal: %q", s)
	}
	if s := NewErrTheme(io).OK.Render("x"); s != "x" {
		t.Fatalf("stderr theme off a terminal: %q", s)
	}
	io.SetColorEnabled(false)
	if s := NewTheme(io).OK.Render("x"); s != "x" {
		t.Fatalf("stdout theme with colour off: %q", s)
	}
}
