#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (SECONDS_PER_TARGET, default 60), seeded with the
# sample records and the regression inputs. A crash leaves its input in fuzz/artifacts/<target>/:
# copy it to fuzz/regressions/<target>/ and `cargo test -p bedrock-meter-core --test fuzz_regressions`
# replays it forever after.
#
#   fuzz/run.sh                      # both targets, 60 s each
#   SECONDS_PER_TARGET=300 fuzz/run.sh record_parser
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain RUSTC_BOOTSTRAP=1 lets it use
# the nightly flags it needs (-Zsanitizer=address).
set -euo pipefail
cd "$(dirname "$0")"
SECS=${SECONDS_PER_TARGET:-60}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(subscription_decoder record_parser)
export RUSTC_BOOTSTRAP=1
status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "regressions/$t"
  seeds=(../shared/tests/fixtures/examples "regressions/$t")
  [ "$t" = subscription_decoder ] && seeds+=(../events)
  echo "== $t for ${SECS}s" >&2
  if ! cargo fuzz run "$t" "corpus/$t" "${seeds[@]}" -- -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
      2>&1 | tail -n 15; then
    status=1
  fi
done
exit $status
