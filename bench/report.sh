#!/usr/bin/env bash
# The local report against DuckDB (issue 16), one command: builds the CLI (release), generates a day of
# invocation logs from SEEDS demo seeds (`bedrock-meter demo --no-run`, one tree per seed, kept in
# bench/out/report/ for the next run), then times on the same files, RUNS times each, alternately:
#   - `bedrock-meter report --format json` (all cores),
#   - DuckDB (the test venv's python duckdb, 2 threads): read_json with an explicit column list, the
#     day's records only, requests and token sums per modelId and caller (bench/report_duckdb.py); the
#     caller is the principal (docs/callers.md), by the rule's SQL as `bedrock-meter rollup-sql
#     --caller-sql` generates it (the daily rollup's expression), transpiled to DuckDB,
#   - zcat of every record file, two processes: the floor (inflating alone).
# Wall time and peak RSS come from /usr/bin/time -v. The totals are checked equal (overall, per model,
# per caller: requests and every token sum) or the script fails. Prints a markdown table (also written to
# bench/out/report/results.md).
#
#   bench/report.sh                    # SEEDS=30 RUNS=3
#   SEEDS=2 RUNS=1 bench/report.sh     # a quick smoke run
#
# BEDROCK_METER_BIN=PATH uses that binary instead of building the release CLI, and OUT=DIR writes
# elsewhere than bench/out/report: the test command's smoke run (scripts/test.d/60-bench-smoke.sh)
# passes the debug build it already made and a temporary directory (its timings mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-30}
RUNS=${RUNS:-3}
DATE=2026-11-25
OUT=${OUT:-bench/out/report}
PY=${PY:-.venv/bin/python3}
mkdir -p "$OUT"

TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; fi
"$PY" -c 'import duckdb, sqlglot' || { echo "needs duckdb and sqlglot in $PY (scripts/setup-venv.sh)" >&2; exit 1; }

BIN=${BEDROCK_METER_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --quiet -p bedrock-meter
  TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  BIN=$TARGET_DIR/release/bedrock-meter
fi

DAY=$OUT/day
if [ "$(cat "$DAY/seeds" 2>/dev/null)" != "$SEEDS" ]; then
  echo "generating $SEEDS demo seeds into $DAY" >&2
  rm -rf "$DAY"
  mkdir -p "$DAY"
  seq 1 "$SEEDS" | xargs -P 2 -I{} "$BIN" demo --no-run --date "$DATE" --seed {} --out "$DAY/seed-{}" > /dev/null
  echo "$SEEDS" > "$DAY/seeds"
fi
PROFILES=$DAY/seed-1/profiles.json
# The caller rule (KEEP_SESSION_ROLES applies to it and to `report` alike), generated, not hand-written.
"$BIN" rollup-sql --caller-sql > "$OUT/caller.trino.sql"
# Record files only (not the offloaded bodies under HH/data/, not the permission-check marker): the glob
# a DuckDB user writes for the S3 layout, .../REGION/YYYY/MM/DD/HH/*.json.gz.
GLOB="$DAY/seed-*/logs/AWSLogs/*/BedrockModelInvocationLogs/*/*/*/*/*/*.json.gz"
# The same files listed by find (a shell glob of ~20,000 paths is too long for one command line).
list_files() {
  find "$DAY" -path '*/BedrockModelInvocationLogs/*' -name '*.json.gz' -not -path '*/data/*' -print0
}
FILES=$(list_files | tr -cd '\0' | wc -c)
BYTES=$(list_files | du -cb --files0-from=- | tail -1 | cut -f1)

# wall seconds and peak RSS (MB) of one command, from /usr/bin/time -v
measure() {
  local name=$1 run=$2
  shift 2
  "$TIME" -v "$@" > "$OUT/$name.out" 2> "$OUT/$name.time"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$OUT/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$OUT/$name.time")
  echo "{\"tool\":\"$name\",\"run\":$run,\"wall_s\":$wall,\"rss_mb\":$rss}" >> "$OUT/runs.jsonl"
}

zcat_all() {
  list_files | xargs -0 -P 2 -n 64 zcat > /dev/null
}
export -f zcat_all list_files
export DAY

: > "$OUT/runs.jsonl"
for run in $(seq 1 "$RUNS"); do
  echo "run $run/$RUNS: report, duckdb, zcat" >&2
  measure report "$run" "$BIN" report --date "$DATE" --profiles "$PROFILES" --format json "$DAY"/seed-*/logs
  measure duckdb "$run" "$PY" bench/report_duckdb.py query "$GLOB" "$DATE" "$OUT/duckdb.json" "$OUT/caller.trino.sql"
  measure zcat "$run" bash -c zcat_all
done
cp "$OUT/report.out" "$OUT/report.json"
"$PY" bench/report_duckdb.py check "$OUT/report.json" "$OUT/duckdb.json" "$PROFILES" 2> "$OUT/check.txt" || { cat "$OUT/check.txt" >&2; exit 1; }
cat "$OUT/check.txt" >&2

python3 - "$OUT" "$SEEDS" "$FILES" "$BYTES" "$(nproc)" <<'PY' | tee "$OUT/results.md"
import json, statistics, sys
out, seeds, files, size, cores = sys.argv[1:]
runs = [json.loads(l) for l in open(f"{out}/runs.jsonl")]
report = json.load(open(f"{out}/report.json"))
med = lambda tool, k: statistics.median(r[k] for r in runs if r["tool"] == tool)
n = report["totals"]["requests"]
print(f"A generated day: {seeds} demo seeds, {int(files):,} record files, {int(size) / 1e6:.0f} MB of .json.gz, "
      f"{n:,} records of the day; {cores} cores; medians of {len(runs) // 3} runs.\n")
print("| | wall s | records/s | peak RSS MB |")
print("|---|---:|---:|---:|")
rows = [("`bedrock-meter report --format json` (all cores)", "report"),
        ("DuckDB, explicit columns, sums per modelId × caller (the principal rule's SQL; 2 threads)", "duckdb"),
        ("`zcat` of the same files, 2 processes (the floor)", "zcat")]
for label, tool in rows:
    w = med(tool, "wall_s")
    print(f"| {label} | {w:.2f} | {n / w:,.0f} | {med(tool, 'rss_mb'):.0f} |")
print(f"\nreport vs DuckDB: **{med('duckdb', 'wall_s') / med('report', 'wall_s'):.1f}×** faster, "
      f"{med('duckdb', 'rss_mb') / med('report', 'rss_mb'):.1f}× less memory; "
      f"report vs zcat: {med('zcat', 'wall_s') / med('report', 'wall_s'):.2f}×.")
print(open(f"{out}/check.txt").read().strip().replace("equal:", "Totals checked equal:"))
PY
