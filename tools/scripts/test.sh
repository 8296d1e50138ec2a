#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite.
# Prints Bazel's summary and a last line "N passed, M failed" (test cases, from the
# JUnit XML that every test writes).
set -uo pipefail
cd "$(dirname "$0")/../.."

bash tools/scripts/install-deps.sh || exit 1

# 2 cores: two jobs; every test is hermetic (temporary dirs, port 0).
bazel test //... --jobs=2 --local_test_jobs=2 "$@" 2>&1 | tee /tmp/fwota-test.log
status=${PIPESTATUS[0]}

bazel query 'tests(//...)' 2>/dev/null > /tmp/fwota-tests.txt
/usr/bin/python3 - "$(bazel info bazel-testlogs 2>/dev/null)" /tmp/fwota-tests.txt <<'PY'
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
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
PY
exit $status
