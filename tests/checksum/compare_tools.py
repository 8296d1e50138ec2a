"""Compares checksum_tool with real tools on random files.

Usage (from compare_tools_test.sh): /usr/bin/python3 compare_tools.py TOOL GUAVA_JAVA

For files of sizes 0, 1, 63, 64, 65, 4095, 4096, 4097, 1 MiB + 3 and 5 MiB of random
bytes, checksum_tool's text (one algorithm at a time, and all seven through MultiHasher
with 1 MiB and 4093-byte reads) must equal:
  - `openssl dgst -md5/-sha256/-sha384/-sha512`,
  - Python's zlib.crc32, written little-endian as ThingsBoard (Guava) writes it,
  - Guava's Hashing (all seven, as ThingsBoard calls them), compiled and run here with
    javac/java against /usr/share/java/guava.jar.
"""

import os
import random
import subprocess
import sys
import tempfile
import zlib

ALGORITHMS = ["MD5", "SHA256", "SHA384", "SHA512", "CRC32", "MURMUR3_32", "MURMUR3_128"]
SIZES = [0, 1, 63, 64, 65, 4095, 4096, 4097, (1 << 20) + 3, 5 << 20]
GUAVA_JAR = "/usr/share/java/guava.jar"


def run(argv):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit("FAIL: %s exited %d: %s" % (argv, result.returncode, result.stderr))
    return result.stdout


def main():
    tool, guava_source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    workdir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))

    files = {}
    for size in SIZES:
        path = os.path.join(workdir, "random-%d.bin" % size)
        data = rng.randbytes(size)
        with open(path, "wb") as f:
            f.write(data)
        files[path] = data

    # The peers' answers: openssl, zlib, Guava.
    expected = {path: {} for path in files}
    for path, data in files.items():
        for algorithm in ["MD5", "SHA256", "SHA384", "SHA512"]:
            out = run(["openssl", "dgst", "-" + algorithm.lower(), "-r", path])
            expected[path][("openssl", algorithm)] = out.split()[0]
        crc = zlib.crc32(data)
        expected[path][("zlib", "CRC32")] = crc.to_bytes(4, "little").hex()

    if not os.path.exists(GUAVA_JAR):
        raise SystemExit("FAIL: %s missing (tools/scripts/install-deps.sh installs "
                         "libguava-java)" % GUAVA_JAR)
    classes = os.path.join(workdir, "classes")
    os.mkdir(classes)
    run(["javac", "-nowarn", "-cp", GUAVA_JAR, "-d", classes, guava_source])
    out = run(["java", "-cp", GUAVA_JAR + os.pathsep + classes, "GuavaChecksum"] + list(files))
    for line in out.splitlines():
        fields = line.split()
        path, texts = fields[0], fields[1:]
        assert len(texts) == len(ALGORITHMS), line
        for algorithm, text in zip(ALGORITHMS, texts):
            expected[path][("guava", algorithm)] = text
    for path in files:
        assert len(expected[path]) == 5 + len(ALGORITHMS), expected[path]

    # Ours, three ways.
    failures = []
    checked = 0
    for path in files:
        ours = {}
        for algorithm in ALGORITHMS:
            ours[("single", algorithm)] = run([tool, path, algorithm]).strip()
        for label, extra in [("multi", []), ("multi-4093", ["--chunk=4093"])]:
            lines = run([tool, path] + ALGORITHMS + extra).split()
            for algorithm, text in zip(ALGORITHMS, lines):
                ours[(label, algorithm)] = text
        for (peer, algorithm), theirs in sorted(expected[path].items()):
            for way in ["single", "multi", "multi-4093"]:
                checked += 1
                mine = ours.get((way, algorithm))
                if mine != theirs:
                    failures.append("%s (%d bytes) %s: checksum_tool[%s]=%s %s=%s" % (
                        os.path.basename(path), len(files[path]), algorithm, way, mine,
                        peer, theirs))

    for failure in failures:
        print("MISMATCH", failure)
    print("%d comparisons over %d files, %d mismatches" % (checked, len(files), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
