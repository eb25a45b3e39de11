"""`06 estimate vs bill` on a day of Claude (sold through AWS Marketplace) and Nova, executed.

A day of invocation logs (S3 layout) — three application profiles (Claude Sonnet 4.5 across the US
Regions, Claude Haiku 4.5 in one Region, Nova Lite in one Region) and calls without a profile (Nova
Lite by base id, Claude Sonnet 4.5 through the `us.` system profile), made by a workload role under a
new session name per call, a second role, two IAM Identity Center users and an IAM user — and the CUR
2.0 bill of that day, shaped from AWS-published CUR 2.0 rows (tests/sql/cur_fixture.py says where each
shape comes from): the Claude Sonnet lines are Marketplace lines (`Claude Sonnet 4.5 (Amazon Bedrock
Edition)`, a Marketplace product code, `USE1-MP:USE1_InputTokenCount-Units`), the Nova and Haiku lines
Bedrock's own, one line per principal *as the bill records it* (the session ARN) x resource x usage
type. Each bill line's cost is computed here from the token counts in the fixture and the published
on-demand rates (AWS Bedrock pricing page, US Regions; typed in below, not read from the price table),
rounded the way a bill line is. Next to them: tax, a credit, EC2 and another Marketplace product whose
usage types also carry `-MP:`, which the reconciliation must leave out.

The committed query (queries/06-estimate-vs-bill.sql) runs Trino -> DuckDB (sqlglot) over the logs, the
profiles snapshot the daily Lambda would write and the bill, with current_date the day after. Per app
and per principal the estimate must be within 1 % of the bill, and the bill rows must be every Bedrock
line and nothing else. Before the Marketplace lines were recognised and the bill's principals put
through the caller rule, this test failed: no Claude Sonnet line was found (the profile's bill was NULL)
and every session of a role was a bill-only principal row.

Run: .venv/bin/python -m unittest discover -s tests/sql -p test_bill_reconcile.py -v
"""

import json
import os
import random
import tempfile
import unittest
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

import duckdb

import cur_fixture as cur
import fixtures
from fixtures import ACCOUNT, REGION, Layout, fm, profile_arn, record, ts
from test_query_pack import NO_PROFILE, QUERIES, RECONCILE, execute, money, profiles_table
from test_rollup_sql import BIN, athena_table, loads, read, run

DAY, NEXT = fixtures.DAY, fixtures.NEXT
SONNET = fixtures.SONNET              # anthropic.claude-sonnet-4-5-20250929-v1:0
HAIKU = fixtures.HAIKU                # anthropic.claude-haiku-4-5-20251001-v1:0
NOVA_LITE = fixtures.NOVA_LITE        # amazon.nova-lite-v1:0
US3 = fixtures.US3

# USD per 1M tokens, AWS Bedrock pricing page (on-demand, US Regions; geographic cross-Region and
# in-Region calls — Claude 4.5 models list their global-profile rate 10 % lower): input, output, cache
# read, 5-minute cache write.
PUBLISHED = {
    SONNET: (Decimal("3.30"), Decimal("16.50"), Decimal("0.33"), Decimal("4.125")),
    HAIKU: (Decimal("1.10"), Decimal("5.50"), Decimal("0.11"), Decimal("1.375")),
    NOVA_LITE: (Decimal("0.06"), Decimal("0.24"), Decimal("0.015"), None),
}
# A bill line's cost as the CUR carries it (a double; AWS rounds line costs to 10 decimal places at most).
LINE_PLACES = Decimal("1e-8")
WITHIN = Decimal("0.01")               # 1 %

# Each bill line's product: (billing entity, product code, service code, product name, usage types by
# token kind). Sonnet through AWS Marketplace; Haiku and Nova as Bedrock's own lines.
MP_USAGE = {k: f"USE1-MP:USE1_{v}-Units" for k, v in
            (("input", "InputTokenCount"), ("output", "OutputTokenCount"),
             ("cache_read", "CacheReadInputTokenCount"), ("cache_write", "CacheWriteInputTokenCount"))}
BILLED_AS = {
    SONNET: (cur.MARKETPLACE, cur.CLAUDE_MP_CODE, cur.CLAUDE_MP_CODE,
             "Claude Sonnet 4.5 (Amazon Bedrock Edition)", MP_USAGE),
    HAIKU: ("AWS", "AmazonBedrock", "AmazonBedrockFoundationModels", "Amazon Bedrock",
            {k: f"USE1-Claude4.5Haiku-{v}" for k, v in (("input", "input-tokens"), ("output", "output-tokens"),
                                                        ("cache_read", "cache-read-input-tokens"),
                                                        ("cache_write", "cache-write-input-tokens"))}),
    NOVA_LITE: ("AWS", "AmazonBedrock", "AmazonBedrock", "Amazon Bedrock",
                {k: f"USE1-NovaLite-{v}" for k, v in (("input", "input-tokens"), ("output", "output-tokens"),
                                                      ("cache_read", "cache-read-input-tokens"))}),
}

PROFILES = [
    # (id, name, models, tags)
    ("chat01", "support-chat", [fm(r, SONNET) for r in US3], {"app": "support-chat", "team": "cx"}),
    ("review01", "code-review", [fm(REGION, HAIKU)], {"app": "code-review", "team": "platform"}),
    ("triage01", "ticket-triage", [fm(REGION, NOVA_LITE)], {"app": "ticket-triage", "team": "cx"}),
]


def role(name, session):
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}"


def role_principal(name):
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}"


ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
SSO = "AWSReservedSSO_Dev_0123abcd"


def profiles_document():
    return {"inferenceProfileSummaries": [
        {"inferenceProfileName": name, "inferenceProfileArn": profile_arn(pid), "inferenceProfileId": pid,
         "models": models, "type": "APPLICATION", "status": "ACTIVE",
         "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        for pid, name, models, tags in PROFILES]}


def calls(seed=23):
    """The day's calls: (hour, model id as logged, base model, identity ARN, resource id the bill names,
    (input, output, cache read, cache write))."""
    rnd = random.Random(seed)
    out = []
    for i in range(40):   # the support chat: a Lambda role, a new session per invocation, caching
        out.append((i % 24, profile_arn("chat01"), SONNET, role("SupportChat", f"chat-fn-{1000 + i}"),
                    profile_arn("chat01"),
                    (rnd.randint(800, 4000), rnd.randint(200, 1500), rnd.randint(0, 30000), rnd.choice((0, 0, 2500)))))
    for i in range(60):   # ticket triage on EKS: botocore's default session names
        out.append((i % 24, profile_arn("triage01"), NOVA_LITE,
                    role("EksPods", f"botocore-session-{1764028800 + 37 * i}"), profile_arn("triage01"),
                    (rnd.randint(1000, 9000), rnd.randint(50, 600), 0, 0)))
    for i in range(30):   # the same pods, straight at the base model (no application profile)
        out.append((i % 24, NOVA_LITE, NOVA_LITE, role("EksPods", f"botocore-session-{1764030000 + 11 * i}"),
                    f"arn:aws:bedrock:{REGION}::foundation-model/{NOVA_LITE}",
                    (rnd.randint(500, 5000), rnd.randint(20, 400), 0, 0)))
    for i, who in enumerate(["jane@example.com", "raj@example.com"] * 12):   # people, through SSO
        out.append((8 + i % 10, profile_arn("review01"), HAIKU, role(SSO, who), profile_arn("review01"),
                    (rnd.randint(2000, 12000), rnd.randint(300, 2500), rnd.randint(0, 8000), 0)))
    for i in range(10):   # an IAM user through the us. system profile
        sys_profile = "us." + SONNET
        out.append((12 + i % 6, sys_profile, SONNET, ALICE,
                    f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{sys_profile}",
                    (rnd.randint(1000, 6000), rnd.randint(100, 900), 0, 0)))
    return out


def write_logs(root, day_calls):
    lay = Layout(root)
    lay.permission_check()
    by_hour = defaultdict(list)
    for n, (hour, model_id, _base, who, _rid, tokens) in enumerate(day_calls):
        by_hour[hour].append(record(ts(DAY, hour, n % 60, 7), model_id, who, tokens=tokens))
    for hour, recs in sorted(by_hour.items()):
        lay.write(DAY, hour, recs)


def bill_rows(day_calls):
    """The bill: one line per (principal as recorded, resource, usage type) for the day, each the sum of
    its calls' tokens x the published rate, rounded as a line; then lines that are not Bedrock usage.
    Returns (rows, the Bedrock usage lines' total)."""
    lines = defaultdict(lambda: [0, Decimal(0)])   # key -> [tokens, exact cost]
    for _hour, _model_id, base, who, rid, tokens in day_calls:
        rates = PUBLISHED[base]
        for kind, count, rate in zip(("input", "output", "cache_read", "cache_write"), tokens, rates):
            if count:
                key = (base, who, rid, BILLED_AS[base][4][kind])
                lines[key][0] += count
                lines[key][1] += rate * count / 1_000_000
    rows, total = [], Decimal(0)
    start, end = f"{DAY} 00:00:00", f"{NEXT} 00:00:00"
    for (base, who, rid, usage_type), (count, exact) in sorted(lines.items()):
        entity, code, service, name, _ = BILLED_AS[base]
        cost = exact.quantize(LINE_PLACES, rounding=ROUND_HALF_EVEN)
        total += cost
        rows.append(cur.line(start, cost, entity=entity, product_code=code, servicecode=service, product_name=name,
                             usage_type=usage_type, resource_id=rid, principal=who, amount=count, end=end,
                             operation="InvokeModelInference" if entity == "AWS" else "Usage"))
    chat = profile_arn("chat01")
    rows += [
        # Tax on the Marketplace Claude usage and a credit against Bedrock: not usage.
        cur.line(start, "4.20", kind="Tax", entity=cur.MARKETPLACE, product_code=cur.CLAUDE_MP_CODE,
                 product_name="Claude Sonnet 4.5 (Amazon Bedrock Edition)", usage_type="", resource_id=chat,
                 principal=role("SupportChat", "chat-fn-1000"), end=end),
        cur.line(start, "-5.00", kind="Credit", usage_type="USE1-NovaLite-input-tokens",
                 principal=role("EksPods", "botocore-session-1764028800"), end=end),
        # Another Marketplace product, usage types with -MP: as well; and EC2.
        cur.line(start, "42.00", entity=cur.MARKETPLACE, product_code="3k9zq7w1v5x2c8m4n6b0t2y7r",
                 product_name="Acme Log Search", usage_type="USE1-MP:USE1_Requests-Units",
                 principal=role("SupportChat", "chat-fn-1001"), end=end),
        cur.line(start, "7.70", product_code="AmazonEC2", usage_type="BoxUsage:m7g.large",
                 resource_id="i-0abc1234def567890", end=end),
    ]
    return rows, total


class EstimateVsBillWithMarketplaceClaudeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(BIN):
            raise AssertionError(f"{BIN} not built (cargo build -p bedrock-meter)")
        cls.tmp = tempfile.TemporaryDirectory()
        logs = os.path.join(cls.tmp.name, "logs")
        cls.calls = calls()
        write_logs(logs, cls.calls)
        profiles_file = os.path.join(cls.tmp.name, "profiles.json")
        with open(profiles_file, "w") as f:
            json.dump(profiles_document(), f)
        snaps = os.path.join(cls.tmp.name, "profiles")
        os.makedirs(snaps)
        with open(os.path.join(snaps, f"{DAY}.jsonl"), "w") as f:
            f.write(run("rollup-sql", "--profiles-snapshot", "--date", DAY, "--profiles", profiles_file))
        con = duckdb.connect()
        athena_table(con, logs)
        profiles_table(con, snaps)
        cur.create(con)
        cls.bill, cls.billed_total = bill_rows(cls.calls)
        cur.insert(con, cls.bill)
        cls.rows = [r for r in execute(con, read(os.path.join(QUERIES, RECONCILE)), NEXT) if str(r["day"]) == DAY]
        cls.report = loads(run("report", "--date", DAY, "--format", "json", "--profiles", profiles_file, logs))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def dimension(self, dim):
        return [r for r in self.rows if r["dimension"] == dim]

    def test_the_fixture_bills_claude_through_marketplace(self):
        mp = [r for r in self.bill if r["bill_billing_entity"] == cur.MARKETPLACE
              and r["line_item_line_item_type"] == "Usage" and r["product"].get("product_name", "").startswith("Claude")]
        self.assertGreater(len(mp), 10)
        for r in mp:
            self.assertFalse(r["line_item_product_code"].startswith("AmazonBedrock"), r)
            self.assertFalse((r["product_servicecode"] or "").startswith("AmazonBedrock"), r)
            self.assertIn("-MP:", r["line_item_usage_type"])
        # The bill names sessions, many per role.
        sessions = {r["line_item_iam_principal"] for r in self.bill if "/SupportChat/" in r["line_item_iam_principal"]}
        self.assertGreater(len(sessions), 20)

    def test_every_bedrock_line_and_nothing_else_is_billed(self):
        for dim in ("profile", "principal"):
            billed = sum(money(r["billed_cost_usd"]) for r in self.dimension(dim))
            # The rows are DECIMAL(38, 6): each row rounds to the micro-dollar.
            self.assertLessEqual(abs(billed - self.billed_total), Decimal("0.000001") * len(self.dimension(dim)),
                                 f"{dim}: billed {billed}, Bedrock usage lines {self.billed_total}")
        self.assertTrue(all(r["bill_complete"] for r in self.rows))

    def test_each_app_reconciles_within_one_percent(self):
        est, billed = defaultdict(Decimal), defaultdict(Decimal)
        for r in self.dimension("profile"):
            app = r["app"] or "(bill only)"
            est[app] += money(r["estimated_cost_usd"])
            billed[app] += money(r["billed_cost_usd"])
        self.assertEqual(set(billed), {"support-chat", "code-review", "ticket-triage", "unattributed"})
        for app in billed:
            with self.subTest(app=app):
                self.assertGreater(billed[app], Decimal("0.001"), app)
                self.assertLessEqual(abs(billed[app] - est[app]), WITHIN * billed[app],
                                     f"{app}: billed {billed[app]}, estimated {est[app]}")
        # The estimate is the report's money (the core's pricing of the same files).
        report = {g["app"]: Decimal(g["cost_usd"]) for g in self.report["by_app"]}
        for app, e in est.items():
            self.assertLessEqual(abs(report[app] - e), Decimal("0.0001"), app)
        # The Marketplace-billed app is on the bill: its profile row has a bill, not NULL.
        chat = next(r for r in self.dimension("profile") if r["key"] == profile_arn("chat01"))
        self.assertIsNotNone(chat["billed_cost_usd"])
        self.assertEqual((chat["app"], chat["team"]), ("support-chat", "cx"))

    def test_each_principal_reconciles_within_one_percent(self):
        rows = {r["key"]: r for r in self.dimension("principal")}
        # Sessions of a workload role are the role on both sides; IAM Identity Center sessions are people.
        want = {role_principal("SupportChat"), role_principal("EksPods"), role(SSO, "jane@example.com"),
                role(SSO, "raj@example.com"), ALICE}
        self.assertEqual(set(rows), want)
        for key, r in rows.items():
            with self.subTest(principal=key):
                billed, est = money(r["billed_cost_usd"]), money(r["estimated_cost_usd"])
                self.assertIsNotNone(r["billed_cost_usd"], key)
                self.assertIsNotNone(r["estimated_cost_usd"], key)
                self.assertGreater(billed, 0)
                self.assertLessEqual(abs(billed - est), WITHIN * billed, f"{key}: billed {billed}, estimated {est}")
        report = {g["caller"]: Decimal(g["cost_usd"]) for g in self.report["by_caller"]}
        self.assertEqual(set(report), want)

    def test_no_direct_call_hides_in_the_profile_rows(self):
        direct = next(r for r in self.dimension("profile") if r["key"] == NO_PROFILE)
        self.assertEqual((direct["app"], direct["team"]), ("unattributed", "unattributed"))
        # Nova by base id and Sonnet through us.: both bill under a model / system-profile ARN.
        expect = sum(Decimal(str(r["line_item_unblended_cost"])) for r in self.bill
                     if r["line_item_line_item_type"] == "Usage" and r["product"].get("product_name", "") != "Acme Log Search"
                     and r["line_item_product_code"] != "AmazonEC2"
                     and "application-inference-profile" not in r["line_item_resource_id"])
        self.assertLessEqual(abs(money(direct["billed_cost_usd"]) - expect), Decimal("0.000001"))


if __name__ == "__main__":
    unittest.main()
