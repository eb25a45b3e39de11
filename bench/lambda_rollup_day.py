#!/usr/bin/env python3
"""A realistic day for the rollup Lambda, run through its real handler against moto (bench/lambda-memory.sh):

  lambda_rollup_day.py setup --out DIR     # moto resources (AWS_ENDPOINT_URL), seed body, event, profiles
  lambda_rollup_day.py seed DIR COPIES     # queue COPIES query results in moto's Athena (2 per invocation)
  lambda_rollup_day.py stub DIR PORT       # the Bedrock control-plane stub (profiles and tags), foreground

The day: 200 applications of 50 teams (4 each), one application inference profile each (tags app, team;
Claude Haiku 4.5 or Sonnet 4.5 through the `us` geography, or Nova Lite in-Region), 1-3 calling roles
per app, active 6-24 hours of the day; plus direct calls (no profile) by 30 IAM users, 1-2 models, 2-10
hours. Rows are what the rollup query returns (`bedrock-meter rollup-sql`, no metadata keys): one per
model or profile x Region x caller x prompt band x UTC hour, with the hour's requests and tokens. The
previous day is the same generator with another seed. Deterministic (seeded).

moto's Athena returns seeded results (all rows in one page; real Athena pages 1,000 rows at a time) and
has no Bedrock inference profiles, so `GetInferenceProfile` and `ListTagsForResource` are answered by
the stub here (AWS_ENDPOINT_URL_BEDROCK), in the REST-JSON shapes aws-sdk-bedrock reads (as
tests/src/bedrock_stub.rs). SNS, S3 and CloudWatch (the Mantle lines) are moto.
"""
import http.server
import json
import os
import random
import sys
import urllib.parse
import urllib.request

ACCOUNT = "123456789012"
APPS, TEAMS, USERS = 200, 50, 30
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_LITE = "amazon.nova-lite-v1:0"
# result_columns(0): rollup-sql's columns with no metadata keys.
COLUMNS = ["model_id", "region", "caller", "prompt_band", "hour_utc", "requests", "errors", "input_tokens",
           "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens"]


def fm(region, model):
    return f"arn:aws:bedrock:{region}::foundation-model/{model}"


def profiles():
    out = []
    for i in range(APPS):
        kind = i % 5  # 2/5 Haiku, 1/5 Sonnet, 2/5 Nova Lite
        if kind in (0, 1):
            models = [fm(r, HAIKU) for r in ("us-east-1", "us-east-2", "us-west-2")]
        elif kind == 2:
            models = [fm(r, SONNET) for r in ("us-east-1", "us-east-2", "us-west-2")]
        else:
            models = [fm("us-east-1", NOVA_LITE)]
        pid = f"bm{i:010d}"
        out.append({
            "arn": f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/{pid}",
            "id": pid, "name": f"app-{i:03d}", "models": models,
            "tags": {"app": f"app-{i:03d}", "team": f"team-{i % TEAMS:02d}"},
        })
    return out


def rows(seed):
    rnd = random.Random(seed)
    out = []

    def row(model, caller, band, hour, requests, big):
        inp = requests * rnd.randint(800, 3000) * (60 if big else 1)
        cache_read = inp // 3 if rnd.random() < 0.3 else 0
        return [model, "us-east-1", caller, str(band), str(hour), str(requests),
                str(sum(rnd.random() < 0.01 for _ in range(min(requests, 50)))), str(inp),
                str(requests * rnd.randint(100, 700)), str(cache_read),
                str(inp // 20 if cache_read else 0), "0"]

    for p in profiles():
        for c in range(rnd.randint(1, 3)):
            caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/{p['name']}-role-{c}/{p['name']}-session"
            for hour in sorted(rnd.sample(range(24), rnd.randint(6, 24))):
                out.append(row(p["arn"], caller, 0, hour, rnd.randint(1, 600), False))
                # Sonnet's long-context tier (prompt band 1) now and then.
                if SONNET in p["models"][0] and rnd.random() < 0.1:
                    out.append(row(p["arn"], caller, 1, hour, rnd.randint(1, 20), True))
    for u in range(USERS):
        caller = f"arn:aws:iam::{ACCOUNT}:user/user-{u:02d}"
        for model in rnd.sample([f"us.{HAIKU}", f"us.{SONNET}", NOVA_LITE], rnd.randint(1, 2)):
            for hour in sorted(rnd.sample(range(24), rnd.randint(2, 10))):
                out.append(row(model, caller, 0, hour, rnd.randint(1, 80), False))
    return out


def seeded(rs):
    """Athena's result shape for moto's seeding endpoint: header row first."""
    cell = lambda v: {"VarCharValue": v} if v is not None else {}  # noqa: E731
    return {
        "rows": [{"Data": [{"VarCharValue": c} for c in COLUMNS]}] + [{"Data": [cell(v) for v in r]} for r in rs],
        "column_info": [{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c,
                         "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN",
                         "CaseSensitive": True} for c in COLUMNS],
    }


def setup(out_dir):
    import boto3
    os.makedirs(out_dir, exist_ok=True)
    day, prev = rows(1), rows(2)
    json.dump({"day": seeded(day), "prev": seeded(prev)}, open(f"{out_dir}/results.json", "w"))
    json.dump(profiles(), open(f"{out_dir}/profiles.json", "w"))
    json.dump({"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
               "account": ACCOUNT, "time": "2026-12-07T06:00:00Z", "region": "us-east-1",
               "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/bedrock-meter-daily"], "detail": {}},
              open(f"{out_dir}/event.json", "w"))
    sns = boto3.client("sns")
    names = {
        "REPORT_TOPIC_ARN": sns.create_topic(Name="bedrock-meter-reports")["TopicArn"],
        "ALERT_TOPIC_ARN": sns.create_topic(Name="bedrock-meter-alerts")["TopicArn"],
        "ATHENA_WORKGROUP": "bedrock-meter",
        "PROFILES_SNAPSHOT_BUCKET": f"bedrock-meter-logs-{ACCOUNT}-us-east-1",
        "REPORTS_BUCKET": f"bedrock-meter-reports-{ACCOUNT}-us-east-1",
    }
    boto3.client("athena").create_work_group(Name=names["ATHENA_WORKGROUP"])
    s3 = boto3.client("s3")
    for b in (names["PROFILES_SNAPSHOT_BUCKET"], names["REPORTS_BUCKET"]):
        s3.create_bucket(Bucket=b)
    with open(f"{out_dir}/names.env", "w") as f:
        for k, v in names.items():
            f.write(f"{k}={v}\n")
    requests = sum(int(r[5]) for r in day)
    json.dump({"rows": len(day), "previous_rows": len(prev), "requests": requests, "apps": APPS,
               "teams": TEAMS}, open(f"{out_dir}/day.json", "w"))
    print(f"rollup day: {len(day)} rows ({len(prev)} the day before), {requests} invocation records, "
          f"{APPS} apps, {TEAMS} teams", file=sys.stderr)


def seed(out_dir, copies):
    r = json.load(open(f"{out_dir}/results.json"))
    body = json.dumps({"results": [r["day"], r["prev"]] * copies}).encode()
    req = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/static/athena/query-results",
                                 data=body, method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def stub(out_dir, port):
    by_key = {}
    for p in json.load(open(f"{out_dir}/profiles.json")):
        by_key[p["arn"]] = by_key[p["id"]] = p

    def summary(p):
        return {"inferenceProfileName": p["name"], "description": f"app {p['name']}",
                "createdAt": "2026-11-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:00Z",
                "inferenceProfileArn": p["arn"], "inferenceProfileId": p["id"], "status": "ACTIVE",
                "type": "APPLICATION", "models": [{"modelArn": m} for m in p["models"]]}

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, obj, error=None):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-amzn-RequestId", "stub")
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/inference-profiles/"):
                p = by_key.get(urllib.parse.unquote(path[len("/inference-profiles/"):]))
                if p:
                    return self.reply(200, summary(p))
            self.reply(404, {"message": "not found"}, "ResourceNotFoundException")

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            req = json.loads(self.rfile.read(n) or b"{}")
            if self.path == "/listTagsForResource" and req.get("resourceARN") in by_key:
                tags = by_key[req["resourceARN"]]["tags"]
                return self.reply(200, {"tags": [{"key": k, "value": v} for k, v in tags.items()]})
            self.reply(404, {"message": "not found"}, "ResourceNotFoundException")

    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()


def main():
    cmd = sys.argv[1:2]
    if cmd == ["setup"] and sys.argv[2:3] == ["--out"]:
        setup(sys.argv[3])
    elif cmd == ["seed"]:
        seed(sys.argv[2], int(sys.argv[3]))
    elif cmd == ["stub"]:
        stub(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
