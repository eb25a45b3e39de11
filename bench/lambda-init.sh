#!/usr/bin/env bash
# Cold-start init time (Lambda's Init phase: process start to its first GET /runtime/invocation/next) of
# each Lambda bootstrap, before and after, side by side: bench/lambda_measure.py's minimal Runtime API on
# loopback starts the bootstrap with the environment template.yaml gives it (bench/lambda_env.py) and the
# variables Lambda defines, with no CPU quota. Figures: BENCHMARKS.md "Lambda packages and memory sizes".
#
#   bench/lambda-init.sh BEFORE_DIR AFTER_DIR      # each DIR/<function>/bootstrap
#   bench/lambda-init.sh none AFTER_DIR            # one build only
#
# RUNS rounds (default 40). Each round, for each function, for both builds (which goes first alternates
# by round): one start with the bootstrap's pages dropped from the page cache first (fsync, then
# posix_fadvise DONTNEED; fincore checks 0 bytes stay resident), then one with it cached. The
# machine-wide caches are not dropped (that would slow every other process): the shared libraries the
# bootstrap loads (libc, libm, libgcc_s) stay cached in both. Init makes no AWS call, so no emulator runs.
# Writes bench/out/lambda-init.json (one line per start) and prints the table (bench/lambda_init_report.py).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE_DIR=${1:?usage: bench/lambda-init.sh BEFORE_DIR AFTER_DIR}
AFTER_DIR=${2:?usage: bench/lambda-init.sh BEFORE_DIR AFTER_DIR}
RUNS=${RUNS:-40}
FUNCTIONS=${FUNCTIONS:-"ingest rollup logging-config"}
mkdir -p bench/out
out=bench/out/lambda-init.json
: > "$out"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for fn in $FUNCTIONS; do
  for d in "$BEFORE_DIR" "$AFTER_DIR"; do
    [ "$d" = none ] || [ -x "$d/$fn/bootstrap" ] || { echo "missing $d/$fn/bootstrap" >&2; exit 1; }
  done
  python3 bench/lambda_env.py "$fn" | sed 's/^/--env=/' > "$work/$fn.env"
done

one() {  # FUNCTION VARIANT DIR CACHE ROUND
  local fn=$1 variant=$2 dir=$3 cache=$4 round=$5 evict=() envs
  [ "$cache" = cold ] && evict=(--evict)
  mapfile -t envs < "$work/$fn.env"
  python3 bench/lambda_measure.py --bootstrap "$dir/$fn/bootstrap" --cold 1 "${evict[@]}" "${envs[@]}" \
    | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["runs"][0]
print(json.dumps({"function": sys.argv[1], "variant": sys.argv[2], "cache": sys.argv[3], "round": int(sys.argv[4]),
                  "init_ms": r["init_ms"], "init_cpu_ms": r.get("init_cpu_ms"), "peak_rss_kb": r.get("peak_rss_kb"),
                  "resident_bytes_before": r.get("resident_bytes_before"), "bootstrap": d["bootstrap"]}))' \
      "$fn" "$variant" "$cache" "$round" >> "$out"
}

for round in $(seq "$RUNS"); do
  for fn in $FUNCTIONS; do
    if [ $((round % 2)) = 1 ]; then order=("before $BEFORE_DIR" "after $AFTER_DIR"); else order=("after $AFTER_DIR" "before $BEFORE_DIR"); fi
    for o in "${order[@]}"; do
      set -- $o
      [ "$2" = none ] && continue
      one "$fn" "$1" "$2" cold "$round"
      one "$fn" "$1" "$2" warm "$round"
    done
  done
done
python3 bench/lambda_init_report.py "$out" "$BEFORE_DIR" "$AFTER_DIR"
