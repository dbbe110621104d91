#!/usr/bin/env bash
# Measures the deployments allocator on loopback, every figure beside a
# floor measured in the same run, and writes the report between the markers
# of docs/performance.md (pass --print to only print it).
#
#   scripts/bench.sh            # full run (about a minute on 2 cores)
#   scripts/bench.sh --print    # print, do not touch docs/
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

out=$(mktemp)
trap 'rm -f "$out" "$out.bench"' EXIT

{
  echo "Measured $(date -u +%Y-%m-%d) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(go version | cut -d' ' -f3), by \`scripts/bench.sh\`."
  echo
  go run ./internal/cmd/bench/
  echo "### Matchmaker seat cost on a warm fleet, beside its floor"
  echo
  echo "\`BenchmarkFleetSeat\`: one whole seat through NATS on a warm fleet (request, placement by"
  echo "compare-and-set, cached digest, token, two mapping puts, feedback stream)."
  echo "\`BenchmarkFleetSeatFloor\`: one bare NATS request/reply plus the same compare-and-set and the two mapping puts."
  echo
  go test -run='^$' -bench='FleetSeat' -benchtime=2s -count=3 ./internal/matchmaker/ > "$out.bench"
  awk '
    function nsop(  i) { for (i = 1; i < NF; i++) if ($(i + 1) == "ns/op") return $i; return 0 }
    /^BenchmarkFleetSeatFloor/ { f[++nf] = nsop() }
    /^BenchmarkFleetSeat-|^BenchmarkFleetSeat[ \t]/ { s[++ns] = nsop() }
    END {
      print "| run | seat ns/op | floor ns/op | ratio | target |"
      print "|---|---:|---:|---:|---:|"
      for (i = 1; i <= ns && i <= nf; i++) printf "| %d | %d | %d | %.2fx | <= 3x |\n", i, s[i], f[i], s[i] / f[i]
    }' "$out.bench"
  echo
} > "$out"

if [ "${1:-}" = "--print" ]; then
  cat "$out"
  exit 0
fi
doc=docs/performance.md
begin='<!-- bench.sh begin -->'
end='<!-- bench.sh end -->'
if ! grep -q "$begin" "$doc"; then
  echo "$doc has no '$begin' marker" >&2
  exit 1
fi
awk -v b="$begin" -v e="$end" -v f="$out" '
  $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
  $0 == e { skip = 0 }
  !skip { print }' "$doc" > "$doc.new"
mv "$doc.new" "$doc"
cat "$out"
