#!/usr/bin/env python3
"""The environment template.yaml gives each Lambda function, with the parameters' defaults and placeholder
names for the stack's resources, for bench/lambda_measure.py (--env K=V). It checks the template: a
function whose Environment.Variables names a variable this file does not set (or sets one the template
no longer has) is an error, so the measured processes start with what the deployed ones would.

  lambda_env.py FUNCTION [K=V ...]     # one K=V per line; K=V arguments replace placeholders

FUNCTION: ingest, rollup or logging-config. Used by bench/lambda-init.sh and bench/lambda-memory.sh.
"""
import os
import sys

import yaml

ACCOUNT = "123456789012"
STACK = "bedrock-meter"

# Logical id in template.yaml, then the variables with the parameters' defaults (!Ref of a parameter)
# or a placeholder of the right shape (!Ref / !GetAtt of a resource); !If on a default condition
# resolved as the defaults resolve it (no containment names, no chat, no OTLP headers, no fan-in).
FUNCTIONS = {
    "ingest": ("IngestFunction", {
        "METRICS_NAMESPACE": "BedrockMeter",
        "ALERT_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:bedrock-meter-alerts",
        "STATE_TABLE": "bedrock-meter-state",
        "WINDOW_MINUTES": "15",
        "MAX_COST_USD": "10",
        "MAX_REQUESTS": "600",
        "APP_TAG_KEY": "app",
        "TEAM_TAG_KEY": "team",
        "METADATA_KEYS": "",
        "KEEP_SESSION_ROLES": "AWSReservedSSO_*",
        "CALLER_DIMENSIONS": "false",
        "PROFILE_CACHE_TTL_SECONDS": "300",
        "LOG_GROUP_NAME": "/aws/bedrock/modelinvocations",
        "FAILURE_QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/bedrock-meter-failed",
        "CONTAINMENT_ALLOW": ",",
        "CONTAINMENT_UNATTRIBUTED": "false",
        "CONTAINMENT_COOLDOWN_MINUTES": "60",
        "CONTAINMENT_DRY_RUN": "false",
        "ACCOUNT_ID": ACCOUNT,
        "STACK_NAME": STACK,
        "ORG_ALERT_TOPIC_ARN": "",
        "CHAT_FORMAT": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": "",
        "OTEL_SERVICE_NAME": f"bedrock-meter-{STACK}",
        "RUST_LOG": "info",
    }),
    "rollup": ("RollupFunction", {
        "ATHENA_WORKGROUP": "bedrock-meter",
        "ATHENA_DATABASE": "bedrock_meter",
        "ATHENA_TABLE": "invocation_logs",
        "REPORT_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:bedrock-meter-reports",
        "ALERT_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:bedrock-meter-alerts",
        "METADATA_KEYS": "",
        "APP_TAG_KEY": "app",
        "TEAM_TAG_KEY": "team",
        "KEEP_SESSION_ROLES": "AWSReservedSSO_*",
        "QUERY_TIMEOUT_SECONDS": "600",
        "PROFILES_SNAPSHOT_BUCKET": f"bedrock-meter-logs-{ACCOUNT}-us-east-1",
        "CUR_TABLE": "",
        "REPORTS_BUCKET": f"bedrock-meter-reports-{ACCOUNT}-us-east-1",
        "BATCH_OUTPUT_BUCKETS": "",
        "FAN_IN_BUCKET": "",
        "AWS_ACCOUNT_ID": ACCOUNT,
        "FAN_IN_PREFIX": "bedrock-meter",
        "FAN_IN_REGION": "",
        "CHAT_FORMAT": "false",
        "RUST_LOG": "info",
    }),
    "logging-config": ("LoggingConfigFunction", {
        "RUST_LOG": "info",
    }),
}


class Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !If, ...) read as plain values."""


def _any(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


Loader.add_multi_constructor("!", _any)


def template_variables(logical_id, path):
    with open(path) as f:
        t = yaml.load(f, Loader=Loader)
    props = t["Resources"][logical_id]["Properties"]
    return set((props.get("Environment") or {}).get("Variables") or {})


def env_for(function, overrides=(), template=None):
    logical_id, env = FUNCTIONS[function]
    template = template or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "template.yaml")
    want = template_variables(logical_id, template)
    if want != set(env):
        raise SystemExit(f"{function}: template.yaml's {logical_id} variables differ from bench/lambda_env.py: "
                         f"only in the template {sorted(want - set(env))}, only here {sorted(set(env) - want)}")
    env = dict(env)
    for kv in overrides:
        k, v = kv.split("=", 1)
        if k not in env:
            raise SystemExit(f"{function}: {k} is not one of the template's variables")
        env[k] = v
    return env


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in FUNCTIONS:
        raise SystemExit(__doc__)
    for k, v in env_for(sys.argv[1], sys.argv[2:]).items():
        print(f"{k}={v}")


if __name__ == "__main__":
    main()
