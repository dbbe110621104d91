package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/itchyny/gojq"
)

// JQ is a compiled --jq expression.
type JQ struct {
	expr string
	code *gojq.Code
}

// ParseJQ compiles a --jq expression (gojq, the jq implementation gh uses).
func ParseJQ(expr string) (*JQ, error) {
	q, err := gojq.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid --jq expression %q: %v", expr, err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fmt.Errorf("invalid --jq expression %q: %v", expr, err)
	}
	return &JQ{expr: expr, code: code}, nil
}

// Filter applies the expression to every JSON value written to it (one
// document, or one per line as `kv watch` and `top` stream them) and
// writes each result to w as it comes: strings raw, other values as
// compact JSON, one per line (like gh and `jq -r`). Close it when the
// command is done; Close reports the first error.
type Filter struct {
	pw   *io.PipeWriter
	done chan struct{}
	err  error
	once sync.Once
}

// NewFilter starts filtering into w. Its goroutine ends when Close is
// called (or the input is not JSON).
func (q *JQ) NewFilter(w io.Writer) *Filter {
	pr, pw := io.Pipe()
	f := &Filter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		err := q.run(pr, w)
		// Drain so writers never block after an error.
		_ = pr.CloseWithError(err)
		f.err = err
	}()
	return f
}

func (f *Filter) Write(p []byte) (int, error) { return f.pw.Write(p) }

// Close ends the input and waits for the last results.
func (f *Filter) Close() error {
	f.once.Do(func() { _ = f.pw.Close() })
	<-f.done
	return f.err
}

func (q *JQ) run(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("--jq: the command's output is not JSON (%v)", err)
		}
		if err := q.apply(normalize(v), w); err != nil {
			return err
		}
	}
}

func (q *JQ) apply(v any, w io.Writer) error {
	iter := q.code.Run(v)
	for {
		out, ok := iter.Next()
		if !ok {
			return nil
		}
		if err, isErr := out.(error); isErr {
			var halt *gojq.HaltError
			if errors.As(err, &halt) && halt.Value() == nil {
				return nil
			}
			return fmt.Errorf("--jq %s: %v", q.expr, err)
		}
		var line []byte
		if s, isStr := out.(string); isStr {
			line = []byte(s)
		} else {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(out); err != nil {
				return fmt.Errorf("--jq %s: %v", q.expr, err)
			}
			line = bytes.TrimRight(buf.Bytes(), "\n")
		}
		if _, err := fmt.Fprintf(w, "%s\n", line); err != nil {
			return err
		}
	}
}

// normalize turns json.Number into the int or float64 gojq computes with.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
	}
	return v
}
