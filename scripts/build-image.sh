#!/bin/sh
# Builds the bevygap container image without a Docker engine: a static binary
# on an empty base (internal/image), as an OCI layout and a tarball that
# `docker load` / `podman load` accept.
#   scripts/build-image.sh [outdir]      (GOARCH=arm64 for arm64; default: this machine's)
set -eu
out=${1:-dist/image}
arch=${GOARCH:-$(go env GOARCH)}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
mkdir -p "$out"
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath \
	-ldflags "-s -w -X github.com/bevygap/bevygap/internal/build.Version=$version -X github.com/bevygap/bevygap/internal/build.Commit=$commit" \
	-o "$out/bevygap-linux-$arch" ./cmd/bevygap
go run ./scripts/build-image -binary "$out/bevygap-linux-$arch" -version "$version" -revision "$commit" \
	-tag "ghcr.io/bevygap/bevygap:$version-$arch" -layout "$out/oci" -tar "$out/bevygap-$arch.tar"
