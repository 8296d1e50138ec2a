#!/usr/bin/env bash
# Builds ThreadSanitizer-instrumented copies of the three Debian libraries whose
# uninstrumented builds make `bazel test --config=tsan` useless (docs/reliability.md,
# "ThreadSanitizer"):
#   - Abseil (libabsl_*.so.20220623): TSan has to see absl::Mutex's lock and unlock,
#     or every Mutex-guarded field of fwota looks like a race;
#   - Protocol Buffers (libprotobuf.so.32): protobuf 3.21's headers change the layout of
#     its classes under TSan (PROTOBUF_TSAN), so the library must be built the same way;
#   - Paho MQTT C++ (libpaho-mqttpp3.so.1): its tokens are std::shared_ptrs shared with
#     fwota's and the tests' code; with its reference counting invisible, every token it
#     frees looks like a race.
# They are built from Debian's own source packages, of exactly the installed versions,
# with Debian's patches and the options of Debian's debian/rules, as shared libraries
# with the same SONAMEs, into /var/cache/fwota/tsan-libs/lib. The test binaries of
# --config=tsan find them there first (an RPATH, .bazelrc); nothing else uses them.
# Compiled against the same headers (/usr/include) as the system copies, they replace
# them at run time.
# Idempotent: does nothing when the libraries of the installed versions are there.
# Downloads only the Debian source packages (deb-src of the machine's own apt sources).
set -euo pipefail

# Fixed: .bazelrc names this directory in the tsan test binaries' RPATH.
TSAN_LIBS=/var/cache/fwota/tsan-libs
SRC=$TSAN_LIBS/src
JOBS=${FWOTA_TSAN_JOBS:-2}
# Debian's optimisation, instrumented; -g1 gives reports file and line.
FLAGS="-O2 -g1 -fsanitize=thread -fno-omit-frame-pointer"
# Increase when the build below changes, so that existing caches are rebuilt.
RECIPE=1

say() { echo "build-tsan-libs: $*"; }
# Runs a command with its output in the log file given first; on failure shows the log's
# end and stops.
logged() {  # log file, command...
  local log="$1"
  shift
  "$@" >"$log" 2>&1 || { tail -30 "$log"; exit 1; }
}

absl_version=$(dpkg-query -W -f='${Version}' libabsl20220623)
protobuf_version=$(dpkg-query -W -f='${Version}' libprotobuf32)
# One stamp per library: what it was built from and how.
absl_stamp="recipe=$RECIPE abseil=$absl_version flags=$FLAGS"
protobuf_stamp="recipe=$RECIPE protobuf=$protobuf_version flags=$FLAGS"
paho_version=$(dpkg-query -W -f='${Version}' libpaho-mqttpp3-1)
paho_stamp="recipe=$RECIPE paho.mqtt.cpp=$paho_version flags=$FLAGS"
up_to_date() {  # name, stamp
  [ -f "$TSAN_LIBS/lib/.$1.stamp" ] && [ "$(cat "$TSAN_LIBS/lib/.$1.stamp")" = "$2" ]
}
if up_to_date abseil "$absl_stamp" && up_to_date protobuf "$protobuf_stamp" &&
   up_to_date paho "$paho_stamp"; then
  say "up to date (abseil $absl_version, protobuf $protobuf_version, paho.mqtt.cpp $paho_version)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi

# deb-src entries for the same archives as the machine's binary packages.
if ! apt-get source --print-uris -qq "abseil=$absl_version" >/dev/null 2>&1; then
  list=/etc/apt/sources.list.d/fwota-deb-src.sources
  say "adding $list and updating the package lists"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
      $SUDO tee "$list" >/dev/null
  else
    grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed 's/^deb /deb-src /' | $SUDO tee "${list%.sources}.list" >/dev/null
  fi
  $SUDO apt-get update -qq
fi

fetch() {  # source package, version: unpacks it into $SRC, prints the directory
  # apt-get source unpacks with dpkg-source -x, which applies Debian's patches.
  (cd "$SRC" && apt-get source -qq -o APT::Sandbox::User=root "$1=$2" >"$1-source.log" 2>&1) ||
    { cat "$SRC/$1-source.log" >&2; return 1; }
  find "$SRC" -maxdepth 1 -type d -name "$1-*" | head -1
}

rm -rf "$SRC"
mkdir -p "$SRC" "$TSAN_LIBS/lib"
cd "$SRC"

# CMake flags as Debian's debhelper sets them (build type None: only our flags).
cmake_common=(-G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr
  "-DCMAKE_C_FLAGS=$FLAGS" "-DCMAKE_CXX_FLAGS=$FLAGS" -DCMAKE_CXX_STANDARD=17
  "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread")

# Abseil: debian/rules' shared build, without its tests
# (-DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON; Debian's patches set the SONAME
# libabsl_*.so.20220623 and the options in absl/base/options.h).
if ! up_to_date abseil "$absl_stamp"; then
  start=$SECONDS
  say "abseil $absl_version: fetching"
  absl_dir=$(fetch abseil "$absl_version")
  say "abseil: configuring"
  logged absl-cmake.log cmake -S "$absl_dir" -B absl-build "${cmake_common[@]}" \
    -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF
  say "abseil: compiling ($JOBS jobs)"
  logged absl-build.log ninja -C absl-build -j "$JOBS"
  rm -f "$TSAN_LIBS"/lib/libabsl_* "$TSAN_LIBS/lib/.abseil.stamp"
  find absl-build -name 'libabsl_*.so*' -exec cp -P {} "$TSAN_LIBS/lib/" \;
  echo "$absl_stamp" >"$TSAN_LIBS/lib/.abseil.stamp"
  say "abseil: $(find "$TSAN_LIBS/lib" -name 'libabsl_*.so.20220623' | wc -l) libraries in $((SECONDS - start)) s"
fi

# Protocol Buffers: only the runtime library libprotobuf.so.32 (not protoc, libprotoc or
# libprotobuf-lite). Debian builds it with autotools; the CMake build compiles the same
# sources with the same definitions (zlib, pthreads) as a static library, which is
# linked here the way libtool links Debian's: SONAME libprotobuf.so.32, upstream's
# version script, zlib. (CMake's own shared build would define PROTOBUF_USE_DLLS, which
# changes the ABI: e.g. the arena's thread cache becomes a function.)
if ! up_to_date protobuf "$protobuf_stamp"; then
  start=$SECONDS
  say "protobuf $protobuf_version: fetching"
  protobuf_dir=$(fetch protobuf "$protobuf_version")
  say "protobuf: configuring"
  logged protobuf-cmake.log cmake -S "$protobuf_dir/cmake" -B protobuf-build "${cmake_common[@]}" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -Dprotobuf_BUILD_SHARED_LIBS=OFF \
    -Dprotobuf_BUILD_TESTS=OFF -Dprotobuf_BUILD_PROTOC_BINARIES=OFF -Dprotobuf_WITH_ZLIB=ON
  say "protobuf: compiling libprotobuf ($JOBS jobs)"
  logged protobuf-build.log ninja -C protobuf-build -j "$JOBS" libprotobuf
  rm -f "$TSAN_LIBS"/lib/libprotobuf* "$TSAN_LIBS/lib/.protobuf.stamp"
  g++ -shared -fsanitize=thread -o "$TSAN_LIBS/lib/libprotobuf.so.32.0.12" \
    -Wl,-soname,libprotobuf.so.32 -Wl,--version-script="$protobuf_dir/src/libprotobuf.map" \
    -Wl,--whole-archive protobuf-build/libprotobuf.a -Wl,--no-whole-archive -lz -pthread
  ln -sf libprotobuf.so.32.0.12 "$TSAN_LIBS/lib/libprotobuf.so.32"
  echo "$protobuf_stamp" >"$TSAN_LIBS/lib/.protobuf.stamp"
  say "protobuf: libprotobuf.so.32 in $((SECONDS - start)) s"
fi

# Paho MQTT C++: debian/rules' options (its line continuation ends after
# -DPAHO_WITH_SSL=TRUE, so only those two and the defaults apply); the C library under it
# (libpaho-mqtt3as) synchronises with pthreads, which TSan intercepts, and stays Debian's.
if ! up_to_date paho "$paho_stamp"; then
  start=$SECONDS
  say "paho.mqtt.cpp $paho_version: fetching"
  paho_dir=$(fetch paho.mqtt.cpp "$paho_version")
  say "paho.mqtt.cpp: configuring"
  logged paho-cmake.log cmake -S "$paho_dir" -B paho-build "${cmake_common[@]}" \
    -DPAHO_BUILD_SHARED=TRUE -DPAHO_WITH_SSL=TRUE -DPAHO_BUILD_STATIC=FALSE
  say "paho.mqtt.cpp: compiling ($JOBS jobs)"
  logged paho-build.log ninja -C paho-build -j "$JOBS"
  rm -f "$TSAN_LIBS"/lib/libpaho-mqttpp3* "$TSAN_LIBS/lib/.paho.stamp"
  find paho-build -name 'libpaho-mqttpp3.so*' -exec cp -P {} "$TSAN_LIBS/lib/" \;
  [ -e "$TSAN_LIBS/lib/libpaho-mqttpp3.so.1" ] || { say "no libpaho-mqttpp3.so.1 built"; exit 1; }
  echo "$paho_stamp" >"$TSAN_LIBS/lib/.paho.stamp"
  say "paho.mqtt.cpp: libpaho-mqttpp3.so.1 in $((SECONDS - start)) s"
fi

# The sources and objects are not needed any more (about 1 GB).
cd "$TSAN_LIBS" && rm -rf "$SRC"
say "done"
