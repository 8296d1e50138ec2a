// MultiHasher: several hashers over one stream, on a small persistent thread pool.
//
// The hashers are split into `threads` groups, balanced by a rough cost per byte; the
// caller's thread runs group 0 and each worker thread one other group. Every dispatch
// publishes one span under the mutex, runs group 0, and waits until every worker has
// finished the span; the mutex hand-off orders each hasher's updates, so no hasher is
// ever touched by two threads at once. Small updates are gathered in a buffer first so
// that each wake-up of the workers covers at least kMinDispatchBytes.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fwota/checksum.h"
#include "fwota/status_macros.h"

namespace fwota {
namespace {

// Updates smaller than this are copied into the batch buffer; a wake-up of the workers
// costs a few microseconds, which a 256 KiB batch makes negligible against even CRC32.
constexpr size_t kMinDispatchBytes = 256 * 1024;
constexpr size_t kBatchCapacity = 1024 * 1024;

// Rough nanoseconds per byte on a current x86-64 core with SHA-NI and VPCLMULQDQ (measured
// with bench/checksum_bench on a 2.1 GHz AMD EPYC), for balancing only: a wrong guess
// costs speed, never correctness.
double CostPerByte(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ::fwota::v1::MD5:
      return 1.6;
    case ::fwota::v1::SHA256:
      return 0.7;
    case ::fwota::v1::SHA384:
    case ::fwota::v1::SHA512:
      return 1.4;
    case ::fwota::v1::CRC32:
      return 0.03;
    case ::fwota::v1::MURMUR3_32:
      return 0.35;
    case ::fwota::v1::MURMUR3_128:
      return 0.15;
    default:
      return 1.0;
  }
}

class MultiHasherImpl final : public MultiHasher {
 public:
  MultiHasherImpl() = default;
  MultiHasherImpl(const MultiHasherImpl&) = delete;
  MultiHasherImpl& operator=(const MultiHasherImpl&) = delete;

  ~MultiHasherImpl() override { StopWorkers(); }

  // Creates the hashers and, with more than one group, the worker threads.
  absl::Status Init(const std::vector<ChecksumAlgorithm>& algorithms, int groups) {
    for (ChecksumAlgorithm algorithm : algorithms) {
      FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<Hasher> hasher, NewHasher(algorithm));
      hashers_.push_back(std::move(hasher));
    }
    // Longest-processing-time-first: the costliest hasher goes to the lightest group.
    std::vector<size_t> order(hashers_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return CostPerByte(hashers_[a]->algorithm()) > CostPerByte(hashers_[b]->algorithm());
    });
    groups_.assign(groups, {});
    std::vector<double> load(groups, 0.0);
    for (size_t index : order) {
      const size_t lightest = std::min_element(load.begin(), load.end()) - load.begin();
      groups_[lightest].push_back(hashers_[index].get());
      load[lightest] += CostPerByte(hashers_[index]->algorithm());
    }
    if (groups > 1) batch_.reserve(kBatchCapacity);
    for (int g = 1; g < groups; ++g) {
      // std::thread reports failure by exception; it must not cross our API.
      try {
        workers_.emplace_back([this, g] { WorkerLoop(groups_[g]); });
      } catch (const std::system_error& e) {
        return absl::ResourceExhaustedError(
            absl::StrCat("cannot start a checksum worker thread: ", e.what()));
      }
    }
    return absl::OkStatus();
  }

  void Update(absl::Span<const uint8_t> data) override {
    if (finished_ || data.empty()) return;
    if (workers_.empty()) {
      for (Hasher* hasher : groups_[0]) hasher->Update(data);
      return;
    }
    if (data.size() >= kMinDispatchBytes) {
      FlushBatch();
      Dispatch(data);
      return;
    }
    if (batch_.size() + data.size() > kBatchCapacity) FlushBatch();
    batch_.insert(batch_.end(), data.begin(), data.end());
    if (batch_.size() >= kMinDispatchBytes) FlushBatch();
  }

  std::vector<std::pair<ChecksumAlgorithm, std::string>> Finish() override {
    if (!finished_) {
      if (!workers_.empty()) FlushBatch();
      StopWorkers();  // also orders the workers' last updates before the Finish calls
      finished_ = true;
      for (const std::unique_ptr<Hasher>& hasher : hashers_) {
        results_.emplace_back(hasher->algorithm(), ToHex(hasher->Finish()));
      }
    }
    return results_;
  }

 private:
  void FlushBatch() {
    if (batch_.empty()) return;
    Dispatch(batch_);
    batch_.clear();
  }

  // Runs every group over `data`: group 0 here, the others on the workers; returns when
  // all are done.
  void Dispatch(absl::Span<const uint8_t> data) {
    {
      absl::MutexLock lock(&mu_);
      work_ = data;
      busy_workers_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    for (Hasher* hasher : groups_[0]) hasher->Update(data);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* busy) { return *busy == 0; }, &busy_workers_));
  }

  void WorkerLoop(const std::vector<Hasher*>& group) {
    uint64_t seen = 0;
    for (;;) {
      absl::Span<const uint8_t> data;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this, seen]() {
          mu_.AssertReaderHeld();
          return stop_ || generation_ != seen;
        };
        mu_.Await(absl::Condition(&ready));
        if (stop_) return;
        seen = generation_;
        data = work_;
      }
      for (Hasher* hasher : group) hasher->Update(data);
      absl::MutexLock lock(&mu_);
      --busy_workers_;
    }
  }

  void StopWorkers() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
  }

  std::vector<std::unique_ptr<Hasher>> hashers_;  // in the order given to Create
  std::vector<std::vector<Hasher*>> groups_;      // group 0: the caller's thread
  std::vector<std::thread> workers_;              // worker i runs groups_[i + 1]
  std::vector<uint8_t> batch_;                    // small updates not yet dispatched
  bool finished_ = false;
  std::vector<std::pair<ChecksumAlgorithm, std::string>> results_;

  absl::Mutex mu_;
  absl::Span<const uint8_t> work_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // one per Dispatch
  int busy_workers_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MultiHasher>> MultiHasher::Create(
    std::vector<ChecksumAlgorithm> algorithms, int threads) {
  if (threads < 0) {
    return absl::InvalidArgumentError(absl::StrCat("negative thread count ", threads));
  }
  std::vector<ChecksumAlgorithm> unique;
  for (ChecksumAlgorithm algorithm : algorithms) {
    if (std::find(unique.begin(), unique.end(), algorithm) == unique.end()) {
      unique.push_back(algorithm);
    }
  }
  if (unique.empty()) return absl::InvalidArgumentError("no checksum algorithm given");
  int groups = threads;
  if (groups == 0) {
    groups = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  groups = std::min(groups, static_cast<int>(unique.size()));
  auto multi = std::make_unique<MultiHasherImpl>();
  FWOTA_RETURN_IF_ERROR(multi->Init(unique, groups));
  return std::unique_ptr<MultiHasher>(std::move(multi));
}

}  // namespace fwota
