#!/usr/bin/env bash
# fwotad's MQTT adapter against the ceiling the broker allows, in one run on loopback
# through one mosquitto (TCP_NODELAY on, as docs/operations.md says to configure it):
#   - chunk round trips per second (each device keeps one request in flight), 64 KiB and
#     4 KiB chunks, 1 and 100 devices, answered by fwotad (token lookup, package, blob
#     store) and by a raw responder made of the same client library (Paho) answering from
#     memory (bench/mqtt_raw_responder.cc); prints the fwotad/raw ratio per case. The
#     same responder made of libmosquitto is shown too, for reference.
#   - fwotad's peak resident memory while 1,000 devices download a 1 MiB package at once
#     in 64 KiB chunks, each checking the SHA-256.
# The simulated devices are libmosquitto clients in one poll loop (bench/mqtt_devices.cc).
#
#   bash bench/mqtt_vs_raw.sh [SECONDS_PER_CASE] [REPEATS]     (defaults 5 and 3; the
#   figure of a case is the median of its repeats)
# FWOTAD_FLAGS adds flags to fwotad's command line (e.g. "--mqtt_workers=4");
# MQTT_CASES="100x65536,1x4096" (devices x chunk) runs only those cases and skips the
# memory run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
repeats=${2:-3}
source bench/lib.sh
ulimit -n 8192  # 1,000 device connections on each side of the broker
bench_setup mqtt //tools/fwotad //bench:mqtt_devices //bench:mqtt_raw_responder
fwotad=$bin/tools/fwotad/fwotad
devices=$bin/bench/mqtt_devices
responder=$bin/bench/mqtt_raw_responder

mport=$(free_port)
cat > "$work/mosquitto.conf" <<CONF
listener $mport 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
max_queued_messages 100000
CONF
/usr/sbin/mosquitto -c "$work/mosquitto.conf" 2>"$work/mosquitto.log" &
pids+=($!)
wait_port "$mport"

hport=$(free_port)
"$fwotad" --data_dir="$work/data" --http_port="$hport" --coap_port=0 \
  --mqtt_broker="tcp://127.0.0.1:$mport" --notices_per_minute=0 ${FWOTAD_FLAGS:-} \
  2>"$work/fwotad.log" &
fwotad_pid=$!
pids+=($fwotad_pid)
wait_port "$hport"

# A profile with 1,000 devices (tokens dev0 ... dev999, as mqtt_devices names them) and a
# 1 MiB package assigned to it.
sha=$(/usr/bin/python3 - "$hport" "$(cat "$work/data/admin-api-key")" <<'PY'
import hashlib, http.client, json, os, sys
port, key = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, body=None, headers=None):
    h = {"X-Authorization": "Bearer " + key}
    h.update(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    conn.request(method, path, body, h)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit("%s %s: %d %s" % (method, path, r.status, data[:300]))
    return json.loads(data) if data else None
profile = call("POST", "/api/deviceProfile", {"name": "bench"})["id"]["id"]
ref = {"entityType": "DEVICE_PROFILE", "id": profile}
for i in range(1000):
    call("POST", "/api/device?accessToken=dev%d" % i, {"name": "dev%d" % i, "deviceProfileId": ref})
data = os.urandom(1 << 20)
sha = hashlib.sha256(data).hexdigest()
pkg = call("POST", "/api/otaPackage", {"title": "bench", "version": "1", "type": "FIRMWARE",
                                           "deviceProfileId": ref})["id"]["id"]
boundary = "bench" + os.urandom(8).hex()
body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fw.bin\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n" % boundary).encode() + data +
        ("\r\n--%s--\r\n" % boundary).encode())
call("POST", "/api/otaPackage/%s?checksumAlgorithm=SHA256&checksum=%s" % (pkg, sha), body,
     {"Content-Type": "multipart/form-data; boundary=" + boundary})
call("POST", "/api/deviceProfile", {"id": ref, "name": "bench",
                                    "firmwareId": {"entityType": "OTA_PACKAGE", "id": pkg}})
# Every device is notified (unpaced) before the measurement starts.
print(sha)
PY
)

cases=("1 65536" "1 4096" "100 65536" "100 4096")
if [ -n "${MQTT_CASES:-}" ]; then
  cases=()
  IFS=',' read -r -a wanted <<< "$MQTT_CASES"
  for w in "${wanted[@]}"; do cases+=("${w%x*} ${w#*x}"); done
fi

# The raw responders run beside fwotad on their own topic prefixes, so that every repeat
# measures the three back to back: a load that comes and goes on the machine then hits
# each side of a ratio alike.
for client in paho mosquitto; do
  "$responder" --broker_port="$mport" --client="$client" --prefix="raw-$client" \
    --share_group="raw-$client" >"$work/responder-$client.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q ready "$work/responder-$client.log" && break; sleep 0.05; done
done

declare -A rate runs
one_run() {  # prefix devices chunk -> round trips/s
  local out
  out=$("$devices" --port="$mport" --prefix="$1" --devices="$2" --chunk="$3" \
    --size=$((1 << 20)) --seconds="$secs" | tail -1)
  /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["round_trips_per_s"])' "$out"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for c in "${cases[@]}"; do
  set -- $c
  ratios=()
  for _ in $(seq "$repeats"); do
    f=$(one_run fwota "$1" "$2")
    r=$(one_run raw-paho "$1" "$2")
    m=$(one_run raw-mosquitto "$1" "$2")
    runs[fwotad,$1,$2]+=" $f"
    runs[paho,$1,$2]+=" $r"
    runs[mosquitto,$1,$2]+=" $m"
    ratios+=("$(/usr/bin/python3 -c "print($f / $r)")")
  done
  for who in fwotad paho mosquitto; do
    rate[$who,$1,$2]=$(median ${runs[$who,$1,$2]})
    echo "  $who, $1 device(s), $2-byte chunks:${runs[$who,$1,$2]} round trips/s" >&2
  done
  rate[ratio,$1,$2]=$(median "${ratios[@]}")
done

# 1,000 devices download the whole package at once; fwotad's resident memory sampled
# every 50 ms meanwhile.
if [ -z "${MQTT_CASES:-}" ]; then
  rss_log=$work/rss
  ( peak=0
    while kill -0 "$fwotad_pid" 2>/dev/null; do
      r=$(awk '/^VmRSS/ {print $2}' "/proc/$fwotad_pid/status" 2>/dev/null || echo 0)
      [ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" > "$rss_log"
      sleep 0.05
    done ) &
  sampler=$!
  rss_before=$(awk '/^VmRSS/ {print $2}' "/proc/$fwotad_pid/status")
  download=$("$devices" --port="$mport" --devices=1000 --chunk=65536 --size=$((1 << 20)) \
    --mode=download --sha256="$sha" --timeout=120 | tail -1)
  sleep 0.2
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  rss_peak=$(cat "$rss_log")
fi
kill "$fwotad_pid"
wait "$fwotad_pid" 2>/dev/null || true

echo
echo "MQTT chunk round trips/s through mosquitto $(/usr/sbin/mosquitto -h 2>/dev/null | awk 'NR==1 {print $3}'), QoS 1, one request in flight per device, median of $repeats x ${secs}s (ratio: median of the back-to-back pairs)"
printf '%-9s %-7s %10s %12s %7s %14s\n' devices chunk fwotad "raw (Paho)" ratio "raw (libmosq)"
for c in "${cases[@]}"; do
  set -- $c
  printf '%-9s %-7s %10.0f %12.0f %6.2fx %14.0f\n' "$1" "$2" "${rate[fwotad,$1,$2]}" \
    "${rate[paho,$1,$2]}" "${rate[ratio,$1,$2]}" "${rate[mosquitto,$1,$2]}"
done
if [ -z "${MQTT_CASES:-}" ]; then
  echo
  echo "1,000 devices downloading 1 MiB at once in 64 KiB chunks: $download"
  echo "fwotad resident memory: $((rss_before / 1024)) MiB before, peak $((rss_peak / 1024)) MiB during"
fi
