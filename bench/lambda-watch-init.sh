#!/usr/bin/env bash
# One confirmation of bench/lambda-init.sh under `cargo lambda watch`, cargo-lambda's own Lambda runtime
# emulator: watch serves the Runtime API (--only-lambda-apis: it does not build or start the function),
# this script starts the ingest bootstrap against it with the template's environment, invokes it at once
# with `cargo lambda invoke` (the invocation waits for the init, then runs a CONTROL_MESSAGE batch, which
# succeeds without AWS calls), then invokes it again warm. Init ≈ cold invoke - warm invoke (both include
# the invoke client's own start and HTTP round trips, which cancel). N starts per build, alternating.
#
#   bench/lambda-watch-init.sh BEFORE_DIR AFTER_DIR      # each DIR/ingest/bootstrap
#
# Needs .venv (cargo-lambda). Loopback only; stops what it started.
# NOT YET RUN against a real bootstrap (2026-12-07: the release build did not finish in the round). With
# --only-lambda-apis, cargo-lambda 1.9.2 prints the variables the function must get:
# AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:PORT/.rt and AWS_LAMBDA_FUNCTION_NAME=_ (used below); a
# stand-in client got the invocation at that address but its response POST was answered 500, so check
# the routing of the function name first.
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
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$RT_PORT/" && break; sleep 0.2; done

invoke_ms() {  # prints the wall ms of one `cargo lambda invoke` of the function watch calls "_"
  local t0 t1
  t0=$(date +%s%N)
  cargo lambda invoke -A 127.0.0.1 -P "$RT_PORT" _ --data-file "$work/control.json" > "$work/out.json"
  t1=$(date +%s%N)
  grep -q '"control_message":true' "$work/out.json" || { echo "unexpected response: $(cat "$work/out.json")" >&2; exit 1; }
  echo $(( (t1 - t0) / 1000000 ))
}

echo "build,run,cold_invoke_ms,warm_invoke_ms,init_estimate_ms"
for i in $(seq "$N"); do
  for build in before after; do
    dir=$BEFORE_DIR; [ "$build" = after ] && dir=$AFTER_DIR
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
    echo "$build,$i,$cold,$warm,$((cold - warm))"
  done
done
