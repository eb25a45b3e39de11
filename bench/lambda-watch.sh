#!/usr/bin/env bash
# The ingest function run the way Lambda runs it: `cargo lambda watch` (a Lambda runtime emulator) with
# moto as AWS on loopback (DynamoDB state table, SNS alert topic, CloudWatch). It invokes one batch of
# N records dated now and prints the wall time of the invocation, the handler's summary (store calls,
# chain, scopes, alerts) and the alerts moto received.
#
#   bench/lambda-watch.sh                 # 2,000 records from 2,000 session names of one role
#   MODE=roles N=2000 bench/lambda-watch.sh   # 2,000 records from 2,000 distinct roles
#   MODE=bodies N=100 bench/lambda-watch.sh   # 100 records with ~8 KB request and response bodies
#                                             # (text delivery on: messages read in one pass)
#
# On a failure it prints what the strict proxy refused and the end of moto's own log.
#
# Needs .venv (scripts/setup-venv.sh: moto server, boto3, cargo-lambda). moto runs behind the strict
# proxy. Loopback only; it stops what it started. Timings on moto mostly count calls (~7 ms each, one at a time): see BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
N=${N:-2000}
MODE=${MODE:-sessions}
RT_PORT=${RT_PORT:-9187}
[ -x .venv/bin/moto_server ] && [ -x .venv/bin/cargo-lambda ] || scripts/setup-venv.sh
export PATH="$root/.venv/bin:$PATH"
work=$(mktemp -d)
pids=()
moto_pid=
# On a failure, what the proxy refused and moto's own log are printed before everything is removed.
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -n "$moto_pid" ]; then
    exec 3>&-
    for _ in $(seq 20); do kill -0 "$moto_pid" 2>/dev/null || break; sleep 0.1; done
    echo "--- the strict proxy (moto_strict):" >&2; cat "$work/moto.log" >&2 2>/dev/null || true
    echo "--- moto server, last 40 lines:" >&2; tail -40 "$work/moto-server.log" >&2 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# moto behind the strict proxy (tests/examples/moto_strict.rs): it refuses what AWS refuses, and runs
# each DynamoDB transaction alone, as DynamoDB does; moto alone breaks on concurrent transactions (an
# HTML 500 from a table copied while another request writes it). It serves until its stdin closes.
cargo build --quiet -p bedrock-meter-integration-tests --example moto_strict
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mkfifo "$work/moto.in"
MOTO_LOG="$work/moto-server.log" setsid "$target/debug/examples/moto_strict" < "$work/moto.in" \
  > "$work/moto.env" 2> "$work/moto.log" &
moto_pid=$!
pids+=($moto_pid)
exec 3> "$work/moto.in"
for _ in $(seq 300); do
  grep -q READY "$work/moto.env" 2>/dev/null && break
  kill -0 "$moto_pid" 2>/dev/null || break
  sleep 0.2
done
grep -q READY "$work/moto.env" || { echo "moto behind the strict proxy did not start" >&2; exit 1; }
export "$(grep '^AWS_ENDPOINT_URL=' "$work/moto.env")" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

# The table (as template.yaml's StateTable), the topic, and N records dated now.
topic=$(python3 - "$work" "$N" "$MODE" <<'PY'
import boto3, datetime, json, sys, uuid
work, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ddb = boto3.client("dynamodb")
ddb.create_table(TableName="bedrock-meter-state", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
arn = boto3.client("sns").create_topic(Name="bedrock-meter-alerts")["TopicArn"]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
with open(f"{work}/records.jsonl", "w") as f:
    for i in range(n):
        who = f"assumed-role/svc-{i}/s" if mode == "roles" else f"assumed-role/eks-pods/botocore-session-{i}"
        ts = (now - datetime.timedelta(seconds=(n - i) * 60 // max(n, 1))).strftime("%Y-%m-%dT%H:%M:%SZ")
        rec = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": ts,
            "accountId": "111122223333", "region": "us-east-1", "requestId": str(uuid.uuid4()),
            "operation": "Converse", "modelId": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "identity": {"arn": f"arn:aws:sts::111122223333:{who}"},
            "input": {"inputTokenCount": 20000, "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0},
            "output": {"outputTokenCount": 800}}
        if mode == "bodies":
            text = " ".join(f'word{j} "quoted" {{brace}} [x]\n' for j in range(300))
            rec["input"]["inputBodyJson"] = {"messages": [{"role": "user", "content": [{"text": text}]}],
                "serviceTier": {"type": "default"}}
            rec["output"]["outputBodyJson"] = [{"delta": {"text": text[:2000]}}, {"usage": {"outputTokens": 800}}]
        f.write(json.dumps(rec) + "\n")
print(arn)
PY
)

cargo build --quiet -p bedrock-meter --bin bedrock-meter -p bedrock-meter-ingest
"$target/debug/bedrock-meter" event "$work/records.jsonl" > "$work/event.json"
"$target/debug/bedrock-meter" event --control > "$work/control.json"

STATE_TABLE=bedrock-meter-state ALERT_TOPIC_ARN=$topic setsid cargo lambda watch -A 127.0.0.1 -P "$RT_PORT" \
  > "$work/watch.log" 2>&1 3>&- &
pids+=($!)
for _ in $(seq 300); do grep -q "starting Runtime server" "$work/watch.log" && break; sleep 1; done
# The first invoke starts the function (and may build it): not timed.
cargo lambda invoke -A 127.0.0.1 -P "$RT_PORT" ingest --data-file "$work/control.json" >/dev/null
start=$(date +%s.%N)
cargo lambda invoke -A 127.0.0.1 -P "$RT_PORT" ingest --data-file "$work/event.json" > "$work/out.json"
end=$(date +%s.%N)
python3 - "$work/out.json" "$start" "$end" "$AWS_ENDPOINT_URL" "$N" "$MODE" <<'PY'
import json, sys, urllib.request
out = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
sns = json.load(urllib.request.urlopen(sys.argv[4] + "/moto-api/data.json"))["sns"]["Topic"]
alerts = [n[2] for t in sns for n in t.get("sent_notifications", [])]
print(f"batch: {sys.argv[5]} records, {sys.argv[6]}")
print(f"wall time of the invocation: {wall:.2f} s")
print("summary:", {k: out.get(k) for k in ("records", "scopes", "store_calls", "store_chain", "metric_requests", "alert_publish_failures")})
print(f"alerts received by SNS: {len(alerts)}", *[f"  {s}" for s in alerts], sep="\n")
PY
# Close the proxy's stdin: it prints what it refused (and fails the run when it refused anything).
exec 3>&-
wait "$moto_pid" || exit 1   # the EXIT trap prints what it refused
cat "$work/moto.log"
