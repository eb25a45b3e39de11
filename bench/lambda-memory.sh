#!/usr/bin/env bash
# Cold init, duration, CPU time and peak RSS of the Lambda bootstraps at the CPU shares Lambda gives 128, 256,
# 512 and 1,769 MB (one vCPU), run under a minimal Lambda Runtime API (bench/lambda_measure.py) with moto as
# AWS on loopback. The share is emulated with a cgroup-v1 cpu quota (MB/1769 of one CPU per 100 ms period),
# so durations are measured under the share, not computed. Figures: BENCHMARKS.md "Lambda packages and
# memory sizes".
#
#   bench/lambda-memory.sh BIN_DIR [SHARES]    # BIN_DIR/<function>/bootstrap, host-architecture builds
#
# The ingest batches: ~1 MB of invocation-log records dated now (CloudWatch Logs delivers at most ~1 MB per
# subscription batch), metadata-only (~2,200 records) and body-heavy (~250 records with prompt text), from 20
# roles. Each cold process gets three distinct batches; the first includes connection set-up. rollup and
# logging-config: cold init and RSS only (their work waits on Athena / CloudFormation; see BENCHMARKS.md).
# Needs .venv (moto, boto3); loopback only; stops what it started. Writes bench/out/lambda-memory.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BIN_DIR=${1:?usage: bench/lambda-memory.sh BIN_DIR [SHARES]}
SHARES=${2:-"128 256 512 1769"}
COLD=${COLD:-3}
MOTO_PORT=${MOTO_PORT:-5197}
[ -x .venv/bin/moto_server ] || scripts/setup-venv.sh
export PATH="$root/.venv/bin:$PATH"
mkdir -p bench/out
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

setsid moto_server -H 127.0.0.1 -p "$MOTO_PORT" > "$work/moto.log" 2>&1 &
pids+=($!)
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
for _ in $(seq 50); do curl -s "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done

topic=$(python3 - "$work" <<'PY'
import base64, boto3, datetime, gzip, json, sys, uuid
work = sys.argv[1]
ddb = boto3.client("dynamodb")
ddb.create_table(TableName="bedrock-meter-state", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
arn = boto3.client("sns").create_topic(Name="bedrock-meter-alerts")["TopicArn"]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
text = ("The quarterly report covers revenue, churn and the roadmap for the next two releases. " * 24)[:2000]

def record(i, body):
    ts = (now - datetime.timedelta(seconds=(i % 600))).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": ts,
         "accountId": "111122223333", "region": "us-east-1", "requestId": str(uuid.uuid4()),
         "operation": "Converse", "modelId": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
         "identity": {"arn": f"arn:aws:sts::111122223333:assumed-role/app-{i % 20}/session-{i % 7}"},
         "input": {"inputContentType": "application/json", "inputTokenCount": 2000 + i % 500,
                   "cacheReadInputTokenCount": 0, "cacheWriteInputTokenCount": 0},
         "output": {"outputContentType": "application/json", "outputTokenCount": 300 + i % 200}}
    if body:
        r["input"]["inputBodyJson"] = {"messages": [{"role": "user", "content": [{"text": text}]}]}
        r["output"]["outputBodyJson"] = {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}}
    return json.dumps(r, separators=(",", ":"))

def event(body, k):
    events, size, i = [], 0, 0
    while True:
        msg = record(i + k * 100000, body)
        if size + len(msg) > 1_000_000:
            break
        events.append({"id": str(10**20 + k * 100000 + i), "timestamp": int(now.timestamp() * 1000), "message": msg})
        size += len(msg)
        i += 1
    data = {"messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": "/aws/bedrock/invocations",
            "logStream": "aws/bedrock/modelinvocations", "subscriptionFilters": ["bedrock-meter"], "logEvents": events}
    raw = json.dumps(data).encode()
    return {"awslogs": {"data": base64.b64encode(gzip.compress(raw)).decode()}}, len(events), size

counts = {}
for body in (False, True):
    for k in range(3):
        ev, n, size = event(body, k + (10 if body else 0))
        name = f"{work}/{'body' if body else 'meta'}-{k}.json"
        json.dump(ev, open(name, "w"))
    counts['body' if body else 'meta'] = n
    print(f"{'body' if body else 'meta'}: {n} records, {size} bytes of log messages per batch", file=sys.stderr)
json.dump(counts, open(f"{work}/counts.json", "w"))
json.dump({"RequestType": "Delete", "ResponseURL": "http://127.0.0.1:9/", "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/s/1",
           "RequestId": "1", "LogicalResourceId": "Logging", "PhysicalResourceId": "none",
           "ResourceType": "Custom::BedrockInvocationLogging", "ResourceProperties": {}}, open(f"{work}/cfn.json", "w"))
json.dump({"source": "aws.events", "detail-type": "Scheduled Event", "time": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
          open(f"{work}/schedule.json", "w"))
print(arn)
PY
)

ingest_env=(--env STATE_TABLE=bedrock-meter-state --env "ALERT_TOPIC_ARN=$topic" --env RUST_LOG=warn)
out=bench/out/lambda-memory.json
: > "$out"
for share in $SHARES; do
  for mix in meta body; do
    python3 bench/lambda_measure.py --bootstrap "$BIN_DIR/ingest/bootstrap" --cold "$COLD" --cpu-share "$share" \
      "${ingest_env[@]}" --event "$work/$mix-0.json" --event "$work/$mix-1.json" --event "$work/$mix-2.json" \
      --log "$work/ingest.log" | python3 -c "import json,sys; d=json.load(sys.stdin); d['function']='ingest'; d['mix']='$mix'; print(json.dumps(d))" >> "$out"
  done
done
# Cold init and RSS of the other two (one invocation each, which fails fast against moto / a closed port).
for share in $SHARES; do
  [ -x "$BIN_DIR/rollup/bootstrap" ] && python3 bench/lambda_measure.py --bootstrap "$BIN_DIR/rollup/bootstrap" --cold "$COLD" --cpu-share "$share" \
    --env ATHENA_WORKGROUP=wg --env ATHENA_DATABASE=db --env ATHENA_TABLE=t --env "REPORT_TOPIC_ARN=$topic" \
    --env "ALERT_TOPIC_ARN=$topic" --env QUERY_TIMEOUT_SECONDS=5 --event "$work/schedule.json" --log "$work/rollup.log" \
    | python3 -c "import json,sys; d=json.load(sys.stdin); d['function']='rollup'; print(json.dumps(d))" >> "$out"
  [ -x "$BIN_DIR/logging-config/bootstrap" ] && python3 bench/lambda_measure.py --bootstrap "$BIN_DIR/logging-config/bootstrap" --cold "$COLD" --cpu-share "$share" \
    --event "$work/cfn.json" --log "$work/logging.log" \
    | python3 -c "import json,sys; d=json.load(sys.stdin); d['function']='logging-config'; print(json.dumps(d))" >> "$out"
  true  # a function whose bootstrap is missing is left out
done
cp "$work/counts.json" bench/out/lambda-memory-records.json
python3 bench/lambda_memory_report.py "$out" "$(cat "$work/counts.json")"
