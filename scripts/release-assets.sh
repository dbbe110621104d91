#!/usr/bin/env bash
# goreleaser before-hook: regenerates completions and man pages and gzips the
# man pages for the archives.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/gen-docs.sh
rm -rf dist-assets && mkdir -p dist-assets/man
for f in docs/man/*.1; do gzip -9 -n -c "$f" > "dist-assets/man/$(basename "$f").gz"; done
