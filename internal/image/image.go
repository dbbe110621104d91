// Package image builds the bevygap container image without a Docker engine:
// one layer on an empty base holding the static bevygap binary, a CA bundle
// for the Edgegap API and an unprivileged user, written as an OCI layout or
// a tarball `docker load` and `podman load` accept. The release image
// (deploy/Dockerfile, built by goreleaser) has the same entrypoint and user;
// a test keeps the two in step.
package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What every bevygap image has, offline or released.
const (
	// BinaryPath is where the binary lives; the entrypoint runs it.
	BinaryPath = "/usr/local/bin/bevygap"
	// UID and GID are the unprivileged user ("nonroot", as in distroless).
	UID = 65532
	GID = 65532
	// User is the image config's user field.
	User = "65532:65532"
	// Home is the user's home directory, writable by it.
	Home = "/home/nonroot"
	// CAPath is where the CA bundle goes; Go's crypto/x509 reads it on Linux.
	CAPath = "/etc/ssl/certs/ca-certificates.crt"
)

// DefaultCmd is the command the entrypoint gets without arguments.
var DefaultCmd = []string{"serve"}

// Options describe one image.
type Options struct {
	// Binary is a static Linux bevygap binary (CGO_ENABLED=0).
	Binary string
	// CABundle is a PEM file of root CAs to trust (usually the build host's
	// /etc/ssl/certs/ca-certificates.crt): bevygap reaches the Edgegap API
	// over HTTPS and an empty base has no CAs of its own.
	CABundle string
	// Version and Revision go into the OCI labels; optional.
	Version  string
	Revision string
	// Created is the image and file time; the zero value means the Unix
	// epoch, so the same inputs give the same image digest.
	Created time.Time
}

// Build assembles the image. The platform comes from the binary itself,
// which must be a statically linked Linux executable for amd64 or arm64.
func Build(o Options) (v1.Image, error) {
	if o.Binary == "" {
		return nil, errors.New("image: no binary given")
	}
	if o.CABundle == "" {
		return nil, errors.New("image: no CA bundle given (bevygap needs root CAs for the Edgegap API; pass the build host's /etc/ssl/certs/ca-certificates.crt)")
	}
	arch, err := staticLinuxArch(o.Binary)
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	ca, err := os.ReadFile(o.CABundle)
	if err != nil {
		return nil, fmt.Errorf("image: CA bundle: %w", err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("image: CA bundle %s holds no PEM certificate", o.CABundle)
	}
	created := o.Created
	if created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	tarBytes, err := rootfs(bin, ca, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "bevygap",
		"org.opencontainers.image.description": "Matchmaker, gateway and admin tool for Bevy/Lightyear games on Edgegap",
		"org.opencontainers.image.source":      "https://github.com/bevygap/bevygap",
		"org.opencontainers.image.licenses":    "MIT",
	}
	if o.Version != "" {
		labels["org.opencontainers.image.version"] = o.Version
	}
	if o.Revision != "" {
		labels["org.opencontainers.image.revision"] = o.Revision
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		Cmd:        DefaultCmd,
		User:       User,
		WorkingDir: Home,
		Env:        []string{"HOME=" + Home},
		Labels:     labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

// staticLinuxArch checks that path is a Linux ELF executable without a
// dynamic loader and returns its OCI architecture.
func staticLinuxArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("image: binary %s is not a Linux executable (build with GOOS=linux): %w", path, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("image: binary %s is dynamically linked; build it with CGO_ENABLED=0 (an empty base has no libc)", path)
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	}
	return "", fmt.Errorf("image: binary %s is for %v; build for amd64 or arm64", path, f.Machine)
}

// rootfs is the single layer: directories, passwd/group, CA bundle, binary.
func rootfs(bin, ca []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(p string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(p string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", UID, GID, Home)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID)
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file(CAPath[1:], 0o644, ca) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir(Home[1:], 0o700, UID) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir(path.Dir(BinaryPath)[1:], 0o755, 0) },
		func() error { return file(BinaryPath[1:], 0o755, bin) },
		tw.Close,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("image: layer: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// WriteLayout writes img as an OCI image layout in dir (created if missing;
// an existing layout gets the image added), tagged ref.
func WriteLayout(img v1.Image, dir, ref string) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("image: OCI layout %s: %w", dir, err)
		}
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		return fmt.Errorf("image: OCI layout %s: %w", dir, err)
	}
	return nil
}

// WriteTarball writes img to file as a tarball `docker load` and `podman
// load` accept, tagged ref (e.g. ghcr.io/bevygap/bevygap:dev).
func WriteTarball(img v1.Image, file, ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image: tag %q: %w", ref, err)
	}
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		return fmt.Errorf("image: tarball %s: %w", file, err)
	}
	return nil
}
