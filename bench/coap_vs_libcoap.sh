#!/usr/bin/env bash
# fwotad's CoAP adapter against libcoap's own example server (coap-server-notls, the
# image PUT into it, so it serves the bytes from memory), on loopback in one run:
#   - coap-client-notls fetching a 1 MiB image block-wise with 1024-byte blocks (and 512),
#     alternating between the two servers, RUNS times each; prints the median times and
#     the ratio libcoap/fwotad (1.0: as fast; above: fwotad faster)
#   - concurrent block-wise transfers: N coap-clients fetching the image from fwotad at
#     once (N = 1, 8, 32, 64), every copy SHA-256 checked; prints the wall time and the
#     blocks served per second (and the same against libcoap's server for reference).
#
#   bash bench/coap_vs_libcoap.sh [RUNS]     (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
source bench/lib.sh

for tool in coap-client-notls coap-server-notls; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run tools/scripts/install-deps.sh" >&2; exit 1; }
done
bench_setup coap //tools/fwotad //tools/fwota
fwotad=$bin/tools/fwotad/fwotad
fwota=$bin/tools/fwota/fwota

head -c $((1024 * 1024)) /dev/urandom > "$work/image.bin"
"$fwota" --data_dir="$work/data" profile create --name=bench >/dev/null
token=$("$fwota" --data_dir="$work/data" --json device create --name=bench --profile=bench |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["credentials"]["credentialsId"])')
pkg=$("$fwota" --data_dir="$work/data" --json package create --title=bench --version=1 \
  --type=FIRMWARE --profile=bench --file="$work/image.bin" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"]["id"])')
"$fwota" --data_dir="$work/data" assign --package="$pkg" --profile=bench >/dev/null

cport=$(free_udp_port)
"$fwotad" --data_dir="$work/data" --http_port=0 --coap_port="$cport" ${FWOTAD_FLAGS:-} 2>"$work/fwotad.log" &
pids+=($!)
sport=$(free_udp_port)
# -d 10: clients may create up to 10 resources with PUT; the image becomes one of them.
coap-server-notls -A 127.0.0.1 -p "$sport" -d 10 2>"$work/coap-server.log" &
pids+=($!)
for _ in $(seq 100); do
  grep -q "CoAP listening" "$work/fwotad.log" && break
  sleep 0.1
done
sleep 0.3
coap-client-notls -m put -b 1024 -f "$work/image.bin" "coap://127.0.0.1:$sport/image"

FWOTAD_URI="coap://127.0.0.1:$cport/fw/$token?title=bench&version=1" \
LIBCOAP_URI="coap://127.0.0.1:$sport/image" \
IMAGE="$work/image.bin" WORK="$work" RUNS="$runs" /usr/bin/python3 - <<'PY'
import hashlib, os, statistics, subprocess, time

fw, ref, work, runs = os.environ["FWOTAD_URI"], os.environ["LIBCOAP_URI"], os.environ["WORK"], int(os.environ["RUNS"])
want = hashlib.sha256(open(os.environ["IMAGE"], "rb").read()).hexdigest()

def fetch(uri, block, out):
    subprocess.run(["coap-client-notls", "-B", "30", "-b", str(block), "-m", "get", "-o", out, uri],
                   check=True, capture_output=True)
    got = hashlib.sha256(open(out, "rb").read()).hexdigest()
    os.remove(out)
    if got != want:
        raise SystemExit("wrong bytes from " + uri)

def timed(uri, block):
    start = time.perf_counter()
    fetch(uri, block, os.path.join(work, "one.bin"))
    return time.perf_counter() - start

print("1 MiB block-wise, coap-client-notls, median of %d alternating runs:" % runs)
for block in (1024, 512):
    timed(fw, block), timed(ref, block)  # warm-up
    f, r = [], []
    for _ in range(runs):
        f.append(timed(fw, block))
        r.append(timed(ref, block))
    fm, rm = statistics.median(f), statistics.median(r)
    print("  %4d-byte blocks: fwotad %.1f ms (%.1f us/block), libcoap coap-server %.1f ms, "
          "ratio libcoap/fwotad %.2f" % (block, fm * 1e3, fm * 1e6 / ((1 << 20) // block),
                                         rm * 1e3, rm / fm))

print("concurrent block-wise transfers of 1 MiB (1024-byte blocks), every copy SHA-256 checked:")
for n in (1, 8, 32, 64):
    for name, uri in (("fwotad", fw), ("libcoap", ref)):
        start = time.perf_counter()
        procs = [subprocess.Popen(["coap-client-notls", "-B", "60", "-b", "1024", "-m", "get", "-o",
                                   os.path.join(work, "c%d.bin" % i), uri],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n)]
        for p in procs:
            p.wait()
        wall = time.perf_counter() - start
        ok = 0
        for i in range(n):
            path = os.path.join(work, "c%d.bin" % i)
            if os.path.exists(path):
                ok += hashlib.sha256(open(path, "rb").read()).hexdigest() == want
                os.remove(path)
        print("  %2d at once, %-7s: %d/%d complete and correct in %.2f s, %.0f blocks/s"
              % (n, name, ok, n, wall, ok * 1024 / wall))
PY
