#!/usr/bin/env bash
# The ingest benchmark (issue 6), one command: builds the bench binary, generates the two ~1 MB
# subscription payloads, runs the Rust stages and the Python reference side by side on one core
# (RUNS separate processes each), measures peak RSS with /usr/bin/time -v, and prints the table and
# the ratios (also written to bench/out/results.md and bench/out/results.json).
#
#   bench/run.sh                 # RUNS=5 RUST_ITERS=30 PY_ITERS=10 by default
#   RUNS=1 RUST_ITERS=5 PY_ITERS=2 bench/run.sh   # a quick smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
RUST_ITERS=${RUST_ITERS:-30}
PY_ITERS=${PY_ITERS:-10}
SEED=${SEED:-1}
CPU=${CPU:-0}
OUT=bench/out
mkdir -p "$OUT"

cargo build --release --quiet -p bedrock-meter-core --example ingest_bench
# Wherever cargo puts its build (CARGO_TARGET_DIR, as scripts/test.sh sets it, or ./target).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release/examples/ingest_bench
PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c "$CPU"); fi
TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; fi

: > "$OUT/runs.jsonl"
for mix in body meta; do
  "$BIN" gen "$mix" "$SEED" "$OUT/$mix.json" "$OUT/profiles.json" 2> "$OUT/$mix.gen.txt"
  echo "payload $mix: $(cat "$OUT/$mix.gen.txt")" >&2
done
for run in $(seq 1 "$RUNS"); do
  for mix in body meta; do
    echo "run $run/$RUNS: $mix (rust, python)" >&2
    r=$("${PIN[@]}" "$BIN" stages "$OUT/$mix.json" "$OUT/profiles.json" "$RUST_ITERS")
    p=$("${PIN[@]}" python3 bench/reference.py "$OUT/$mix.json" "$OUT/profiles.json" "$PY_ITERS" shared/data/prices.json)
    echo "{\"run\":$run,\"mix\":\"$mix\",\"rust\":$r,\"python\":$p}" >> "$OUT/runs.jsonl"
  done
done
for mix in body meta; do
  "$TIME" -v "$BIN" once "$OUT/$mix.json" "$OUT/profiles.json" > /dev/null 2> "$OUT/$mix.rss.txt"
  "$TIME" -v python3 -c "import sys; sys.path.insert(0, 'bench'); import reference as r; x = r.Reference('shared/data/prices.json', '$OUT/profiles.json'); x.end_to_end(open('$OUT/$mix.json').read())" 2> "$OUT/$mix.py.rss.txt"
done
python3 bench/report.py "$OUT"
