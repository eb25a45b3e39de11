"""The Athena query pack (queries/, the stack's named queries), executed — not only string-compared.

The committed files must be exactly what `bedrock-meter rollup-sql --query-pack queries` generates from
shared/sql/table.sql and the price table, and template.yaml's AWS::Athena::NamedQuery resources must be
those files with the stack's names substituted. Then each usage query (02-05) is parsed as Trino,
transpiled to DuckDB with sqlglot and run over the S3-layout fixture logs (the view of
test_rollup_sql.py) and over the profiles snapshot the daily Lambda would write for them (printed by
`bedrock-meter rollup-sql --profiles-snapshot`, the same core function the Lambda calls), with
`current_date` set to the day after the fixture day. Its money must agree with
`bedrock-meter report --format json` on the same files per app, per team and per caller (to $0.0001),
with the one documented difference checked exactly: 1-hour cache writes, visible only in logged
response bodies, are priced as 5-minute writes by SQL (docs/daily-path.md).

Run: .venv/bin/python -m unittest discover -s tests/sql -v   (BEDROCK_METER_BIN names the binary)
"""

import csv
import io
import json
import os
import tempfile
import unittest
from collections import defaultdict
from decimal import Decimal

import duckdb
import sqlglot
import yaml

import cur_fixture as cur
import fixtures
from test_rollup_sql import (BIN, DATABASE, ROOT, TABLE, TOLERANCE, athena_table, ddl_columns_of, duck_type, fixture_day, loads,
                             read, run, split_top)  # noqa: F401
from test_table_ddl import CfnLoader, TEMPLATE

QUERIES = os.path.join(ROOT, "queries")
PROFILES_DDL = os.path.join(ROOT, "shared", "sql", "profiles_table.sql")
PROFILES_TABLE = "invocation_logs_profiles"
FILES = ["01-create-table.sql", "02-daily-usage-by-profile.sql", "03-estimated-cost-per-app.sql",
         "04-spend-per-iam-caller.sql", "05-caller-app-cost.sql", "06-estimate-vs-bill.sql"]
RECONCILE = "06-estimate-vs-bill.sql"
# The bill: a CUR 2.0 table (tests/sql/cur_fixture.py: its columns and where their shapes come from).
CUR_SCHEMA, CUR_TABLE = cur.SCHEMA, cur.TABLE
NO_PROFILE = "(no application profile)"
BATCH_ROLE = "arn:aws:sts::111122223333:assumed-role/BatchJobs"   # a caller only the bill has
REGENERATE = "regenerate with: bedrock-meter rollup-sql --query-pack queries"
# What the template's !Sub fills in, as the committed files name it.
STACK_NAMES = {
    "s3://${Bucket}/${LogKeyPrefix}/AWSLogs/${AWS::AccountId}/BedrockModelInvocationLogs/${AWS::Region}/":
        "s3://YOUR-LOG-BUCKET/bedrock-logs/AWSLogs/YOUR-ACCOUNT-ID/BedrockModelInvocationLogs/YOUR-REGION/",
    "${GlueDatabase}": DATABASE,
    "${InvocationLogTable}": TABLE,
    "${ProfilesTable}": PROFILES_TABLE,
}


def profiles_table(con, root):
    """The profile-snapshot table over `root` (JSON lines), in DuckDB, from profiles_table.sql."""
    columns = "{" + ", ".join(f"'{n}': '{duck_type(t)}'" for n, t in ddl_columns_of(PROFILES_DDL)) + "}"
    glob = os.path.join(root, "*.jsonl").replace("'", "''")
    con.execute(f"""
        CREATE OR REPLACE VIEW {DATABASE}.{PROFILES_TABLE} AS
        SELECT * FROM read_json('{glob}', columns = {columns}, format = 'newline_delimited',
                                ignore_errors = true)
    """)


def cur_fixture(con, lines, snapshot):
    """A CUR 2.0-shaped bill for the fixture day: one Bedrock usage line per caller x team x app x
    model line of `report --format csv` (resource id = the app's profile ARN, or the model's ARN for
    calls without a profile; principal = the caller), billed at the estimate plus a delta typed in
    here; plus lines the reconciliation must leave out or show as bill-only. Returns the expected
    difference per (dimension, key), summed here from the deltas."""
    cur.create(con)
    arn_of = {(r["app"], r["team"]): r["profile_arn"] for r in snapshot}
    day = fixtures.DAY
    rows, expect = [], defaultdict(Decimal)

    def line(ts, rid, principal, usd, *, kind="Usage", product="AmazonBedrock", ut="USE1-NovaLite-input-tokens"):
        rows.append(cur.line(ts, usd, kind=kind, product_code=product, usage_type=ut, resource_id=rid,
                             principal=principal))

    for i, l in enumerate(lines):
        if l["team"] == "unresolved":
            continue                            # a deleted profile: nothing billed in this fixture
        if l["team"] == "unattributed":
            key, rid = NO_PROFILE, ("" if i % 2 else f"arn:aws:bedrock:us-east-1::foundation-model/{l['model']}")
        else:
            key = rid = arn_of[(l["app"], l["team"])]
        principal = "" if l["caller"] == "unknown" else l["caller"]
        delta = Decimal(i % 7 + 1) / 100        # 0.01 .. 0.07
        total = Decimal(l["cost_usd"] or 0) + delta
        # Two usage types per line (input and output), as the bill splits them.
        line(f"{day} 00:00:00", rid, principal, total / 4, ut="USE1-Claude4.6Sonnet-input-tokens")
        line(f"{day} 13:00:00", rid, principal, total - total / 4,
             product="AmazonBedrockFoundationModels", ut="USE1-Claude4.6Sonnet-output-tokens")
        expect[("profile", key)] += delta
        expect[("principal", l["caller"])] += delta
    # A batch job's role the invocation logs never saw.
    # The bill names its session; the reconciliation puts it through the caller rule (the role).
    batch = "arn:aws:sts::111122223333:assumed-role/BatchJobs/job-7"
    line(f"{day} 11:00:00", "", batch, Decimal("3"), ut="USE1-NovaLite-input-tokens-batch")
    expect[("principal", BATCH_ROLE)] += Decimal("3")
    expect[("profile", NO_PROFILE)] += Decimal("3")
    # Left out: tax, another service, a day outside the window.
    line(f"{day} 12:00:00", "", "", Decimal("99"), kind="Tax")
    line(f"{day} 12:00:00", "", "", Decimal("77"), product="AmazonEC2", ut="BoxUsage:m7g.large")
    line("2026-11-01 12:00:00", "", "", Decimal("55"))
    cur.insert(con, rows)
    return dict(expect)


def sub_text(text):
    for k, v in STACK_NAMES.items():
        text = text.replace(k, v)
    return text.replace("${!", "${")


def named_queries():
    doc = yaml.load(read(TEMPLATE), Loader=CfnLoader)
    out = {}
    for name, r in doc["Resources"].items():
        if r.get("Type") == "AWS::Athena::NamedQuery":
            out[name] = r["Properties"]
    return doc, out


def execute(con, sql, day_after):
    """Runs a pack query as the console would on `day_after` (its current_date)."""
    assert sql.count("current_date") >= 2, "the window is expressed with current_date"
    sql = sql.replace("current_date", f"DATE '{day_after}'")
    sqlglot.parse_one(sql, read="trino")          # raises on a syntax error
    duck_sql = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    cur = con.execute(duck_sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def money(v):
    return Decimal(0) if v is None else Decimal(v)


class GeneratedFilesTest(unittest.TestCase):
    def test_committed_files_are_the_generator_output(self):
        with tempfile.TemporaryDirectory() as tmp:
            run("rollup-sql", "--query-pack", tmp)
            self.assertEqual(sorted(os.listdir(tmp)), FILES)
            for f in FILES:
                path = os.path.join(QUERIES, f)
                self.assertTrue(os.path.exists(path), f"queries/{f} missing: {REGENERATE}")
                self.assertEqual(read(path), read(os.path.join(tmp, f)),
                                 f"queries/{f} differs from the generator: {REGENERATE}")

    def test_template_named_queries_are_the_generated_block(self):
        block = run("rollup-sql", "--named-queries")
        self.assertTrue(block in read(TEMPLATE),
                        "template.yaml's named queries differ from `bedrock-meter rollup-sql --named-queries`: "
                        "paste its output between the BEGIN/END generated markers")

    def test_named_query_text_equals_the_files(self):
        _, nq = named_queries()
        self.assertEqual(len(nq), len(FILES))
        texts = {}
        for name, props in nq.items():
            self.assertEqual(props["Database"], {"Ref": "GlueDatabase"}, name)
            self.assertEqual(props["WorkGroup"], {"Ref": "AthenaWorkGroup"}, name)
            q = props["QueryString"]["Sub"]
            texts[name] = sub_text(q[0] if isinstance(q, list) else q)
        by_text = {t: n for n, t in texts.items()}
        for f in FILES:
            self.assertIn(read(os.path.join(QUERIES, f)), by_text, f"no named query has the text of queries/{f}")

    def test_pricing_cte_is_the_one_in_every_query(self):
        cte = run("rollup-sql", "--pricing-cte").rstrip("\n")
        self.assertTrue(cte.startswith("prices AS ("))
        for f in FILES[1:]:
            self.assertIn("WITH\n" + cte + ",\n", read(os.path.join(QUERIES, f)), f)

    def test_create_table_query_is_the_table_ddl(self):
        loc = STACK_NAMES[next(iter(STACK_NAMES))]
        ddl = run("rollup-sql", "--create-table", "--location", loc)
        self.assertTrue(read(os.path.join(QUERIES, FILES[0])).endswith(ddl))


class QueryPackExecutedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.logs, cls.facts, cls.profiles_file = fixture_day()
        # The snapshots the daily Lambda writes: today's, and an older one with stale tags (newest wins).
        snaps = os.path.join(cls.tmp.name, "profiles")
        os.makedirs(snaps)
        today = run("rollup-sql", "--profiles-snapshot", "--date", fixtures.DAY, "--profiles", cls.profiles_file)
        with open(os.path.join(snaps, f"{fixtures.DAY}.jsonl"), "w") as f:
            f.write(today)
        stale = [dict(json.loads(l), snapshot_date="2026-11-01", team="old-team", app="old-app")
                 for l in today.splitlines()]
        with open(os.path.join(snaps, "2026-11-01.jsonl"), "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in stale))
        cls.snapshot = [json.loads(l) for l in today.splitlines()]
        con = duckdb.connect()
        athena_table(con, cls.logs)
        profiles_table(con, snaps)
        cls.cli = loads(run("report", "--date", fixtures.DAY, "--format", "json",
                            "--profiles", cls.profiles_file, cls.logs))
        csv_text = run("report", "--date", fixtures.DAY, "--format", "csv", "--profiles", cls.profiles_file, cls.logs)
        cls.bill = cur_fixture(con, list(csv.DictReader(io.StringIO(csv_text))), cls.snapshot)
        cls.results = {f: execute(con, read(os.path.join(QUERIES, f)), fixtures.NEXT) for f in FILES[1:]}
        table = json.loads(read(os.path.join(ROOT, "shared", "data", "prices.json")))
        model, pool, tokens = cls.facts["one_hour_tokens"]["fraud-risk"]
        entry = next(m for m in table["models"] if any(model.startswith(p) for p in m["match"]))
        r = entry["global"] if pool == "global" else entry["regional"]["us"]
        # Cache rates the entry does not list come from its rules (the entry's own, else its family's).
        rule = {**table.get("families", {}).get(entry.get("family"), {}).get("cache", {}),
                **entry.get("rules", {}).get("cache", {})}
        w1h, w5m = (Decimal(r[f]) if f in r else Decimal(r["input"]) * Decimal(rule[k])
                    for f, k in (("cache_write_1h", "write_1h"), ("cache_write_5m", "write_5m")))
        # The documented gap: report prices the body's 1-hour writes at the 1-hour rate, SQL at 5-minute.
        cls.gap = (w1h - w5m) / 1_000_000 * tokens
        cls.gap_app, cls.gap_team = "fraud-agent", "fraud-risk"
        cls.gap_caller = fixtures.principal("role", "FraudAgent")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def sums(self, query, key):
        out = defaultdict(lambda: defaultdict(Decimal))
        for row in self.results[query]:
            k = key(row)
            for c in ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
                      "cache_write_tokens", "unpriced_requests"):
                out[k][c] += row[c]
            out[k]["cost"] += money(row["estimated_cost_usd"])
        return out

    def assert_same(self, sql, report_groups, gap_key, what):
        self.assertEqual(set(sql), set(report_groups), what)
        for k, c in report_groups.items():
            d = sql[k]
            gap = self.gap if k == gap_key else Decimal(0)
            with self.subTest(what=what, key=k):
                # The report's cost is null (never 0) exactly when nothing in the group has a price.
                self.assertEqual(c["cost_usd"] is None, c["unpriced_requests"] == c["requests"], f"{what} {k}")
                self.assertLessEqual(abs(money(c["cost_usd"]) - d["cost"] - gap), TOLERANCE,
                                     f"{what} {k}: report {c['cost_usd']} vs SQL {d['cost']} (+1h gap {gap})")
                for col in ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
                            "cache_write_tokens", "unpriced_requests"):
                    self.assertEqual(d[col], c[col], f"{what} {k} {col}")

    def test_the_fixture_exercises_every_case(self):
        forms = {r["model"] for r in self.results["02-daily-usage-by-profile.sql"]}
        self.assertIn(fixtures.UNPRICED, forms)
        apps = {r["app"] for r in self.cli["by_app"]}
        self.assertTrue({"fraud-agent", "support-bot", "research-notebook", "search-rerank", "unattributed",
                         "deleted99"} <= apps, apps)
        callers = {r["caller"] for r in self.cli["by_caller"]}
        for who in ("LegacyCached", "ArnCaller", "Research"):
            self.assertIn(fixtures.principal("role", who), callers)
        self.assertIn(fixtures.principal("user", "tokyo-dev"), callers)
        # Sessions of a workload role are one caller; IAM Identity Center sessions are people.
        self.assertIn(fixtures.principal("role", "EksPods"), callers)
        self.assertFalse(any("botocore-session" in c for c in callers), callers)
        for who in ("jane@example.com", "raj@example.com"):
            self.assertIn(fixtures.principal("role", "AWSReservedSSO_Dev_0123abcd", who), callers)
        self.assertGreater(self.gap, Decimal("0.01"))
        # The stale snapshot's tags are not used.
        self.assertNotIn("old-team", json.dumps(self.results, default=str))

    def test_cost_per_app_and_team_agrees_with_report(self):
        q = "03-estimated-cost-per-app.sql"
        sql = self.sums(q, lambda r: (r["app"], r["team"]))
        rep = {(g["app"], g["team"]): g for g in self.cli["by_app"]}
        self.assert_same(sql, rep, (self.gap_app, self.gap_team), "app")
        teams = self.sums(q, lambda r: r["team"])
        self.assert_same(teams, {g["team"]: g for g in self.cli["by_team"]}, self.gap_team, "team")

    def test_spend_per_caller_agrees_with_report(self):
        sql = self.sums("04-spend-per-iam-caller.sql", lambda r: r["caller"])
        self.assert_same(sql, {g["caller"]: g for g in self.cli["by_caller"]}, self.gap_caller, "caller")

    def test_caller_app_and_daily_profile_queries_add_up_the_same(self):
        q5 = "05-caller-app-cost.sql"
        self.assert_same(self.sums(q5, lambda r: r["caller"]), {g["caller"]: g for g in self.cli["by_caller"]},
                         self.gap_caller, "05 by caller")
        self.assert_same(self.sums(q5, lambda r: (r["app"], r["team"])),
                         {(g["app"], g["team"]): g for g in self.cli["by_app"]},
                         (self.gap_app, self.gap_team), "05 by app")
        q2 = "02-daily-usage-by-profile.sql"
        self.assertEqual({str(r["day"]) for r in self.results[q2]}, {fixtures.DAY})
        self.assert_same(self.sums(q2, lambda r: (r["app"], r["team"])),
                         {(g["app"], g["team"]): g for g in self.cli["by_app"]},
                         (self.gap_app, self.gap_team), "02 by app")
        profiles = {r["profile"] for r in self.results[q2]}
        self.assertTrue({"fraud-scorer", "research-notebook", "search-rerank", "deleted99"} <= profiles)

    def test_totals_differ_only_by_the_one_hour_writes(self):
        total = sum(money(r["estimated_cost_usd"]) for r in self.results["04-spend-per-iam-caller.sql"])
        self.assertLessEqual(abs(Decimal(self.cli["totals"]["cost_usd"]) - total - self.gap), TOLERANCE)

    def test_unpriced_is_null_and_named_never_zero(self):
        rows = {r["caller"]: r for r in self.results["04-spend-per-iam-caller.sql"]}
        carol = rows[fixtures.principal("user", "carol")]          # only the model without a price
        self.assertIsNone(carol["estimated_cost_usd"])
        self.assertEqual(carol["unpriced_requests"], carol["requests"])
        self.assertEqual(carol["unpriced_models"], fixtures.UNPRICED)
        cached = rows[fixtures.principal("role", "LegacyCached")]  # cache reads on a model without a cache rate
        self.assertIsNone(cached["estimated_cost_usd"])
        self.assertEqual(cached["unpriced_models"], fixtures.CLAUDE3_HAIKU)
        batch = rows[fixtures.principal("role", "LegacyBatch")]    # same model, no cache tokens: priced
        self.assertGreater(batch["estimated_cost_usd"], 0)
        self.assertIsNone(batch["unpriced_models"])
        gone = {r["app"]: r for r in self.results["03-estimated-cost-per-app.sql"]}["deleted99"]
        self.assertEqual((gone["team"], gone["estimated_cost_usd"]), ("unresolved", None))
        for q, rows in self.results.items():
            for r in rows:
                if r["estimated_cost_usd"] is not None and r["estimated_cost_usd"] == 0:
                    self.assertEqual(r["unpriced_requests"], 0, f"{q}: $0 with unpriced requests: {r}")

    def test_prices_follow_pool_region_and_long_context(self):
        rows = {r["caller"]: r for r in self.results["04-spend-per-iam-caller.sql"]}
        # Tokyo: Nova Micro from ap-northeast-1, in-Region and through the apac. profile alike (the core
        # applies a Region override to every non-global pool): 0.042/0.168/0.0105 per 1M, not 0.035/0.14.
        tokyo = rows[fixtures.principal("user", "tokyo-dev")]["estimated_cost_usd"]
        want = (Decimal("0.042") * 200000 + Decimal("0.168") * 40000 + Decimal("0.0105") * 40000) / 1_000_000
        self.assertEqual(tokyo, want)
        # The research profile (models in three geographies) is priced at Opus 4.5's global rates.
        research = rows[fixtures.principal("role", "Research")]["estimated_cost_usd"]
        want = (Decimal("5") * 4009 + Decimal("25") * 2100 + Decimal("0.5") * 200000
                + Decimal("6.25") * 43000) / 1_000_000
        self.assertEqual(research, want)
        # GovCloud: Sonnet 4.5 at 3.60 / 18 per 1M (1.2 x global), not the commercial 3.30 / 16.50.
        gov = rows[fixtures.principal("user", "gov-dev")]
        self.assertEqual(gov["estimated_cost_usd"], (Decimal("3.6") * 100000 + Decimal("18") * 1000) / 1_000_000)
        # London: no rate for the Region: NULL with the core's reason, never the US rate.
        london = rows[fixtures.principal("user", "london-dev")]
        self.assertIsNone(london["estimated_cost_usd"])
        self.assertEqual((london["unpriced_requests"], london["unpriced_models"], london["unpriced_reasons"]),
                         (1, fixtures.NOVA_LITE, "no rate for region"))
        self.assertEqual(rows[fixtures.principal("user", "carol")]["unpriced_reasons"], "unknown model")
        snap = {r["profile_id"]: r for r in self.snapshot}
        self.assertEqual(snap["research01"]["pool"], "global")
        self.assertEqual(snap["fraudagent01"]["pool"], "geographic")
        self.assertEqual(snap["search01"]["team"], "untagged")


    def test_estimate_vs_bill_per_profile_and_principal(self):
        """Each difference is billed - estimated: the delta typed into the bill above, plus for the
        fraud agent (app and caller) the documented 1-hour-write gap (SQL estimates lower than report)."""
        rows = [r for r in self.results[RECONCILE] if str(r["day"]) == fixtures.DAY]
        got = {(r["dimension"], r["key"]): r for r in rows}
        gap_arn = next(r["profile_arn"] for r in self.snapshot if r["app"] == self.gap_app)
        # Profile rows: one per profile ARN of the estimate and of the bill (deleted99's profile is
        # billed nothing here, estimated NULL: unpriced), the direct calls in one row.
        self.assertGreater(len(self.bill), 10)
        for (dim, key), delta in self.bill.items():
            with self.subTest(dim=dim, key=key):
                r = got[(dim, key)]
                gap = self.gap if key in (gap_arn, self.gap_caller) else Decimal(0)
                self.assertLessEqual(abs(money(r["difference_usd"]) - delta - gap), TOLERANCE,
                                     f"{dim} {key}: {r}")
                self.assertTrue(r["bill_complete"])
        # App and team ride along on profile rows.
        fraud = got[("profile", gap_arn)]
        self.assertEqual((fraud["app"], fraud["team"]), (self.gap_app, self.gap_team))
        direct = got[("profile", NO_PROFILE)]
        self.assertEqual((direct["app"], direct["team"]), ("unattributed", "unattributed"))
        # Bill-only: the batch role has no estimate; the whole bill line is the difference.
        batch = got[("principal", BATCH_ROLE)]
        self.assertIsNone(batch["estimated_cost_usd"])
        self.assertEqual(money(batch["billed_cost_usd"]), Decimal("3"))
        # Estimate-only: the deleted profile's calls (unpriced), counted as unpriced requests.
        gone = [r for r in rows if r["app"] == "deleted99"]
        self.assertEqual(len(gone), 1)
        self.assertIsNone(gone[0]["billed_cost_usd"])
        self.assertGreater(gone[0]["unpriced_requests"], 0)
        # Tax, EC2 and a day outside the window are not in the bill total; per dimension the bill adds
        # up to the fixture's Bedrock usage lines exactly.
        billed_profiles = sum(money(r["billed_cost_usd"]) for r in rows if r["dimension"] == "profile")
        estimated = sum(money(r["estimated_cost_usd"]) for r in rows if r["dimension"] == "profile")
        deltas = sum(v for (d, _), v in self.bill.items() if d == "profile")
        self.assertLessEqual(abs(billed_profiles - estimated - deltas - self.gap), TOLERANCE)
        self.assertLessEqual(abs(estimated - Decimal(self.cli["totals"]["cost_usd"]) + self.gap), TOLERANCE)
        # The fixture's records of the day before have an estimate but no bill line yet: not complete.
        before = [r for r in self.results[RECONCILE] if str(r["day"]) != fixtures.DAY]
        self.assertTrue(before)
        for r in before:
            self.assertEqual((str(r["day"]), r["bill_complete"], r["billed_cost_usd"]), ("2026-11-24", False, None))

if __name__ == "__main__":
    unittest.main()
