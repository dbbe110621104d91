// Package iostreams is the only way bevygap commands read input and write
// output: it knows whether each stream is a terminal and whether to colour.
package iostreams

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// IOStreams bundles stdin/stdout/stderr with terminal facts.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY, stdoutTTY, stderrTTY bool
	// colour is wanted (no NO_COLOR, TERM not dumb, no --no-color); a
	// stream gets it only when it is a terminal.
	colorEnabled bool
	width        int
}

// System returns streams bound to the process's stdio.
func System() *IOStreams { return Files(os.Stdin, os.Stdout, os.Stderr, os.LookupEnv) }

// Files returns streams bound to the given files, with terminal facts
// read from them and colour from the environment (NO_COLOR, TERM).
func Files(in, out, errOut *os.File, lookupEnv func(string) (string, bool)) *IOStreams {
	s := &IOStreams{In: in, Out: out, ErrOut: errOut}
	s.stdinTTY = isTerminal(in)
	s.stdoutTTY = isTerminal(out)
	s.stderrTTY = isTerminal(errOut)
	_, noColor := lookupEnv("NO_COLOR")
	termName, _ := lookupEnv("TERM")
	s.colorEnabled = !noColor && termName != "dumb"
	if w, _, err := term.GetSize(int(out.Fd())); err == nil && w > 0 {
		s.width = w
	}
	return s
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// Test returns streams backed by buffers, not a terminal: (streams, stdin, stdout, stderr).
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, width: 100}, in, out, errOut
}

// SetTTY marks all streams as terminals (or not), for tests.
func (s *IOStreams) SetTTY(tty bool) {
	s.stdinTTY, s.stdoutTTY, s.stderrTTY = tty, tty, tty
}

// IsStdoutTTY reports whether stdout is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether stderr is a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// CanPrompt reports whether the user can answer a question.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stdoutTTY }

// ColorEnabled reports whether stdout may carry colour: colour is wanted
// and stdout is a terminal.
func (s *IOStreams) ColorEnabled() bool { return s.colorEnabled && s.stdoutTTY }

// StderrColorEnabled reports whether stderr may carry colour: only when it
// is a terminal itself (`2>file` gets no escape codes).
func (s *IOStreams) StderrColorEnabled() bool { return s.colorEnabled && s.stderrTTY }

// SetColorEnabled says whether colour is wanted (--no-color: false; tests
// turn it on); each stream still gets it only when it is a terminal.
func (s *IOStreams) SetColorEnabled(on bool) { s.colorEnabled = on }

// SetStdoutTTY marks stdout alone as a terminal (or not), for tests.
func (s *IOStreams) SetStdoutTTY(tty bool) { s.stdoutTTY = tty }

// SetStderrTTY marks stderr alone as a terminal (or not), for tests.
func (s *IOStreams) SetStderrTTY(tty bool) { s.stderrTTY = tty }

// TerminalWidth is the width of the terminal, 80 when unknown.
func (s *IOStreams) TerminalWidth() int {
	if s.width > 0 {
		return s.width
	}
	return 80
}

// ErrNotConfirmed means the user declined a confirmation.
var ErrNotConfirmed = errors.New("not confirmed")

// Confirm asks a yes/no question on a terminal; the default is no.
func (s *IOStreams) Confirm(question string) (bool, error) {
	if !s.CanPrompt() {
		return false, errors.New("cannot prompt without a terminal")
	}
	fmt.Fprintf(s.ErrOut, "%s [y/N] ", question)
	line, err := bufio.NewReader(io.LimitReader(s.In, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}
