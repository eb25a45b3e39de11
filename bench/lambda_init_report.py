#!/usr/bin/env python3
"""The table of bench/lambda-init.sh: per function, build (before/after) and page cache (cold/warm), the
init time's median, interquartile range and min-max over the runs, the init's CPU time and RSS, the
after/before ratio of the medians, and each bootstrap's size and its zip's (deflate, as `sam package`
zips a directory).

  lambda_init_report.py bench/out/lambda-init.json BEFORE_DIR AFTER_DIR
"""
import io
import json
import os
import statistics
import sys
import zipfile


def quartiles(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return q[0], q[1], q[2]


def zipped(path):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    return len(b.getvalue())


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    dirs = {"before": sys.argv[2], "after": sys.argv[3]}
    functions = list(dict.fromkeys(r["function"] for r in rows))
    print("| function | build | bootstrap bytes | zip bytes | page cache | runs | init ms median | IQR | min–max | "
          "init CPU ms | RSS at init MB | after/before (median) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for fn in functions:
        sizes = {}
        for v, d in dirs.items():
            p = os.path.join(d, fn, "bootstrap")
            if d == "none":
                sizes[v] = (0, 0)
                continue
            sizes[v] = (os.path.getsize(p), zipped(p))
        for cache in ("cold", "warm"):
            med = {}
            for v in ("before", "after"):
                sel = [r for r in rows if r["function"] == fn and r["variant"] == v and r["cache"] == cache]
                if not sel:
                    continue
                xs = [r["init_ms"] for r in sel]
                q1, q2, q3 = quartiles(xs)
                med[v] = q2
                cpu = statistics.median(r["init_cpu_ms"] for r in sel if r["init_cpu_ms"] is not None)
                rss = statistics.median(r["peak_rss_kb"] for r in sel if r["peak_rss_kb"]) / 1024
                left = [r["resident_bytes_before"] for r in sel if r.get("resident_bytes_before") is not None]
                note = "" if cache == "warm" or not left else f" ({max(left)} B resident at start)"
                ratio = f"{med['after'] / med['before']:.2f}" if v == "after" and med.get("before") else ""
                print(f"| {fn} | {v} | {sizes[v][0]:,} | {sizes[v][1]:,} | {cache}{note} | {len(xs)} | {q2:.1f} | "
                      f"{q1:.1f}–{q3:.1f} | {min(xs):.1f}–{max(xs):.1f} | {cpu:.0f} | {rss:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
