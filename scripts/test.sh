#!/usr/bin/env bash
# The one test command (README "Tests"). On a fresh machine it installs what the tests need into .venv
# (moto server, cfn-lint, checkov, sqlglot + duckdb, cargo-lambda + zig), then runs every check:
# formatting, clippy, unit + integration tests (each integration test starts its own moto server on a
# loopback port), the SQL tests (Trino SQL transpiled to DuckDB), template lint and policy scan, and the
# arm64 Lambda cross-build.  Set SKIP_ARM64_BUILD=1 to leave out the (slow) cross-build locally.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Each step's wall time, printed at the end of the output (also when a step fails), so a slow step shows.
step_names=() step_secs=() step_start=$SECONDS run_start=$SECONDS
close_step() {
  [ ${#step_names[@]} -gt ${#step_secs[@]} ] && step_secs+=($((SECONDS - step_start)))
  step_start=$SECONDS
}
step() { close_step; step_names+=("$*"); printf '\n==> %s\n' "$*"; }
print_times() {
  close_step
  printf '\nstep times (wall, seconds):\n'
  for i in "${!step_secs[@]}"; do printf '%6d  %s\n' "${step_secs[$i]}" "${step_names[$i]}"; done
  printf '%6d  total\n' $((SECONDS - run_start))
}
trap print_times EXIT

# Build outside the checkout by default, so a fresh clone on the same machine reuses compiled
# dependencies (the AWS SDK crates take minutes to build cold). Override with CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bedrock-meter/target}"

step "python tools (.venv)"
scripts/setup-venv.sh
export PATH="$root/.venv/bin:$PATH"
export MOTO_SERVER="$root/.venv/bin/moto_server"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
test_log=$(mktemp)
cargo test --workspace 2>&1 | tee "$test_log"
grep -q "test result:" "$test_log"

for extra in scripts/test.d/*.sh; do
  [ -e "$extra" ] || continue
  step "$extra"
  bash "$extra"
done

trap - EXIT
print_times
printf '\n==> all checks passed\n'
# One closing line for the whole run: every Rust test (unit, integration, doc) that ran.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
