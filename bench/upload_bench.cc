// The whole upload path (read a file, hash, write to the blob store, fsync, record the
// package) against the bare hash rate of the same algorithm, in one run.
//
//   bazel run -c opt //bench:upload_bench -- --benchmark_counters_tabular=true
//
// FWOTA_BENCH_DIR (default /tmp) holds the source file and the data directory; it
// should be on the disk the server would use.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "fwota/blob_store.h"
#include "fwota/byte_source.h"
#include "fwota/checksum.h"
#include "fwota/metadata_stores.h"
#include "fwota/ota_service.h"

namespace fwota {
namespace {

constexpr int64_t kFileSize = int64_t{256} << 20;

std::string BenchDir() {
  const char* dir = getenv("FWOTA_BENCH_DIR");
  return dir ? dir : "/tmp";
}

// A 256 MiB file of random bytes, written once per process.
const std::string& SourceFile() {
  static const std::string* path = [] {
    auto* p = new std::string(absl::StrCat(BenchDir(), "/fwota-upload-bench.bin"));
    std::mt19937_64 rng(42);
    std::vector<uint64_t> buf((1 << 20) / 8);
    int fd = open(p->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (int64_t done = 0; done < kFileSize; done += 1 << 20) {
      for (auto& v : buf) v = rng();
      if (write(fd, buf.data(), 1 << 20) != 1 << 20) abort();
    }
    close(fd);
    return p;
  }();
  return *path;
}

ChecksumAlgorithm AlgorithmOf(const benchmark::State& state) {
  return static_cast<ChecksumAlgorithm>(state.range(0));
}

void BM_BareHash(benchmark::State& state) {
  const ChecksumAlgorithm alg = AlgorithmOf(state);
  std::vector<uint8_t> buf(1 << 20);
  std::mt19937 rng(1);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (auto _ : state) {
    auto hasher = std::move(NewHasher(alg)).value();
    for (int i = 0; i < 64; ++i) hasher->Update(buf);
    benchmark::DoNotOptimize(hasher->Finish());
  }
  state.SetBytesProcessed(state.iterations() * 64 * int64_t{1 << 20});
  state.SetLabel(std::string(ChecksumAlgorithmName(alg)));
}

void BM_UploadPath(benchmark::State& state) {
  const ChecksumAlgorithm alg = AlgorithmOf(state);
  const std::string& source_path = SourceFile();
  const std::string root = absl::StrCat(BenchDir(), "/fwota-upload-bench-", getpid());
  auto metadata = NewMemoryMetadataStore();
  auto blobs = std::move(OpenFileBlobStore(root)).value();
  OtaServiceOptions options;
  options.metadata = metadata.get();
  options.blobs = blobs.get();
  auto service = std::move(OtaService::Create(options)).value();
  auto tenant = service->CreateTenant("bench").value();
  TenantContext ctx{tenant.id(), "bench"};
  auto profile = service->CreateProfile(ctx, "bench", "").value();
  int n = 0;
  for (auto _ : state) {
    auto source = std::move(OpenFileSource(source_path)).value();
    PackageInfoRequest info;
    info.title = "bench";
    info.version = absl::StrCat(n++);
    info.type = ::fwota::v1::FIRMWARE;
    info.device_profile_id = profile.id();
    UploadRequest upload;
    upload.file_name = "bench.bin";
    upload.checksum_algorithm = alg;
    auto package = service->CreatePackageWithData(ctx, info, upload, *source);
    if (!package.ok()) {
      state.SkipWithError(std::string(package.status().message()).c_str());
      break;
    }
    state.PauseTiming();
    // Delete so the next iteration writes a new blob rather than finding this one.
    if (!service->DeletePackage(ctx, package->id()).ok()) abort();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * kFileSize);
  state.SetLabel(std::string(ChecksumAlgorithmName(alg)));
  service.reset();
  std::string cmd = absl::StrCat("rm -rf '", root, "'");
  if (system(cmd.c_str()) != 0) abort();
}

void AllAlgorithms(benchmark::internal::Benchmark* b) {
  for (ChecksumAlgorithm alg : AllChecksumAlgorithms()) b->Arg(alg);
}

BENCHMARK(BM_BareHash)->Apply(AllAlgorithms)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_UploadPath)->Apply(AllAlgorithms)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace fwota

BENCHMARK_MAIN();
