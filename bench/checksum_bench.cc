// Checksum throughput: each algorithm alone (public Hasher), each CRC32 kernel, and
// MultiHasher with several algorithms (one thread vs. the pool), at 1 MiB and 64 MiB.
// Times are wall-clock (UseRealTime) so that MultiHasher's worker threads count.
//
//   bazel build -c opt //bench:checksum_bench && bazel-bin/bench/checksum_bench
// bench/compare_checksum_peers.sh runs it beside OpenSSL, ISA-L, zlib and Guava.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fwota/checksum.h"
#include "lib/checksum/crc32.h"
#include "lib/checksum/murmur3.h"

namespace fwota {
namespace {

constexpr size_t kSizes[] = {size_t{1} << 20, size_t{64} << 20};

// kSizes[1] random bytes, made once; every benchmark reads a prefix.
const std::vector<uint8_t>& Data() {
  static const std::vector<uint8_t>* const data = [] {
    auto* bytes = new std::vector<uint8_t>(kSizes[1]);
    std::mt19937_64 rng(1);
    for (uint8_t& b : *bytes) b = static_cast<uint8_t>(rng());
    return bytes;
  }();
  return *data;
}

std::string SizeLabel(size_t size) {
  return size >= (size_t{1} << 20) ? std::to_string(size >> 20) + "MiB"
                                   : std::to_string(size) + "B";
}

void BM_Hasher(benchmark::State& state, ChecksumAlgorithm algorithm, size_t size) {
  const auto span = absl::MakeConstSpan(Data()).subspan(0, size);
  for (auto _ : state) {
    auto hasher = NewHasher(algorithm);
    (*hasher)->Update(span);
    benchmark::DoNotOptimize((*hasher)->Finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

void BM_Crc32Kernel(benchmark::State& state, checksum_internal::Crc32Kernel kernel,
                    size_t size) {
  if (!checksum_internal::Crc32KernelSupported(kernel)) {
    state.SkipWithError("kernel not supported on this CPU");
    return;
  }
  const uint8_t* data = Data().data();
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = checksum_internal::Crc32UpdateWith(kernel, 0, data, size);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

// One MultiHasher for the whole run, fed `size` bytes per iteration in 1 MiB updates (as
// an upload streams), so the figure is the steady state, without the thread start-up.
void BM_MultiHasher(benchmark::State& state, std::vector<ChecksumAlgorithm> algorithms,
                    int threads, size_t size) {
  const auto span = absl::MakeConstSpan(Data()).subspan(0, size);
  constexpr size_t kChunk = size_t{1} << 20;
  auto multi = MultiHasher::Create(algorithms, threads);
  for (auto _ : state) {
    for (size_t pos = 0; pos < size; pos += kChunk) {
      (*multi)->Update(span.subspan(pos, kChunk));
    }
  }
  benchmark::DoNotOptimize((*multi)->Finish());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

int RegisterAll() {
  for (size_t size : kSizes) {
    for (ChecksumAlgorithm algorithm : AllChecksumAlgorithms()) {
      benchmark::RegisterBenchmark(
          ("Hasher/" + std::string(ChecksumAlgorithmName(algorithm)) + "/" + SizeLabel(size))
              .c_str(),
          BM_Hasher, algorithm, size)
          ->UseRealTime();
    }
  }
  using checksum_internal::Crc32Kernel;
  for (size_t size : kSizes) {
    for (Crc32Kernel kernel : {Crc32Kernel::kZlib, Crc32Kernel::kPclmul128,
                               Crc32Kernel::kVpclmul256, Crc32Kernel::kVpclmul512}) {
      benchmark::RegisterBenchmark(("Crc32Kernel/" + std::string(Crc32KernelName(kernel)) +
                                    "/" + SizeLabel(size))
                                       .c_str(),
                                   BM_Crc32Kernel, kernel, size)
          ->UseRealTime();
    }
  }
  const std::vector<std::pair<std::string, std::vector<ChecksumAlgorithm>>> sets = {
      {"SHA256+MD5", {::fwota::v1::SHA256, ::fwota::v1::MD5}},
      {"SHA256+CRC32", {::fwota::v1::SHA256, ::fwota::v1::CRC32}},
      {"SHA256+SHA512", {::fwota::v1::SHA256, ::fwota::v1::SHA512}},
      {"SHA256+MURMUR3_128", {::fwota::v1::SHA256, ::fwota::v1::MURMUR3_128}},
      {"ALL7", AllChecksumAlgorithms()},
  };
  for (size_t size : kSizes) {
    for (const auto& [name, algorithms] : sets) {
      for (int threads : {1, 0}) {
        benchmark::RegisterBenchmark(("Multi/" + name + "/" +
                                      (threads == 1 ? "1thread" : "pool") + "/" +
                                      SizeLabel(size))
                                         .c_str(),
                                     BM_MultiHasher, algorithms, threads, size)
            ->UseRealTime();
      }
    }
  }
  return 0;
}

const int registered = RegisterAll();

}  // namespace
}  // namespace fwota
