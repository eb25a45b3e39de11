#!/usr/bin/env bash
# The ingest benchmark (issue 6), one command: builds the bench binary, generates the two ~1 MB
# subscription payloads, runs the Rust stages and the Python reference side by side on one core
# (RUNS separate processes each), measures peak RSS with /usr/bin/time -v, and prints the table and
# the ratios (also written to bench/out/results.md and bench/out/results.json).
#
#   bench/run.sh                 # RUNS=5 RUST_ITERS=30 PY_ITERS=10 by default
#   RUNS=1 RUST_ITERS=5 PY_ITERS=2 bench/run.sh   # a quick smoke run
#   BEFORE=main bench/run.sh     # also the bench binary of another commit, alternately: before/after
#   BENCH_BIN=PATH OUT=DIR ...   # that ingest_bench binary instead of building the release one, results
#                                # in DIR: the test command's smoke run (scripts/test.d/60-bench-smoke.sh)
#
# BEFORE=<commit>: that commit's tree (git archive) is built in bench/out/before-src with its own target
# dir (BEFORE_TARGET_DIR, default <target dir>-before) and its `stages` run beside this tree's in every
# run, so both see the same machine; the report then adds a before/after table.
# The bench binary is built without the AWS adapters (--no-default-features): the stages it measures
# are the pure core, and the AWS SDK would only make a cold build slow.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
RUST_ITERS=${RUST_ITERS:-30}
PY_ITERS=${PY_ITERS:-10}
SEED=${SEED:-1}
CPU=${CPU:-0}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"

BEFORE=${BEFORE:-}

# Wherever cargo puts its build (CARGO_TARGET_DIR, as scripts/test.sh sets it, or ./target).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=${BENCH_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --quiet -p bedrock-meter-core --no-default-features --example ingest_bench
  BIN=$TARGET_DIR/release/examples/ingest_bench
fi
BEFORE_BIN=
if [ -n "$BEFORE" ]; then
  src=$OUT/before-src
  rm -rf "$src"
  mkdir -p "$src"
  git archive "$BEFORE" | tar -x -C "$src"
  echo "before: $(git rev-parse --short "$BEFORE") built in $src" >&2
  before_target=${BEFORE_TARGET_DIR:-$TARGET_DIR-before}
  extra=()
  # Commits whose core uses futures-util's join! without declaring its feature build without the AWS
  # adapters only when asked for it.
  if grep -q '^futures-util' "$src/shared/Cargo.toml" && ! grep -q 'async-await-macro' "$src/shared/Cargo.toml"; then
    extra=(--features futures-util/async-await-macro)
  fi
  (cd "$src" && CARGO_TARGET_DIR=$before_target cargo build --release --quiet -p bedrock-meter-core --no-default-features "${extra[@]}" --example ingest_bench)
  BEFORE_BIN=$before_target/release/examples/ingest_bench
  git rev-parse --short "$BEFORE" > "$OUT/before.commit"
else
  rm -f "$OUT/before.commit"
fi
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
    b=null
    if [ -n "$BEFORE_BIN" ]; then
      b=$("${PIN[@]}" "$BEFORE_BIN" stages "$OUT/$mix.json" "$OUT/profiles.json" "$RUST_ITERS")
    fi
    # The machine's load (1-minute average, runnable tasks) when this run ended: the figures are
    # side by side in each run, but the report says how shared the machine was.
    load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo null)
    echo "{\"run\":$run,\"mix\":\"$mix\",\"rust\":$r,\"python\":$p,\"before\":$b,\"load\":$load}" >> "$OUT/runs.jsonl"
  done
done
for mix in body meta; do
  "$TIME" -v "$BIN" once "$OUT/$mix.json" "$OUT/profiles.json" > /dev/null 2> "$OUT/$mix.rss.txt"
  if [ -n "$BEFORE_BIN" ]; then
    "$TIME" -v "$BEFORE_BIN" once "$OUT/$mix.json" "$OUT/profiles.json" > /dev/null 2> "$OUT/$mix.before.rss.txt"
  fi
  "$TIME" -v python3 -c "import sys; sys.path.insert(0, 'bench'); import reference as r; x = r.Reference('shared/data/prices.json', '$OUT/profiles.json'); x.end_to_end(open('$OUT/$mix.json').read())" 2> "$OUT/$mix.py.rss.txt"
done
python3 bench/report.py "$OUT"
