#!/usr/bin/env bash
# Prints the paths of executables that `cargo test --workspace` has built, one per line, in the order asked:
#   scripts/test-artifact.sh bedrock-meter:bin ingest_bench:example
# It asks cargo for the test build's artifacts (`cargo test --workspace --no-run`), so after the test step it
# compiles nothing. A plain `cargo build -p bedrock-meter` would not reuse that build: without the
# workspace's dev-dependencies the features of the shared crates differ, and cargo rebuilds them (~2.5 min
# cold on 2 cores, the SQL step's whole time in the cold run of 2026-12-07).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --no-run --quiet --message-format=json | python3 -c '
import json, sys
want = [tuple(a.split(":", 1)) for a in sys.argv[1:]]
found = {}
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and not m["profile"]["test"]:
        for kind in m["target"]["kind"]:
            if (m["target"]["name"], kind) in want:
                found[(m["target"]["name"], kind)] = m["executable"]
missing = [":".join(w) for w in want if w not in found]
if missing:
    sys.exit("the test build has no " + ", ".join(missing))
for w in want:
    print(found[w])
' "$@"
