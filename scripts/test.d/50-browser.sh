#!/usr/bin/env bash
# The HTML day report in a real browser (cli/tests/report_html.rs, the Chromium test): headless
# Chromium from Debian's packages renders `bedrock-meter report --format html` of the demo day; the
# test checks the DOM kept the SVG charts, and that screenshots at 1280 px and at a phone's 390 px are
# not blank and show the charts' colours. Installs the `chromium` package when it is missing (guarded,
# idempotent: nothing is done when it is already there). Where it cannot be installed (no apt-get, not
# root, no package mirror), the check is skipped with a message that says why.
set -euo pipefail
cd "$(dirname "$0")/../.."

skip() {
  echo "SKIPPED the browser check: $*"
  exit 0
}

if ! command -v chromium >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || skip "no chromium on PATH and no apt-get to install Debian's chromium package"
  if [ "$(id -u)" = 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    skip "no chromium on PATH, and installing it needs root (apt-get install chromium)"
  fi
  echo "installing chromium (Debian package) for the browser check"
  log=$(mktemp)
  if ! { "${as_root[@]}" apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
    tail -5 "$log"
    skip "apt-get could not install chromium (log above)"
  fi
  command -v chromium >/dev/null 2>&1 || skip "chromium was installed but is not on PATH"
fi
echo "using $(chromium --version 2>/dev/null | head -1)"

# With Chromium present, a missing browser is a failure, not a skip.
BEDROCK_METER_REQUIRE_CHROMIUM=1 cargo test --quiet -p bedrock-meter --test report_html \
  the_page_renders_in_headless_chromium -- --nocapture
