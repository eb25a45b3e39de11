#!/usr/bin/env bash
# One confirmation of bench/lambda-init.sh under `cargo lambda watch`, cargo-lambda's own Lambda runtime
# emulator: watch serves the Runtime API (--only-lambda-apis: it does not build or start the function),
# this script starts the ingest bootstrap against it with the template's environment, invokes it at once
# with `cargo lambda invoke` (the invocation waits for the init, then runs a CONTROL_MESSAGE batch, which
# succeeds without AWS calls), then invokes it again warm. Init ≈ cold invoke - warm invoke (both include
# the invoke client's own start and HTTP round trips, which cancel). N starts per build, alternating.
#
#   bench/lambda-watch-init.sh BEFORE_DIR AFTER_DIR      # each DIR/ingest/bootstrap
#   bench/lambda-watch-init.sh none AFTER_DIR             # one build only
#
# N rounds (default 5); each round starts each build twice, alternating which goes first: once with the
# bootstrap's own pages dropped from the page cache (fsync + posix_fadvise DONTNEED, as bench/lambda-init.sh;
# the shared libraries stay cached), once cached. Prints one CSV line per start, then the medians.
# Needs .venv (cargo-lambda). Loopback only; stops what it started.
#
# Routing (checked 2026-12-07, cargo-lambda 1.9.2): with --only-lambda-apis watch prints the variables the
# function must get, AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:PORT/.rt and AWS_LAMBDA_FUNCTION_NAME=_, and
# `cargo lambda invoke _` queues the event for it; GET .../2018-06-01/runtime/invocation/next and the POST
# of .../invocation/<id>/response both answer 200 there (a stand-in client and the ingest bootstrap). Watch
# sends lambda-runtime-deadline-ms: 600000 (not an epoch time): ingest treats a deadline already past as
# none (`deadline_instant` in shared/src/time.rs), and a control message needs no time anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BEFORE_DIR=${1:?usage: bench/lambda-watch-init.sh BEFORE_DIR AFTER_DIR}
AFTER_DIR=${2:?usage: bench/lambda-watch-init.sh BEFORE_DIR AFTER_DIR}
N=${N:-5}
RT_PORT=${RT_PORT:-9287}
[ -x .venv/bin/cargo-lambda ] || scripts/setup-venv.sh
export PATH="$root/.venv/bin:$PATH"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

python3 - "$work/control.json" <<'PY'
import base64, gzip, json, sys, time
data = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
        "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": int(time.time() * 1000),
        "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda function."}]}
json.dump({"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(data).encode())).decode()}},
          open(sys.argv[1], "w"))
PY
mapfile -t fn_env < <(python3 bench/lambda_env.py ingest)

setsid cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$RT_PORT" > "$work/watch.log" 2>&1 &
pids+=($!)
# Ready when it says so (a request to / would wait for a function: watch routes it as an invocation).
for _ in $(seq 150); do grep -q "starting Runtime server" "$work/watch.log" && break; sleep 0.2; done
grep -q "starting Runtime server" "$work/watch.log" || { echo "cargo lambda watch did not start:" >&2; cat "$work/watch.log" >&2; exit 1; }

invoke_ms() {  # prints the wall ms of one `cargo lambda invoke` of the function watch calls "_"
  local t0 t1
  t0=$(date +%s%N)
  cargo lambda invoke -A 127.0.0.1 -P "$RT_PORT" _ --data-file "$work/control.json" > "$work/out.json"
  t1=$(date +%s%N)
  grep -q '"control_message":true' "$work/out.json" || { echo "unexpected response: $(cat "$work/out.json")" >&2; exit 1; }
  echo $(( (t1 - t0) / 1000000 ))
}

evict() {  # drops the bootstrap's pages from the page cache; prints the bytes left resident
  python3 - "$1" <<'PY'
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fsync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", sys.argv[1]],
                     capture_output=True, text=True).stdout.strip()
print(out or "?")
PY
}

builds=()
[ "$BEFORE_DIR" = none ] || builds+=(before)
builds+=(after)
for b in "${builds[@]}"; do
  dir=$BEFORE_DIR; [ "$b" = after ] && dir=$AFTER_DIR
  [ -x "$dir/ingest/bootstrap" ] || { echo "missing $dir/ingest/bootstrap" >&2; exit 1; }
done

echo "build,page_cache,run,resident_bytes_at_start,cold_invoke_ms,warm_invoke_ms,init_estimate_ms" | tee "$work/rows.csv"
for i in $(seq "$N"); do
  order=("${builds[@]}")
  if [ $((i % 2)) = 0 ] && [ ${#builds[@]} = 2 ]; then order=(after before); fi
  for build in "${order[@]}"; do
    dir=$BEFORE_DIR; [ "$build" = after ] && dir=$AFTER_DIR
    for cache in dropped cached; do
      resident=cached
      [ "$cache" = dropped ] && resident=$(evict "$dir/ingest/bootstrap")
      # The environment Lambda and the template give (no AWS call is made: a control message).
      env -i "${fn_env[@]}" _HANDLER=bootstrap AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
        AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test TZ=:UTC LANG=en_US.UTF-8 \
        AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
        AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_LOG_LEVEL=INFO AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
        AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$RT_PORT/.rt" \
        setsid "$dir/ingest/bootstrap" >> "$work/fn.log" 2>&1 &
      fpid=$!
      cold=$(invoke_ms)
      warm=$(invoke_ms)
      kill -9 "$fpid" 2>/dev/null || true
      wait "$fpid" 2>/dev/null || true
      echo "$build,$cache,$i,$resident,$cold,$warm,$((cold - warm))" | tee -a "$work/rows.csv"
    done
  done
done

python3 - "$work/rows.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("\nmedians, ms (init estimate = cold invoke - warm invoke):")
print("build   page cache  n  cold invoke  warm invoke  init estimate (min-max)")
for build in ("before", "after"):
    for cache in ("dropped", "cached"):
        r = [x for x in rows if x["build"] == build and x["page_cache"] == cache]
        if not r:
            continue
        col = lambda k: [int(x[k]) for x in r]
        est = col("init_estimate_ms")
        print(f"{build:7} {cache:10} {len(r):2}  {statistics.median(col('cold_invoke_ms')):11}  "
              f"{statistics.median(col('warm_invoke_ms')):11}  {statistics.median(est):6} ({min(est)}-{max(est)})")
PY
