#!/usr/bin/env bash
# Runs tools/fwota/demo.sh twice on a fresh data directory: the second run must reuse
# what the first created, and both must end with the profile's firmware explained.
set -euo pipefail
demo="$1"
export FWOTA="$PWD/$2"
export DATA_DIR="$TEST_TMPDIR/demo-var"
export TMPDIR="$TEST_TMPDIR"
trap 'rm -rf "$DATA_DIR"' EXIT

first="$("$demo")"
echo "$first"
grep -q "created device profile demo-profile" <<<"$first"
grep -q "access token: " <<<"$first"
grep -q "^source:  profile_default$" <<<"$first"

second="$("$demo")"
echo "$second"
grep -q "reusing device profile demo-profile" <<<"$second"
grep -q "reusing device demo-device" <<<"$second"
grep -q "reusing package demo-firmware 1.0" <<<"$second"
grep -q "^package: demo-firmware 1.0 " <<<"$second"

count="$("$FWOTA" --data_dir="$DATA_DIR" --json package list | /usr/bin/python3 -c \
  'import json, sys; d = json.load(sys.stdin); print(d["totalElements"], d["data"][0]["dataSize"])')"
[ "$count" = "1 1048576" ] || { echo "unexpected packages: $count"; exit 1; }
echo PASS
