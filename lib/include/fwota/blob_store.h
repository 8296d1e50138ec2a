// BlobStore: where package bytes live. Blobs are content-addressed (the key is the
// lowercase hex SHA-256 of the bytes), written once, read by range with 64-bit offsets
// and never held whole in memory. The default implementation keeps files under a
// directory (OpenFileBlobStore); an in-memory one serves tests.
#ifndef FWOTA_BLOB_STORE_H_
#define FWOTA_BLOB_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fwota {

// Reads one stored blob. Thread-safe: ReadAt may be called from several threads at once.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // The blob's size in bytes.
  virtual int64_t size() const = 0;
  // Copies up to out.size() bytes starting at `offset` into `out` and returns how many
  // (fewer only at the end; 0 at or past the end). kDataLoss when the stored bytes no
  // longer match what was written (they are never handed out then); kInvalidArgument for
  // a negative offset.
  virtual absl::StatusOr<size_t> ReadAt(int64_t offset, absl::Span<char> out) = 0;

  // Zero-copy support. Checks the integrity of [offset, offset + length) (clamped to the
  // blob) and returns a file descriptor whose bytes at the same offsets are the blob's,
  // so a server may sendfile() them. The descriptor belongs to the reader and stays
  // valid while it lives. kDataLoss when the range is damaged; kUnimplemented for
  // readers that are not backed by a file (callers then use ReadAt).
  virtual absl::StatusOr<int> PrepareSendFile(int64_t offset, int64_t length) {
    (void)offset;
    (void)length;
    return absl::UnimplementedError("this blob reader has no file descriptor");
  }
};

// Writes one new blob. Not thread-safe. Nothing is visible under any key until Commit
// succeeds; a writer destroyed without Commit leaves nothing behind (and a crashed
// process leaves only temporary files that RemoveIncompleteWrites() deletes).
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual absl::Status Append(absl::Span<const char> data) = 0;
  // Bytes appended so far.
  virtual int64_t size() const = 0;
  // Makes the bytes durable (fsync) and visible under `key`, which must be their
  // lowercase hex SHA-256 (the caller computed it while streaming). When a blob with that
  // key exists already the new bytes are dropped: same key, same content.
  virtual absl::Status Commit(absl::string_view key) = 0;
  // Drops everything written. Idempotent.
  virtual void Abort() = 0;
};

// Thread-safe.
class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter() = 0;
  // kNotFound when there is no such blob; kDataLoss when its files are damaged.
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> Open(absl::string_view key) = 0;
  virtual bool Contains(absl::string_view key) = 0;
  // kNotFound when there is no such blob.
  virtual absl::Status Delete(absl::string_view key) = 0;
  // Every committed key, sorted.
  virtual absl::StatusOr<std::vector<std::string>> ListKeys() = 0;
  // Deletes what interrupted writes left behind. Call only when no writer is open (for
  // example at start-up, under the data directory's lock).
  virtual absl::Status RemoveIncompleteWrites() = 0;
  // Reads the whole blob and checks it against its key: kDataLoss on mismatch.
  virtual absl::Status Verify(absl::string_view key) = 0;
};

struct FileBlobStoreOptions {
  // Bytes covered by one integrity check (a CRC32 kept beside the blob), verified on
  // every ReadAt that touches the block. Default 64 KiB.
  int64_t integrity_block_size = 64 * 1024;
};

// Blobs as files under `dir` (created if missing): `<dir>/<key[0:2]>/<key>` plus
// `<key>.crc` (the per-block CRC32s); writes go to `<dir>/tmp/`, are fsynced and renamed
// into place, and the directory is fsynced.
absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileBlobStore(
    const std::string& dir, const FileBlobStoreOptions& options = {});

// Blobs in memory; for tests.
std::unique_ptr<BlobStore> NewMemoryBlobStore();

}  // namespace fwota

#endif  // FWOTA_BLOB_STORE_H_
