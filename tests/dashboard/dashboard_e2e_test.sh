#!/usr/bin/env bash
# The dashboard's end-to-end test (dashboard_e2e.js) in Debian's headless Chromium.
# Usage: dashboard_e2e_test.sh FWOTAD
#   under Bazel: bazel test //tests/dashboard:dashboard_e2e_test
#   by hand, from the top of the repository:
#     bash tests/dashboard/dashboard_e2e_test.sh bazel-bin/tools/fwotad/fwotad
# Needs node, /usr/bin/chromium and tests/dashboard/node_modules (npm ci); all three come
# from tools/scripts/install-deps.sh. A missing one fails the test: it is never skipped.
set -euo pipefail

fail() {
  echo "dashboard_e2e_test: FAIL: $*" >&2
  exit 1
}

[ $# -ge 1 ] || fail "usage: $0 FWOTAD"
fwotad=$(readlink -f "$1")
[ -x "$fwotad" ] || fail "no fwotad binary at $1"

# node_modules is not a Bazel input: it sits beside package.json in the source tree.
# Under Bazel package.json is a runfile, a symlink into the source tree, so its real path
# leads there; by hand it is this script's folder.
if [ -e tests/dashboard/package.json ]; then
  package_json=tests/dashboard/package.json
else
  package_json=$(dirname "${BASH_SOURCE[0]}")/package.json
fi
dir=$(dirname "$(readlink -f "$package_json")")
modules=$dir/node_modules
install_hint="run 'bash tools/scripts/install-deps.sh' (as root) from the top of the repository"

command -v node >/dev/null 2>&1 || fail "node is not installed: $install_hint"
chromium=${FWOTA_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || fail "$chromium is missing (Debian's package chromium): $install_hint"
[ -f "$modules/playwright-core/package.json" ] ||
  fail "$modules/playwright-core is missing (npm ci in tests/dashboard): $install_hint"
wanted=$(node -p "require('$dir/package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "require('$modules/playwright-core/package.json').version")
[ "$wanted" = "$have" ] ||
  fail "$modules has playwright-core $have, the lock file wants $wanted: $install_hint"

# Chromium needs a writable HOME, and a short TMPDIR: its profile (made there by
# playwright) holds a Unix socket, and Bazel's TEST_TMPDIR is longer than a socket path
# may be (108 bytes).
short_tmp=$(mktemp -d /tmp/fwota-e2e.XXXXXX)
if [ -n "${TEST_TMPDIR:-}" ]; then
  tmp=$TEST_TMPDIR
else
  tmp=$short_tmp/test  # by hand: everything goes with the short directory
fi
trap 'rm -rf "$short_tmp"' EXIT
mkdir -p "$tmp/home"
# Screenshots: Bazel's undeclared outputs (outputs.zip), by hand a fixed folder.
out=${TEST_UNDECLARED_OUTPUTS_DIR:-/tmp/fwota-dashboard-e2e}
mkdir -p "$out"

export FWOTAD=$fwotad FWOTA_NODE_MODULES=$modules FWOTA_CHROMIUM=$chromium TEST_TMPDIR=$tmp
export FWOTA_E2E_OUT=$out
export HOME=$tmp/home TMPDIR=$short_tmp XDG_CONFIG_HOME=$tmp/home/.config XDG_CACHE_HOME=$tmp/home/.cache
node "$dir/dashboard_e2e.js"
