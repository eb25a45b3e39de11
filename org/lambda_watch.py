"""The steps of org/lambda-watch.sh that talk to moto, DuckDB and the CLI (see that script).

  lambda_watch.py setup WORK STUB_PORT   fixtures, offline fan-in files, moto resources, member seeds
  lambda_watch.py stub WORK STUB_PORT    a Bedrock profile stub (GetInferenceProfile, ListTagsForResource)
  lambda_watch.py seed-org WORK          the organisation query's result over the home bucket's objects
  lambda_watch.py check WORK             the organisation rollup's output against the CLI and the members
  lambda_watch.py runaway WORK           a runaway's records dated now, and the ingest's environment
  lambda_watch.py check-runaway WORK     the alert on the member's topic and its copy on the organisation's
"""

import datetime
import http.server
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "sql"))

import boto3  # noqa: E402

import fixtures  # noqa: E402

BIN = os.environ["BEDROCK_METER_BIN"]
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
DAY, PREV = fixtures.DAY, fixtures.PREV
# Two members written offline, one run as the member Lambda, one that reported the day before only.
OFFLINE = ["111122223333", "222233334444"]
MEMBER = "333344445555"
LATE = "444455556666"
MOTO_ACCOUNT = "123456789012"
PREFIX = "bedrock-meter"
FAN_IN, PAGES = "org-fan-in", "org-pages"


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"bedrock-meter {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


def dump(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1)


def load(path):
    with open(path) as f:
        return json.load(f, parse_float=Decimal)


def account_day(work, account, seed):
    """Writes `account`'s fixture day (logs and profiles) under WORK; returns (logs, profiles)."""
    saved = fixtures.ACCOUNT
    try:
        fixtures.ACCOUNT = account
        logs = os.path.join(work, f"logs-{account}")
        fixtures.write_day(logs, seed=seed)
        profiles = os.path.join(work, f"profiles-{account}.json")
        dump(profiles, fixtures.profiles_document())
    finally:
        fixtures.ACCOUNT = saved
    return logs, profiles


def athena_seed(cols, rows):
    """moto's /moto-api/static/athena/query-results entry: header row first, as Athena returns it."""
    cell = lambda v: {} if v is None else {"VarCharValue": v}  # noqa: E731
    return {
        "rows": [{"Data": [{"VarCharValue": c} for c in cols]}]
        + [{"Data": [cell(v) for v in r]} for r in rows],
        "column_info": [{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c,
                         "Label": c, "Type": "varchar", "Precision": 0, "Scale": 0,
                         "Nullable": "UNKNOWN", "CaseSensitive": True} for c in cols],
    }


def seed_athena(results):
    body = json.dumps({"account_id": MOTO_ACCOUNT, "region": "us-east-1", "results": results})
    req = urllib.request.Request(ENDPOINT + "/moto-api/static/athena/query-results",
                                 data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def topic_arn(name):
    return f"arn:aws:sns:us-east-1:{MOTO_ACCOUNT}:{name}"


def setup(work, stub_port):
    from test_rollup_sql import run_rollup_sql

    offline = os.path.join(work, "offline")
    own = {}
    for i, account in enumerate(OFFLINE + [MEMBER, LATE]):
        logs, profiles = account_day(work, account, 7 + i)
        args = ["report", "--date", DAY, "--format", "json", "--profiles", profiles]
        if account in OFFLINE:
            args += ["--write-fan-in", offline]
        elif account == LATE:
            args += ["--write-fan-in", os.path.join(work, "late")]
        own[account] = json.loads(run(*args, logs))
    # The late member's files moved to the day before: it reported then, not on the day.
    late_src = os.path.join(work, "late", "fanin", f"day={DAY}")
    late_dst = os.path.join(offline, "fanin", f"day={PREV}")
    os.makedirs(late_dst, exist_ok=True)
    shutil.move(os.path.join(late_src, f"account={LATE}"), late_dst)
    dump(os.path.join(work, "own-reports.json"), own)

    s3 = boto3.client("s3")
    for b in (FAN_IN, PAGES, "athena-results"):
        s3.create_bucket(Bucket=b)
    put = 0
    for dirpath, _, files in os.walk(offline):
        for name in files:
            path = os.path.join(dirpath, name)
            key = PREFIX + "/" + os.path.relpath(path, offline).replace(os.sep, "/")
            with open(path, "rb") as f:
                s3.put_object(Bucket=FAN_IN, Key=key, Body=f.read())
            put += 1
    print(f"setup: {put} fan-in objects written offline by `report --write-fan-in` put in s3://{FAN_IN}")
    sns = boto3.client("sns")
    for t in ("member-reports", "member-alerts", "org-reports", "org-alerts", "ingest-alerts"):
        sns.create_topic(Name=t)
    athena = boto3.client("athena")
    for wg in ("member", "org"):
        athena.create_work_group(Name=wg, Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://athena-results/{wg}/"}})
    boto3.client("dynamodb").create_table(
        TableName="bedrock-meter-state", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}])

    # The member Lambda's two queries (the day, the day before): its daily SQL in DuckDB over its logs.
    logs = os.path.join(work, f"logs-{MEMBER}")
    _, cols, rows = run_rollup_sql(logs, DAY)
    _, pcols, prows = run_rollup_sql(logs, PREV)
    seed_athena([athena_seed(cols, rows), athena_seed(pcols, prows)])
    print(f"setup: member {MEMBER}'s daily query in DuckDB: {len(rows)} rows (day), {len(prows)} (day before)")
    dump(os.path.join(work, "day-event.json"), {"date": DAY})
    dump(os.path.join(work, "member-env.json"), {
        "ATHENA_WORKGROUP": "member", "ATHENA_DATABASE": "bedrock_meter",
        "ATHENA_TABLE": "invocation_logs", "METADATA_KEYS": "tenant",
        "REPORT_TOPIC_ARN": topic_arn("member-reports"), "ALERT_TOPIC_ARN": topic_arn("member-alerts"),
        "FAN_IN_BUCKET": FAN_IN, "FAN_IN_PREFIX": PREFIX, "FAN_IN_REGION": "us-east-1",
        "AWS_ACCOUNT_ID": MEMBER, "AWS_ENDPOINT_URL_BEDROCK": f"http://127.0.0.1:{stub_port}",
        "RUST_LOG": "info"})


def stub(work, port):
    """GetInferenceProfile and ListTagsForResource of the member's profiles (restJson1)."""
    with open(os.path.join(work, f"profiles-{MEMBER}.json")) as f:
        summaries = json.load(f)["inferenceProfileSummaries"]
    by = {}
    for p in summaries:
        by[p["inferenceProfileArn"]] = by[p["inferenceProfileId"]] = p

    class H(http.server.BaseHTTPRequestHandler):
        def answer(self, status, body, error=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            ident = urllib.parse.unquote(self.path.split("?")[0].removeprefix("/inference-profiles/"))
            p = by.get(ident)
            if p is None:
                return self.answer(404, {"message": f"{ident} not found"}, "ResourceNotFoundException")
            self.answer(200, {k: p[k] for k in ("inferenceProfileName", "inferenceProfileArn",
                                                 "inferenceProfileId", "models", "status", "type")})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            p = by.get(body.get("resourceARN"))
            if self.path != "/listTagsForResource" or p is None:
                return self.answer(404, {"message": "not found"}, "ResourceNotFoundException")
            self.answer(200, {"tags": p["tags"]})

    http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H).serve_forever()


def sync(work):
    """The home bucket's fan-in objects on disk (what `aws s3 sync s3://BUCKET/PREFIX/fanin` gives)."""
    s3 = boto3.client("s3")
    root = os.path.join(work, "sync")
    shutil.rmtree(root, ignore_errors=True)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=FAN_IN, Prefix=PREFIX + "/fanin/")["Contents"]]
    for k in keys:
        path = os.path.join(root, k.removeprefix(PREFIX + "/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(s3.get_object(Bucket=FAN_IN, Key=k)["Body"].read())
    return root, keys


def seed_org(work):
    from test_org_sql import run_org_sql

    root, keys = sync(work)
    print(f"seed-org: {len(keys)} objects in s3://{FAN_IN}/{PREFIX}/fanin/:", *keys, sep="\n  ")
    sql, cols, rows = run_org_sql(root, DAY)
    _, pcols, prows = run_org_sql(root, PREV)
    seed_athena([athena_seed(cols, rows), athena_seed(pcols, prows)])
    with open(os.path.join(work, "org.sql"), "w") as f:
        f.write(sql)
    print(f"seed-org: the organisation SQL in DuckDB: {len(rows)} rows (day), {len(prows)} (day before)")
    dump(os.path.join(work, "org-env.json"), {
        "ROLLUP_MODE": "organization", "ATHENA_WORKGROUP": "org", "ATHENA_DATABASE": "bedrock_meter",
        "ATHENA_TABLE": "fanin", "REPORT_TOPIC_ARN": topic_arn("org-reports"),
        "ALERT_TOPIC_ARN": topic_arn("org-alerts"), "FAN_IN_BUCKET": FAN_IN, "FAN_IN_PREFIX": PREFIX,
        "REPORTS_BUCKET": PAGES, "RUST_LOG": "info"})


def sent(topic):
    data = json.load(urllib.request.urlopen(ENDPOINT + "/moto-api/data.json"))
    return [n for t in data["sns"]["Topic"] if t["arn"].endswith(":" + topic)
            for n in t.get("sent_notifications", [])]


def expect(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        expect.failed = True


def check(work):
    member = load(os.path.join(work, "member-out.json"))
    org = load(os.path.join(work, "org-out.json"))
    own = load(os.path.join(work, "own-reports.json"))
    root = os.path.join(work, "sync")
    cli = json.loads(run("report", "--fan-in", root, "--date", DAY, "--format", "json"),
                     parse_float=Decimal)
    expect(member["fan_in"] is not None and f"account={MEMBER}/region=us-east-1/" in member["fan_in"][0],
           f"member Lambda wrote {member['fan_in']}")
    total = Decimal(org["total_usd"])
    expect(total == cli["totals"]["cost_usd"].quantize(Decimal("0.000001")),
           f"organisation Lambda total ${total} = report --fan-in ${cli['totals']['cost_usd']}")
    members_sum = sum(own[a]["totals"]["cost_usd"] for a in OFFLINE) + Decimal(member["total_usd"])
    expect(abs(total - members_sum) < Decimal("0.000002"),
           f"= the members' own totals: {' + '.join(str(own[a]['totals']['cost_usd']) for a in OFFLINE)}"
           f" + {member['total_usd']} (the member Lambda's) = ${members_sum}")
    expect((org["accounts_reported"], org["accounts_expected"], org["missing_accounts"]) == (3, 4, [LATE]),
           f"accounts reported {org['accounts_reported']} of {org['accounts_expected']}, missing {org['missing_accounts']}")
    # The Lambda's queries are the SQL that was run in DuckDB.
    athena = boto3.client("athena")
    ids = athena.list_query_executions(WorkGroup="org")["QueryExecutionIds"]
    queries = {athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"].strip()
               for i in ids}
    with open(os.path.join(work, "org.sql")) as f:
        expect(f.read().strip() in queries,
               f"the organisation Lambda sent the SQL run in DuckDB (one of its {len(ids)} queries)")
    emails = sent("org-reports")
    teams = [t for t in org["teams"]]
    expect(len(emails) == len(teams), f"{len(emails)} emails for teams {teams}")
    for e in emails:
        print("     subject:", e[2])
        expect(f"not reported yet: {LATE} (" in e[1], "  names the member that did not report")
    s3 = boto3.client("s3")
    pages = [o["Key"] for o in s3.list_objects_v2(Bucket=PAGES)["Contents"]]
    expect(len(pages) == len(teams), f"{len(pages)} pages in s3://{PAGES}")
    for t in teams:
        name = "all-teams" if t == "all" else "team-" + urllib.parse.quote(t, safe="-_.~")
        key = f"bedrock-meter/reports/{DAY}/{name}.html"
        lam = s3.get_object(Bucket=PAGES, Key=key)["Body"].read().decode()
        args = ["report", "--fan-in", root, "--date", DAY, "--format", "html"]
        if t != "all":
            args += ["--team", t]
        offline = run(*args)
        with open(os.path.join(work, f"{name}.lambda.html"), "w") as f:
            f.write(lam)
        with open(os.path.join(work, f"{name}.cli.html"), "w") as f:
            f.write(offline)
        rows = [line for line in lam.splitlines() if line.startswith('<tr class="account-row"')]
        expect(lam == offline, f"{key} ({len(lam):,} bytes, {len(rows)} account rows) "
               f"= report --fan-in --format html{'' if t == 'all' else ' --team ' + t}")
    if getattr(expect, "failed", False):
        raise SystemExit("check failed")


def runaway(work):
    """700 direct calls in two whole minutes that ended a minute ago (above MAX_REQUESTS=600 in the
    window; the detector counts closed minutes)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    start = now - datetime.timedelta(minutes=3)
    with open(os.path.join(work, "runaway.jsonl"), "w") as f:
        for i in range(700):
            ts = (start + datetime.timedelta(seconds=(i * 120) // 700)).strftime("%Y-%m-%dT%H:%M:%SZ")
            f.write(json.dumps({
                "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": ts,
                "accountId": MEMBER, "region": "us-east-1", "requestId": f"r-{i}",
                "operation": "Converse", "modelId": "us.amazon.nova-lite-v1:0",
                "identity": {"arn": f"arn:aws:sts::{MEMBER}:assumed-role/batch-worker/i-{i}"},
                "input": {"inputTokenCount": 100}, "output": {"outputTokenCount": 10}}) + "\n")
    dump(os.path.join(work, "ingest-env.json"), {
        "STATE_TABLE": "bedrock-meter-state", "ALERT_TOPIC_ARN": topic_arn("ingest-alerts"),
        "ORG_ALERT_TOPIC_ARN": topic_arn("org-alerts"), "METRICS_NAMESPACE": "BedrockMeterOrgRun",
        "WINDOW_MINUTES": "15", "MAX_REQUESTS": "600", "MAX_COST_USD": "10", "RUST_LOG": "info"})


def check_runaway(work):
    out = load(os.path.join(work, "ingest-out.json"))
    expect(len(out["alerts"]) == 1 and out["alert_publish_failures"] == 0,
           f"ingest: {len(out['alerts'])} alert, {out['alert_publish_failures']} publish failures")
    own, org = sent("ingest-alerts"), sent("org-alerts")
    expect((len(own), len(org)) == (1, 1), f"{len(own)} on the member's topic, {len(org)} on the organisation's")
    if own and org:
        print("     member's subject:", own[0][2])
        print("     organisation's subject:", org[0][2])
        expect(org[0][2] == f"[{MOTO_ACCOUNT} us-east-1] {own[0][2]}", "the copy names the account and Region")
        attrs = org[0][3]
        print("     attributes:", json.dumps(attrs))
    if getattr(expect, "failed", False):
        raise SystemExit("check failed")


if __name__ == "__main__":
    cmd, work = sys.argv[1], sys.argv[2]
    {"setup": lambda: setup(work, sys.argv[3]), "stub": lambda: stub(work, sys.argv[3]),
     "seed-org": lambda: seed_org(work), "check": lambda: check(work),
     "runaway": lambda: runaway(work), "check-runaway": lambda: check_runaway(work)}[cmd]()
