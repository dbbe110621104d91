package image

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// buildHello compiles testdata/hello as a static linux binary: a small
// stand-in for bevygap that builds in a second or two.
func buildHello(t *testing.T, arch string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the image tests build a stand-in binary and need the go command: %v", err)
	}
	out := filepath.Join(t.TempDir(), "bevygap")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "./testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in binary: %v\n%s", err, b)
	}
	return out
}

func caBundle(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// layerFiles reads the image's only layer: name -> header and content.
func layerFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1 (an empty base and bevygap's layer)", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s, want %s", mt, types.OCILayer)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimSuffix(h.Name, "/")
		hdrs[name], data[name] = h, b
	}
	return hdrs, data
}

func TestBuildWriteAndReadBack(t *testing.T) {
	bin := buildHello(t, "amd64")
	ca := caBundle(t)
	img, err := Build(Options{Binary: bin, CABundle: ca, Version: "1.2.3", Revision: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(img, dir, "ghcr.io/bevygap/bevygap:test"); err != nil {
		t.Fatal(err)
	}
	tarFile := filepath.Join(t.TempDir(), "bevygap.tar")
	if err := WriteTarball(img, tarFile, "ghcr.io/bevygap/bevygap:test"); err != nil {
		t.Fatal(err)
	}

	// Read the OCI layout back from disk, as a registry client would.
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "ghcr.io/bevygap/bevygap:test" {
		t.Fatalf("layout index %+v", im.Manifests)
	}
	if im.Manifests[0].MediaType != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want OCI", im.Manifests[0].MediaType)
	}
	back, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64 (read from the binary)", cf.OS, cf.Architecture)
	}
	c := cf.Config
	if len(c.Entrypoint) != 1 || path.Base(c.Entrypoint[0]) != "bevygap" || c.Entrypoint[0] != BinaryPath {
		t.Errorf("entrypoint %q, want [%s]", c.Entrypoint, BinaryPath)
	}
	if strings.Join(c.Cmd, " ") != "serve" {
		t.Errorf("cmd %q, want [serve]", c.Cmd)
	}
	uid, gid, ok := strings.Cut(c.User, ":")
	if !ok || uid == "0" || uid == "" || uid == "root" || gid == "0" {
		t.Errorf("user %q: want a non-root uid:gid", c.User)
	}
	if n, err := strconv.Atoi(uid); err != nil || n != UID {
		t.Errorf("user %q: want uid %d", c.User, UID)
	}
	if c.Labels["org.opencontainers.image.version"] != "1.2.3" || c.Labels["org.opencontainers.image.revision"] != "abc" {
		t.Errorf("labels %v", c.Labels)
	}

	hdrs, data := layerFiles(t, back)
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	h := hdrs[BinaryPath]
	if h == nil || !bytes.Equal(data[BinaryPath], want) {
		t.Fatalf("the layer does not hold the binary at %s", BinaryPath)
	}
	if h.Mode&0o111 == 0 || h.Uid != 0 || h.Mode&0o022 != 0 {
		t.Errorf("binary mode %o uid %d: want executable, owned by root, not writable by the user", h.Mode, h.Uid)
	}
	if pemCA, _ := os.ReadFile(ca); !bytes.Equal(data[CAPath], pemCA) {
		t.Errorf("CA bundle missing at %s", CAPath)
	}
	if !strings.Contains(string(data["/etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd %q has no nonroot user", data["/etc/passwd"])
	}
	if home := hdrs[Home]; home == nil || home.Uid != UID {
		t.Errorf("home %s not owned by %d: %+v", Home, UID, home)
	}
	if tmp := hdrs["/tmp"]; tmp == nil || tmp.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp missing or not 1777: %+v", tmp)
	}
	for name := range hdrs {
		if strings.HasPrefix(name, "/bin") || strings.HasSuffix(name, "/sh") {
			t.Errorf("the image has %s: no shell wanted", name)
		}
	}

	// The layout holds exactly the built image; the tarball (docker-save
	// format, its own manifest) the same config and layer.
	d1, _ := img.Digest()
	if d2, _ := back.Digest(); d1 != d2 {
		t.Fatalf("digests differ: built %s, layout %s", d1, d2)
	}
	fromTar, err := tarball.ImageFromPath(tarFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := img.ConfigName()
	c3, err := fromTar.ConfigName()
	if err != nil || c1 != c3 {
		t.Fatalf("tarball config %s (%v), want %s", c3, err, c1)
	}
	l1, _ := img.Layers()
	l3, err := fromTar.Layers()
	if err != nil || len(l3) != 1 {
		t.Fatalf("tarball layers %d (%v)", len(l3), err)
	}
	id1, _ := l1[0].DiffID()
	if id3, _ := l3[0].DiffID(); id1 != id3 {
		t.Fatalf("tarball layer %s, want %s", id3, id1)
	}

	// The binary in the layer runs (on a linux/amd64 host) as what it is.
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		exe := filepath.Join(t.TempDir(), "from-layer")
		if err := os.WriteFile(exe, data[BinaryPath], 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(exe, c.Cmd...).Output()
		if err != nil || !strings.HasPrefix(string(out), "hello from the image") || !strings.Contains(string(out), "args=serve") {
			t.Fatalf("running the layer's binary: %q %v", out, err)
		}
	}
}

func TestBuildIsReproducibleAndReadsTheArch(t *testing.T) {
	ca := caBundle(t)
	arm := buildHello(t, "arm64")
	a, err := Build(Options{Binary: arm, CABundle: ca})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(Options{Binary: arm, CABundle: ca})
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("same inputs, digests %s and %s", da, db)
	}
	cf, _ := a.ConfigFile()
	if cf.Architecture != "arm64" {
		t.Fatalf("arch %s, want arm64", cf.Architecture)
	}
	c, err := Build(Options{Binary: arm, CABundle: ca, Created: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Digest(); dc == da {
		t.Fatal("a different creation time gave the same digest")
	}
}

func TestBuildRefusesBadInputs(t *testing.T) {
	ca := caBundle(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "not-elf")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	noPEM := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(noPEM, []byte("nothing here"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildHello(t, "amd64")
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"no binary":      {Options{CABundle: ca}, "no binary"},
		"not elf":        {Options{Binary: text, CABundle: ca}, "not a Linux executable"},
		"no ca":          {Options{Binary: bin}, "no CA bundle"},
		"ca without pem": {Options{Binary: bin, CABundle: noPEM}, "holds no PEM certificate"},
		"missing ca":     {Options{Binary: bin, CABundle: filepath.Join(dir, "missing.pem")}, "CA bundle"},
	} {
		if _, err := Build(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// A dynamically linked executable needs a libc the empty base lacks.
	for _, dyn := range []string{"/bin/sh", "/usr/bin/env"} {
		if _, err := os.Stat(dyn); err != nil || staticCheckable(dyn) != nil {
			continue
		}
		if _, err := Build(Options{Binary: dyn, CABundle: ca}); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("%s: %v, want a dynamically-linked refusal", dyn, err)
		}
		return
	}
	t.Log("no dynamically linked executable on this host to refuse")
}

// staticCheckable reports whether p is an ELF with a dynamic loader.
func staticCheckable(p string) error {
	_, err := staticLinuxArch(p)
	if err != nil && strings.Contains(err.Error(), "dynamically linked") {
		return nil
	}
	return errors.New("not a dynamic ELF")
}

// The release image (deploy/Dockerfile, built by goreleaser) and the offline
// one must agree on where the binary is, the entrypoint and the user.
func TestReleaseDockerfileMatches(t *testing.T) {
	b, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var from, user, entry, copyDst string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(line, "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			from = f[1]
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			entry = strings.TrimSpace(strings.TrimPrefix(line, f[0]))
		case "COPY":
			copyDst = f[len(f)-1]
		}
	}
	if from != "scratch" && !strings.HasPrefix(from, "gcr.io/distroless/static") {
		t.Errorf("FROM %s: want scratch or distroless static (no shell, no libc)", from)
	}
	if user != User {
		t.Errorf("USER %s, want %s", user, User)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entry), &ep); err != nil || len(ep) != 1 || ep[0] != BinaryPath {
		t.Errorf("ENTRYPOINT %s, want [%q] in exec form", entry, BinaryPath)
	}
	if copyDst != BinaryPath {
		t.Errorf("COPY to %s, want %s", copyDst, BinaryPath)
	}
}
