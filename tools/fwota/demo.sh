#!/usr/bin/env bash
# The fwota command line in one minute: on the data directory ./var (or $DATA_DIR) it
# creates a device profile, a device and a 1 MiB firmware package of random bytes,
# assigns the package to the profile and asks which firmware the device gets and why.
# Idempotent: what exists already (same names) is reused.
#
#   tools/fwota/demo.sh                       # builds //tools/fwota with Bazel first
#   FWOTA=/path/to/fwota DATA_DIR=/tmp/d tools/fwota/demo.sh
set -euo pipefail

DATA_DIR="${DATA_DIR:-./var}"
case "$DATA_DIR" in /*) ;; *) DATA_DIR="$PWD/$DATA_DIR" ;; esac

if [ -z "${FWOTA:-}" ]; then
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  (cd "$repo" && bazel build //tools/fwota >&2)
  FWOTA="$(cd "$repo" && bazel info bazel-bin 2>/dev/null)/tools/fwota/fwota"
fi

fw() { "$FWOTA" --data_dir="$DATA_DIR" "$@"; }

# Exit code 3 is "not found"; anything else stops the demo.
exists() {
  local rc=0
  fw "$@" >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 0 ] && return 0
  [ "$rc" -eq 3 ] && return 1
  fw "$@" >/dev/null  # show the error
  exit "$rc"
}

echo "== data directory: $DATA_DIR"
if exists profile get demo-profile; then
  echo "== reusing device profile demo-profile"
else
  fw profile create --name=demo-profile --description="fwota demo devices"
fi

if exists device get demo-device; then
  echo "== reusing device demo-device"
else
  fw device create --name=demo-device --profile=demo-profile
fi

if exists package get demo-firmware@1.0; then
  echo "== reusing package demo-firmware 1.0"
else
  image="$(mktemp "${TMPDIR:-/tmp}/fwota-demo.XXXXXX")"
  trap 'rm -f "$image"' EXIT
  head -c 1048576 /dev/urandom >"$image"
  echo "== uploading 1 MiB, SHA256 $(fw checksum "$image")"
  fw package create --title=demo-firmware --version=1.0 --type=FIRMWARE \
    --profile=demo-profile --file="$image" --file_name=demo-firmware-1.0.bin \
    --description="1 MiB of random bytes"
fi

fw assign --package=demo-firmware@1.0 --profile=demo-profile
echo "== which firmware does demo-device get, and why?"
fw explain --device=demo-device
