#!/usr/bin/env bash
# Cross-compiles every Lambda for arm64 (Graviton) exactly as `sam build` does for
# `BuildMethod: rust-cargolambda` (cargo-lambda + zig as the linker), and checks that each `bootstrap`
# is an aarch64 ELF executable. Cold, this takes ~5 min on 2 cores; SKIP_ARM64_BUILD=1 leaves it out.
#
# Installs what it needs: the aarch64 Rust standard library (rustup) and cargo-lambda + zig (PyPI, into
# .venv via scripts/setup-venv.sh). Set CARGO_TARGET_DIR to build away from a target dir others are using.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

if [ "${SKIP_ARM64_BUILD:-0}" = "1" ]; then
  echo "arm64 build: skipped (SKIP_ARM64_BUILD=1)"
  exit 0
fi

[ -x .venv/bin/cargo-lambda ] || scripts/setup-venv.sh
export PATH="$root/.venv/bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda missing from .venv" >&2; exit 1; }
python3 -c 'import ziglang' 2>/dev/null || .venv/bin/python3 -c 'import ziglang' || { echo "ziglang missing from .venv" >&2; exit 1; }

if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi

# The functions the template deploys: <cargo package> <binary>.
functions=(
  "bedrock-meter-ingest ingest"
  "bedrock-meter-rollup rollup"
  "bedrock-meter-logging-config logging-config"
)
args=()
for f in "${functions[@]}"; do
  set -- $f
  args+=(--package "$1")
done

out="${CARGO_TARGET_DIR:-$root/target}/lambda"
cargo lambda build --release --arm64 "${args[@]}"

fail=0
for f in "${functions[@]}"; do
  set -- $f
  bin="$out/$2/bootstrap"
  if [ ! -f "$bin" ]; then
    echo "missing $bin" >&2
    fail=1
    continue
  fi
  # ELF magic, 64-bit class (byte 4 = 2), e_machine (bytes 18-19, little endian) = 0xB7 = EM_AARCH64.
  magic=$(od -An -tx1 -N4 "$bin" | tr -d ' \n')
  class=$(od -An -tu1 -j4 -N1 "$bin" | tr -d ' \n')
  machine=$(od -An -tu2 -j18 -N2 "$bin" | tr -d ' \n')
  if [ "$magic" != "7f454c46" ] || [ "$class" != "2" ] || [ "$machine" != "183" ]; then
    echo "$bin is not an aarch64 ELF64 executable (magic=$magic class=$class machine=$machine)" >&2
    fail=1
    continue
  fi
  echo "ok: $bin ($(du -h "$bin" | cut -f1), aarch64)"
done
exit $fail
