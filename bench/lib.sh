# What the peer-comparison scripts share; sourced from the repository root:
#   source bench/lib.sh; bench_setup NAME TARGET...
# bench_setup makes a temporary work directory ($work, removed on exit), kills every
# process whose pid is added to $pids on exit, builds the targets with -c opt and sets
# $bin to the optimized outputs themselves (the bazel-bin link follows the last build's
# configuration, so a concurrent `bazel test` would swap in unoptimized binaries).

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

bench_setup() {
  local name=$1
  shift
  work=$(mktemp -d "${FWOTA_BENCH_DIR:-/tmp}/fwota-$name.XXXXXX")
  trap cleanup EXIT
  bazel build -c opt "$@" >/dev/null 2>&1
  bin=$(bazel info -c opt bazel-bin 2>/dev/null)
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

free_udp_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1 (10 s at most).
wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}
