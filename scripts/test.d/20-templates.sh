#!/usr/bin/env bash
# Lints every CloudFormation/SAM template (template.yaml, templates/*.yaml and org/*.yaml) with cfn-lint — zero
# errors AND zero warnings (informational findings are allowed) — and scans them with checkov: every
# failed check must be fixed or suppressed in the template (Metadata: checkov: skip, with a comment).
# Offline: checkov is told not to download anything from its platform.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

[ -x .venv/bin/cfn-lint ] && [ -x .venv/bin/checkov ] || scripts/setup-venv.sh
export PATH="$root/.venv/bin:$PATH"

templates=(template.yaml)
for t in templates/*.yaml templates/*.yml org/*.yaml; do
  [ -e "$t" ] && templates+=("$t")
done

echo "cfn-lint $(cfn-lint --version 2>&1 | awk '{print $2}'): ${templates[*]}"
# --non-zero-exit-code warning: exit non-zero on errors and warnings (not on informational matches).
cfn-lint --non-zero-exit-code warning --format parseable -- "${templates[@]}"
echo "cfn-lint: no errors, no warnings"

# The member template as a service-managed StackSet deploys it (docs/organization.md): expanded from SAM
# by org/stackset-template.py (StackSets refuse the AWS::Serverless transform), each function's code in
# its Region's artifact bucket; the result must be plain CloudFormation that lints clean too.
stackset_dir=$(mktemp -d)
trap 'rm -rf "$stackset_dir"' EXIT
sed 's#^    CodeUri: \.$#    CodeUri: s3://example-artifacts/bedrock-meter/0123456789abcdef#' template.yaml > "$stackset_dir/packaged.yaml"
python org/stackset-template.py "$stackset_dir/packaged.yaml" example-artifacts > "$stackset_dir/stackset.json"
python3 - "$stackset_dir/stackset.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
assert "Transform" not in t, "the StackSet template still has a Transform"
types = {r["Type"] for r in t["Resources"].values()}
assert not any(x.startswith("AWS::Serverless::") for x in types), types
code = [r["Properties"]["Code"] for r in t["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
assert code and all(c["S3Bucket"] == {"Fn::Sub": "example-artifacts-${AWS::Region}"} for c in code), code
size = len(open(sys.argv[1], "rb").read())
# CreateStackSet --template-url takes at most 1 MB.
assert size < 1_000_000, f"StackSet template is {size} bytes"
print(f"StackSet template: {len(t['Resources'])} resources, {len(code)} functions, {size} bytes")
PY
cfn-lint --non-zero-exit-code warning --format parseable -- "$stackset_dir/stackset.json"
echo "cfn-lint: StackSet template (expanded) clean"

# Suppressions must carry a reason: a skip without a comment is a failure of its own.
for t in "${templates[@]}"; do
  python3 - "$t" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
# "- id: CKV_..." followed by "comment: <text>" (possibly a folded block) in the same skip entry.
entries = re.findall(r"-\s*id:\s*(CKV\w+)\s*\n(\s*)comment:\s*(\S.*)?", text)
ids = re.findall(r"-\s*id:\s*(CKV\w+)", text)
if len(entries) != len(ids):
    commented = {e[0] for e in entries}
    sys.exit(f"{sys.argv[1]}: checkov skip without a comment: {sorted(set(ids) - commented)}")
PY
done

# No prompt text at rest outside the log destinations: the live path's function has no on-failure
# destination or dead-letter queue (either keeps the whole subscription payload); it records pointers.
python3 - template.yaml <<'PY'
import sys, yaml
class L(yaml.SafeLoader): pass
L.add_multi_constructor("!", lambda loader, suffix, node: None)
t = yaml.load(open(sys.argv[1]), Loader=L)
fn = t["Resources"]["IngestFunction"]["Properties"]
cfg = fn.get("EventInvokeConfig") or {}
if (cfg.get("DestinationConfig") or {}).get("OnFailure") or fn.get("DeadLetterQueue"):
    sys.exit("template.yaml: IngestFunction must not send failed events (prompt text) to a destination or DLQ")
if "FAILURE_QUEUE_URL" not in fn["Environment"]["Variables"]:
    sys.exit("template.yaml: IngestFunction needs FAILURE_QUEUE_URL for its failure pointers")
print("ingest failure path: pointers only, no payload destination")

# Grants no wider than used.
import re
params = t["Parameters"]
pattern = re.compile(params["PreviousLoggingRoleArn"]["AllowedPattern"])
assert pattern.fullmatch("arn:aws:iam::123456789012:role/service-role/bedrock-logs"), "a role ARN"
for wide in ["arn:aws:iam::123456789012:role/*", "arn:aws:iam::123456789012:role/a*b", "arn:aws:iam::123456789012:role/"]:
    assert not pattern.fullmatch(wide), f"PreviousLoggingRoleArn accepts {wide!r}: a wildcard iam:PassRole resource"
def statements(fn):
    out = []
    for pol in t["Resources"][fn]["Properties"]["Policies"]:
        out += [s for s in pol["Statement"] if isinstance(s, dict)]
    return out
text = open(sys.argv[1]).read()
ingest = {s["Sid"]: s for s in statements("IngestFunction")}
res = ingest["ResolveInferenceProfiles"]["Resource"]
assert res is None or not isinstance(res, list), "ingest looks up application profiles only"
block = text[text.index("  IngestFunction:"):text.index("  IngestLogsPermission:")]
assert ":inference-profile/*" not in block, "ingest: GetInferenceProfile on system profiles is unused"
rollup = text[text.index("  RollupFunction:"):text.index("  # Alarms on the pipeline")]
read = rollup[rollup.index("Sid: ReadInvocationLogs"):rollup.index("Sid: ListInvocationLogs")]
assert "/AWSLogs/${AWS::AccountId}/BedrockModelInvocationLogs/*" in read, "rollup reads log records, not large-data bodies"
assert "kms:Decrypt" in read and "ExistingLogBucketKmsKeyArn" in read, "rollup can read an SSE-KMS log bucket"
print("grants: no wildcard PassRole, ingest profiles only, rollup reads log records only")

# Text that goes out: every topic signs its HTTPS deliveries with SHA256 (SignatureVersion 2), and the
# webhook URLs (which carry their secret) are never echoed by CloudFormation.
topics = [n for n, r in t["Resources"].items() if r.get("Type") == "AWS::SNS::Topic"]
assert topics, "the template has SNS topics"
for n in topics:
    assert str(t["Resources"][n]["Properties"].get("SignatureVersion")) == "2", f"{n}: SignatureVersion 2"
for p in ["AlertWebhookUrl", "ReportWebhookUrl"]:
    assert params[p].get("NoEcho") is True, f"{p}: NoEcho"
print(f"topics signed with SignatureVersion 2 ({', '.join(topics)}); webhook URLs NoEcho")
PY

checkov_args=(--framework cloudformation --compact --quiet --skip-download --output cli)
for t in "${templates[@]}"; do
  echo "checkov: $t"
  BC_SKIP_MAPPING=TRUE checkov -f "$t" "${checkov_args[@]}"
done
echo "checkov: no failed checks"
