// BlobStore in memory, for tests. Thread-safe: one mutex over the map; readers share the
// immutable bytes.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fwota/blob_store.h"
#include "fwota/checksum.h"
#include "fwota/status_macros.h"
#include "lib/store/blob/blob_key.h"

namespace fwota {
namespace {

using internal::ValidateBlobKey;

class MemoryBlobReader : public BlobReader {
 public:
  explicit MemoryBlobReader(std::shared_ptr<const std::string> bytes)
      : bytes_(std::move(bytes)) {}
  int64_t size() const override { return static_cast<int64_t>(bytes_->size()); }
  absl::StatusOr<size_t> ReadAt(int64_t offset, absl::Span<char> out) override {
    if (offset < 0) return absl::InvalidArgumentError("negative blob offset");
    if (offset >= size()) return 0;
    size_t n = std::min<size_t>(out.size(), bytes_->size() - static_cast<size_t>(offset));
    std::memcpy(out.data(), bytes_->data() + offset, n);
    return n;
  }

 private:
  const std::shared_ptr<const std::string> bytes_;
};

class MemoryBlobStore;

class MemoryBlobWriter : public BlobWriter {
 public:
  explicit MemoryBlobWriter(MemoryBlobStore* store) : store_(store) {}
  absl::Status Append(absl::Span<const char> data) override {
    if (done_) return absl::FailedPreconditionError("blob writer already finished");
    bytes_.append(data.data(), data.size());
    return absl::OkStatus();
  }
  int64_t size() const override { return static_cast<int64_t>(bytes_.size()); }
  absl::Status Commit(absl::string_view key) override;
  void Abort() override {
    done_ = true;
    bytes_.clear();
  }

 private:
  MemoryBlobStore* const store_;  // must outlive the writer
  std::string bytes_;
  bool done_ = false;
};

class MemoryBlobStore : public BlobStore {
 public:
  absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter() override {
    return std::unique_ptr<BlobWriter>(new MemoryBlobWriter(this));
  }
  absl::StatusOr<std::unique_ptr<BlobReader>> Open(absl::string_view key) override {
    FWOTA_RETURN_IF_ERROR(ValidateBlobKey(key));
    absl::MutexLock lock(&mu_);
    auto it = blobs_.find(std::string(key));
    if (it == blobs_.end()) return absl::NotFoundError(absl::StrCat("blob ", key, " not found"));
    return std::unique_ptr<BlobReader>(new MemoryBlobReader(it->second));
  }
  bool Contains(absl::string_view key) override {
    absl::MutexLock lock(&mu_);
    return blobs_.count(std::string(key)) > 0;
  }
  absl::Status Delete(absl::string_view key) override {
    FWOTA_RETURN_IF_ERROR(ValidateBlobKey(key));
    absl::MutexLock lock(&mu_);
    if (blobs_.erase(std::string(key)) == 0) {
      return absl::NotFoundError(absl::StrCat("blob ", key, " not found"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> ListKeys() override {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> keys;
    for (const auto& [key, bytes] : blobs_) keys.push_back(key);
    return keys;
  }
  absl::Status RemoveIncompleteWrites() override { return absl::OkStatus(); }
  absl::Status Verify(absl::string_view key) override {
    FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, Open(key));
    std::string bytes(static_cast<size_t>(reader->size()), '\0');
    FWOTA_RETURN_IF_ERROR(reader->ReadAt(0, absl::MakeSpan(bytes)).status());
    if (ChecksumText(::fwota::v1::SHA256, bytes) != key) {
      return absl::DataLossError(
          absl::StrCat("blob ", key, " is damaged: its SHA-256 no longer matches"));
    }
    return absl::OkStatus();
  }

  void Put(std::string key, std::string bytes) {
    absl::MutexLock lock(&mu_);
    blobs_.emplace(std::move(key), std::make_shared<const std::string>(std::move(bytes)));
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const std::string>> blobs_ ABSL_GUARDED_BY(mu_);
};

absl::Status MemoryBlobWriter::Commit(absl::string_view key) {
  if (done_) return absl::FailedPreconditionError("blob writer already finished");
  FWOTA_RETURN_IF_ERROR(ValidateBlobKey(key));
  done_ = true;
  store_->Put(std::string(key), std::move(bytes_));
  return absl::OkStatus();
}

}  // namespace

std::unique_ptr<BlobStore> NewMemoryBlobStore() { return std::make_unique<MemoryBlobStore>(); }

}  // namespace fwota
