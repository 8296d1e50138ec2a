#!/usr/bin/env bash
# Builds the libFuzzer targets (bazel --config=fuzz: clang, ASan, UBSan) and runs each for
# a bounded time, starting from its seed corpus in tests/fuzz/corpus/<target>/ (never
# written to: new inputs go to a scratch directory). Exits non-zero when a target does
# not build, crashes, leaks, breaks one of its invariants or hangs; the input that did it
# is kept under $FUZZ_OUT/<target>/ and named in the output.
#
# Usage: tests/fuzz/run_fuzzers.sh [seconds per target, default 45] [target ...]
# Prints one line per target: runs, coverage (libFuzzer's cov: and ft:), corpus size.
set -uo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_TARGET="${1:-45}"
shift || true
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
  TARGETS=(http_request_fuzzer multipart_fuzzer json_request_fuzzer mqtt_mapping_fuzzer
           coap_mapping_fuzzer device_payloads_fuzzer checksum_text_fuzzer config_fuzzer)
fi
FUZZ_OUT="${FUZZ_OUT:-/tmp/fwota-fuzz}"

labels=()
for t in "${TARGETS[@]}"; do labels+=("//tests/fuzz:$t"); done
bazel build --config=fuzz --jobs=2 "${labels[@]}" || { echo "fuzz: build failed"; exit 1; }
bin="$(bazel info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz"

failed=0
for t in "${TARGETS[@]}"; do
  out="$FUZZ_OUT/$t"
  rm -rf "$out"
  mkdir -p "$out/corpus"
  # -timeout: one input taking longer is a hang; -rss_limit_mb: a memory blow-up.
  "$bin/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/" \
      "$out/corpus" "tests/fuzz/corpus/$t" >"$out/log" 2>&1
  code=$?
  stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$out/log" | tail -1)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
  cov=$(echo "$stats" | grep -o 'cov: [0-9]*' | head -1)
  ft=$(echo "$stats" | grep -o 'ft: [0-9]*' | head -1)
  corp=$(echo "$stats" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' | head -1)
  if [ $code -eq 0 ]; then
    printf 'fuzz: %-24s ok     %s runs in %ss, %s, %s, %s\n' "$t" "${runs:-?}" \
        "$SECONDS_PER_TARGET" "$cov" "$ft" "$corp"
  else
    failed=$((failed + 1))
    artifact=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null | head -1)
    printf 'fuzz: %-24s FAILED (exit %d) input: %s\n' "$t" "$code" "${artifact:-none}"
    grep -E 'ERROR|invariant failed|runtime error|SUMMARY' "$out/log" | head -5
  fi
done
echo "fuzz: ${#TARGETS[@]} targets, $failed failed"
[ $failed -eq 0 ]
