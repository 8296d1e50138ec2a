#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite four ways:
#   1. the normal build (bazel test //...);
#   2. the same suite under AddressSanitizer + UBSan (--config=asan: every C++ test, and
#      the end-to-end tests drive the sanitizer build of fwotad and fwota);
#   3. the concurrency-heavy tests (service, stores, adapters, updates) under
#      ThreadSanitizer (--config=tsan, with the instrumented Abseil, protobuf and Paho MQTT
#      C++ that tools/scripts/build-tsan-libs.sh builds once from Debian's sources);
#   4. every libFuzzer target for FWOTA_FUZZ_SECONDS (default 30) seconds each
#      (tests/fuzz/run_fuzzers.sh, clang --config=fuzz).
# Prints Bazel's summaries and a last line "N passed, M failed" over all of them (test
# cases from the JUnit XML every test writes; one case per fuzz target).
# FWOTA_SANITIZERS=0 runs only the first part.
set -uo pipefail
cd "$(dirname "$0")/../.."

bash tools/scripts/install-deps.sh || exit 1

LOG=/tmp/fwota-test.log
: >"$LOG"
status=0
counts=()

# Counts the test cases of one run from its test.xml files: prints "passed failed skipped".
# Arguments: the testlogs directory, then the run's target patterns (default //...), so
# that only the tests that ran are counted.
count_cases() {
  local testlogs="$1"
  shift
  local patterns="${*:-//...}"
  bazel query "tests(${patterns// / + })" 2>/dev/null > /tmp/fwota-tests.txt
  /usr/bin/python3 - "$testlogs" /tmp/fwota-tests.txt <<'PY'
import os, sys
import xml.etree.ElementTree as ET
root = sys.argv[1]
passed = failed = skipped = 0
for label in open(sys.argv[2]).read().split():
    package, name = label.lstrip("/").split(":")
    path = os.path.join(root, package, name, "test.xml")
    try:
        tree = ET.parse(path)
    except (ET.ParseError, OSError):
        failed += 1  # no result: it did not build or did not run
        continue
    cases = tree.getroot().iter("testcase")
    found = False
    for case in cases:
        found = True
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.get("status") == "notrun" or case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    if not found:
        # A test binary that wrote no test cases counts by its own result.
        suites = tree.getroot()
        if int(suites.get("failures", "0")) or int(suites.get("errors", "0")):
            failed += 1
        else:
            passed += 1
print(passed, failed, skipped)
PY
}

run_suite() {  # name, bazel flags... [-- target patterns; default //...]
  local name="$1"
  shift
  local flags=() targets=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do flags+=("$1"); shift; done
  [ $# -eq 0 ] || shift
  targets=("$@")
  [ ${#targets[@]} -gt 0 ] || targets=(//...)
  echo "==== $name: bazel test ${flags[*]} ${targets[*]}" | tee -a "$LOG"
  local start=$SECONDS
  # 2 cores: two jobs; every test is hermetic (temporary dirs, port 0).
  bazel test --jobs=2 --local_test_jobs=2 "${flags[@]}" -- "${targets[@]}" 2>&1 | tee -a "$LOG"
  local code=${PIPESTATUS[0]}
  [ "$code" -eq 0 ] || status=$code
  counts+=("$(count_cases "$(bazel info "${flags[@]}" bazel-testlogs 2>/dev/null)" "${targets[@]}")")
  echo "==== $name: $((SECONDS - start)) s" | tee -a "$LOG"
}

run_suite normal
if [ "${FWOTA_SANITIZERS:-1}" != 0 ]; then
  run_suite asan --config=asan
  echo "==== tsan-libs: tools/scripts/build-tsan-libs.sh" | tee -a "$LOG"
  start=$SECONDS
  if bash tools/scripts/build-tsan-libs.sh 2>&1 | tee -a "$LOG"; then  # pipefail: its status
    echo "==== tsan-libs: $((SECONDS - start)) s" | tee -a "$LOG"
    run_suite tsan --config=tsan -- \
      //tests/service/... //tests/store/... //tests/adapters/... //tests/updates/...
  else
    # Without the instrumented libraries the TSan run is meaningless: count it failed.
    status=1
    counts+=("0 1 0")
  fi
  echo "==== fuzz: tests/fuzz/run_fuzzers.sh ${FWOTA_FUZZ_SECONDS:-30}" | tee -a "$LOG"
  start=$SECONDS
  bash tests/fuzz/run_fuzzers.sh "${FWOTA_FUZZ_SECONDS:-30}" 2>&1 | tee /tmp/fwota-fuzz.log |
      grep -E '^fuzz:|invariant|runtime error|ERROR' | tee -a "$LOG"
  code=${PIPESTATUS[0]}
  [ "$code" -eq 0 ] || status=$code
  ok=$(grep -cE '^fuzz: .* ok ' /tmp/fwota-fuzz.log)
  bad=$(grep -cE '^fuzz: .* FAILED' /tmp/fwota-fuzz.log)
  [ "$code" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1  # it did not even build
  counts+=("$ok $bad 0")
  echo "==== fuzz: $((SECONDS - start)) s" | tee -a "$LOG"
fi

passed=0 failed=0 skipped=0
for c in "${counts[@]}"; do
  read -r p f s <<<"$c"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
line="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || line+=", $skipped skipped"
echo "$line"
exit $status
