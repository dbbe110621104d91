// Command gen-edgegap-client regenerates pkg/edgegap/gen/edgegap.gen.go from
// Edgegap's Swagger 2.0 document. It is run by scripts/gen-edgegap-client.sh.
//
// Usage:
//
//	gen-edgegap-client [-o output.go] [spec path or URL]
//
// The default source is https://api.edgegap.com/swagger.json.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/bevygap/bevygap/internal/edgegapgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "pkg/edgegap/gen/edgegap.gen.go", "output file")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: gen-edgegap-client [-o output.go] [spec path or URL]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 1 {
		flag.Usage()
		return fmt.Errorf("expected at most one spec source, got %d", flag.NArg())
	}
	src := edgegapgen.DefaultSource
	if flag.NArg() == 1 {
		src = flag.Arg(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	spec, err := edgegapgen.ReadSpec(ctx, src)
	if err != nil {
		return err
	}
	code, err := edgegapgen.Generate(spec)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".edgegap.gen.*.go.tmp")
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(code); err != nil {
		tmp.Close()
		return fmt.Errorf("write output: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write output: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s (%d bytes) from %s\n", *out, len(code), src)
	return nil
}
