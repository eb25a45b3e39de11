#!/usr/bin/env bash
# The SIMD scans (shared/src/records/simd.rs: NEON on aarch64, the Lambda's architecture) tested on aarch64
# under qemu user-mode emulation: only the core crate's scan unit tests (simd, scan, subscription,
# record), built without the AWS adapters (`--no-default-features`), so it adds about a minute cold and
# seconds warm. qemu proves correctness only; its timings mean nothing.
#
# Installs what it needs when missing: qemu-user and the aarch64 cross gcc (apt-get), the aarch64 Rust
# standard library (rustup). Set SKIP_AARCH64_TESTS=1 to leave it out.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${SKIP_AARCH64_TESTS:-0}" = "1" ]; then
  echo "aarch64 scan tests: skipped (SKIP_AARCH64_TESTS=1)"
  exit 0
fi

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
log=$(mktemp)
# REQUIRE_PMULL: the emulated CPU must offer PMULL, so the PMULL path (the one Graviton runs) is tested.
REQUIRE_PMULL=1 cargo test --target aarch64-unknown-linux-gnu -p bedrock-meter-core --no-default-features --lib \
  -- simd:: scan:: subscription:: record:: fast:: 2>&1 | tee "$log"
# The NEON paths must actually have run (not been filtered out).
grep -q "simd::tests::native_classification_equals_byte_at_a_time ... ok" "$log"
grep -q "simd::tests::neon_pmull_classification_equals_byte_at_a_time ... ok" "$log"
grep -q "subscription::payload::tests::message_ends_found_by_block_masks_equal_a_byte_by_byte_scan ... ok" "$log"
grep -q "^test result: ok" "$log"
