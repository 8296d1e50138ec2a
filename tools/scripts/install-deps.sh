#!/usr/bin/env bash
# Installs every Debian package that fwota's build, tests and benchmarks need.
# Safe to run twice: apt-get skips what is already installed.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap g++ pkg-config
  libabsl-dev libprotobuf-dev protobuf-compiler
  libssl-dev libsqlitecpp-dev libsqlite3-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev
  # tests and benchmark peers
  python3 time openssl curl libisal-dev libguava-java openjdk-17-jdk-headless
  nginx-light wrk
)

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
