"""The organisation rollup at the issue's scale (issue 24): synthetic fan-in files for ACCOUNTS x
REGIONS members, one day, in the layout and format the members write (docs/organization.md).

Prints (markdown) per scenario: fan-in rows and bytes per day, the bytes one day's organisation query
scans (Athena reads the day's partition only, and gzip JSON objects whole: the compressed size of the
day's objects — DuckDB stands in for Athena and runs the exact SQL `bedrock-meter rollup-sql --org`
prints, transpiled, over those objects), its cost at $5/TB (Athena bills at least 10 MB per query),
the same rows as Parquet (zstd, one file per member) for comparison, and the times of DuckDB's query
and of `bedrock-meter report --fan-in` over the same files. The row count and total requests of the
SQL and of `report --fan-in` are checked equal, or the script fails.

  .venv/bin/python bench/org.py [--out bench/out/org] [--accounts 200] [--regions 4]
"""

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import time

import duckdb
import sqlglot

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DAY = "2026-11-25"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "eu-central-1", "ap-south-1"]
MODELS = [
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "us"),
    ("anthropic.claude-haiku-4-5-20251001-v1:0", "us"),
    ("anthropic.claude-opus-4-5-20251101-v1:0", "global"),
    ("amazon.nova-lite-v1:0", "in-region"),
    ("amazon.nova-pro-v1:0", "in-region"),
]
TEAMS = ["payments", "fraud-risk", "search", "support", "research", "platform", "growth", "data"]
PRICE_PER_TB = 5.0
MIN_BYTES = 10 * 1000 ** 2


def member_rows(rng, account, region, keys_per_hour):
    """One member's day: `keys_per_hour` active (app, caller, model, tier) keys in each hour (varied
    ±50 % per member), with token counts of a busy service."""
    n = max(1, int(keys_per_hour * rng.uniform(0.5, 1.5)))
    keys = []
    for _ in range(n):
        team = rng.choice(TEAMS)
        app = f"{team}-{rng.choice(['api', 'agent', 'batch', 'chat', 'scorer'])}"
        caller = f"arn:aws:iam::{account}:role/{app}-svc-{rng.randrange(4)}"
        model, pool = rng.choice(MODELS)
        keys.append((app, team, caller, model, pool, rng.choice(["default", "default", "unread"])))
    rows = []
    for hour in range(24):
        for app, team, caller, model, pool, tier in keys:
            requests = rng.randrange(1, 5000)
            rows.append({
                "hour_utc": hour, "account_id": account, "source_region": region,
                "app": app, "team": team, "caller": caller, "model": model, "base_model": model,
                "pool": pool, "tier": tier, "prompt_band": 0, "requests": requests,
                "errors": requests // 50, "input_tokens": requests * rng.randrange(200, 4000),
                "output_tokens": requests * rng.randrange(50, 800),
                "cache_read_tokens": requests * rng.randrange(0, 3000),
                "cache_write_tokens": requests * rng.randrange(0, 300),
                "cache_write_1h_tokens": 0, "unpriced_requests": 0,
            })
    return rows


def write_day(out, accounts, regions, keys_per_hour, seed=24):
    rng = random.Random(seed)
    shutil.rmtree(out, ignore_errors=True)
    n_rows = 0
    for i in range(accounts):
        account = f"{100000000000 + i * 7919:012d}"
        for region in REGIONS[:regions]:
            d = os.path.join(out, "fanin", f"day={DAY}", f"account={account}", f"region={region}")
            os.makedirs(d)
            rows = member_rows(rng, account, region, keys_per_hour)
            n_rows += len(rows)
            # compresslevel 6 = flate2's default, what the members write.
            with gzip.open(os.path.join(d, "rows.json.gz"), "wt", compresslevel=6) as f:
                f.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
    return n_rows


def du(path, suffix):
    total = 0
    for dirpath, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files if f.endswith(suffix))
    return total


def run(bin_, *args):
    return subprocess.run([bin_, *args], check=True, capture_output=True, text=True).stdout


def measure(bin_, out, accounts, regions, keys_per_hour):
    n_rows = write_day(out, accounts, regions, keys_per_hour)
    day_dir = os.path.join(out, "fanin", f"day={DAY}")
    gz_bytes = du(day_dir, ".json.gz")
    ddl = run(bin_, "rollup-sql", "--create-fanin-table", "--location", "s3://home/fanin/")
    body = ddl[ddl.index("(\n") + 2:ddl.index("\n)\nPARTITIONED BY")]
    types = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT"}
    cols = [l.strip().rstrip(",").split(" ") for l in body.splitlines()]
    columns = "{" + ", ".join(f"'{n.strip('`')}': '{types[t]}'" for n, t in cols) + "}"
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("CREATE SCHEMA bedrock_meter")
    # The day's partition only, as Athena's partition projection reads it.
    glob = os.path.join(day_dir, "**", "rows.json.gz")
    con.execute(f"""
        CREATE VIEW bedrock_meter.fanin AS
        SELECT * EXCLUDE (filename), filename AS "$path", '{DAY}' AS day
        FROM read_json('{glob}', columns = {columns}, format = 'newline_delimited',
                       ignore_errors = true, filename = true, compression = 'gzip')""")
    sql = run(bin_, "rollup-sql", "--org", "--date", DAY)
    duck_sql = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    t = time.perf_counter()
    result = con.execute(duck_sql).fetchall()
    sql_s = time.perf_counter() - t
    sql_requests = sum(r[10] for r in result)
    # The same rows as Parquet, one file per member (zstd): what the format would save.
    pq = os.path.join(out, "parquet")
    shutil.rmtree(pq, ignore_errors=True)
    con.execute(f"""COPY (SELECT * EXCLUDE ("$path", day),
                               regexp_extract("$path", 'account=(\\d+)', 1) AS account,
                               regexp_extract("$path", 'region=([a-z0-9-]+)', 1) AS region
                        FROM bedrock_meter.fanin)
                    TO '{pq}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (account, region))""")
    pq_bytes = du(pq, ".parquet")
    t = time.perf_counter()
    cli = json.loads(run(bin_, "report", "--fan-in", out, "--date", DAY, "--format", "json"))
    cli_s = time.perf_counter() - t
    if cli["totals"]["requests"] != sql_requests:
        sys.exit(f"SQL and report --fan-in disagree: {sql_requests} vs {cli['totals']['requests']}")
    members = accounts * regions
    return {
        "members": members, "keys_per_hour": keys_per_hour, "rows": n_rows,
        "sql_rows": len(result), "gz_bytes": gz_bytes, "pq_bytes": pq_bytes,
        "cost": max(gz_bytes, MIN_BYTES) * PRICE_PER_TB / 1e12,
        "cost_unrounded": gz_bytes * PRICE_PER_TB / 1e12,
        "pq_cost_unrounded": pq_bytes * PRICE_PER_TB / 1e12,
        "sql_s": sql_s, "cli_s": cli_s,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "org"))
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--regions", type=int, default=4)
    ap.add_argument("--keys", default="20,100", help="active keys per member and hour, per scenario")
    ap.add_argument("--bin", default=os.environ.get("BEDROCK_METER_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "bedrock-meter"))
    a = ap.parse_args()
    print("| members | keys/hour | fan-in rows/day | gzip JSONL bytes/day (= bytes scanned) | "
          "query cost at $5/TB (10 MB minimum) | same rows as Parquet (zstd) | rows out | "
          "DuckDB query s | report --fan-in s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k in [int(x) for x in a.keys.split(",")]:
        m = measure(a.bin, a.out, a.accounts, a.regions, k)
        print(f"| {a.accounts} × {a.regions} = {m['members']} | {k} | {m['rows']:,} | "
              f"{m['gz_bytes'] / 1e6:.1f} MB | ${m['cost']:.6f} (${m['cost_unrounded']:.6f} without the minimum) | "
              f"{m['pq_bytes'] / 1e6:.1f} MB (${m['pq_cost_unrounded']:.6f}) | {m['sql_rows']:,} | "
              f"{m['sql_s']:.2f} | {m['cli_s']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
