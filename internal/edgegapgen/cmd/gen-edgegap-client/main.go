// Command gen-edgegap-client regenerates every generated Edgegap client file
// (edgegapgen.Targets: the 2024 client in pkg/edgegap/gen and the 2026 v1 and
// v2 clients below it) from the specs in the shared Edgegap directory. It is
// run by scripts/gen-edgegap-client.sh.
//
// Usage:
//
//	gen-edgegap-client [-root repository] <shared edgegap directory>
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
	root := flag.String("root", ".", "repository root the output paths are relative to")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: gen-edgegap-client [-root repository] <shared edgegap directory>")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		return fmt.Errorf("expected the shared edgegap directory, got %d arguments", flag.NArg())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	files, err := edgegapgen.GenerateAll(ctx, flag.Arg(0))
	if err != nil {
		return err
	}
	// Write nothing until everything generated, so a failure leaves the
	// committed files consistent with each other.
	for _, out := range edgegapgen.Outputs() {
		path := filepath.Join(*root, filepath.FromSlash(out))
		if err := writeAtomic(path, files[out]); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s (%d bytes)\n", out, len(files[out]))
	}
	return nil
}

func writeAtomic(path string, code []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".edgegap.gen.*.go.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(code); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
