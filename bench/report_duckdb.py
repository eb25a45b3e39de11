"""The DuckDB side of bench/report.sh, and the check that it and `bedrock-meter report` agree.

    report_duckdb.py query GLOB DATE OUT.json CALLER.sql   # DuckDB: tokens and requests per modelId and caller
    report_duckdb.py check REPORT.json DUCK.json PROFILES.json

`query` is what a user would run instead of `report`: `read_json` of the gzip'd JSON-lines files with an
explicit column list (no schema inference), records of the day only, sums per logged modelId and caller.
The caller is the principal of `identity.arn` (docs/callers.md): CALLER.sql is the rule's Trino expression
as `bedrock-meter rollup-sql --caller-sql` prints it (the one the daily rollup and the query pack embed,
generated from the rule in the core), transpiled here to DuckDB with sqlglot, as the SQL tests do.
`check` maps each logged modelId to the model `report` names (the application profile's base model, a
system profile's or foundation-model ARN's model id; anything else as logged) and fails unless the
totals, the per-model and the per-caller requests and token sums are equal.
"""
import json
import sys
import time


def caller_expr(path):
    """The caller rule's expression (Trino, from the generator) in DuckDB's dialect."""
    import sqlglot

    trino = open(path).read().strip()
    if not trino:
        sys.exit(f"{path}: empty (expected `bedrock-meter rollup-sql --caller-sql`)")
    return sqlglot.transpile(trino, read="trino", write="duckdb")[0]


def query(glob, date, out, caller_sql):
    import duckdb

    caller = caller_expr(caller_sql)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    rows = con.execute(
        f"""
        SELECT modelId,
               coalesce(nullif({caller}, ''), 'unknown') AS caller,
               count(*) AS requests,
               sum(coalesce(input.inputTokenCount, 0)) AS input_tokens,
               sum(coalesce(output.outputTokenCount, 0)) AS output_tokens,
               sum(coalesce(input.cacheReadInputTokenCount, 0)) AS cache_read_tokens,
               sum(coalesce(input.cacheWriteInputTokenCount, 0)) AS cache_write_tokens
        FROM read_json(?, format = 'newline_delimited', ignore_errors = true, compression = 'gzip',
                       columns = {{
                         'schemaType': 'VARCHAR', 'timestamp': 'VARCHAR', 'modelId': 'VARCHAR',
                         'identity': 'STRUCT(arn VARCHAR)',
                         'input': 'STRUCT(inputTokenCount BIGINT, cacheReadInputTokenCount BIGINT,
                                          cacheWriteInputTokenCount BIGINT)',
                         'output': 'STRUCT(outputTokenCount BIGINT)'
                       }})
        WHERE schemaType = 'ModelInvocationLog' AND modelId IS NOT NULL
          AND "timestamp" >= ? AND "timestamp" < ?
        GROUP BY ALL
        """,
        [glob, date, next_day(date)],
    ).fetchall()
    cols = ["model_id", "caller", "requests", "input_tokens", "output_tokens",
            "cache_read_tokens", "cache_write_tokens"]
    groups = [dict(zip(cols, r)) for r in rows]
    with open(out, "w") as f:
        json.dump(groups, f)
    print(f"duckdb: {len(groups)} groups, {sum(g['requests'] for g in groups)} records, "
          f"{time.perf_counter() - t0:.2f} s in-process", file=sys.stderr)


def next_day(date):
    import datetime

    return (datetime.date.fromisoformat(date) + datetime.timedelta(days=1)).isoformat()


GEO = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global.")


def model_of(model_id, profiles):
    """The model `report` attributes a logged modelId to (README "Attribution")."""
    if ":application-inference-profile/" in model_id:
        p = profiles.get(model_id)
        if p is None:
            return model_id  # a deleted profile: its id, unpriced
        return p["models"][0]["modelArn"].split("foundation-model/", 1)[1]
    m = model_id
    if m.startswith("arn:"):
        for kind in ("foundation-model/", "inference-profile/"):
            if kind in m:
                m = m.split(kind, 1)[1]
    for g in GEO:
        if m.startswith(g):
            return m[len(g):]
    return m


KEYS = ["requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]


def check(report_path, duck_path, profiles_path):
    report = json.load(open(report_path))
    duck = json.load(open(duck_path))
    profiles = {p["inferenceProfileArn"]: p
                for p in json.load(open(profiles_path))["inferenceProfileSummaries"]}

    def sums(key_of):
        out = {}
        for g in duck:
            s = out.setdefault(key_of(g), dict.fromkeys(KEYS, 0))
            for k in KEYS:
                s[k] += g[k]
        return out

    def of_report(groups, name):
        return {g[name]: {k: g[k] for k in KEYS} for g in groups}

    failures = []
    total = sums(lambda g: "all")["all"]
    if total != {k: report["totals"][k] for k in KEYS}:
        failures.append(f"totals: duckdb {total} report {report['totals']}")
    for what, key_of, groups, name in [
        ("by_model", lambda g: model_of(g["model_id"], profiles), report["by_model"], "model"),
        ("by_caller", lambda g: g["caller"], report["by_caller"], "caller"),
    ]:
        d, r = sums(key_of), of_report(groups, name)
        if d != r:
            for k in sorted(set(d) | set(r)):
                if d.get(k) != r.get(k):
                    failures.append(f"{what} {k}: duckdb {d.get(k)} report {r.get(k)}")
    if failures:
        print("report and DuckDB disagree:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print(f"equal: {total['requests']} requests, {total['input_tokens']} input and "
          f"{total['output_tokens']} output tokens; {len(report['by_model'])} models and "
          f"{len(report['by_caller'])} callers each equal in requests and all token sums",
          file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1] == "query":
        query(*sys.argv[2:6])
    elif sys.argv[1] == "check":
        check(*sys.argv[2:5])
    else:
        sys.exit(__doc__)
