#!/usr/bin/env bash
# Regenerates the CLI reference (docs/cli, docs/man) and shell completions
# (completions/) from the command tree. A test fails when they drift.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./internal/cmd/gendocs .
echo "generated docs/cli, docs/man, completions/ and the README configuration table"
