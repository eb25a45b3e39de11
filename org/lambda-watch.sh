#!/usr/bin/env bash
# The organisation path run the way Lambda runs it (docs/organization.md, "Run under cargo lambda"):
# `cargo lambda watch` (a Lambda runtime emulator) with moto as AWS on loopback, then `cargo lambda
# invoke`:
#
#  1. three member accounts' fixture days (tests/sql/fixtures.py); two members' fan-in files are
#     written offline by `bedrock-meter report --write-fan-in` and put into the home bucket; a fourth
#     account reported the day before only (it must be named missing);
#  2. the third member's daily rollup runs in member mode (the `rollup` binary under cargo lambda
#     watch, FAN_IN_BUCKET set): its Athena result is its daily SQL run in DuckDB over its logs, seeded
#     into moto's Athena; it writes its own fan-in object to the home bucket;
#  3. the organisation rollup (the same binary, ROLLUP_MODE=organization): its Athena result is the
#     organisation SQL (`rollup-sql --org`) run in DuckDB over the home bucket's objects; it publishes
#     one email per team and the summary, and writes each page to the pages bucket;
#  4. the figures are checked against `bedrock-meter report --fan-in` over the bucket synced to disk
#     and against the members' own reports;
#  5. the ingest Lambda (cargo lambda watch, ORG_ALERT_TOPIC_ARN set) gets a runaway's records dated
#     now (`bedrock-meter event`) and publishes the alert to its own topic and the copy to the
#     organisation's.
#
# Needs .venv (moto server, cargo-lambda, duckdb, sqlglot). Loopback only: moto, a Bedrock profile
# stub (moto has no inference profiles) and the runtime emulators; it stops what it started. moto
# runs in its default account here: the cross-account rules (bucket and topic policies with
# aws:PrincipalOrgID) are judged by the strict proxy in tests/tests/organization.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
MOTO_PORT=${MOTO_PORT:-5241}
STUB_PORT=${STUB_PORT:-5242}
RT_PORT=${RT_PORT:-9241}
[ -x .venv/bin/moto_server ] && [ -x .venv/bin/cargo-lambda ] || { echo "needs .venv (scripts/setup-venv.sh)"; exit 1; }
export PATH="$root/.venv/bin:$PATH"
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cargo build --quiet -p bedrock-meter --bin bedrock-meter
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export BEDROCK_METER_BIN="$target/debug/bedrock-meter"

setsid moto_server -H 127.0.0.1 -p "$MOTO_PORT" > "$work/moto.log" 2>&1 &
pids+=($!)
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 50); do curl -s "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done

# 1 and the seeds: fixtures, offline fan-in files, buckets, topics, workgroups, the member's Athena rows.
.venv/bin/python org/lambda_watch.py setup "$work" "$STUB_PORT"
setsid .venv/bin/python org/lambda_watch.py stub "$work" "$STUB_PORT" > "$work/stub.log" 2>&1 &
pids+=($!)

watch() { # NAME DIR ENV... : starts cargo lambda watch in DIR with --env-var ENV...
  local name=$1 dir=$2; shift 2
  local args=()
  for e in "$@"; do args+=(--env-var "$e"); done
  # setsid (no fork: a background job is not a group leader) keeps the pid as the group's id, so
  # stop_watch ends the emulator and the function it started.
  setsid bash -c 'cd "$1" && shift && exec cargo lambda watch "$@"' _ "$dir" \
    -A 127.0.0.1 -P "$RT_PORT" "${args[@]}" > "$work/watch-$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do grep -q "starting Runtime server" "$work/watch-$name.log" 2>/dev/null && return; sleep 1; done
  echo "cargo lambda watch ($name) did not start"; cat "$work/watch-$name.log"; exit 1
}
stop_watch() { # ends the last emulator (and its function), then waits for its port to be free
  local w=${pids[-1]} c
  # The function runs in a process group of its own: end the emulator's children by pid first.
  for c in $(ps -o pid= --ppid "$w"); do kill "$c" 2>/dev/null || true; done
  kill -- -"$w" 2>/dev/null || true; unset 'pids[-1]'
  for _ in $(seq 30); do (exec 3<>"/dev/tcp/127.0.0.1/$RT_PORT") 2>/dev/null || return 0; sleep 1; done
  echo "port $RT_PORT still in use"; exit 1
}
invoke() { # FUNCTION EVENT-FILE OUT
  cargo lambda invoke -A 127.0.0.1 -P "$RT_PORT" "$1" --data-file "$2" > "$3"
  echo "== cargo lambda invoke $1 --data-file $(basename "$2") ->"; cat "$3"; echo
}
env_of() { .venv/bin/python -c 'import json,sys; print("\n".join(f"{k}={v}" for k,v in json.load(open(sys.argv[1])).items()))' "$1"; }

# 2. The member's rollup, member mode.
mapfile -t member_env < <(env_of "$work/member-env.json")
watch member functions/rollup "${member_env[@]}"
invoke rollup "$work/day-event.json" "$work/member-out.json"
stop_watch

# 3. The organisation rollup: its Athena result is the organisation SQL over the bucket's objects.
.venv/bin/python org/lambda_watch.py seed-org "$work"
mapfile -t org_env < <(env_of "$work/org-env.json")
watch org functions/rollup "${org_env[@]}"
invoke rollup "$work/day-event.json" "$work/org-out.json"
stop_watch

# 4. Checks against the CLI and the members' own reports.
.venv/bin/python org/lambda_watch.py check "$work"

# 5. The ingest Lambda: a runaway's copy on the organisation's topic.
.venv/bin/python org/lambda_watch.py runaway "$work"
"$BEDROCK_METER_BIN" event "$work/runaway.jsonl" > "$work/runaway-event.json"
mapfile -t ingest_env < <(env_of "$work/ingest-env.json")
watch ingest functions/ingest "${ingest_env[@]}"
invoke ingest "$work/runaway-event.json" "$work/ingest-out.json"
stop_watch
.venv/bin/python org/lambda_watch.py check-runaway "$work"
echo "work files: $work"
