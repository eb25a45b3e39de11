#!/usr/bin/env python3
"""Tables from bench/out/lambda-memory.json (bench/lambda-memory.sh): per function, batch mix and CPU share,
the median cold init, the median warm invocation (the 2nd and 3rd batch of each cold process), its CPU time,
the largest peak RSS, and the cost per million invocation records at that memory size.

Prices (AWS Lambda pricing, US East (N. Virginia), Arm, first 7.5 billion GB-s a month; read 2026-12-07):
$0.0000133334 per GB-second, $0.20 per million requests, duration billed per 1 ms."""
import json
import math
import statistics
import sys

GB_S = 0.0000133334
REQUEST = 0.20 / 1_000_000
RECORDS = {}  # mix -> records per batch, from the events' sizes in the JSON (filled by the caller if known)


def cost_per_million_records(mb, ms, records):
    per_invocation = GB_S * (mb / 1024) * (math.ceil(ms) / 1000) + REQUEST
    return per_invocation * 1_000_000 / records


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    records = {"meta": None, "body": None}
    if len(sys.argv) > 2:
        records.update(json.loads(sys.argv[2]))
    print("| function | batch | MB (CPU share) | cold init ms | warm batch ms | CPU ms | peak RSS MB | $ per 1M records |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        mb = r["cpu_share_mb"] or 1769
        inits = [run["init_ms"] for run in r["runs"]]
        warm = [i for run in r["runs"] for i in run["invocations"][1:]] or [
            i for run in r["runs"] for i in run["invocations"]]
        ms = statistics.median(i["ms"] for i in warm)
        cpu = statistics.median(i["cpu_ms"] for i in warm)
        rss = max(run["peak_rss_kb"] or 0 for run in r["runs"]) / 1024
        status = {i["status"] for run in r["runs"] for i in run["invocations"]}
        mix = r.get("mix", "-")
        n = records.get(mix)
        cost = f"{cost_per_million_records(mb, ms, n):.4f}" if n else "-"
        note = "" if status == {"response"} else f" ({'/'.join(sorted(status))})"
        print(f"| {r['function']} | {mix}{note} | {mb} | {statistics.median(inits):.0f} | {ms:.0f} | {cpu:.0f} | "
              f"{rss:.1f} | {cost} |")


if __name__ == "__main__":
    main()
