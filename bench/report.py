#!/usr/bin/env python3
"""Summarises bench/out/runs.jsonl (written by bench/run.sh): medians over runs, per stage and end to
end, records/s and MB/s of inflated payload, ratios to Python and to decode-only, peak RSS, and what
one Lambda invocation of the batch costs. Prints markdown; writes results.md and results.json."""

import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys

# AWS Lambda, arm64, 128 MB: $0.0000133334 per GB-s = $0.0000000017 per ms at 128 MB (rounded as AWS
# lists it), plus $0.20 per 1M requests. CPU share scales with memory: one full vCPU at 1,769 MB.
PRICE_PER_MS_128 = 0.0000000017
PRICE_PER_REQUEST = 0.20 / 1_000_000
VCPU_AT_MB = 1769
MEM_MB = 128

STAGES = ["decode_only", "decode", "parse", "resolve", "price", "aggregate", "end_to_end"]


def rss_kb(path):
    try:
        text = open(path).read()
    except OSError:
        return None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return int(m.group(1)) if m else None


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench/out"
    runs = [json.loads(l) for l in open(os.path.join(out, "runs.jsonl")) if l.strip()]
    res = {"machine": {"nproc": os.cpu_count(), "cpu": cpu_model(),
                       "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
                       "python": platform.python_version()},
           "runs": len({r["run"] for r in runs}), "mixes": {}}
    lines = []
    p = lines.append
    p(f"Machine: {res['machine']['nproc']} cores, {res['machine']['cpu']}; {res['machine']['rustc']}; Python {res['machine']['python']}. "
      f"One core (taskset). Medians of {res['runs']} runs (each run's figure is itself a median over iterations).")
    loads = sorted(r["load"] for r in runs if r.get("load") is not None)
    if loads:
        res["load_average_1m"] = {"min": loads[0], "median": statistics.median(loads), "max": loads[-1]}
        p(f"Load average (1 min) at the end of each run: min {loads[0]:.2f}, median {statistics.median(loads):.2f}, "
          f"max {loads[-1]:.2f} on {res['machine']['nproc']} cores.")
    p("")
    for mix, title in (("body", "body-heavy (text delivery on)"), ("meta", "metadata-only (text delivery off)")):
        rs = [r for r in runs if r["mix"] == mix]
        if not rs:
            continue
        first = rs[0]["rust"]
        med = {s: statistics.median(r["rust"]["ns"][s] for r in rs) for s in STAGES}
        py = {s: statistics.median(r["python"]["ns"][s] for r in rs) for s in rs[0]["python"]["ns"]}
        mb = first["inflated_bytes"] / 1e6
        n = first["records"]
        e2e = med["end_to_end"]
        m = {"payload": {k: first[k] for k in ("data_bytes", "inflated_bytes", "record_bytes", "events", "records", "datums", "observations")},
             "rust_ns": med, "python_ns": py}
        p(f"### {title}")
        p("")
        p(f"Payload: `awslogs.data` {first['data_bytes']:,} B (base64 of gzip), inflated {first['inflated_bytes']:,} B, "
          f"{first['records']:,} records ({first['record_bytes']:,} B of record text), {first['datums']:,} metric datums, "
          f"{first['observations']:,} detector observations.")
        p("")
        p("| stage (Rust) | ms / batch | records/s | MB/s (inflated) |")
        p("|---|---:|---:|---:|")
        for s in STAGES:
            t = med[s] / 1e9
            p(f"| {s} | {med[s] / 1e6:.3f} | {n / t:,.0f} | {mb / t:,.0f} |")
        p("")
        p("| Python reference | ms / batch | records/s | MB/s |")
        p("|---|---:|---:|---:|")
        for s, v in py.items():
            t = v / 1e9
            p(f"| {s} | {v / 1e6:.3f} | {n / t:,.0f} | {mb / t:,.0f} |")
        p("")
        r_py = py["end_to_end"] / e2e
        r_dec = med["decode_only"] / e2e
        r_dec_py = py["decode_only"] / e2e
        m["ratios"] = {"rust_vs_python_end_to_end": r_py, "end_to_end_share_of_decode_only_throughput": r_dec,
                       "rust_end_to_end_vs_python_decode_only": r_dec_py}
        p(f"- Rust end to end vs Python end to end: **{r_py:.1f}×** faster")
        p(f"- Rust end to end throughput / Rust decode-only (base64+gunzip) throughput: **{100 * r_dec:.0f}%**")
        p(f"- Rust end to end vs Python's base64+gunzip alone: {r_dec_py:.2f}×")
        rest = e2e - med["decode"]
        p(f"- Of Rust end to end: decode {100 * med['decode'] / e2e:.0f}% (of which base64+gunzip {100 * med['decode_only'] / e2e:.0f}%), "
          f"parse {100 * med['parse'] / e2e:.0f}%, resolve {100 * med['resolve'] / e2e:.0f}%, price {100 * med['price'] / e2e:.0f}%, "
          f"aggregate {100 * med['aggregate'] / e2e:.0f}%, other (event JSON, allocation) {100 * max(0.0, rest - med['parse'] - med['resolve'] - med['price'] - med['aggregate']) / e2e:.0f}%")
        rss = rss_kb(os.path.join(out, f"{mix}.rss.txt"))
        pyrss = rss_kb(os.path.join(out, f"{mix}.py.rss.txt"))
        m["peak_rss_kb"] = {"rust": rss, "python": pyrss}
        if rss:
            p(f"- Peak RSS, one end-to-end run of this payload (`/usr/bin/time -v`): Rust **{rss / 1024:.1f} MB**, Python {pyrss / 1024:.1f} MB")
        # Lambda cost at 128 MB arm64: the measured single-core time scaled to 128 MB's CPU share.
        share = MEM_MB / VCPU_AT_MB
        cost = {}
        for who, t_ns in (("rust", e2e), ("python", py["end_to_end"])):
            ms_full = t_ns / 1e6
            ms_128 = math.ceil(ms_full / share)
            cost[who] = {"ms_one_core": ms_full, "billed_ms_128mb": ms_128,
                         "usd_per_invocation": ms_128 * PRICE_PER_MS_128 + PRICE_PER_REQUEST,
                         "usd_compute_only": ms_128 * PRICE_PER_MS_128}
        m["lambda_128mb_arm64"] = cost
        p(f"- Lambda at 128 MB arm64 (CPU share 128/1769 of a vCPU, so ≈{1 / share:.1f}× the one-core time; "
          f"$0.0000000017/ms + $0.20/1M requests): Rust ≈{cost['rust']['billed_ms_128mb']} ms → "
          f"${cost['rust']['usd_per_invocation']:.9f} per batch (compute ${cost['rust']['usd_compute_only']:.9f}); "
          f"Python ≈{cost['python']['billed_ms_128mb']} ms → ${cost['python']['usd_per_invocation']:.9f} "
          f"(compute ${cost['python']['usd_compute_only']:.9f}).")
        p("")
        if all(r.get("before") for r in rs):
            before = {s: statistics.median(r["before"]["ns"][s] for r in rs) for s in STAGES}
            commit = open(os.path.join(out, "before.commit")).read().strip()
            m["before_ns"] = before
            p(f"Before ({commit}) and after (this tree), the two bench binaries alternately in each run:")
            p("")
            p("| stage | before ms | after ms | after / before |")
            p("|---|---:|---:|---:|")
            for s in STAGES:
                p(f"| {s} | {before[s] / 1e6:.3f} | {med[s] / 1e6:.3f} | {med[s] / before[s]:.2f} |")
            p(f"| end to end / decode-only throughput | {100 * before['decode_only'] / before['end_to_end']:.0f}% "
              f"| {100 * r_dec:.0f}% | |")
            p(f"| end to end vs Python | {py['end_to_end'] / before['end_to_end']:.1f}× | {r_py:.1f}× | |")
            brss = rss_kb(os.path.join(out, f"{mix}.before.rss.txt"))
            if brss and rss:
                p(f"| peak RSS MB | {brss / 1024:.1f} | {rss / 1024:.1f} | |")
            p("")
        res["mixes"][mix] = m
    text = "\n".join(lines)
    print(text)
    open(os.path.join(out, "results.md"), "w").write(text + "\n")
    json.dump(res, open(os.path.join(out, "results.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
