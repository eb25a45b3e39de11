#!/usr/bin/env bash
# The daily path's SQL, executed: the exact Trino SQL `bedrock-meter rollup-sql` prints (the text the
# rollup Lambda sends) is transpiled to DuckDB with sqlglot and run over S3-layout fixture logs; its
# rows priced by the core must match `bedrock-meter report` team by team. Also checks template.yaml's
# Glue table against shared/sql/table.sql.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

[ -x .venv/bin/python ] && .venv/bin/python -c "import duckdb, sqlglot, yaml" 2>/dev/null || scripts/setup-venv.sh
export PATH="$root/.venv/bin:$PATH"

cargo build --quiet -p bedrock-meter
target_dir=$(cargo metadata --format-version 1 --no-deps | python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export BEDROCK_METER_BIN="$target_dir/debug/bedrock-meter"

python -m unittest discover -s tests/sql -p 'test_*.py' -v
