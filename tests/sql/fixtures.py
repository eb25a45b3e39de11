"""S3-layout fixture logs for the SQL tests, written the way Bedrock delivers them.

  <root>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/<stamp>_<hex>.json.gz
  <root>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/data/<requestId>_input.json.gz
  <root>/AWSLogs/<account>/amazon-bedrock-logs-permission-check          (zero bytes)

plus a profiles file in the shape of `aws bedrock list-inference-profiles --type-equals APPLICATION`
with each profile's `list-tags-for-resource` tags.  Deterministic (seeded).
"""

import gzip
import json
import os
import random
import uuid

ACCOUNT = "111122223333"
REGION = "us-east-1"
DAY = "2026-11-25"          # the day under test
PREV = "2026-11-24"
NEXT = "2026-11-26"

HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
OPUS = "anthropic.claude-opus-4-5-20251101-v1:0"
NOVA_LITE = "amazon.nova-lite-v1:0"
UNPRICED = "amazon.titan-text-express-v1"
NOVA_MICRO = "amazon.nova-micro-v1:0"
CLAUDE3_HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"   # no cache rates in the price table
TOKYO = "ap-northeast-1"                                     # Nova Micro has a per-Region price there
GOVCLOUD = "us-gov-west-1"                                  # Claude at its GovCloud rate (1.2 x global)
LONDON = "eu-west-2"                                        # Nova Lite has no rate there: unpriced


def profile_arn(pid):
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/{pid}"


def fm(region, model):
    return {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model}"}


US3 = ["us-east-1", "us-east-2", "us-west-2"]

PROFILES = [
    # (id, name, models, tags)
    ("fraudscore01", "fraud-scorer", [fm(REGION, NOVA_LITE)],
     {"app": "fraud-scorer", "team": "fraud-risk", "cost-center": "cc-17"}),
    ("fraudagent01", "fraud-agent", [fm(r, HAIKU) for r in US3],
     {"app": "fraud-agent", "team": "fraud-risk"}),
    ("supportbot01", "support-bot", [fm(r, SONNET) for r in US3],
     {"app": "support-bot", "team": "cx"}),
    ("search01", "search-rerank", [fm(REGION, HAIKU)], {"owner": "nobody"}),  # no app/team tags
    # Copied from a global. profile: Regions in several geographies -> global rates.
    ("research01", "research-notebook", [fm(r, OPUS) for r in ("us-east-1", "eu-west-1", "ap-northeast-1")],
     {"app": "research-notebook", "team": "research"}),
]
GONE_PROFILE = profile_arn("deleted99")  # named in logs, absent from the profiles file


def profiles_document():
    return {
        "inferenceProfileSummaries": [
            {
                "inferenceProfileName": name,
                "inferenceProfileArn": profile_arn(pid),
                "inferenceProfileId": pid,
                "models": models,
                "type": "APPLICATION",
                "status": "ACTIVE",
                "description": f"{name} profile",
                "createdAt": "2026-01-05T10:00:00Z",
                "updatedAt": "2026-01-05T10:00:00Z",
                "tags": [{"key": k, "value": v} for k, v in tags.items()],
            }
            for pid, name, models, tags in PROFILES
        ]
    }


def caller(kind, name, session=None):
    if kind == "role":
        if session is None:
            session = f"session-{sum(map(ord, name)) % 1000:03d}"
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}"
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def principal(kind, name, session=None):
    """The caller every path reports (docs/callers.md): an assumed role without its session, except
    IAM Identity Center roles (AWSReservedSSO_*), whose session is the person."""
    if kind == "role" and not name.startswith("AWSReservedSSO_"):
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}"
    return caller(kind, name, session)


def record(ts, model_id, who, *, tokens=(0, 0, 0, 0), operation="Converse", metadata=None,
           error=None, region=REGION, body_1h=None, stream_body=False, omit_cache_fields=False,
           s3_body_path=None):
    """One log record. tokens = (input, output, cache_read, cache_write)."""
    rid = str(uuid.UUID(int=random.getrandbits(128)))
    inp, out, cr, cw = tokens
    input_obj = {"inputContentType": "application/json"}
    output_obj = {"outputContentType": "application/json"}
    if error is None:
        input_obj["inputTokenCount"] = inp
        if not omit_cache_fields:
            input_obj["cacheReadInputTokenCount"] = cr
            input_obj["cacheWriteInputTokenCount"] = cw
        output_obj["outputTokenCount"] = out
        input_obj["inputBodyJson"] = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
        if stream_body:
            output_obj["outputBodyJson"] = [
                {"contentBlockDelta": {"delta": {"text": "he"}}},
                {"metadata": {"usage": {"inputTokens": inp, "outputTokens": out}}},
            ]
        else:
            usage = {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out,
                     "cacheReadInputTokens": cr, "cacheWriteInputTokens": cw}
            if body_1h is not None:
                usage["cacheDetails"] = [{"ttl": "1h", "inputTokens": body_1h},
                                         {"ttl": "5m", "inputTokens": cw - body_1h}]
            output_obj["outputBodyJson"] = {"output": {"message": {"role": "assistant",
                                            "content": [{"text": "ok"}]}}, "stopReason": "end_turn",
                                            "usage": usage}
    if s3_body_path:
        input_obj.pop("inputBodyJson", None)
        input_obj["inputBodyS3Path"] = s3_body_path
    r = {
        "timestamp": ts,
        "accountId": ACCOUNT,
        "identity": {"arn": who},
        "region": region,
        "requestId": rid,
        "operation": operation,
        "modelId": model_id,
        "input": input_obj,
        "output": output_obj,
    }
    if metadata is not None:
        r["requestMetadata"] = metadata
    if error is not None:
        r["errorCode"] = error
        r.pop("output")
    # Real records often carry the schema fields at the END of the object.
    r["schemaType"] = "ModelInvocationLog"
    r["schemaVersion"] = "1.0"
    return r


class Layout:
    def __init__(self, root, region=REGION):
        self.root = root
        self.base = os.path.join(root, "AWSLogs", ACCOUNT, "BedrockModelInvocationLogs", region)
        self.n = 0

    def hour_dir(self, day, hour):
        y, m, d = day.split("-")
        return os.path.join(self.base, y, m, d, f"{hour:02d}")

    def write(self, day, hour, lines):
        """One delivered object: lines are dicts (records) or raw strings (e.g. a broken line)."""
        d = self.hour_dir(day, hour)
        os.makedirs(d, exist_ok=True)
        self.n += 1
        stamp = f"{day.replace('-', '')}T{hour:02d}{self.n % 60:02d}00000Z"
        path = os.path.join(d, f"{stamp}_{self.n:016x}.json.gz")
        text = "\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n"
        with gzip.open(path, "wt") as f:
            f.write(text)
        return path

    def write_body(self, day, hour, name, obj):
        d = os.path.join(self.hour_dir(day, hour), "data")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name)
        with gzip.open(path, "wt") as f:
            f.write(json.dumps(obj))
        return path

    def permission_check(self):
        d = os.path.join(self.root, "AWSLogs", ACCOUNT)
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "amazon-bedrock-logs-permission-check"), "wb").close()


def ts(day, hour, minute=0, second=0, frac=""):
    return f"{day}T{hour:02d}:{minute:02d}:{second:02d}{frac}Z"


def write_day(root, seed=7):
    """The main fixture: returns facts the tests check against (e.g. the 1-hour cache tokens)."""
    random.seed(seed)
    lay = Layout(root)
    lay.permission_check()
    facts = {"one_hour_tokens": {}}
    tenants = ["acme", "globex", "initech", None]
    apps = [
        (profile_arn("fraudscore01"), [caller("role", "FraudScorer")], (400, 2500, 50, 300, 0, 0)),
        (profile_arn("fraudagent01"), [caller("role", "FraudAgent"), caller("role", "FraudBatch")],
         (900, 6000, 200, 1200, 20000, 4000)),
        (profile_arn("supportbot01"), [caller("role", "SupportBot")], (1500, 9000, 300, 900, 30000, 5000)),
        (profile_arn("search01"), [caller("role", "Search")], (200, 800, 10, 60, 0, 0)),
        (GONE_PROFILE, [caller("role", "Legacy")], (100, 500, 10, 50, 0, 0)),
        (f"us.{HAIKU}", [caller("user", "alice"), caller("user", "BedrockAPIKey-x7k2")], (300, 3000, 40, 400, 5000, 1000)),
        (f"global.{OPUS}", [caller("role", "ResearchNotebook")], (2000, 12000, 500, 2500, 8000, 2000)),
        (NOVA_LITE, [caller("user", "bob")], (100, 1000, 20, 200, 0, 0)),
        (UNPRICED, [caller("user", "carol")], (300, 900, 40, 120, 0, 0)),
    ]
    for hour in range(24):
        batch = []
        for model_id, callers, (in_lo, in_hi, out_lo, out_hi, cr_hi, cw_hi) in apps:
            for _ in range(random.randint(0, 3)):
                t = ts(DAY, hour, random.randint(0, 59), random.randint(0, 59))
                cr = random.randint(0, cr_hi) if cr_hi else 0
                cw = random.randint(0, cw_hi) if cw_hi else 0
                tok = (random.randint(in_lo, in_hi), random.randint(out_lo, out_hi), cr, cw)
                md = random.choice(tenants)
                err = "ThrottlingException" if random.random() < 0.04 else None
                op = random.choice(["Converse", "ConverseStream", "InvokeModel",
                                    "InvokeModelWithResponseStream"])
                batch.append(record(t, model_id, random.choice(callers), tokens=tok,
                                    metadata=None if md is None else {"tenant": md, "env": "prod"},
                                    error=err, operation=op,
                                    stream_body=op == "InvokeModelWithResponseStream"))
        random.shuffle(batch)
        # Deliver each hour in two objects.
        half = len(batch) // 2
        lay.write(DAY, hour, batch[:half])
        lay.write(DAY, hour, batch[half:])

    # Long context: Sonnet 4.5 through the support profile, 150k input + 60k cache read > 200k;
    # exactly 200k is not long context.
    lay.write(DAY, 14, [
        record(ts(DAY, 14, 5, 1), profile_arn("supportbot01"), caller("role", "SupportBot"),
               tokens=(150000, 2000, 60000, 0), metadata={"tenant": "acme"}),
        record(ts(DAY, 14, 6, 1), profile_arn("supportbot01"), caller("role", "SupportBot"),
               tokens=(140000, 1000, 60000, 0), metadata={"tenant": "acme"}),
    ])
    # A 1-hour cache write, visible only in the logged response body.
    one_h = 30000
    lay.write(DAY, 9, [
        record(ts(DAY, 9, 30, 0), profile_arn("fraudagent01"), caller("role", "FraudAgent"),
               tokens=(12, 800, 0, 45000), body_1h=one_h, metadata={"tenant": "globex"}),
    ])
    facts["one_hour_tokens"]["fraud-risk"] = (HAIKU, "regional", one_h)
    # Older records without the cache fields; fractional-second timestamp; an offloaded body.
    lay.write(DAY, 3, [
        record(ts(DAY, 3, 1, 2, ".517"), f"us.{HAIKU}", caller("user", "alice"), tokens=(77, 55, 0, 0),
               omit_cache_fields=True),
        record(ts(DAY, 3, 4, 5), f"us.{HAIKU}", caller("user", "alice"), tokens=(99, 44, 0, 0),
               s3_body_path=f"s3://logs/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/{REGION}/2026/11/25/03/data/x_input.json.gz"),
    ])
    # A record with no identity at all (caller "unknown").
    no_id = record(ts(DAY, 4, 0, 0), NOVA_LITE, "x", tokens=(10, 10, 0, 0))
    no_id.pop("identity")
    lay.write(DAY, 4, [no_id])

    # Late delivery: the day's last seconds land in the next day's 00 folder (counted), next to a
    # record of the next day (not counted).
    lay.write(NEXT, 0, [
        record(ts(DAY, 23, 59, 58), f"us.{HAIKU}", caller("user", "alice"), tokens=(1000, 100, 0, 0)),
        record(ts(NEXT, 0, 0, 3), f"us.{HAIKU}", caller("user", "alice"), tokens=(555, 55, 0, 0)),
    ])
    # The previous day's last record delivered into today's 00 folder: not today's.
    # Plus a malformed line in the same object, which must not take its neighbours down.
    lay.write(DAY, 0, [
        record(ts(PREV, 23, 59, 59), profile_arn("fraudscore01"), caller("role", "FraudScorer"),
               tokens=(5000, 500, 0, 0)),
        '{"schemaType": "ModelInvocationLog", "timestamp": "2026-11-25T00:10:00Z", "modelId": "us.anthr',
        record(ts(DAY, 0, 11, 0), profile_arn("fraudscore01"), caller("role", "FraudScorer"),
               tokens=(700, 70, 0, 0)),
    ])
    # Body objects under data/: JSON, not records (an object and a stream array).
    lay.write_body(DAY, 3, "x_input.json.gz", {"messages": [{"role": "user", "content": [{"text": "big"}]}],
                                                "modelId": "not-a-record", "timestamp": ts(DAY, 3)})
    lay.write_body(DAY, 7, "y_output.json.gz", [{"chunk": {"bytes": "eyJ0eXBlIjoi"}}])
    # Every other form of modelId, each with its own caller (so per-caller money checks each form):
    # a foundation-model ARN of a model without cache rates (cache tokens -> unpriced, never $0; a call
    # without cache tokens -> priced), a system-profile ARN, the app profile copied from a global
    # profile (global rates), a long-context call through it, and a cache-heavy agent call.
    lay.write(DAY, 15, [
        record(ts(DAY, 15, 1, 0), f"arn:aws:bedrock:{REGION}::foundation-model/{CLAUDE3_HAIKU}",
               caller("role", "LegacyBatch"), tokens=(2000, 300, 0, 0)),
        record(ts(DAY, 15, 2, 0), f"arn:aws:bedrock:{REGION}::foundation-model/{CLAUDE3_HAIKU}",
               caller("role", "LegacyCached"), tokens=(2000, 300, 5000, 0)),
        record(ts(DAY, 15, 3, 0), f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/us.{SONNET}",
               caller("role", "ArnCaller"), tokens=(3000, 700, 1000, 500)),
        record(ts(DAY, 15, 4, 0), profile_arn("research01"), caller("role", "Research"),
               tokens=(4000, 900, 20000, 3000)),
        record(ts(DAY, 15, 5, 0), profile_arn("research01"), caller("role", "Research"),
               tokens=(9, 1200, 180000, 40000)),
        record(ts(DAY, 15, 6, 0), profile_arn("fraudagent01"), caller("role", "FraudAgent"),
               tokens=(3, 950, 480000, 150000)),   # long context, cache-heavy (Haiku: no long-context tier)
    ])
    # One caller identity (docs/callers.md): a workload whose every call has its own session name is one
    # caller (its role); IAM Identity Center sessions are people, each their own caller.
    lay.write(DAY, 16, [
        record(ts(DAY, 16, 1, k), NOVA_LITE, caller("role", "EksPods", f"botocore-session-{k}"),
               tokens=(100 + k, 10, 0, 0)) for k in range(5)
    ] + [
        record(ts(DAY, 16, 2, k), NOVA_LITE, caller("role", "AWSReservedSSO_Dev_0123abcd", who),
               tokens=(50, 5, 0, 0)) for k, who in enumerate(["jane@example.com", "raj@example.com"])
    ])
    # A call from Tokyo (its own Region folder): Nova Micro's ap-northeast-1 override applies in-Region.
    tokyo = Layout(root, TOKYO)
    tokyo.write(DAY, 8, [
        record(ts(DAY, 8, 0, 0), NOVA_MICRO, caller("user", "tokyo-dev"), tokens=(100000, 20000, 40000, 0),
               region=TOKYO),
        record(ts(DAY, 8, 1, 0), f"apac.{NOVA_MICRO}", caller("user", "tokyo-dev"),
               tokens=(100000, 20000, 0, 0), region=TOKYO),
    ])
    # Calls from Regions priced apart (issue 23): Sonnet 4.5 through the us-gov. profile at GovCloud's
    # rate, and Nova Lite from London, which the table has no rate for: unpriced, `no rate for region`,
    # never the US rate.
    Layout(root, GOVCLOUD).write(DAY, 9, [
        record(ts(DAY, 9, 0, 0), f"us-gov.{SONNET}", caller("user", "gov-dev"), tokens=(100000, 1000, 0, 0),
               region=GOVCLOUD),
    ])
    Layout(root, LONDON).write(DAY, 9, [
        record(ts(DAY, 9, 1, 0), NOVA_LITE, caller("user", "london-dev"), tokens=(1000, 100, 0, 0),
               region=LONDON),
    ])
    # Neighbouring days (not today's).
    lay.write(PREV, 12, [record(ts(PREV, 12, 0, 0), f"us.{HAIKU}", caller("user", "alice"),
                               tokens=(4000, 400, 0, 0))])
    lay.write(NEXT, 1, [record(ts(NEXT, 1, 0, 0), f"us.{HAIKU}", caller("user", "alice"),
                              tokens=(4000, 400, 0, 0))])
    return facts


def write_partition_probe(root):
    """One record per hour folder from PREV 20:00 to NEXT 03:00, each *timestamped inside DAY* and
    named after its folder: which folders the query reads shows in the callers it returns."""
    lay = Layout(root)
    folders = [(PREV, h) for h in range(20, 24)] + [(DAY, h) for h in range(24)] + \
              [(NEXT, h) for h in range(0, 4)]
    for day, hour in folders:
        label = f"{day}-{hour:02d}"
        lay.write(day, hour, [record(ts(DAY, 12, 0, 0), NOVA_LITE, caller("user", f"folder-{label}"),
                                     tokens=(10, 1, 0, 0))])
    return [f"{d}-{h:02d}" for d, h in folders]
