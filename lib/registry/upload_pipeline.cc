#include "lib/registry/upload_pipeline.h"

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fwota/status_macros.h"

namespace fwota::internal {
namespace {

// A queue of buffer indices between two threads. Thread-safe.
class IndexQueue {
 public:
  void Push(int index) {
    absl::MutexLock lock(&mu_);
    items_.push_back(index);
  }
  // Blocks until an index is there; -1 means "no more".
  int Pop() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &IndexQueue::NotEmpty));
    int index = items_.front();
    items_.pop_front();
    return index;
  }

 private:
  bool NotEmpty() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !items_.empty(); }
  absl::Mutex mu_;
  std::deque<int> items_ ABSL_GUARDED_BY(mu_);
};

struct Buffer {
  std::unique_ptr<char[]> bytes;
  size_t used = 0;
};

std::string AbsentLimitMessage(int64_t limit) {
  return absl::StrCat("OtaPackage data size exceeds the limit of ", limit, " bytes");
}

}  // namespace

absl::StatusOr<StreamedBlob> StreamIntoBlob(ByteSource& source, BlobStore& blobs,
                                            ChecksumAlgorithm algorithm,
                                            const UploadLimits& limits,
                                            const ProgressCallback& progress) {
  const int64_t hint = source.SizeHint();
  if (hint > limits.max_size) return absl::ResourceExhaustedError(AbsentLimitMessage(limits.max_size));

  std::vector<ChecksumAlgorithm> algorithms = {::fwota::v1::SHA256};
  if (algorithm != ::fwota::v1::SHA256) algorithms.push_back(algorithm);
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<MultiHasher> hasher, MultiHasher::Create(algorithms));
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<BlobWriter> writer, blobs.NewWriter());

  const int count = std::max(2, limits.buffers);
  std::vector<Buffer> buffers(count);
  for (Buffer& b : buffers) b.bytes.reset(new char[limits.buffer_size]);

  // Each filled buffer goes to the hash stage and the write stage; it is free again when
  // both have released it (the release queue sees it twice).
  IndexQueue to_hash, to_write, released;
  absl::Mutex write_mu;
  absl::Status write_status;  // guarded by write_mu
  std::thread hash_thread([&] {
    for (int i; (i = to_hash.Pop()) >= 0;) {
      hasher->Update(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(buffers[i].bytes.get()),
                                         buffers[i].used));
      released.Push(i);
    }
  });
  std::thread write_thread([&] {
    bool failed = false;
    for (int i; (i = to_write.Pop()) >= 0;) {
      if (!failed) {
        absl::Status s = writer->Append(absl::MakeConstSpan(buffers[i].bytes.get(), buffers[i].used));
        if (!s.ok()) {
          failed = true;
          absl::MutexLock lock(&write_mu);
          write_status = s;
        }
      }
      released.Push(i);
    }
  });

  absl::Status status;
  int64_t total = 0;
  std::vector<int> pending(count, 0);  // stages still holding each buffer
  std::deque<int> free_list;
  for (int i = 0; i < count; ++i) free_list.push_back(i);
  while (true) {
    if (free_list.empty()) {
      int i = released.Pop();
      if (--pending[i] == 0) free_list.push_back(i);
      continue;
    }
    {
      absl::MutexLock lock(&write_mu);
      if (!write_status.ok()) {
        status = write_status;
        break;
      }
    }
    int i = free_list.front();
    free_list.pop_front();
    // Fill the buffer as far as the source gives, so small socket reads do not become
    // small hash and write calls.
    Buffer& b = buffers[i];
    b.used = 0;
    bool eof = false;
    while (b.used < limits.buffer_size) {
      absl::StatusOr<size_t> n =
          source.Read(absl::MakeSpan(b.bytes.get() + b.used, limits.buffer_size - b.used));
      if (!n.ok()) {
        status = n.status();
        break;
      }
      if (*n == 0) {
        eof = true;
        break;
      }
      b.used += *n;
    }
    if (!status.ok()) break;
    total += static_cast<int64_t>(b.used);
    if (total > limits.max_size) {
      status = absl::ResourceExhaustedError(AbsentLimitMessage(limits.max_size));
      break;
    }
    if (b.used > 0) {
      pending[i] = 2;
      to_hash.Push(i);
      to_write.Push(i);
      if (progress) progress(total, hint);
    } else {
      free_list.push_back(i);
    }
    if (eof) break;
  }
  to_hash.Push(-1);
  to_write.Push(-1);
  hash_thread.join();
  write_thread.join();
  {
    absl::MutexLock lock(&write_mu);
    if (status.ok()) status = write_status;
  }
  std::vector<std::pair<ChecksumAlgorithm, std::string>> sums = hasher->Finish();
  if (!status.ok()) {
    writer->Abort();
    return status;
  }
  StreamedBlob out;
  out.size = total;
  out.sha256 = sums[0].second;
  out.checksum = algorithm == ::fwota::v1::SHA256 ? sums[0].second : sums[1].second;
  out.writer = std::move(writer);
  return out;
}

}  // namespace fwota::internal
