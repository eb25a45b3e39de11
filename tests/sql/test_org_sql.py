"""The organisation query (issue 24), executed — not only string-compared.

Three member accounts' fixture days (fixtures.write_day, one account id each, with their own profiles
files) are turned into fan-in files by `bedrock-meter report --write-fan-in` (the member's writer).
The exact Athena SQL `bedrock-meter rollup-sql --org` prints is transpiled Trino -> DuckDB with sqlglot
and run over the fan-in files exposed as the home account's table (the columns of
`fanin_table_sql`, `day` from the partition folder, `"$path"` the object's path, the SerDe's
`ignore.malformed.json` as `ignore_errors`). Its rows, priced by the core (`rollup-sql --org
--price-org-rows`), must equal `bedrock-meter report --fan-in` (which reads the files with the core's
decoder) and the sum of the three accounts' own `report` — to the cent — including when a file holds
a broken line and rows forged in another account's name.

Run: .venv/bin/python -m unittest discover -s tests/sql -p test_org_sql.py -v
"""

import gzip
import json
import os
import tempfile
import unittest
from decimal import Decimal

import duckdb
import sqlglot

import fixtures
from test_rollup_sql import BIN, KEYS, athena_text, loads, run, run_rollup_sql

DATABASE, TABLE = "bedrock_meter", "fanin"
ACCOUNTS = ["111122223333", "222233334444", "333344445555"]
CENT = Decimal("0.01")


def fanin_columns():
    """(name, hive type) of the fan-in table, read from the DDL the CLI prints."""
    ddl = run("rollup-sql", "--create-fanin-table", "--location", "s3://home/fanin/")
    body = ddl[ddl.index("(\n") + 2:ddl.index("\n)\nPARTITIONED BY")]
    cols = []
    for line in body.splitlines():
        name, ty = line.strip().rstrip(",").split(" ")
        cols.append((name.strip("`"), ty))
    return cols


def duck_type(t):
    return {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT"}[t]


def fanin_table(con, root):
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}")
    columns = "{" + ", ".join(f"'{n}': '{duck_type(t)}'" for n, t in fanin_columns()) + "}"
    glob = os.path.join(root, "fanin", "**", "rows.json.gz").replace("'", "''")
    con.execute(f"""
        CREATE OR REPLACE VIEW {DATABASE}.{TABLE} AS
        SELECT * EXCLUDE (filename),
               filename AS "$path",
               regexp_extract(filename, '/day=(\\d{{4}}-\\d{{2}}-\\d{{2}})/', 1) AS day
        FROM read_json('{glob}', columns = {columns}, format = 'newline_delimited',
                       ignore_errors = true, filename = true, compression = 'gzip')
    """)


def run_org_sql(root, day):
    sql = run("rollup-sql", "--org", "--date", day, "--database", DATABASE, "--fanin-table", TABLE)
    sqlglot.parse_one(sql, read="trino")
    duck_sql = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    con = duckdb.connect()
    fanin_table(con, root)
    cur = con.execute(duck_sql)
    columns = [d[0] for d in cur.description]
    rows = [[athena_text(v) for v in r] for r in cur.fetchall()]
    return sql, columns, rows


def usd(v):
    return Decimal(0) if v is None else Decimal(v)


class OrgSqlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(BIN):
            raise AssertionError(f"{BIN} not built (cargo build -p bedrock-meter)")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.home = os.path.join(cls.tmp.name, "home")
        cls.accounts = {}
        cls.inputs = {}
        saved = fixtures.ACCOUNT
        try:
            for i, account in enumerate(ACCOUNTS):
                fixtures.ACCOUNT = account
                logs = os.path.join(cls.tmp.name, f"logs-{account}")
                fixtures.write_day(logs, seed=7 + i)
                profiles = os.path.join(cls.tmp.name, f"profiles-{account}.json")
                with open(profiles, "w") as f:
                    json.dump(fixtures.profiles_document(), f)
                cls.inputs[account] = (logs, profiles)
                cls.accounts[account] = loads(run(
                    "report", "--date", fixtures.DAY, "--format", "json", "--profiles", profiles,
                    "--write-fan-in", cls.home, logs))
        finally:
            fixtures.ACCOUNT = saved

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def org_by_sql(self):
        _, cols, rows = run_org_sql(self.home, fixtures.DAY)
        self.assertTrue(rows)
        rows_file = os.path.join(self.tmp.name, "org-rows.json")
        with open(rows_file, "w") as f:
            json.dump({"columns": cols, "rows": rows}, f)
        return loads(run("rollup-sql", "--org", "--date", fixtures.DAY,
                         "--price-org-rows", rows_file)), rows

    def org_by_cli(self):
        return loads(run("report", "--fan-in", self.home, "--date", fixtures.DAY,
                         "--format", "json"))

    def assert_same(self, sql, cli):
        for f in ("requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
                  "cache_write_tokens", "unpriced_requests"):
            self.assertEqual(sql["totals"][f], cli["totals"][f], f)
        self.assertEqual(sql["totals"]["cost_usd"], cli["totals"]["cost_usd"])
        for section, key in (("by_account", ("account",)),
                             ("by_team_account", ("team", "account")),
                             ("by_account_region", ("account", "region"))):
            a = {tuple(g[k] for k in key): g for g in sql[section]}
            b = {tuple(g[k] for k in key): g for g in cli[section]}
            self.assertEqual(a.keys(), b.keys(), section)
            for k in a:
                self.assertEqual(a[k]["requests"], b[k]["requests"], (section, k))
                self.assertEqual(a[k]["cost_usd"], b[k]["cost_usd"], (section, k))
        self.assertEqual({(u["model_id"], u["reason"]): u["requests"] for u in sql["unpriced"]},
                         {(u["model_id"], u["reason"]): u["requests"] for u in cli["unpriced"]})

    def test_the_org_query_equals_report_fan_in_and_the_sum_of_the_accounts(self):
        sql, rows = self.org_by_sql()
        cli = self.org_by_cli()
        self.assert_same(sql, cli)
        self.assertEqual({r[0] for r in rows}, set(ACCOUNTS))
        # The sum of the three accounts' own reports, to the cent.
        total = sum(usd(r["totals"]["cost_usd"]) for r in self.accounts.values())
        self.assertGreater(total, 0)
        self.assertEqual(usd(sql["totals"]["cost_usd"]).quantize(CENT), total.quantize(CENT))
        self.assertEqual(sql["totals"]["requests"],
                         sum(r["totals"]["requests"] for r in self.accounts.values()))
        for account, own in self.accounts.items():
            got = next(g for g in sql["by_account"] if g["account"] == account)
            self.assertEqual(got["cost_usd"], own["totals"]["cost_usd"], account)
            for t in own["by_team"]:
                g = next(x for x in sql["by_team_account"]
                         if x["account"] == account and x["team"] == t["team"])
                self.assertEqual((g["requests"], g["cost_usd"]), (t["requests"], t["cost_usd"]))

    def test_forged_and_broken_lines_are_dropped_by_both(self):
        before = self.org_by_cli()
        # One member's file gets a broken line, a row in another account's name, a row with hour 24
        # and one with a text longer than the limit; they must change nothing, in SQL as in the core.
        key = os.path.join(self.home, "fanin", f"day={fixtures.DAY}", f"account={ACCOUNTS[1]}",
                           f"region={fixtures.REGION}", "rows.json.gz")
        with gzip.open(key, "rt") as f:
            text = f.read()
        first = json.loads(text.splitlines()[0])
        forged = dict(first, account_id=ACCOUNTS[0], requests=1000, input_tokens=10**9)
        late = dict(first, hour_utc=24, requests=1000)
        long = dict(first, caller="x" * 2049, requests=1000)
        try:
            with gzip.open(key, "wt") as f:
                f.write(text + "{not json\n" + "\n".join(json.dumps(x) for x in (forged, late, long))
                        + "\n")
            sql, _ = self.org_by_sql()
            cli = self.org_by_cli()
            self.assertEqual(cli["fan_in_bad_lines"], 3)
            self.assertEqual(cli["fan_in_foreign_rows"], 1)
            self.assert_same(sql, cli)
            self.assertEqual(cli["totals"], before["totals"])
        finally:
            with gzip.open(key, "wt") as f:
                f.write(text)

    def test_the_members_daily_query_gives_the_same_rows(self):
        """The member's rollup Lambda writes its object from the daily query's rows (the SQL of
        docs/daily-path.md, run here in DuckDB): per hour, app, team, caller and model the same counts
        as `report --write-fan-in` from the records (the tier and the 1-hour cache split aside: the
        table declares no bodies, docs/daily-path.md)."""
        account = ACCOUNTS[0]
        logs, profiles = self.inputs[account]
        _, cols, rows = run_rollup_sql(logs, fixtures.DAY)
        rows_file = os.path.join(self.tmp.name, "member-rows.json")
        with open(rows_file, "w") as f:
            json.dump({"columns": cols, "rows": rows}, f)
        member = os.path.join(self.tmp.name, "member")
        run("rollup-sql", "--date", fixtures.DAY, "--price-rows", rows_file, "--metadata-keys", KEYS,
            "--profiles", profiles, "--write-fan-in", member, "--account", account,
            "--region", fixtures.REGION)

        def summed(root):
            out = {}
            base = os.path.join(root, "fanin", f"day={fixtures.DAY}", f"account={account}")
            for dirpath, _, files in os.walk(base):
                for name in files:
                    with gzip.open(os.path.join(dirpath, name), "rt") as f:
                        for line in f:
                            r = json.loads(line)
                            k = tuple(r[c] for c in ("hour_utc", "source_region", "app", "team",
                                                     "caller", "model", "base_model", "pool",
                                                     "prompt_band"))
                            v = out.setdefault(k, [0] * 6)
                            for i, c in enumerate(("requests", "errors", "input_tokens",
                                                   "output_tokens", "cache_read_tokens",
                                                   "cache_write_tokens")):
                                v[i] += r[c]
            return out

        by_sql, by_records = summed(member), summed(self.home)
        self.assertGreater(len(by_sql), 20)
        self.assertEqual(by_sql, by_records)
        # One object, at the member's own Region's key.
        self.assertEqual(os.listdir(os.path.join(member, "fanin", f"day={fixtures.DAY}",
                                                 f"account={account}")),
                         [f"region={fixtures.REGION}"])

    def test_the_query_reads_one_day(self):
        sql = run("rollup-sql", "--org", "--date", fixtures.DAY, "--database", DATABASE,
                  "--fanin-table", TABLE)
        self.assertIn(f"WHERE day = '{fixtures.DAY}'\n", sql)
        # Another day's file (a copy of a member's) is not read.
        src = os.path.join(self.home, "fanin", f"day={fixtures.DAY}")
        other = os.path.join(self.home, "fanin", f"day={fixtures.NEXT}")
        os.makedirs(other, exist_ok=True)
        import shutil
        shutil.copytree(src, other, dirs_exist_ok=True)
        try:
            sql_report, _ = self.org_by_sql()
            self.assertEqual(sql_report["totals"], self.org_by_cli()["totals"])
        finally:
            shutil.rmtree(other)


if __name__ == "__main__":
    unittest.main()
