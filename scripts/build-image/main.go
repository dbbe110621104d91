// Command build-image builds the bevygap container image without a Docker
// engine (see internal/image): `go run ./scripts/build-image -binary
// dist/bevygap -layout dist/oci` or `-tar dist/bevygap.tar`. The
// scripts/build-image.sh wrapper compiles the static binary first.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/bevygap/bevygap/internal/image"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("build-image", flag.ContinueOnError)
	var o image.Options
	fs.StringVar(&o.Binary, "binary", "", "static linux bevygap binary (CGO_ENABLED=0 GOOS=linux go build ./cmd/bevygap)")
	fs.StringVar(&o.CABundle, "ca", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of root CAs to put in the image")
	fs.StringVar(&o.Version, "version", "", "version label")
	fs.StringVar(&o.Revision, "revision", "", "revision (commit) label")
	epoch := fs.Int64("created", 0, "image time as Unix seconds (default SOURCE_DATE_EPOCH, else 0, for reproducible digests)")
	ref := fs.String("tag", "ghcr.io/bevygap/bevygap:dev", "image reference recorded in the outputs")
	dir := fs.String("layout", "", "write an OCI image layout to this directory")
	tarFile := fs.String("tar", "", "write a tarball for docker/podman load to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" && *tarFile == "" {
		return errors.New("give -layout DIR, -tar FILE or both")
	}
	if *epoch == 0 {
		if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
			if _, err := fmt.Sscan(v, epoch); err != nil {
				return fmt.Errorf("SOURCE_DATE_EPOCH %q is not Unix seconds", v)
			}
		}
	}
	o.Created = time.Unix(*epoch, 0).UTC()
	img, err := image.Build(o)
	if err != nil {
		return err
	}
	if *dir != "" {
		if err := image.WriteLayout(img, *dir, *ref); err != nil {
			return err
		}
	}
	if *tarFile != "" {
		if err := image.WriteTarball(img, *tarFile, *ref); err != nil {
			return err
		}
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s\n", *ref, d)
	return nil
}
