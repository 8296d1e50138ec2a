#!/bin/sh
# Runs compare_tools.py under Debian's python3 (the first python3 on PATH may be another
# one). Arguments: the checksum_tool binary and GuavaChecksum.java.
set -eu
exec /usr/bin/python3 "$(dirname "$0")/compare_tools.py" "$@"
