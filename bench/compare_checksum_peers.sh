#!/usr/bin/env bash
# Checksum throughput beside its peers, on the same machine in the same run:
#   ours            bench/checksum_bench (bazel -c opt): Hasher/*, Crc32Kernel/*, Multi/*
#   OpenSSL         openssl speed -evp md5/sha256/sha384/sha512 -bytes N -seconds S
#   ISA-L, zlib     bench/crc32_peers_bench: crc32_gzip_refl and crc32_z
#   Guava (Java 17) bench/GuavaChecksumBench.java, compiled here against guava.jar
# at 1 MiB and 64 MiB buffers. The rounds are interleaved (ours, OpenSSL, ISA-L/zlib,
# Guava, then again) and each figure is the best of the rounds, because on a small
# shared machine other work only ever slows a measurement down.
#
# Usage: bench/compare_checksum_peers.sh [SECONDS_PER_MEASUREMENT=1] [ROUNDS=3]
# (about 3 minutes per round at 1 second per measurement)
# Prints a Markdown table of GB/s (10^9 bytes/s) and our/peer ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-1}"  # a whole number: openssl speed takes no fractions
ROUNDS="${2:-3}"
case "$SECONDS_EACH$ROUNDS" in
  *[!0-9]*) echo "usage: $0 [WHOLE_SECONDS] [ROUNDS]" >&2; exit 2 ;;
esac
GUAVA_JAR=/usr/share/java/guava.jar
PYTHON=/usr/bin/python3  # Debian's; the first python3 on PATH may be another one

for tool in openssl javac java "$PYTHON"; do
  command -v "$tool" >/dev/null || { echo "missing $tool (tools/scripts/install-deps.sh)" >&2; exit 1; }
done
[ -f "$GUAVA_JAR" ] || { echo "missing $GUAVA_JAR (libguava-java)" >&2; exit 1; }

bazel build -c opt //bench:checksum_bench //bench:crc32_peers_bench
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)/bench"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
javac -nowarn -cp "$GUAVA_JAR" -d "$work" bench/GuavaChecksumBench.java

echo "# $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# $(openssl version); $(java -version 2>&1 | head -1); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS ..." >&2
  "$BIN/checksum_bench" --benchmark_filter='^(Hasher|Crc32Kernel|Multi)/' \
    --benchmark_min_time="$SECONDS_EACH" --benchmark_format=json \
    --benchmark_out="$work/ours.$round.json" --benchmark_out_format=json >/dev/null 2>&1
  for alg in md5 sha256 sha384 sha512; do
    for bytes in 1048576 67108864; do
      rate=$(openssl speed -evp "$alg" -bytes "$bytes" -seconds "$SECONDS_EACH" -mr 2>/dev/null |
        awk -F: '/^\+F:/ {print $NF}')
      echo "openssl_$alg $bytes $rate" >>"$work/peers.txt"
    done
  done
  "$BIN/crc32_peers_bench" "$SECONDS_EACH" | grep -v '^#' |
    awk '{printf "%s %s %.0f\n", $1, $2, $3 * 1e9}' >>"$work/peers.txt"
  java -cp "$GUAVA_JAR:$work" GuavaChecksumBench "$SECONDS_EACH" |
    awk '{printf "%s %s %.0f\n", $1, $2, $3 * 1e9}' >>"$work/peers.txt"
done
"$BIN/crc32_peers_bench" 0.1 | grep '^#' || true
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "$work" "$ROUNDS" <<'EOF'
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
best = {}  # (name, bytes) -> bytes/s, best over rounds

def keep(name, size, rate):
    best[(name, size)] = max(best.get((name, size), 0.0), rate)

for r in range(1, rounds + 1):
    for b in json.load(open("%s/ours.%d.json" % (work, r)))["benchmarks"]:
        if "bytes_per_second" not in b:
            continue
        parts = b["name"].replace("/real_time", "").split("/")
        size = {"1MiB": 1 << 20, "64MiB": 64 << 20}[parts[-1]]
        keep("/".join(parts[:-1]), size, b["bytes_per_second"])
for line in open(work + "/peers.txt"):
    name, size, rate = line.split()
    if rate:
        keep(name, int(size), float(rate))

def gb(name, size):
    rate = best.get((name, size))
    return "%.2f" % (rate / 1e9) if rate else "n/a"

def ratio(a, b, size):
    ra, rb = best.get((a, size)), best.get((b, size))
    return "%.2f" % (ra / rb) if ra and rb else "n/a"

rows = [
    ("MD5", "Hasher/MD5", [("OpenSSL", "openssl_md5"), ("Guava", "guava_md5")], "within 5% of OpenSSL"),
    ("SHA256", "Hasher/SHA256", [("OpenSSL", "openssl_sha256"), ("Guava", "guava_sha256")], "within 5% of OpenSSL"),
    ("SHA384", "Hasher/SHA384", [("OpenSSL", "openssl_sha384"), ("Guava", "guava_sha384")], "within 5% of OpenSSL"),
    ("SHA512", "Hasher/SHA512", [("OpenSSL", "openssl_sha512"), ("Guava", "guava_sha512")], "within 5% of OpenSSL"),
    ("CRC32", "Hasher/CRC32", [("ISA-L", "isal_crc32_gzip_refl"), ("zlib", "zlib_crc32"), ("Guava", "guava_crc32")], ">= 8 GB/s"),
    ("MURMUR3_32", "Hasher/MURMUR3_32", [("Guava", "guava_murmur3_32")], ">= 2.5 GB/s"),
    ("MURMUR3_128", "Hasher/MURMUR3_128", [("Guava", "guava_murmur3_128")], ">= 5 GB/s"),
]

def met(target, ours, first_peer, size):
    rate = best.get((ours, size))
    if rate is None:
        return "n/a"
    if target.startswith(">="):
        return "yes" if rate / 1e9 >= float(target.split()[1]) else "NO"
    peer = best.get((first_peer, size))
    return ("yes" if rate >= 0.95 * peer else "NO") if peer else "n/a"

print()
print("| algorithm | buffer | ours GB/s | peer | peer GB/s | ours/peer | target | met |")
print("|---|---|---|---|---|---|---|---|")
for size, label in [(1 << 20, "1 MiB"), (64 << 20, "64 MiB")]:
    for alg, ours, peers, target in rows:
        for i, (peer_label, peer) in enumerate(peers):
            first = i == 0
            print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                alg if first else "", label if first else "", gb(ours, size) if first else "",
                peer_label, gb(peer, size), ratio(ours, peer, size),
                target if first else "", met(target, ours, peers[0][1], size) if first else ""))

print()
print("| CRC32 kernel | 1 MiB GB/s | 64 MiB GB/s |")
print("|---|---|---|")
for kernel in ["zlib", "pclmul128", "vpclmul256", "vpclmul512"]:
    print("| %s | %s | %s |" % (kernel, gb("Crc32Kernel/" + kernel, 1 << 20),
                                gb("Crc32Kernel/" + kernel, 64 << 20)))

print()
print("| MultiHasher (1 MiB updates) | buffer | 1 thread GB/s | pool GB/s | pool/1 thread |")
print("|---|---|---|---|---|")
for size, label in [(1 << 20, "1 MiB"), (64 << 20, "64 MiB")]:
    for combo in ["SHA256+MD5", "SHA256+CRC32", "SHA256+SHA512", "SHA256+MURMUR3_128", "ALL7"]:
        one, pool = "Multi/%s/1thread" % combo, "Multi/%s/pool" % combo
        print("| %s | %s | %s | %s | %s |" % (combo, label, gb(one, size), gb(pool, size),
                                             ratio(pool, one, size)))
EOF
