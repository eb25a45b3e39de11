#!/usr/bin/env bash
# Containment's IAM power, checked in the template (docs/deploy.md, "Permissions, and why each";
# docs/detection.md, "Risks"). The grant is evaluated the way IAM evaluates it — in a resource ARN `*`
# matches any characters INCLUDING "/" and `?` any one character (IAM User Guide, "IAM JSON policy
# elements: Resource", Using wildcards in resource ARNs); an explicit Deny wins over any Allow — for
# several parameter settings, and must hold:
# - the name-pattern parameters need a literal first character (no bare `*`, no leading wildcard);
# - the ingest function may only put and delete inline policies, only on `role/<pattern>` /
#   `user/<pattern>`, only when a pattern is set, under the permissions-boundary condition when one is
#   given; no other function gets IAM write actions;
# - no pattern reaches a principal with an IAM path (role/*/* and user/*/* denied on their own),
#   IAM Identity Center or service-linked roles (aws-reserved, aws-service-role denied on their own),
#   or any role the stack creates (each has the path /bedrock-meter/, and a Deny names them by path and
#   by CloudFormation's generated name on its own), while a path-less role matching the pattern stays
#   reachable (the denies are not wider than that);
# - the chat channel's role has no permission and a deny-all guardrail.
# Then every negative fixture in scripts/test.d/fixtures/containment-grants/ (the real template with one
# guard broken) must FAIL with the message it names: the check is shown to catch each break.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python3 ] || scripts/setup-venv.sh
.venv/bin/python3 - template.yaml scripts/test.d/fixtures/containment-grants <<'PY'
import copy, glob, os, re, sys, yaml

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

ACCOUNT, STACK = "123456789012", "bedrock-meter-prod"
ALL_WRITES = ("iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutUserPolicy", "iam:DeleteUserPolicy")
ROLE_WRITES, USER_WRITES = ALL_WRITES[:2], ALL_WRITES[2:]
STACK_PATH = "/bedrock-meter/"

def arn(res):
    return f"arn:aws:iam::{ACCOUNT}:{res}"

def iam_match(pattern, value):
    """IAM resource matching: `*` any characters (also "/"), `?` exactly one, case-sensitive."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S) is not None

class Template:
    """Evaluates the template's conditions and intrinsic functions for one set of parameters."""

    def __init__(self, t, params):
        self.t, self.P = t, t["Parameters"]
        self.params = {k: str(v.get("Default", "")) for k, v in self.P.items()}
        self.params.update(params)

    def ref(self, name):
        pseudo = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK,
                  "AWS::Region": "us-east-1"}
        if name in pseudo:
            return pseudo[name]
        return self.params.get(name, f"<{name}>")

    def cond(self, c):
        if isinstance(c, str):
            return self.cond(self.t["Conditions"][c])
        (fn, arg), = c.items()
        if fn == "!Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if fn == "!Not":
            return not self.cond(arg[0])
        if fn == "!And":
            return all(self.cond(x) for x in arg)
        if fn == "!Or":
            return any(self.cond(x) for x in arg)
        if fn == "!Condition":
            return self.cond(arg)
        raise ValueError(f"condition {fn}")

    def sub(self, text, extra=None):
        extra = extra or {}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(extra[m.group(1)] if m.group(1) in extra
                                                       else self.ref(m.group(1))), text)

    NOVALUE = object()

    def value(self, v):
        """Resolves !If, !Ref, !Sub, !GetAtt (as a placeholder) recursively; AWS::NoValue drops."""
        if isinstance(v, dict) and len(v) == 1 and next(iter(v)).startswith("!"):
            (fn, arg), = v.items()
            if fn == "!If":
                return self.value(arg[1] if self.cond(arg[0]) else arg[2])
            if fn == "!Ref":
                return self.NOVALUE if arg == "AWS::NoValue" else self.ref(arg)
            if fn == "!Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], {k: self.value(x) for k, x in arg[1].items()})
                return self.sub(arg)
            if fn == "!GetAtt":
                return f"<{arg}>"
            return v
        if isinstance(v, dict):
            out = {k: self.value(x) for k, x in v.items()}
            return {k: x for k, x in out.items() if x is not self.NOVALUE}
        if isinstance(v, list):
            return [x for x in (self.value(y) for y in v) if x is not self.NOVALUE]
        return v

    def statements(self, name):
        out = []
        for pol in self.t["Resources"][name]["Properties"].get("Policies", []):
            if isinstance(pol, dict) and "Statement" in pol:
                for s in self.value(pol["Statement"]):
                    if isinstance(s, dict):
                        out.append(s)
        return out

def as_list(x):
    return [x] if isinstance(x, str) else list(x or [])

def actions(s):
    return [a for a in as_list(s.get("Action")) if isinstance(a, str)]

def covers(s, action, target):
    return any(iam_match(a.lower(), action.lower()) for a in actions(s)) and any(
        iam_match(r, target) for r in as_list(s.get("Resource")))

def allowed(stmts, action, target):
    if any(s.get("Effect") == "Deny" and covers(s, action, target) for s in stmts):
        return False
    return any(s.get("Effect") == "Allow" and covers(s, action, target) for s in stmts)

def widest(name_part):
    """The widest pattern the parameter could hold that still reaches a target: its first character and `*`."""
    return name_part[0] + "*"

def stack_roles(t):
    """(logical id, path, generated name) of every IAM role the template creates."""
    g = t.get("Globals", {}).get("Function", {})
    out = []
    for name, r in t["Resources"].items():
        props = r.get("Properties", {})
        if r.get("Type") == "AWS::IAM::Role":
            out.append((name, props.get("Path", "/"), f"{STACK}-{name}-1A2B3C4D5E6F"))
        elif r.get("Type") == "AWS::Serverless::Function" and "Role" not in props:
            out.append((name + "Role", props.get("RolePath", g.get("RolePath", "/")),
                        f"{STACK}-{name}Role-1A2B3C4D5E6F"))
    return out

def check_template(t):
    fail = []

    def check(ok, msg):
        if not ok:
            fail.append(msg)

    R, P = t["Resources"], t["Parameters"]

    # 1. The parameters: a literal first character, IAM name characters, * and ?; nothing else.
    for p in ("ContainmentRoleNames", "ContainmentUserNames"):
        check(P[p].get("Default") == "", f"{p}: containment must be off by default")
        rx = re.compile(P[p]["AllowedPattern"])
        for good in ("", "bedrock-app-*", "a", "x?y*", "batch-7"):
            check(rx.fullmatch(good) is not None, f"{p}: rejects the pattern {good!r}")
        for bad in ("*", "?", "**", "*admin", "?ps-agent", "*-*", "a,b", "path/name", "a b",
                    "arn:aws:iam::1:role/x", "a/*"):
            check(rx.fullmatch(bad) is None, f"{p}: accepts {bad!r} (a pattern needs a literal prefix, no path)")

    # 2. Every role the stack creates has the stack's path.
    roles = stack_roles(t)
    check(len(roles) >= 3, f"stack roles found: {roles}")
    for logical, path, _ in roles:
        check(path == STACK_PATH, f"{logical}: the stack's own role must have the path {STACK_PATH} (has {path})")

    # 3. The grant, evaluated for several settings.
    scenarios = [
        {"ContainmentRoleNames": "bedrock-app-*", "ContainmentUserNames": "batch-*"},
        {"ContainmentRoleNames": "bedrock-app-*", "ContainmentUserNames": "",
         "ContainmentPermissionsBoundaryArn": f"arn:aws:iam::{ACCOUNT}:policy/app-boundary"},
        {"ContainmentRoleNames": "", "ContainmentUserNames": "batch-*",
         "PreviousLoggingRoleArn": arn("role/old-bedrock-logging")},
        {"ContainmentRoleNames": "", "ContainmentUserNames": ""},
    ]
    # Principals no pattern may reach (role/*, user/* resource parts), by the guard that must stop each.
    path_principals = ["role/bedrock-app-x/OrgAdmin", "role/service-role/bedrock-app-y",
                       "role/a/b/bedrock-app-z", "user/batch-x/root-like", "user/jobs/batch-1"]
    reserved = ["role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123abcd",
                "role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Dev_0a1b",
                "role/AWSReservedSSO_Legacy_0123",
                "role/aws-service-role/bedrock.amazonaws.com/AWSServiceRoleForAmazonBedrock",
                "role/aws-service-role/AWSServiceRoleForSupport",
                "role/AWSServiceRoleForOrganizations"]
    own = []
    for _, path, name in roles:
        own += [f"role{path}{name}", f"role/{name}"]  # with its path, and (defence in depth) without

    for sc in scenarios:
        tv = Template(t, sc)
        label = ", ".join(f"{k}={v!r}" for k, v in sc.items() if v)
        stmts = tv.statements("IngestFunction")
        by_sid = {s.get("Sid"): s for s in stmts}
        rn, un = sc["ContainmentRoleNames"], sc["ContainmentUserNames"]

        iam_stmts = [s for s in stmts if any(a.lower().startswith("iam:") for a in actions(s))]
        if not rn and not un:
            check(not iam_stmts, f"[{label}] no pattern, yet IAM statements: {iam_stmts}")
            continue

        # Allows: exactly these actions on exactly role/<pattern> / user/<pattern>; boundary condition.
        for s in iam_stmts:
            if s.get("Effect") != "Allow":
                continue
            kind, want, param = ("role", ROLE_WRITES, rn) if s.get("Sid") == "ContainRunawayRoles" else \
                                ("user", USER_WRITES, un) if s.get("Sid") == "ContainRunawayUsers" else (None, (), "")
            check(kind is not None, f"[{label}] unexpected IAM Allow {s.get('Sid')}: {actions(s)}")
            if kind is None:
                continue
            check(param != "", f"[{label}] {s.get('Sid')} present without its pattern")
            check(set(actions(s)) == set(want), f"[{label}] {s.get('Sid')} grants {actions(s)}, expected exactly {list(want)}")
            check(as_list(s.get("Resource")) == [arn(f"{kind}/{param}")],
                  f"[{label}] {s.get('Sid')} resource {s.get('Resource')} is not exactly the {kind} name pattern {kind}/{param}")
            b = sc.get("ContainmentPermissionsBoundaryArn", "")
            want_cond = {"StringEquals": {"iam:PermissionsBoundary": b}} if b else None
            check(s.get("Condition") == want_cond,
                  f"[{label}] {s.get('Sid')} condition {s.get('Condition')}, expected {want_cond} (the iam:PermissionsBoundary limit)")
        check(("ContainRunawayRoles" in by_sid) == bool(rn), f"[{label}] ContainRunawayRoles present: {'ContainRunawayRoles' in by_sid}")
        check(("ContainRunawayUsers" in by_sid) == bool(un), f"[{label}] ContainRunawayUsers present: {'ContainRunawayUsers' in by_sid}")

        # Each guard on its own (a statement with this Sid, whatever the others say).
        def denies(sid, acts, target):
            s = by_sid.get(sid)
            return s is not None and s.get("Effect") == "Deny" and all(covers(s, a, arn(target)) for a in acts)
        for p in path_principals:
            check(denies("NeverPrincipalsWithAPath", ROLE_WRITES if p.startswith("role/") else USER_WRITES, p),
                  f"[{label}] NeverPrincipalsWithAPath does not deny the path principal {p}")
        for p in reserved:
            check(denies("NeverAwsReservedRoles", ROLE_WRITES, p),
                  f"[{label}] NeverAwsReservedRoles does not deny {p} (aws-reserved / aws-service-role)")
        for p in own:
            check(denies("NeverTheStacksOwnRoles", ROLE_WRITES, p),
                  f"[{label}] NeverTheStacksOwnRoles does not deny the stack's own role {p}")
        prev = sc.get("PreviousLoggingRoleArn")
        if prev and sc.get("ManageInvocationLogging", "true") == "true":
            s = by_sid.get("NeverTheStacksOwnRoles", {})
            check(any(iam_match(r, prev) for r in as_list(s.get("Resource"))),
                  f"[{label}] NeverTheStacksOwnRoles does not deny PreviousLoggingRoleArn {prev}")

        # Together, with the widest pattern that could reach each target: nothing forbidden is reachable.
        for target in path_principals + reserved + own:
            kind, rest = target.split("/", 1)
            acts = ROLE_WRITES if kind == "role" else USER_WRITES
            pat = widest(rest)
            wide = dict(sc, ContainmentRoleNames=pat if kind == "role" else rn,
                        ContainmentUserNames=pat if kind == "user" else un)
            if (kind == "role" and not rn) or (kind == "user" and not un):
                wide = dict(sc)  # that kind is off in this scenario: nothing may be reachable at all
            ws = Template(t, wide).statements("IngestFunction")
            for a in acts:
                check(not allowed(ws, a, arn(target)),
                      f"[{label}] {a} reaches {target} (pattern {pat!r}): a path, reserved or stack role is reachable")
        # ... and what the pattern names is reachable (the denies are not wider than they must be).
        for kind, pat, acts, target in (("role", rn, ROLE_WRITES, "role/bedrock-app-x"),
                                        ("user", un, USER_WRITES, "user/batch-7")):
            for a in acts:
                check(allowed(stmts, a, arn(target)) == bool(pat),
                      f"[{label}] {a} on the intended principal {target}: allowed={allowed(stmts, a, arn(target))}, expected {bool(pat)}")

    # 4. No other function or role may write IAM policies.
    tv = Template(t, scenarios[0])
    for name, r in R.items():
        if name == "IngestFunction" or r.get("Type") not in ("AWS::Serverless::Function", "AWS::IAM::Role"):
            continue
        for s in tv.statements(name):
            bad = [a for a in actions(s) if re.match(r"(?i)iam:(Put|Delete|Attach|Detach)(Role|User)", a)]
            check(not bad, f"{name}: IAM policy-writing actions {bad}")

    for p, d in (("ContainUnattributed", "false"), ("ContainmentDryRun", "false")):
        check(P[p]["Default"] == d, f"{p}: default must be {d}")
    env = R["IngestFunction"]["Properties"]["Environment"]["Variables"]
    for k in ("CONTAINMENT_ALLOW", "CONTAINMENT_UNATTRIBUTED", "CONTAINMENT_COOLDOWN_MINUTES", "CONTAINMENT_DRY_RUN"):
        check(k in env, f"IngestFunction: {k} not set")
    allow = Template(t, scenarios[0]).value(env.get("CONTAINMENT_ALLOW", ""))
    check(allow == "role/bedrock-app-*,user/batch-*", f"CONTAINMENT_ALLOW is {allow!r} for the patterns bedrock-app-*, batch-*")

    role = R["ChatNotificationsRole"]["Properties"]
    check(not role.get("Policies") and not role.get("ManagedPolicyArns"), "ChatNotificationsRole must have no permissions")
    for ch in ("SlackChannel", "TeamsChannel"):
        g = R[ch]["Properties"]["GuardrailPolicies"]
        check(len(g) == 1 and g[0]["!Sub"].endswith(":iam::aws:policy/AWSDenyAll"), f"{ch}: guardrail must be AWSDenyAll")
        check(R[ch].get("Condition") in ("HasSlack", "HasTeams"), f"{ch}: must be optional")
    return fail

# --- fixtures: the real template with one guard broken -------------------------------------------

def ingest_statement_list(t):
    for pol in t["Resources"]["IngestFunction"]["Properties"]["Policies"]:
        if isinstance(pol, dict) and "Statement" in pol:
            return pol["Statement"]
    raise KeyError("IngestFunction statements")

def find_sid(t, sid):
    lst = ingest_statement_list(t)
    for i, s in enumerate(lst):
        inner = s["!If"][1] if isinstance(s, dict) and "!If" in s else s
        if isinstance(inner, dict) and inner.get("Sid") == sid:
            return lst, i, inner
    raise KeyError(f"no statement {sid}")

def walk(t, path):
    for k in path[:-1]:
        t = t[k]
    return t, path[-1]

def apply(t, op):
    kind = op["op"]
    if kind == "drop-statement":
        lst, i, _ = find_sid(t, op["sid"])
        del lst[i]
    elif kind == "set-resources":
        _, _, s = find_sid(t, op["sid"])
        s["Resource"] = [{"!Sub": r} for r in op["value"]]
    elif kind == "delete-key":
        if "sid" in op:
            _, _, s = find_sid(t, op["sid"])
            del s[op["key"]]
        else:
            parent, k = walk(t, op["path"])
            del parent[k]
    elif kind == "set":
        parent, k = walk(t, op["path"])
        parent[k] = op["value"]
    else:
        raise ValueError(f"unknown fixture op {kind}")

template = yaml.load(open(sys.argv[1]), Loader=L)
fail = check_template(template)
if fail:
    sys.exit("containment grants:\n  " + "\n  ".join(fail))

fixtures = sorted(glob.glob(os.path.join(sys.argv[2], "*.yaml")))
problems = []
for f in fixtures:
    fx = yaml.safe_load(open(f))
    t = copy.deepcopy(template)
    for op in fx["ops"]:
        apply(t, op)
    got = check_template(t)
    name = os.path.basename(f)
    if not got:
        problems.append(f"{name}: the broken template PASSED ({fx['why']})")
    elif not any(fx["expect"] in m for m in got):
        problems.append(f"{name}: failed, but not with {fx['expect']!r}: {got[:3]}")
if len(fixtures) < 8:
    problems.append(f"only {len(fixtures)} negative fixtures in {sys.argv[2]}")
if problems:
    sys.exit("containment grants, negative fixtures:\n  " + "\n  ".join(problems))
print(f"containment grants: put/delete inline policies on path-less principals matching a literal-prefix "
      f"pattern only; path principals, aws-reserved, service-linked and the stack's own roles denied; "
      f"chat role without permissions; {len(fixtures)} broken templates caught")
PY
