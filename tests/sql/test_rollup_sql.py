"""The daily path's SQL, executed — not only string-compared.

The exact text the Lambda sends (printed by `bedrock-meter rollup-sql`, built by the same function) is
parsed as Trino SQL, transpiled to DuckDB with sqlglot, and run over S3-layout fixture logs exposed as
the Athena table: the columns and types of shared/sql/table.sql, `datehour` taken from the hour
folder (partition projection), the JSON SerDe's `ignore.malformed.json` as `ignore_errors`. The rows
go back through the core (the Lambda's own row reader, pricing and report code, via the hidden
`rollup-sql --price-rows`) and the money is compared with `bedrock-meter report` on the same files,
team by team.

The rows are per UTC hour of each record's own `timestamp` (column `hour_utc`): the hourly sums are
checked against an independent reading of the fixture files, and the day's figures (the money above)
are their sum.

One documented difference is checked exactly instead of hidden: the 1-hour cache-write split is only
in logged response bodies, which the table does not declare, so the daily path prices those tokens as
5-minute writes; `report` reads the body. The gap must be exactly tokens x (1h - 5m rate).

Run: .venv/bin/python -m unittest discover -s tests/sql -v   (BEDROCK_METER_BIN names the binary)
"""

import gzip
import json
import os
import subprocess
import tempfile
import unittest
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal

import duckdb
import sqlglot

import fixtures

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("BEDROCK_METER_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "bedrock-meter")
DDL = os.path.join(ROOT, "shared", "sql", "table.sql")
DATABASE, TABLE = "bedrock_meter", "invocation_logs"
KEYS = "tenant"
TOLERANCE = Decimal("0.0001")


def split_top(s):
    """Splits 'a:int,b:struct<c:int,d:int>' at the commas of depth 0."""
    out, depth, cur = [], 0, ""
    for c in s:
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += c
    if cur:
        out.append(cur)
    return [x.strip() for x in out]


def duck_type(hive):
    h = hive.strip()
    if h == "string":
        return "VARCHAR"
    if h == "bigint":
        return "BIGINT"
    if h.startswith("map<") and h.endswith(">"):
        k, v = split_top(h[4:-1])
        return f"MAP({duck_type(k)}, {duck_type(v)})"
    if h.startswith("struct<") and h.endswith(">"):
        fields = [f.split(":", 1) for f in split_top(h[7:-1])]
        return "STRUCT(" + ", ".join(f'"{n}" {duck_type(t)}' for n, t in fields) + ")"
    raise ValueError(f"unsupported hive type {hive}")


def ddl_columns():
    """(name, hive type) of the table, read from the one DDL file."""
    return ddl_columns_of(DDL)


def ddl_columns_of(path):
    """(name, hive type) of the columns a CREATE EXTERNAL TABLE file declares (partitions excluded)."""
    text = read(path)
    body = text[text.index("` (\n") + 4: text.index("\n)\n")]
    cols = []
    for line in body.splitlines():
        line = line.strip().rstrip(",")
        if line.startswith("`"):
            name, ty = line[1:].split("` ", 1)
            cols.append((name, ty.strip()))
    return cols


def athena_table(con, root):
    """The Athena table over `root`, in DuckDB."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}")
    columns = "{" + ", ".join(f"'{n}': '{duck_type(t)}'" for n, t in ddl_columns()) + "}"
    glob = os.path.join(root, "**", "*").replace("'", "''")
    con.execute(f"""
        CREATE OR REPLACE VIEW {DATABASE}.{TABLE} AS
        SELECT * EXCLUDE (filename),
               regexp_extract(filename, '/(\\d{{4}}/\\d{{2}}/\\d{{2}}/\\d{{2}})/', 1) AS datehour
        FROM read_json('{glob}', columns = {columns}, format = 'newline_delimited',
                       ignore_errors = true, filename = true, compression = 'auto_detect')
    """)


def run(*args, check=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"bedrock-meter {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


def athena_text(v):
    """A DuckDB value as Athena's GetQueryResults returns it (text, None for NULL)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def run_rollup_sql(root, date, keys=KEYS, extra=()):
    sql = run("rollup-sql", "--date", date, "--database", DATABASE, "--table", TABLE,
              "--metadata-keys", keys, *extra)
    # Parsed as Trino (raises on a syntax error), then transpiled.
    sqlglot.parse_one(sql, read="trino")
    duck_sql = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    con = duckdb.connect()
    athena_table(con, root)
    cur = con.execute(duck_sql)
    columns = [d[0] for d in cur.description]
    rows = [[athena_text(v) for v in r] for r in cur.fetchall()]
    return sql, columns, rows


def loads(text):
    """JSON with exact decimals (the report's cost_usd are decimal numbers)."""
    return json.loads(text, parse_float=Decimal)


def read(path):
    with open(path) as f:
        return f.read()


def by(report, section, key):
    return {g[key]: g for g in report[section]}


def fixture_day():
    """A temporary folder with the fixture day's logs (S3 layout) and its profiles file: (tmp, logs
    folder, the facts fixtures.write_day returns, profiles file)."""
    if not os.path.exists(BIN):
        raise AssertionError(f"{BIN} not built (cargo build -p bedrock-meter)")
    tmp = tempfile.TemporaryDirectory()
    logs = os.path.join(tmp.name, "logs")
    facts = fixtures.write_day(logs)
    profiles = os.path.join(tmp.name, "profiles.json")
    with open(profiles, "w") as f:
        json.dump(fixtures.profiles_document(), f)
    return tmp, logs, facts, profiles


class RollupSqlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.logs, cls.facts, cls.profiles = fixture_day()
        cls.sql, cols, rows = run_rollup_sql(cls.logs, fixtures.DAY)
        rows_file = os.path.join(cls.tmp.name, "rows.json")
        with open(rows_file, "w") as f:
            json.dump({"columns": cols, "rows": rows}, f)
        cls.rows = rows
        cls.daily = loads(run("rollup-sql", "--date", fixtures.DAY, "--price-rows", rows_file,
                                   "--profiles", cls.profiles, "--metadata-keys", KEYS))
        cls.cli = loads(run("report", "--date", fixtures.DAY, "--format", "json",
                                 "--profiles", cls.profiles, "--metadata-keys", KEYS, cls.logs))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def one_hour_gap(self, team):
        """What `report` adds over the daily path for the 1-hour cache writes of `team`."""
        if team not in self.facts["one_hour_tokens"]:
            return Decimal(0)
        model, pool, tokens = self.facts["one_hour_tokens"][team]
        table = json.loads(read(os.path.join(ROOT, "shared", "data", "prices.json")))
        entry = next(m for m in table["models"] if any(model.startswith(p) for p in m["match"]))
        rates = entry["global"] if pool == "global" else entry["regional"]["us"]
        # Cache rates the entry does not list come from its rules (the entry's own, else its family's).
        rule = {**table.get("families", {}).get(entry.get("family"), {}).get("cache", {}),
                **entry.get("rules", {}).get("cache", {})}

        def rate(field, key):
            return Decimal(rates[field]) if field in rates else Decimal(rates["input"]) * Decimal(rule[key])
        per_token = (rate("cache_write_1h", "write_1h") - rate("cache_write_5m", "write_5m")) / 1_000_000
        return per_token * tokens

    def test_the_fixture_exercises_every_case(self):
        teams = {t["team"] for t in self.cli["by_team"]}
        self.assertEqual(teams, {"fraud-risk", "cx", "research", "untagged", "unresolved", "unattributed"})
        self.assertTrue(any(u["model_id"] == fixtures.UNPRICED for u in self.cli["unpriced"]))
        self.assertGreaterEqual(self.cli["malformed_records"], 1)
        self.assertGreater(self.cli["totals"]["errors"], 0)
        self.assertGreater(self.cli["totals"]["cache_read_tokens"], 0)
        self.assertGreater(self.cli["totals"]["cache_write_tokens"], 0)
        # The long-context request is its own row (a prompt band above 0) in the SQL result.
        self.assertTrue(any(int(r[4]) > 0 for r in self.rows))

    def test_same_money_team_by_team(self):
        daily, cli = by(self.daily, "by_team", "team"), by(self.cli, "by_team", "team")
        self.assertEqual(set(daily), set(cli))
        for team in cli:
            # Both null (never 0) when nothing in the team has a price (team unresolved).
            self.assertEqual(daily[team]["cost_usd"] is None, cli[team]["cost_usd"] is None, team)
            self.assertEqual(cli[team]["cost_usd"] is None,
                             cli[team]["unpriced_requests"] == cli[team]["requests"], team)
            d, c = Decimal(daily[team]["cost_usd"] or 0), Decimal(cli[team]["cost_usd"] or 0)
            gap = self.one_hour_gap(team)
            with self.subTest(team=team):
                self.assertLessEqual(abs(c - d - gap), TOLERANCE,
                                     f"{team}: report {c} vs daily {d} (+1h gap {gap})")
                for k in ("requests", "errors", "input_tokens", "output_tokens",
                          "cache_read_tokens", "cache_write_tokens", "unpriced_requests"):
                    self.assertEqual(daily[team][k], cli[team][k], f"{team}.{k}")
        # The documented 1-hour difference is real and exact (not swallowed by the tolerance).
        gap = self.one_hour_gap("fraud-risk")
        self.assertGreater(gap, Decimal("0.01"))
        c = Decimal(cli["fraud-risk"]["cost_usd"])
        d = Decimal(daily["fraud-risk"]["cost_usd"])
        self.assertEqual(c - d, gap)

    def test_same_rows_by_app_model_caller_and_metadata(self):
        gap_total = sum(self.one_hour_gap(t) for t in self.facts["one_hour_tokens"])
        self.assertEqual(Decimal(self.cli["totals"]["cost_usd"]) - Decimal(self.daily["totals"]["cost_usd"]),
                         gap_total)
        for section, key in (("by_app", "app"), ("by_model", "model"), ("by_caller", "caller")):
            d, c = by(self.daily, section, key), by(self.cli, section, key)
            self.assertEqual(set(d), set(c), section)
            for k in c:
                self.assertEqual(d[k]["requests"], c[k]["requests"], f"{section} {k}")
                self.assertEqual(d[k]["input_tokens"], c[k]["input_tokens"], f"{section} {k}")
        d = {g["value"]: g["requests"] for g in self.daily["by_metadata"]["tenant"]}
        c = {g["value"]: g["requests"] for g in self.cli["by_metadata"]["tenant"]}
        self.assertEqual(d, c)
        self.assertEqual(self.daily["unpriced"], self.cli["unpriced"])

    def test_late_and_early_records_are_kept_by_their_own_timestamp(self):
        alice = f"arn:aws:iam::{fixtures.ACCOUNT}:user/alice"
        d = by(self.daily, "by_caller", "caller")[alice]
        c = by(self.cli, "by_caller", "caller")[alice]
        self.assertEqual(d["requests"], c["requests"])
        # 23:59:58 in the next day's 00 folder is in; 00:00:03 and the neighbouring days are out.
        self.assertNotIn("2026-11-26", json.dumps(self.rows))

    def test_the_sql_filters_on_partition_schema_and_timestamp(self):
        self.assertIn("WHERE datehour BETWEEN '2026/11/25/00' AND '2026/11/26/00'", self.sql)
        self.assertIn("schemaType = 'ModelInvocationLog'", self.sql)
        self.assertIn("from_iso8601_timestamp(\"timestamp\")", self.sql)


def fixture_hours(root, day, next_day):
    """An independent reading of the fixture files (not the SQL, not the core): what each UTC hour of
    `day` holds, by model id — requests, errors and token sums of the invocation records in the day's
    hour folders and the next day's first, timestamped inside `day`."""
    lo, hi = day.replace("-", "/") + "/00", next_day.replace("-", "/") + "/00"
    out = defaultdict(lambda: [0] * 6)
    for d, _, files in os.walk(root):
        parts = d.split(os.sep)
        if len(parts) < 4 or not lo <= "/".join(parts[-4:]) <= hi:
            continue
        for name in files:
            with gzip.open(os.path.join(d, name), "rt") as f:
                lines = f.read().splitlines()
            for line in lines:
                try:
                    r = json.loads(line)
                    t = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).astimezone(timezone.utc)
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if not isinstance(r, dict) or r.get("schemaType") != "ModelInvocationLog" or not r.get("modelId"):
                    continue
                if t.date().isoformat() != day:
                    continue
                i, o = r.get("input") or {}, r.get("output") or {}
                acc = out[(t.hour, r["modelId"])]
                for k, v in enumerate((1, 1 if r.get("errorCode") is not None else 0,
                                       i.get("inputTokenCount") or 0, o.get("outputTokenCount") or 0,
                                       i.get("cacheReadInputTokenCount") or 0,
                                       i.get("cacheWriteInputTokenCount") or 0)):
                    acc[k] += v
    return dict(out)


class HourlyRowsTest(unittest.TestCase):
    """The rollup's rows are per UTC hour: each hour's sums equal an independent reading of the fixture,
    and summing the hours gives the day's rows (whose money matches `report` in RollupSqlTest)."""

    SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")

    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.logs, _, _ = fixture_day()
        cls.sql, cls.cols, cls.rows = run_rollup_sql(cls.logs, fixtures.DAY)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_hourly_sums_equal_the_fixture(self):
        self.assertIn('hour(try(from_iso8601_timestamp("timestamp"))) AS hour_utc', self.sql)
        c = self.cols.index
        got = defaultdict(lambda: [0] * 6)
        for r in self.rows:
            hour = int(r[c("hour_utc")])
            self.assertTrue(0 <= hour <= 23, r)
            acc = got[(hour, r[c("model_id")])]
            for k, name in enumerate(self.SUMS):
                acc[k] += int(r[c(name)])
        expected = fixture_hours(self.logs, fixtures.DAY, fixtures.NEXT)
        self.assertEqual(dict(got), expected)
        hours = {h for h, _ in expected}
        # The fixture spreads over many hours; the 23:59:58 record delivered in the next day's 00
        # folder is in hour 23 (its own timestamp, not its folder).
        self.assertGreater(len(hours), 5)
        self.assertIn((23, f"us.{fixtures.HAIKU}"), expected)

    def test_the_days_rows_are_the_sum_of_the_hours(self):
        """Some key of the day is in more than one hour, and summing its hours gives exactly what the
        day-level fixture reading gives (the per-day totals are unchanged by the hour column)."""
        c = self.cols.index
        key_cols = [i for i, n in enumerate(self.cols) if n not in self.SUMS and n != "hour_utc"]
        hours_of = defaultdict(set)
        day = defaultdict(lambda: [0] * 6)
        for r in self.rows:
            key = tuple(r[i] for i in key_cols)
            self.assertNotIn(r[c("hour_utc")], hours_of[key], "one row per key and hour")
            hours_of[key].add(r[c("hour_utc")])
            acc = day[r[c("model_id")]]
            for k, name in enumerate(self.SUMS):
                acc[k] += int(r[c(name)])
        self.assertTrue(any(len(h) > 1 for h in hours_of.values()), "a key spans hours")
        by_model = defaultdict(lambda: [0] * 6)
        for (_, model), v in fixture_hours(self.logs, fixtures.DAY, fixtures.NEXT).items():
            by_model[model] = [a + b for a, b in zip(by_model[model], v)]
        self.assertEqual(dict(day), dict(by_model))


class PartitionPredicateTest(unittest.TestCase):
    """Scanned bytes stay proportional to one day: only the day's 24 hour folders and the next day's
    first hour are read, whatever the records' timestamps say."""

    def test_reads_the_day_and_the_next_hour_only(self):
        with tempfile.TemporaryDirectory() as tmp:
            folders = fixtures.write_partition_probe(tmp)
            _, cols, rows = run_rollup_sql(tmp, fixtures.DAY, keys="")
            caller = cols.index("caller")
            read = sorted(r[caller].rsplit("folder-", 1)[1] for r in rows)
            expected = [f"{fixtures.DAY}-{h:02d}" for h in range(24)] + [f"{fixtures.NEXT}-00"]
            self.assertEqual(read, expected)
            self.assertEqual(len(folders) - len(read), 7)



class CallerRuleTest(unittest.TestCase):
    """The SQL applies the same caller rule as the core (docs/callers.md), with custom keep-session
    patterns too: characters special in a regular expression, another partition, a role name that only
    looks like a pattern's prefix."""

    def test_sql_callers_are_the_reports_under_custom_patterns(self):
        pats = "ops.team+x,Human-?"
        acct = fixtures.ACCOUNT
        who = [
            (f"arn:aws:sts::{acct}:assumed-role/ops.team+x/jane", None),                 # kept
            (f"arn:aws:sts::{acct}:assumed-role/opsXteam+x/s1", f"arn:aws:sts::{acct}:assumed-role/opsXteam+x"),
            (f"arn:aws:sts::{acct}:assumed-role/Human-1/raj", None),                      # kept
            (f"arn:aws:sts::{acct}:assumed-role/Human-12/s2", f"arn:aws:sts::{acct}:assumed-role/Human-12"),
            (f"arn:aws:sts::{acct}:assumed-role/AWSReservedSSO_Dev_1/ann", f"arn:aws:sts::{acct}:assumed-role/AWSReservedSSO_Dev_1"),
            (f"arn:aws-us-gov:sts::{acct}:assumed-role/Gov/s3", f"arn:aws-us-gov:sts::{acct}:assumed-role/Gov"),
            (f"arn:aws:iam::{acct}:user/path/bob", None),
        ]
        expected = {p or arn for arn, p in who}
        with tempfile.TemporaryDirectory() as tmp:
            lay = fixtures.Layout(tmp)
            lay.write(fixtures.DAY, 10, [
                fixtures.record(fixtures.ts(fixtures.DAY, 10, k), fixtures.NOVA_LITE, arn, tokens=(10, 1, 0, 0))
                for k, (arn, _) in enumerate(who)
            ])
            _, cols, rows = run_rollup_sql(tmp, fixtures.DAY, keys="", extra=("--keep-session-roles", pats))
            sql_callers = {r[cols.index("caller")] for r in rows}
            cli = loads(run("report", "--date", fixtures.DAY, "--format", "json",
                            "--keep-session-roles", pats, tmp))
            self.assertEqual(sql_callers, expected)
            self.assertEqual({g["caller"] for g in cli["by_caller"]}, expected)


if __name__ == "__main__":
    unittest.main()
