#!/usr/bin/env bash
# Creates (or refreshes) .venv with everything the tests need. Idempotent: re-runs in seconds.
#
# The venv itself lives at a stable path outside the checkout, keyed by the Python version and the
# requirements' hash: ${XDG_CACHE_HOME:-$HOME/.cache}/bedrock-meter/venv-py<X.Y>-<hash>; .venv is a symlink to
# it. Why: cargo-lambda (cargo-zigbuild) writes its zig linker wrappers under a directory named after a
# hash of the cargo-lambda executable's path (~/.cache/cargo-zigbuild/<ver>/wrappers/<hash>/), and that
# path reaches every aarch64 crate's fingerprint (CARGO_TARGET_<T>_LINKER, and CC_/AR_<target> in the
# build scripts' rerun-if-env-changed). With a venv inside each clone, every clone at a new path rebuilt
# all the aarch64 dependencies even in a warm target directory. Clones now share one venv, so one
# cargo-lambda path and one build.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/requirements-test.txt
hash=$(sha256sum "$req" | cut -c1-16)
py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bedrock-meter"
venv="$cache/venv-py$py-$hash"
stamp="$venv/.installed-$hash"

if [ ! -f "$stamp" ]; then
  mkdir -p "$cache"
  # Two clones setting up at once share the one venv: install under a lock, and check again inside it.
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$stamp" ]; then
    # --clear: a venv left by an install that did not finish (no stamp) starts over, not from its pieces.
    python3 -m venv --clear "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    touch "$stamp"
  fi
  flock -u 9
  exec 9>&-
fi

# .venv -> the shared venv. A .venv directory from before this layout (or a link to another requirements
# hash) is replaced.
# The link is swapped in by a rename (atomic), so a run in progress never sees .venv missing; an old directory
# is moved aside first and removed after (a process still running from it keeps its open files).
if [ "$(readlink .venv 2>/dev/null)" != "$venv" ]; then
  old=
  if [ -d .venv ] && [ ! -L .venv ]; then
    old=".venv.replaced.$$"
    mv .venv "$old"
  fi
  ln -sfn "$venv" ".venv.tmp.$$"
  mv -Tf ".venv.tmp.$$" .venv
  [ -z "$old" ] || rm -rf "$old"
fi
