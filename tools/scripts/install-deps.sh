#!/usr/bin/env bash
# Installs every Debian package that fwota's build, tests and benchmarks need, and the
# dashboard test's npm packages (tests/dashboard/node_modules, from its lock file).
# Safe to run twice: apt-get skips what is already installed, npm ci runs only when
# node_modules is missing or older than the lock file.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap g++ pkg-config
  libabsl-dev libprotobuf-dev protobuf-compiler
  libssl-dev libsqlitecpp-dev libsqlite3-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev
  libcoap3-dev
  # tools/scripts/build-tsan-libs.sh (--config=tsan): unpacks Debian's source packages of
  # Abseil, protobuf and Paho MQTT C++ and builds them with -fsanitize=thread
  dpkg-dev cmake ninja-build
  # the libFuzzer targets (tests/fuzz, bazel --config=fuzz): clang 14 and its runtimes
  clang libclang-rt-14-dev
  # tests and benchmark peers
  python3 time openssl curl libisal-dev libguava-java openjdk-17-jdk-headless
  nginx-light wrk
  # the MQTT adapter's tests start their own broker; its benchmark's devices use libmosquitto
  mosquitto mosquitto-clients libmosquitto-dev
  # the CoAP adapter's tests and benchmark use libcoap's coap-client / coap-server
  libcoap3-bin
  # the dashboard's end-to-end test (tests/dashboard): a real headless browser
  chromium
)
# node and npm drive that browser; Debian's are fine, a node already on the PATH too.
if ! command -v node >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# playwright-core for tests/dashboard, exactly as package-lock.json pins it.
dashboard="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/dashboard"
if [ ! -f "$dashboard/node_modules/.package-lock.json" ] ||
   [ "$dashboard/package-lock.json" -nt "$dashboard/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null 2>&1 ||
    { echo "install-deps: node is installed but npm is not; install npm" >&2; exit 1; }
  echo "install-deps: npm ci in tests/dashboard"
  (cd "$dashboard" && npm ci --no-audit --no-fund)
else
  echo "install-deps: tests/dashboard/node_modules is up to date"
fi
