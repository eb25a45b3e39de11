#!/usr/bin/env python3
"""Expands bedrock-meter's SAM template into the plain CloudFormation a service-managed StackSet can deploy.

StackSets with service-managed permissions refuse templates that use macros, the AWS::Serverless transform
included, so the member template goes to them expanded. The input is the template `sam package` wrote (each
function's CodeUri an s3:// object); the output is plain CloudFormation in which every function reads its
code from the bucket `<artifact-bucket-base>-<Region>` of the Region it is deployed in (Lambda reads code
only from a bucket in its own Region): upload the same package to each such bucket (docs/organization.md).

    org/stackset-template.py packaged.yaml my-artifacts > stackset.yaml

Needs the `aws-sam-translator` Python package (SAM CLI and cfn-lint bring it). Uses only the template;
no AWS call.
"""
import json
import os
import sys

import yaml
from samtranslator.public.translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    name = suffix if suffix in ("Ref", "Condition") else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)


class NoIam:
    """The template names no AWS managed policy by name, so none has to be looked up."""

    def load(self):
        return {}


def expand(template, artifact_bucket_base):
    if not isinstance(template.get("Transform"), str) or "Serverless" not in template["Transform"]:
        raise SystemExit("not a SAM template (no AWS::Serverless transform)")
    # The translator wants a Region for its partition; the output keeps AWS::Region as a reference
    # (checked: org/stackset-template.py's output names no Region), so any one does.
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    out = transform(template, {"AWS::Region": "us-east-1"}, NoIam())
    out.pop("Transform", None)
    n = 0
    for name, res in out["Resources"].items():
        if res.get("Type") != "AWS::Lambda::Function":
            continue
        code = res["Properties"].get("Code", {})
        if "S3Bucket" not in code:
            raise SystemExit(f"{name}: code is not an S3 object (run `sam package` first)")
        code["S3Bucket"] = {"Fn::Sub": artifact_bucket_base + "-${AWS::Region}"}
        n += 1
    if n == 0:
        raise SystemExit("no Lambda function in the template")
    return out


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__)
    with open(argv[1]) as f:
        template = yaml.load(f, Loader=CfnLoader)
    json.dump(expand(template, argv[2]), sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
