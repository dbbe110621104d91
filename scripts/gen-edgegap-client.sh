#!/usr/bin/env bash
# Regenerate pkg/edgegap/gen/edgegap.gen.go from Edgegap's Swagger 2.0 spec.
#
# Usage: scripts/gen-edgegap-client.sh [<spec path or URL>]
#
#   scripts/gen-edgegap-client.sh                                 # https://api.edgegap.com/swagger.json
#   scripts/gen-edgegap-client.sh ../shared/edgegap/swagger.yaml  # offline
#
# The spec is converted to OpenAPI 3 with kin-openapi and generated with the
# oapi-codegen version pinned by go.mod's tool directive (the same code that
# `go tool oapi-codegen` runs), limited to the operations bevygap uses. The
# work is done by internal/edgegapgen, which the drift test in
# pkg/edgegap/gen also calls, so the test and this script agree byte for byte.
set -euo pipefail

if [[ $# -gt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
	echo "usage: $0 [<spec path or URL>]" >&2
	exit 2
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=${1:-https://api.edgegap.com/swagger.json}

# A relative spec path is relative to the caller's directory; make it absolute
# before changing into the repository.
if [[ $src != http://* && $src != https://* && $src != /* ]]; then
	src=$(cd "$(dirname "$src")" && pwd)/$(basename "$src")
fi

cd "$repo"
go run ./internal/edgegapgen/cmd/gen-edgegap-client -o pkg/edgegap/gen/edgegap.gen.go "$src"
