#!/usr/bin/env bash
# Cross-compiles every Lambda for arm64 (Graviton) exactly as `sam build` does for
# `BuildMethod: rust-cargolambda` (`cargo lambda build --release --arm64 --bin <Binary>` at the workspace
# root, zig as the linker; here all three binaries in one cargo run, so the dependencies are built once, and
# with the same feature resolution as sam's one-binary runs: the root's default-members, checked by
# 25-lambda-features.sh, so a `sam build` after this step reuses every dependency), and checks that each `bootstrap` is an aarch64 ELF
# executable, stripped (no symbol table, no DWARF: Cargo.toml's release profile), and at most
# MAX_BOOTSTRAP_BYTES. It prints each bootstrap's size and its zip's (deflate, as `sam package` zips).
# Cold, it took ~5 min on 2 quiet cores with line tables (not re-timed stripped); SKIP_ARM64_BUILD=1 skips it.
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
  args+=(--bin "$2")
done

# The size bound: stripped, the bootstraps are 13-16 MB (BENCHMARKS.md "Lambda packages"); with DWARF line
# tables they were 70-86 MB. 24 MiB leaves half as much again for growth and still fails a package that
# lost its stripping. (Lambda's own limits: 50 MB zipped direct upload, 250 MB unzipped.)
max=${MAX_BOOTSTRAP_BYTES:-$((24 * 1024 * 1024))}

out="${CARGO_TARGET_DIR:-$root/target}/lambda"
# `sam build` passes --release (aws-lambda-builders' rust_cargo workflow), and cargo-lambda refuses
# --release together with --profile: so the package settings live in [profile.release] itself.
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
  size=$(stat -c %s "$bin")
  if [ "$size" -gt "$max" ]; then
    echo "$bin is $size bytes, above the bound of $max (stripped packages are 13-16 MB)" >&2
    fail=1
  fi
  # Section names: a stripped executable has no .symtab and no DWARF (.debug_info, .debug_line, ...);
  # rustc's allocated .debug_gdb_scripts stays.
  sections=$(python3 - "$bin" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
shoff, = struct.unpack_from("<Q", d, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
def sh(i):
    return struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize)
stroff = sh(shstrndx)[4]
for i in range(shnum):
    name = sh(i)[0]
    print(d[stroff + name:d.index(b"\0", stroff + name)].decode())
PY
)
  if grep -qE '^(\.symtab|\.debug_(info|line|line_str|str|abbrev|aranges|ranges|rnglists|loc|loclists))$' <<<"$sections"; then
    echo "$bin is not stripped: $(grep -E '^(\.symtab|\.debug_(info|line|line_str|str|abbrev|aranges|ranges|rnglists|loc|loclists))$' <<<"$sections" | tr '\n' ' ')" >&2
    fail=1
  fi
  zipped=$(python3 -c 'import io, sys, zipfile
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(sys.argv[1], "bootstrap")
print(len(b.getvalue()))' "$bin")
  echo "ok: $bin ($size bytes, zip $zipped bytes, aarch64, stripped)"
done
exit $fail
