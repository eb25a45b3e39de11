#!/usr/bin/env bash
# Containment's IAM power, checked in the template (docs/deploy.md, "Permissions, and why each"): the
# ingest function may only put and delete inline policies, only on the allowed principals' ARNs, only
# when a pattern is set; Identity Center roles are denied unless allowed; no other function gets IAM
# write actions; the chat channel's role has no permission and a deny-all guardrail.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python3 ] || scripts/setup-venv.sh
.venv/bin/python3 - template.yaml <<'PY'
import re, sys, yaml

class L(yaml.SafeLoader):
    pass

def tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        v = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        v = loader.construct_sequence(node, deep=True)
    else:
        v = loader.construct_mapping(node, deep=True)
    return {"!" + suffix: v}

L.add_multi_constructor("!", tagged)
t = yaml.load(open(sys.argv[1]), Loader=L)
R, P = t["Resources"], t["Parameters"]
fail = []

def check(ok, msg):
    if not ok:
        fail.append(msg)

def iam_actions(stmt):
    a = stmt.get("Action", [])
    a = [a] if isinstance(a, str) else a
    return [x for x in a if isinstance(x, str) and x.lower().startswith("iam:")]

# Every function's statements, with the condition they are under (None: unconditional).
def statements(name):
    out = []
    for pol in R[name]["Properties"].get("Policies", []):
        if not isinstance(pol, dict) or "Statement" not in pol:
            continue
        for s in pol["Statement"]:
            if isinstance(s, dict) and "!If" in s:
                cond, yes, _no = s["!If"]
                out.append((cond, yes))
            elif isinstance(s, dict):
                out.append((None, s))
    return out

allowed = {
    "ContainRoles": ({"iam:PutRolePolicy", "iam:DeleteRolePolicy"}, "role", "ContainmentRoleNames"),
    "ContainUsers": ({"iam:PutUserPolicy", "iam:DeleteUserPolicy"}, "user", "ContainmentUserNames"),
}
seen = set()
for cond, s in statements("IngestFunction"):
    acts = iam_actions(s)
    if not acts:
        continue
    if s.get("Effect") == "Deny":
        check(cond == "ExcludeSsoRoles", f"ingest: IAM deny under {cond}, expected ExcludeSsoRoles")
        res = [r["!Sub"] for r in s["Resource"]]
        check(any(r.endswith(":role/aws-reserved/*") for r in res), "ingest: Identity Center roles (role/aws-reserved/*) not denied")
        seen.add("sso")
        continue
    check(cond in allowed, f"ingest: IAM grant {acts} not under ContainRoles/ContainUsers (under {cond})")
    if cond not in allowed:
        continue
    want, kind, param = allowed[cond]
    check(set(acts) == want, f"ingest: {cond} grants {acts}, expected exactly {sorted(want)}")
    for r in s["Resource"]:
        sub = r.get("!Sub") if isinstance(r, dict) else None
        check(sub in (f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:{kind}/${{{param}}}",
                      f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:{kind}/*/${{{param}}}"),
              f"ingest: {cond} resource {r!r} is not the {kind} name pattern")
    seen.add(cond)
check(seen == {"ContainRoles", "ContainUsers", "sso"}, f"ingest: containment statements found: {sorted(seen)}")

for name, r in R.items():
    if name == "IngestFunction" or r.get("Type") not in ("AWS::Serverless::Function", "AWS::IAM::Role"):
        continue
    for cond, s in statements(name):
        bad = [a for a in iam_actions(s) if re.match(r"(?i)iam:(Put|Delete|Attach|Detach)(Role|User)", a)]
        check(not bad, f"{name}: IAM policy-writing actions {bad}")

for p in ("ContainmentRoleNames", "ContainmentUserNames"):
    check(P[p]["Default"] == "", f"{p}: containment must be off by default")
    rx = re.compile(P[p]["AllowedPattern"])
    check(rx.fullmatch("bedrock-app-*") is not None, f"{p}: rejects a name pattern")
    for bad in ("a,b", "path/name", "a b", "arn:aws:iam::1:role/x"):
        check(rx.fullmatch(bad) is None, f"{p}: accepts {bad!r}")
for p, d in (("ContainmentAllowSsoRoles", "false"), ("ContainUnattributed", "false"), ("ContainmentDryRun", "false")):
    check(P[p]["Default"] == d, f"{p}: default must be {d}")
env = R["IngestFunction"]["Properties"]["Environment"]["Variables"]
for k in ("CONTAINMENT_ALLOW", "CONTAINMENT_ALLOW_SSO", "CONTAINMENT_UNATTRIBUTED", "CONTAINMENT_COOLDOWN_MINUTES", "CONTAINMENT_DRY_RUN"):
    check(k in env, f"IngestFunction: {k} not set")

role = R["ChatNotificationsRole"]["Properties"]
check(not role.get("Policies") and not role.get("ManagedPolicyArns"), "ChatNotificationsRole must have no permissions")
for ch in ("SlackChannel", "TeamsChannel"):
    g = R[ch]["Properties"]["GuardrailPolicies"]
    check(len(g) == 1 and g[0]["!Sub"].endswith(":iam::aws:policy/AWSDenyAll"), f"{ch}: guardrail must be AWSDenyAll")
    check(R[ch].get("Condition") in ("HasSlack", "HasTeams"), f"{ch}: must be optional")

if fail:
    sys.exit("containment grants:\n  " + "\n  ".join(fail))
print("containment grants: put/delete inline policies on the allowed principals only, SSO roles denied, chat role without permissions")
PY
