#!/usr/bin/env bash
# fwotad against nginx, serving the same 64 MiB file from the same disk on loopback,
# measured with wrk in one run:
#   - random 64 KiB chunks: ThingsBoard's ?size=65536&chunk=N (fwotad) and Range (both)
#   - whole-file downloads
# at 1 and 64 connections (whole files: 1, 4 and 64); prints requests/s, MB/s and the
# fwotad/nginx ratio per case. Then fwotad's peak resident memory while 100 clients
# download a 2 GiB package at once.
#
#   bash bench/http_vs_nginx.sh [SECONDS_PER_CASE]     (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
source bench/lib.sh
bench_setup http //tools/fwotad //tools/fwota
chmod 755 "$work"  # nginx workers run as an unprivileged user
fwotad=$bin/tools/fwotad/fwotad
fwota=$bin/tools/fwota/fwota

# The package, through the CLI, before fwotad holds the data directory.
head -c $((64 * 1024 * 1024)) /dev/urandom > "$work/image.bin"
"$fwota" --data_dir="$work/data" profile create --name=bench >/dev/null
token=$("$fwota" --data_dir="$work/data" --json device create --name=bench --profile=bench |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["credentials"]["credentialsId"])')
pkg=$("$fwota" --data_dir="$work/data" --json package create --title=bench --version=1 \
  --type=FIRMWARE --profile=bench --file="$work/image.bin" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"]["id"])')
"$fwota" --data_dir="$work/data" assign --package="$pkg" --profile=bench >/dev/null
sha=$(sha256sum "$work/image.bin" | cut -d' ' -f1)
blob="$work/data/blobs/${sha:0:2}/$sha"
test -f "$blob"

fport=$(free_port)
"$fwotad" --data_dir="$work/data" --http_port="$fport" --coap_port=0 2>"$work/fwotad.log" &
pids+=($!)
fwotad_pid=$!

nport=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log $work/nginx/access.log;  # fwotad logs every request too
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nport;
    location / { root $work/data/blobs; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$fport/" && curl -s -o /dev/null "http://127.0.0.1:$nport/" && break
  sleep 0.1
done

fw_path="/api/v1/$token/firmware?title=bench&version=1"
ng_path="/${sha:0:2}/$sha"
curl -s -o "$work/check.bin" "http://127.0.0.1:$fport$fw_path"
cmp "$work/check.bin" "$work/image.bin" || { echo "fwotad served other bytes:"; head -c 300 "$work/check.bin"; echo; tail -5 "$work/fwotad.log"; exit 1; }
curl -s -o "$work/check.bin" "http://127.0.0.1:$nport$ng_path"
cmp "$work/check.bin" "$work/image.bin" || { echo "nginx served other bytes:"; head -c 300 "$work/check.bin"; echo; exit 1; }

# wrk scripts: random 64 KiB chunks by ?chunk= or by Range.
cat > "$work/chunk.lua" <<'LUA'
math.randomseed(os.time())
request = function()
  return wrk.format("GET", wrk.path .. "&size=65536&chunk=" .. math.random(0, 1023))
end
LUA
cat > "$work/range.lua" <<'LUA'
math.randomseed(os.time())
request = function()
  local first = math.random(0, 1023) * 65536
  return wrk.format("GET", wrk.path, {["Range"] = "bytes=" .. first .. "-" .. (first + 65535)})
end
LUA

# run NAME URL SCRIPT CONNECTIONS -> prints "req/s MB/s"
run() {
  local url=$1 script=$2 conns=$3 threads=2
  [ "$conns" -lt 2 ] && threads=1
  local args=(-t"$threads" -c"$conns" -d"${secs}s" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  wrk "${args[@]}" "$url" > "$work/wrk.out" 2>&1
  /usr/bin/python3 - "$work/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", t)
scale = {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824}[m.group(2)]
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print("%.0f %.1f %s" % (rps, float(m.group(1)) * scale, errors.group(1) if errors else "0"))
PY
}

printf "%-34s %5s %12s %10s %12s %10s %7s\n" case conns "fwotad req/s" "MB/s" "nginx req/s" "MB/s" ratio
line() {
  local name=$1 conns=$2 fw_url=$3 fw_script=$4 ng_url=$5 ng_script=$6
  read -r frps fmbs ferr < <(run "$fw_url" "$fw_script" "$conns")
  read -r nrps nmbs nerr < <(run "$ng_url" "$ng_script" "$conns")
  # By bytes: wrk counts them as they arrive, but counts only completed requests, so
  # whole 64 MiB files at 64 connections (seconds each) quantize requests/s badly.
  ratio=$(/usr/bin/python3 -c "print('%.2f' % ($fmbs / $nmbs if $nmbs else 0))")
  printf "%-34s %5s %12s %10s %12s %10s %7s%s\n" "$name" "$conns" "$frps" "$fmbs" "$nrps" "$nmbs" "$ratio" \
    "$([ "$ferr$nerr" != 00 ] && echo "  (non-2xx: fwotad $ferr, nginx $nerr)")"
}
for c in 1 64; do
  line "64 KiB chunks (?chunk / Range)" "$c" "http://127.0.0.1:$fport$fw_path" "$work/chunk.lua" \
    "http://127.0.0.1:$nport$ng_path" "$work/range.lua"
  line "64 KiB Range" "$c" "http://127.0.0.1:$fport$fw_path" "$work/range.lua" \
    "http://127.0.0.1:$nport$ng_path" "$work/range.lua"
done
for c in 1 4 64; do
  line "whole 64 MiB file" "$c" "http://127.0.0.1:$fport$fw_path" "" "http://127.0.0.1:$nport$ng_path" ""
done

# Peak memory with 100 clients downloading a 2 GiB package at once.
kill "$fwotad_pid"; wait "$fwotad_pid" 2>/dev/null || true
head -c $((2048 * 1024 * 1024)) /dev/urandom > "$work/big.bin"
big=$("$fwota" --data_dir="$work/data" --json package create --title=big --version=1 \
  --type=FIRMWARE --profile=bench --file="$work/big.bin" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"]["id"])')
rm -f "$work/big.bin"
"$fwota" --data_dir="$work/data" assign --package="$big" --profile=bench >/dev/null
"$fwotad" --data_dir="$work/data" --http_port="$fport" --coap_port=0 2>>"$work/fwotad.log" &
fwotad_pid=$!
pids+=($fwotad_pid)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$fport/" && break; sleep 0.1; done
clients=()
for _ in $(seq 100); do
  curl -s -o /dev/null --max-time "$secs" "http://127.0.0.1:$fport/api/v1/$token/firmware?title=big&version=1" &
  clients+=($!)
done
wait "${clients[@]}" 2>/dev/null || true
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$fwotad_pid/status")
echo "fwotad peak RSS with 100 concurrent 2 GiB downloads (${secs}s): ${hwm} KiB ($((hwm / 1024)) MiB); target < 64 MiB"
