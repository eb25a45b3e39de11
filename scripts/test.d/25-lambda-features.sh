#!/usr/bin/env bash
# `sam build` shares the arm64 step's dependency builds: checked without building anything (cargo tree, ~1 s
# each).
#
# For every `BuildMethod: rust-cargolambda` function of the templates, `sam build` runs
# `cargo lambda build --release --arm64 --bin <Binary>` in the function's CodeUri, one function at a time.
# Cargo resolves features over the packages that directory selects (a member's directory: that member; the
# workspace root: its default-members), not over the one binary; a crate built with other features, or over
# dependencies built with other features, is a different build. This checks that every crate each of those
# runs would build has exactly the features it gets when the Lambdas' packages are built together (as
# scripts/test.d/30-arm64-build.sh does): then `sam build` after the arm64 step, and each function after the
# first, compile no dependency again. It failed before Cargo.toml's default-members: at the root every member
# was selected, and the CLI's features (the core's `operator`, tracing's `log`, ...) changed tracing and every
# AWS SDK crate built over it (52 aarch64 units rebuilt by `sam build`, three more SDK crates).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

scripts/setup-venv.sh  # quick when the venv is complete; repairs a partial or outdated one
export PATH="$root/.venv/bin:$PATH"

templates=(template.yaml)
for t in templates/*.yaml templates/*.yml org/*.yaml; do
  [ -e "$t" ] && templates+=("$t")
done

python3 - "${templates[@]}" <<'PY'
import json, os, subprocess, sys

import yaml


class Loader(yaml.SafeLoader):
    pass


# CloudFormation short forms (!Ref, !Sub, ...): their values do not matter here.
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)

TRIPLES = {"arm64": "aarch64-unknown-linux-gnu", "x86_64": "x86_64-unknown-linux-gnu"}


def functions(path):
    doc = yaml.load(open(path), Loader=Loader) or {}
    if not isinstance(doc, dict):
        sys.exit(f"{path}: not a template (its top level is not a mapping)")
    glob = (doc.get("Globals") or {}).get("Function") or {}
    for name, res in (doc.get("Resources") or {}).items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::Serverless::Function":
            continue
        meta = res.get("Metadata") or {}
        if meta.get("BuildMethod") != "rust-cargolambda":
            continue
        props = res.get("Properties") or {}
        code_uri = props.get("CodeUri", glob.get("CodeUri"))
        arch = (props.get("Architectures") or glob.get("Architectures") or ["x86_64"])[0]
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        if not isinstance(code_uri, str) or not binary:
            sys.exit(f"{path} {name}: CodeUri {code_uri!r} / BuildProperties.Binary {binary!r}: cannot check")
        cwd = os.path.normpath(os.path.join(os.path.dirname(path), code_uri))
        yield f"{path} {name}", cwd, binary, TRIPLES[arch]


def tree(cwd, triple, packages=()):
    args = ["cargo", "tree", "--quiet", "-e", "normal,build", "--target", triple,
            "--prefix", "none", "-f", "{p} {f}"]
    for p in packages:
        args += ["-p", p]
    out = subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout
    return {line.removesuffix(" (*)").strip() for line in out.splitlines() if line.strip()}


fns = [f for path in sys.argv[1:] for f in functions(path)]
if not fns:
    sys.exit("no rust-cargolambda function found in the templates")

# Which package builds each binary.
meta = json.loads(subprocess.run(["cargo", "metadata", "--no-deps", "--format-version", "1"],
                                 check=True, capture_output=True, text=True).stdout)
owner = {t["name"]: p["name"] for p in meta["packages"] for t in p["targets"] if "bin" in t["kind"]}
missing = sorted({b for _, _, b, _ in fns if b not in owner})
if missing:
    sys.exit(f"no workspace package has the binaries {missing}")

fail = False
for triple in sorted({t for *_, t in fns}):
    packages = sorted({owner[b] for _, _, b, t in fns if t == triple})
    together = tree(".", triple, packages)
    for where, cwd, binary, t in fns:
        if t != triple:
            continue
        alone = tree(cwd, triple)
        diverging = sorted(alone - together)
        if diverging:
            fail = True
            print(f"{where}: `cargo lambda build --bin {binary}` in {cwd} resolves features over other packages "
                  f"than the Lambdas' build together ({', '.join(packages)}); {len(diverging)} crates there with "
                  f"other features, or not in that build:", file=sys.stderr)
            for line in diverging[:40]:
                print(f"    {line}", file=sys.stderr)
        else:
            print(f"ok: {where} (--bin {binary} in {cwd}, {triple}): {len(alone)} crates, same features as "
                  f"the Lambdas built together")
sys.exit(1 if fail else 0)
PY
