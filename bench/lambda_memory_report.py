#!/usr/bin/env python3
"""Tables from bench/out/lambda-memory.json (bench/lambda-memory.sh): per function, work and CPU share, the
median cold init, the first invocation of each cold process and the later ones (median, min-max), their
CPU time, the largest peak RSS, and the cost.

Billed duration: ingest runs warm at any steady rate (its batches arrive every few seconds), so one batch
is billed its warm duration; rollup (once a day) and logging-config (a few times per stack operation) start
cold every time, so they are billed init + first invocation (Lambda bills the INIT phase of functions on
OS-only runtimes; since 2025-08-01 of all functions: AWS Compute Blog, "AWS Lambda standardizes billing
for INIT Phase"). Cost per million invocation records: ingest, per batch / records per batch; rollup, per
run / the day's invocation records.

Prices (AWS Lambda pricing, https://aws.amazon.com/lambda/pricing/, US East (N. Virginia), Arm, first
7.5 billion GB-s a month; read 2026-12-07): $0.0000133334 per GB-second, $0.20 per million requests,
duration billed per 1 ms.

  lambda_memory_report.py bench/out/lambda-memory.json '{"meta": N, "body": N, "day": N}'
"""
import json
import math
import statistics
import sys

GB_S = 0.0000133334
REQUEST = 0.20 / 1_000_000
COLD_BILLED = {"rollup", "logging-config"}


def cost(mb, ms):
    return GB_S * (mb / 1024) * (math.ceil(ms) / 1000) + REQUEST


def spread(xs):
    xs = list(xs)
    if not xs:
        return "-"
    med = statistics.median(xs)
    if len(xs) == 1:
        return f"{med:.0f}"
    return f"{med:.0f} ({min(xs):.0f}–{max(xs):.0f})"


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    records = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print("| function | work | MB (CPU share) | cold init ms | 1st invocation ms | later invocations ms | "
          "CPU ms (1st / later) | peak RSS MB | billed ms | $ per invocation | $ per 1M records |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mb = r["cpu_share_mb"] or 1769
        fn, mix = r["function"], r.get("mix", "-")
        inits = [run["init_ms"] for run in r["runs"]]
        first = [run["invocations"][0] for run in r["runs"] if run["invocations"]]
        later = [i for run in r["runs"] for i in run["invocations"][1:]]
        status = {i["status"] for run in r["runs"] for i in run["invocations"]}
        rss = max(run["peak_rss_kb"] or 0 for run in r["runs"]) / 1024
        if fn in COLD_BILLED:
            billed = statistics.median(run["init_ms"] + run["invocations"][0]["ms"] for run in r["runs"])
        else:
            billed = statistics.median(i["ms"] for i in (later or first))
        per_inv = cost(mb, billed)
        n = records.get(mix)
        per_m = f"{per_inv * 1_000_000 / n:.3g}" if n else "-"
        cpu = f"{statistics.median(i['cpu_ms'] for i in first):.0f}"
        if later:
            cpu += f" / {statistics.median(i['cpu_ms'] for i in later):.0f}"
        note = "" if status == {"response"} else f" ({'/'.join(sorted(status))})"
        print(f"| {fn} | {mix}{note} | {mb} | {spread(inits)} | {spread(i['ms'] for i in first)} | "
              f"{spread(i['ms'] for i in later)} | {cpu} | {rss:.1f} | {billed:.0f} | {per_inv:.3g} | {per_m} |")
    # The responses of the first cold process, so a run that did not do its work shows; and a check that
    # every invocation answered, and that each rollup run read the whole day and resolved every profile.
    bad = []
    for r in rows:
        run = r["runs"][0]
        if run["invocations"]:
            print(f"\n{r['function']} {r.get('mix', '')} at {r['cpu_share_mb']} MB, first response: "
                  f"{run['invocations'][0]['status']} {run['invocations'][0]['response'][:300]}")
        for run in r["runs"]:
            for i in run["invocations"]:
                if i["status"] != "response":
                    bad.append(f"{r['function']} at {r['cpu_share_mb']} MB: {i['status']} {i['response'][:200]}")
                elif r["function"] == "rollup":
                    out = json.loads(i["response"]) if i["response"].startswith("{") else {}
                    # Every team's message, the unattributed direct calls' and the summary; no note
                    # (an unresolved profile or an unwritten snapshot is one), nothing unpriced.
                    if "day_teams" in records and len(out.get("teams", [])) != records["day_teams"] + 2:
                        bad.append(f"rollup reported {len(out.get('teams', []))} teams, not {records['day_teams']} + 2")
                    if out.get("notes") or out.get("unpriced_requests"):
                        bad.append(f"rollup notes or unpriced requests: {i['response'][:300]}")
    if bad:
        sys.exit("not every invocation did its work:\n  " + "\n  ".join(bad))


if __name__ == "__main__":
    main()
