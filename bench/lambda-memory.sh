#!/usr/bin/env bash
# Cold init, duration, CPU time and peak RSS of each Lambda bootstrap doing its real work, at the CPU shares
# Lambda gives 128, 256 and 512 MB, run under a minimal Lambda Runtime API (bench/lambda_measure.py) with the
# environment template.yaml gives it (bench/lambda_env.py) and moto as AWS on loopback. The share is
# emulated with a cgroup-v1 cpu quota (MB/1769 of one CPU per 100 ms period), so durations are measured
# under the share, not computed. Figures: BENCHMARKS.md "Lambda packages and memory sizes".
#
#   bench/lambda-memory.sh BIN_DIR [SHARES]    # BIN_DIR/<function>/bootstrap, host-architecture builds
#
# - ingest: ~1 MB batches of invocation-log records dated now (CloudWatch Logs delivers at most ~1 MB per
#   subscription batch), metadata-only (~1,800 records) and body-heavy (~210 records with prompt text),
#   from 20 roles. Each cold process gets three distinct batches; the first includes connection set-up.
# - rollup: a realistic day through the real handler (bench/lambda_rollup_day.py: 200 apps, 50 teams,
#   ~6,300 Athena result rows and ~1.8 M invocation records, the day before too; 200 profile lookups on a
#   Bedrock stub; 51 SNS messages and 51 HTML pages on moto). Each cold process gets the day twice.
# - logging-config: the custom resource's Create (reads, then puts the logging configuration on moto,
#   answers on a loopback response URL), then its Delete (restores: deletes it).
# Needs .venv (moto, boto3); loopback only; stops what it started. Writes bench/out/lambda-memory.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BIN_DIR=${1:?usage: bench/lambda-memory.sh BIN_DIR [SHARES]}
SHARES=${2:-"128 256 512"}
COLD=${COLD:-3}
FUNCTIONS=${FUNCTIONS:-"ingest rollup logging-config"}
MOTO_PORT=${MOTO_PORT:-5197}
STUB_PORT=${STUB_PORT:-5198}
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

# ingest: the state table (as template.yaml's StateTable), the topic, the failure queue, the batches.
python3 - "$work" > "$work/ingest-names.env" <<'PY'
import base64, boto3, datetime, gzip, json, sys, uuid
work = sys.argv[1]
acct = "123456789012"
ddb = boto3.client("dynamodb")
ddb.create_table(TableName="bedrock-meter-state", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
arn = boto3.client("sns").create_topic(Name="bedrock-meter-alerts")["TopicArn"]
queue = boto3.client("sqs").create_queue(QueueName="bedrock-meter-failed")["QueueUrl"]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
text = ("The quarterly report covers revenue, churn and the roadmap for the next two releases. " * 24)[:2000]

def record(i, body):
    ts = (now - datetime.timedelta(seconds=(i % 600))).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": ts,
         "accountId": acct, "region": "us-east-1", "requestId": str(uuid.uuid4()),
         "operation": "Converse", "modelId": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
         "identity": {"arn": f"arn:aws:sts::{acct}:assumed-role/app-{i % 20}/session-{i % 7}"},
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
    data = {"messageType": "DATA_MESSAGE", "owner": acct, "logGroup": "/aws/bedrock/modelinvocations",
            "logStream": "aws/bedrock/modelinvocations", "subscriptionFilters": ["bedrock-meter"], "logEvents": events}
    raw = json.dumps(data).encode()
    return {"awslogs": {"data": base64.b64encode(gzip.compress(raw)).decode()}}, len(events), size

counts = {}
for body in (False, True):
    for k in range(3):
        ev, n, size = event(body, k + (10 if body else 0))
        json.dump(ev, open(f"{work}/{'body' if body else 'meta'}-{k}.json", "w"))
    counts['body' if body else 'meta'] = n
    print(f"ingest {'body' if body else 'meta'}: {n} records, {size} bytes of log messages per batch", file=sys.stderr)
json.dump(counts, open(f"{work}/counts.json", "w"))
print(f"ALERT_TOPIC_ARN={arn}")
print(f"FAILURE_QUEUE_URL={queue}")
PY

# rollup: moto resources, the day's rows, the Bedrock stub.
python3 bench/lambda_rollup_day.py setup --out "$work/rollup"
setsid python3 bench/lambda_rollup_day.py stub "$work/rollup" "$STUB_PORT" > "$work/stub.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$STUB_PORT/" && break; sleep 0.1; done
# logging-config: Create, then Delete of what it put (its physical id when there was no configuration).
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
props = {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:bedrock-meter-LoggingConfigFunction",
         "ServiceTimeout": "300", "TakeOverExistingLogging": "false", "PreviousLoggingRoleArn": "",
         "LogGroupName": "bedrock-meter-InvocationLogGroup", "RoleArn": "arn:aws:iam::123456789012:role/bedrock-meter/bedrock-meter-BedrockLoggingRole",
         "BucketName": "bedrock-meter-logs-123456789012-us-east-1", "KeyPrefix": "bedrock-logs",
         "LargeDataKeyPrefix": "bedrock-logs/large-data", "TextDataDeliveryEnabled": "true",
         "ImageDataDeliveryEnabled": "false", "EmbeddingDataDeliveryEnabled": "false",
         "VideoDataDeliveryEnabled": "false", "BucketPolicy": "bedrock-meter-LogBucketPolicy"}
for kind in ("Create", "Delete"):
    r = {"RequestType": kind, "ResponseURL": "@PUT_SINK@",
         "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/bedrock-meter/8c1e4f70-0000-0000-0000-000000000000",
         "RequestId": f"bench-{kind}", "ResourceType": "Custom::BedrockInvocationLogging",
         "LogicalResourceId": "InvocationLogging", "ResourceProperties": props}
    if kind == "Delete":
        r["PhysicalResourceId"] = "bedrock-invocation-logging:us-east-1:none"
    json.dump(r, open(f"{work}/cfn-{kind}.json", "w"))
PY

env_args() {  # FUNCTION [K=V ...] -> --env K=V for each template variable
  local line
  while IFS= read -r line; do printf '%s\0%s\0' --env "$line"; done < <(python3 bench/lambda_env.py "$@")
}
mapfile -d '' ingest_env < <(env_args ingest $(cat "$work/ingest-names.env"))
mapfile -d '' rollup_env < <(env_args rollup $(cat "$work/rollup/names.env"))
mapfile -d '' logging_env < <(env_args logging-config)
tag() { python3 -c "import json,sys; d=json.load(sys.stdin); d.update(json.loads(sys.argv[1])); print(json.dumps(d))" "$1"; }

out=bench/out/lambda-memory.json
: > "$out"
for share in $SHARES; do
  for fn in $FUNCTIONS; do
    [ -x "$BIN_DIR/$fn/bootstrap" ] || { echo "no $BIN_DIR/$fn/bootstrap: $fn left out" >&2; continue; }
    case $fn in
      ingest)
        for mix in meta body; do
          python3 bench/lambda_measure.py --bootstrap "$BIN_DIR/ingest/bootstrap" --cold "$COLD" --cpu-share "$share" \
            "${ingest_env[@]}" --event "$work/$mix-0.json" --event "$work/$mix-1.json" --event "$work/$mix-2.json" \
            --log "$work/ingest.log" | tag "{\"function\": \"ingest\", \"mix\": \"$mix\"}" >> "$out"
        done ;;
      rollup)
        AWS_ENDPOINT_URL_BEDROCK=http://127.0.0.1:$STUB_PORT python3 bench/lambda_measure.py \
          --bootstrap "$BIN_DIR/rollup/bootstrap" --cold "$COLD" --cpu-share "$share" "${rollup_env[@]}" \
          --before-cold "python3 bench/lambda_rollup_day.py seed $work/rollup 2" \
          --event "$work/rollup/event.json" --event "$work/rollup/event.json" --log "$work/rollup.log" \
          | tag '{"function": "rollup", "mix": "day"}' >> "$out" ;;
      logging-config)
        python3 bench/lambda_measure.py --bootstrap "$BIN_DIR/logging-config/bootstrap" --cold "$COLD" \
          --cpu-share "$share" "${logging_env[@]}" --put-sink --event "$work/cfn-Create.json" \
          --event "$work/cfn-Delete.json" --log "$work/logging.log" \
          | tag '{"function": "logging-config", "mix": "create-delete"}' >> "$out" ;;
    esac
  done
done
python3 - "$work" <<'PY' > bench/out/lambda-memory-records.json
import json, sys
work = sys.argv[1]
counts = json.load(open(f"{work}/counts.json"))
day = json.load(open(f"{work}/rollup/day.json"))
counts["day"], counts["day_teams"] = day["requests"], day["teams"]
print(json.dumps(counts))
PY
cp "$work/rollup/day.json" bench/out/lambda-memory-rollup-day.json
python3 bench/lambda_memory_report.py "$out" "$(cat bench/out/lambda-memory-records.json)"
