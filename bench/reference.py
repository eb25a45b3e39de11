#!/usr/bin/env python3
"""Python reference for the ingest benchmark (issue 6): the same work as the Rust ingest path, done
the way peer tools do it — base64, gzip, ``json.loads`` per record, dict look-ups, float sums.

    python3 bench/reference.py EVENT.json PROFILES.json [ITERS]

Prints one JSON line: median nanoseconds per batch for ``decode_only`` (base64 + gunzip),
``decode`` (+ ``json.loads`` of the payload), ``parse`` (``json.loads`` of every record and field
extraction), ``rest`` (resolve + price + aggregate per minute and dimension set) and ``end_to_end``
(event text in, metric datums out).
"""

import base64
import gzip
import json
import statistics
import sys
import time

GEO_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")


def load_prices(path):
    with open(path) as f:
        table = json.load(f)
    index = []
    for m in table["models"]:
        for p in m["match"]:
            index.append((p, m))
    index.sort(key=lambda pm: -len(pm[0]))

    def rates(r):
        if r is None:
            return None
        return {k: float(v) / 1e6 for k, v in r.items()}

    models = {}
    for p, m in index:
        models[p] = {
            "global": rates(m.get("global")),
            # The US group's rates: the benchmark's records are all from us-east-1.
            "regional": rates((m.get("regional") or {}).get("us")),
            "long_context": {k: rates(v) for k, v in (m.get("long_context") or {}).items()},
            "regions": {k: rates(v) for k, v in (m.get("regions") or {}).items()},
        }
    return index, models, table.get("long_context_above_prompt_tokens", 200000)


def load_profiles(path):
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for p in doc["inferenceProfileSummaries"]:
        tags = {t["key"]: t["value"] for t in p.get("tags", [])}
        arns = [m["modelArn"] for m in p.get("models", [])]
        regions = {a.split(":")[3] for a in arns}
        geos = {r.split("-")[0] for r in regions}
        pool = "in-region" if len(regions) <= 1 else ("geographic" if len(geos) == 1 else "global")
        base = arns[0].split("foundation-model/", 1)[1] if arns else None
        out[p["inferenceProfileArn"]] = {"name": p.get("inferenceProfileName", ""), "tags": tags, "base": base, "pool": pool}
    return out


class Reference:
    def __init__(self, prices_path, profiles_path, metadata_keys=("tenant",)):
        self.index, self.models, self.long_above = load_prices(prices_path)
        self.profiles = load_profiles(profiles_path)
        self.metadata_keys = metadata_keys
        self.cache = {}  # warm resolution cache: modelId -> (app, team, model, base, pool)

    def classify(self, model_id):
        if model_id.startswith("arn:"):
            parts = model_id.split(":", 5)
            if len(parts) < 6:
                return ("other", None, None)
            kind, _, rest = parts[5].partition("/")
            if kind == "application-inference-profile":
                return ("app", model_id, None)
            if kind == "foundation-model":
                return ("base", rest, "in-region")
            if kind == "inference-profile":
                model_id = rest
            else:
                return ("other", None, None)
        prefix, _, rest = model_id.partition(".")
        if prefix in GEO_PREFIXES and "." in rest:
            return ("sys", rest, "global" if prefix == "global" else "geographic")
        return ("base", model_id, "in-region")

    def resolve(self, model_id):
        r = self.cache.get(model_id)
        if r is not None:
            return r
        kind, x, pool = self.classify(model_id)
        if kind == "app":
            p = self.profiles.get(x)
            if p is None:
                r = (x.rsplit("/", 1)[-1], "unresolved", model_id, None, "in-region")
            else:
                r = (p["tags"].get("app") or p["name"], p["tags"].get("team") or "untagged", p["base"] or model_id, p["base"], p["pool"])
        elif kind in ("base", "sys"):
            r = ("unattributed", "unattributed", x, x, pool)
        else:
            r = ("unattributed", "unattributed", model_id, None, "in-region")
        self.cache[model_id] = r
        return r

    def rates(self, base, pool, region, long_context):
        for p, _ in self.index:
            if base.startswith(p) and (len(base) == len(p) or base[len(p)] in "-:."):
                m = self.models[p]
                break
        else:
            return None
        glob = pool == "global"
        if long_context and m["long_context"]:
            lc = m["long_context"]
            pick = (lc.get("global") or lc.get("regional")) if glob else (lc.get("regional") or lc.get("global"))
            if pick:
                return pick
        if not glob and region in m["regions"]:
            return m["regions"][region]
        return (m["global"] or m["regional"]) if glob else (m["regional"] or m["global"])

    @staticmethod
    def decode_only(data):
        return gzip.decompress(base64.b64decode(data))

    @staticmethod
    def decode(data):
        return json.loads(gzip.decompress(base64.b64decode(data)))

    def parse(self, payload):
        out = []
        for ev in payload["logEvents"]:
            try:
                r = json.loads(ev["message"])
                inp = r.get("input") or {}
                outp = r.get("output") or {}
                cw = inp.get("cacheWriteInputTokenCount") or 0
                one_h = 0
                body = outp.get("outputBodyJson")
                if isinstance(body, dict):
                    for d in (body.get("usage") or {}).get("cacheDetails") or []:
                        if d.get("ttl") == "1h":
                            one_h += d.get("inputTokens") or 0
                ts = r["timestamp"]
                out.append((
                    ts, ev["timestamp"], r["modelId"], r.get("region"), (r.get("identity") or {}).get("arn"),
                    r.get("requestMetadata") or {}, r.get("errorCode"),
                    inp.get("inputTokenCount") or 0, outp.get("outputTokenCount") or 0,
                    inp.get("cacheReadInputTokenCount") or 0, cw, min(one_h, cw),
                ))
            except (ValueError, KeyError, TypeError):
                pass
        return out

    def rest(self, records):
        leaves = {}
        for (ts, _ingested, model_id, region, caller, meta, err, i, o, cr, cw, cw1h) in records:
            app, team, model, base, pool = self.resolve(model_id)
            cost = 0.0
            unpriced = 1
            if base is not None:
                rt = self.rates(base, pool, region, i + cr + cw > self.long_above)
                if rt is not None:
                    cost = (i * rt["input"] + o * rt["output"] + cr * rt.get("cache_read", 0.0)
                            + (cw - cw1h) * rt.get("cache_write_5m", 0.0) + cw1h * rt.get("cache_write_1h", 0.0))
                    unpriced = 0
            minute = ts[:16]
            key = (minute, team, app, model) + tuple(meta.get(k, "") for k in self.metadata_keys)
            s = leaves.get(key)
            if s is None:
                s = leaves[key] = [0, 0, 0, 0, 0, 0, 0.0, 0]
            s[0] += 1
            s[1] += 1 if err else 0
            s[2] += i
            s[3] += o
            s[4] += cr
            s[5] += cw
            s[6] += cost
            s[7] += unpriced
        # Expand to dimension sets: [Team], [Team, App], [Team, App, Model], [Team, App, <key>].
        series = {}
        for key, s in leaves.items():
            minute, team, app, model = key[:4]
            dims = [(("Team", team),), (("Team", team), ("App", app)), (("Team", team), ("App", app), ("Model", model))]
            for k, v in zip(self.metadata_keys, key[4:]):
                dims.append((("Team", team), ("App", app), (k, v or "none")))
            for d in dims:
                t = series.get((minute, d))
                if t is None:
                    series[(minute, d)] = list(s)
                else:
                    for j in range(8):
                        t[j] += s[j]
        datums = []
        names = ("Requests", "Errors", "InputTokens", "OutputTokens", "CacheReadTokens", "CacheWriteTokens", "EstimatedCostUSD", "UnpricedRequests")
        for (minute, d), s in sorted(series.items()):
            for j, name in enumerate(names):
                if j == 0 or s[j]:
                    datums.append({"MetricName": name, "Dimensions": [{"Name": n, "Value": v} for n, v in d],
                                   "Timestamp": minute, "Value": float(s[j])})
        return datums

    def end_to_end(self, event_text):
        data = json.loads(event_text)["awslogs"]["data"]
        return self.rest(self.parse(self.decode(data)))


def median_ns(f, iters):
    f()
    ts = []
    for _ in range(iters):
        t = time.perf_counter_ns()
        f()
        ts.append(time.perf_counter_ns() - t)
    return statistics.median(ts)


def main():
    event_path, profiles_path = sys.argv[1], sys.argv[2]
    iters = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    prices_path = sys.argv[4] if len(sys.argv) > 4 else "shared/data/prices.json"
    with open(event_path) as f:
        event_text = f.read()
    ref = Reference(prices_path, profiles_path)
    data = json.loads(event_text)["awslogs"]["data"]
    payload = ref.decode(data)
    records = ref.parse(payload)
    datums = ref.end_to_end(event_text)
    res = {
        "records": len(records),
        "datums": len(datums),
        "ns": {
            "decode_only": median_ns(lambda: ref.decode_only(data), iters),
            "decode": median_ns(lambda: ref.decode(data), iters),
            "parse": median_ns(lambda: ref.parse(payload), iters),
            "rest": median_ns(lambda: ref.rest(records), iters),
            "end_to_end": median_ns(lambda: ref.end_to_end(event_text), iters),
        },
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
