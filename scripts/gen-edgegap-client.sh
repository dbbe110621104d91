#!/usr/bin/env bash
# Regenerate every generated Edgegap client file from Edgegap's specs, read in
# place from the shared directory beside the repository (never copied in):
#
#   pkg/edgegap/gen/edgegap.gen.go                 <- swagger.yaml (2024, Swagger 2.0: sessions)
#   pkg/edgegap/gen/edgegapv1/edgegapv1.gen.go     <- 2026/edgegap-v1-openapi.yaml (status, list, stop, tags)
#   pkg/edgegap/gen/edgegapv2/edgegapv2.gen.go     <- 2026/edgegap-v2-openapi.yaml (POST /v2/deployments)
#
# Usage: scripts/gen-edgegap-client.sh [<shared edgegap directory>]
#
#   scripts/gen-edgegap-client.sh                     # ../shared/edgegap beside the repository
#   scripts/gen-edgegap-client.sh /path/to/edgegap    # elsewhere
#
# Only the operations bevygap uses are generated (edgegapgen.Targets lists
# them), with the oapi-codegen version pinned by go.mod's tool directive (the
# same code that `go tool oapi-codegen` runs); the 2024 document is converted
# to OpenAPI 3 with kin-openapi first. The work is done by internal/edgegapgen,
# which the drift test in pkg/edgegap/gen also calls, so the test and this
# script agree byte for byte, and running the script twice changes nothing.
set -euo pipefail

if [[ $# -gt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
	echo "usage: $0 [<shared edgegap directory>]" >&2
	exit 2
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${1:-$repo/../shared/edgegap}
# A relative directory is relative to the caller's directory.
shared=$(cd "$shared" && pwd)

cd "$repo"
go run ./internal/edgegapgen/cmd/gen-edgegap-client -root "$repo" "$shared"
