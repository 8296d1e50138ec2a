#!/usr/bin/env bash
# CoAP downloads while devices report: what recording telemetry off the CoAP thread
# (separate responses, --coap_report_threads) buys over recording it in that thread.
# One run on loopback, the SQLite store on disk (every report waits for its group
# commit's fsync), for --coap_report_threads=4 and then 0:
#   - REPORTERS devices post telemetry in a closed loop (a raw CoAP client each: a
#     confirmable POST, the answer, the next), as long as the downloads last;
#   - at the same time 8 coap-client-notls fetch a 1 MiB image in 1024-byte blocks,
#     every copy SHA-256 checked.
# Prints the downloads' wall time, the reports recorded per second, the slowest report,
# and the download-time ratio (in line / report threads).
#
#   bash bench/coap_reports_during_downloads.sh [REPORTERS]     (default 50)
set -euo pipefail
cd "$(dirname "$0")/.."
reporters=${1:-50}
source bench/lib.sh

command -v coap-client-notls >/dev/null ||
  { echo "coap-client-notls is missing: run tools/scripts/install-deps.sh" >&2; exit 1; }
bench_setup coap-reports //tools/fwotad //tools/fwota
fwotad=$bin/tools/fwotad/fwotad
fwota=$bin/tools/fwota/fwota

head -c $((1024 * 1024)) /dev/urandom > "$work/image.bin"
"$fwota" --data_dir="$work/data" profile create --name=bench >/dev/null
for i in $(seq 0 "$reporters"); do
  "$fwota" --data_dir="$work/data" device create --name="d$i" --profile=bench --token="tok$i" >/dev/null
done
pkg=$("$fwota" --data_dir="$work/data" --json package create --title=bench --version=1 \
  --type=FIRMWARE --profile=bench --file="$work/image.bin" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"]["id"])')
"$fwota" --data_dir="$work/data" assign --package="$pkg" --profile=bench >/dev/null

for threads in 4 0; do
  cport=$(free_udp_port)
  "$fwotad" --data_dir="$work/data" --http_port=0 --coap_port="$cport" \
    --coap_report_threads="$threads" 2>"$work/fwotad-$threads.log" &
  pid=$!
  pids+=($pid)
  for _ in $(seq 100); do
    grep -q "CoAP listening" "$work/fwotad-$threads.log" && break
    sleep 0.1
  done
  PORT="$cport" THREADS="$threads" REPORTERS="$reporters" IMAGE="$work/image.bin" WORK="$work" \
    /usr/bin/python3 - <<'PY' | tee -a "$work/results"
import hashlib, os, random, socket, struct, subprocess, threading, time

port, threads, reporters = int(os.environ["PORT"]), int(os.environ["THREADS"]), int(os.environ["REPORTERS"])
work = os.environ["WORK"]
want = hashlib.sha256(open(os.environ["IMAGE"], "rb").read()).hexdigest()
CON, ACK = 0, 2

def encode(type_, code, mid, token, path, payload=b""):
    out = bytes([0x40 | type_ << 4 | len(token), code]) + struct.pack(">H", mid) + token
    last = 0
    for part in path.split("/"):
        value = part.encode()
        delta, last = 11 - last, 11
        n = len(value)
        out += bytes([delta << 4 | (n if n < 13 else 13)]) + (bytes([n - 13]) if n >= 13 else b"") + value
    return out + (b"\xff" + payload if payload else b"")

stop = threading.Event()
counts, worst, errors = [0] * reporters, [0.0] * reporters, [0] * reporters

def reporter(i):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.settimeout(10)
    mid = random.randint(1, 60000)
    path = "api/v1/tok%d/telemetry" % (i + 1)
    while not stop.is_set():
        mid = (mid + 1) & 0xffff
        token = struct.pack(">I", mid)
        start = time.perf_counter()
        s.send(encode(CON, 2, mid, token, path, b'{"fw_state":"DOWNLOADING"}'))
        try:
            while True:
                data = s.recv(2048)
                type_, tkl, code = data[0] >> 4 & 3, data[0] & 15, data[1]
                if code == 0:
                    continue  # the empty ACK: the answer follows
                if data[4:4 + tkl] != token:
                    continue
                if type_ == CON:
                    s.send(bytes([0x60, 0]) + data[2:4])  # ACK it
                break
        except socket.timeout:
            errors[i] += 1
            continue
        if code != 0x44:
            errors[i] += 1
        counts[i] += 1
        worst[i] = max(worst[i], time.perf_counter() - start)

workers = [threading.Thread(target=reporter, args=(i,)) for i in range(reporters)]
for w in workers:
    w.start()
time.sleep(1)  # the reports in full swing
before = sum(counts)
start = time.perf_counter()
uri = "coap://127.0.0.1:%d/fw/tok0" % port
procs = [subprocess.Popen(["coap-client-notls", "-B", "120", "-b", "1024", "-m", "get", "-o",
                           os.path.join(work, "c%d.bin" % i), uri],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(8)]
for p in procs:
    p.wait()
wall = time.perf_counter() - start
recorded = sum(counts) - before
stop.set()
for w in workers:
    w.join()
ok = 0
for i in range(8):
    path = os.path.join(work, "c%d.bin" % i)
    if os.path.exists(path):
        ok += hashlib.sha256(open(path, "rb").read()).hexdigest() == want
        os.remove(path)
print("report_threads=%d: 8 downloads of 1 MiB (%d/8 correct) in %.2f s while %d devices "
      "recorded %.0f reports/s (slowest %.0f ms, %d errors)"
      % (threads, ok, wall, reporters, recorded / wall, max(worst) * 1e3, sum(errors)))
print("wall %d %.4f" % (threads, wall))
PY
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
awk '$1 == "wall" { w[$2] = $3 } END { if (w[4] > 0) printf "downloads took %.2fx as long with reports recorded in the CoAP thread\n", w[0] / w[4] }' "$work/results"
