#!/usr/bin/env bash
# Peak resident memory of a 2 GiB upload through the fwota CLI (embedded mode), measured
# with /usr/bin/time -v. Target: under 64 MiB.
#
#   bash bench/upload_memory.sh [SIZE_MIB]     (default 2048)
#
# Needs about 2 x SIZE of free disk under ${FWOTA_BENCH_DIR:-/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-2048}
work=$(mktemp -d "${FWOTA_BENCH_DIR:-/tmp}/fwota-mem.XXXXXX")
trap 'rm -rf "$work"' EXIT

bazel build -c opt //tools/fwota >/dev/null 2>&1
fwota=bazel-bin/tools/fwota/fwota

echo "writing a ${size_mib} MiB file of random bytes..."
head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/image.bin"

"$fwota" --data_dir="$work/data" profile create --name=bench >/dev/null
/usr/bin/time -v "$fwota" --data_dir="$work/data" package create --title=big --version=1 \
  --type=FIRMWARE --profile=bench --file="$work/image.bin" 2> "$work/time.txt" >/dev/null
rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
echo "upload of ${size_mib} MiB: peak RSS ${rss_kib} KiB ($((rss_kib / 1024)) MiB), wall ${wall}"
"$fwota" --data_dir="$work/data" package list --json | /usr/bin/python3 -c '
import json, sys
page = json.load(sys.stdin)
p = page["data"][0]
print("stored: dataSize", p["dataSize"], p["checksumAlgorithm"], p["checksum"])'
echo "sha256 of the source: $(sha256sum "$work/image.bin" | cut -d" " -f1)"
if [ "$rss_kib" -lt $((64 * 1024)) ]; then
  echo "PASS: peak RSS under 64 MiB"
else
  echo "FAIL: peak RSS ${rss_kib} KiB is over 64 MiB"
  exit 1
fi
