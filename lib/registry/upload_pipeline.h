// The upload path: bytes from a ByteSource go through the hashers and into a new blob,
// in a bounded ring of buffers, with reading, hashing and writing overlapped on separate
// threads. Internal to libfwota.
#ifndef FWOTA_LIB_REGISTRY_UPLOAD_PIPELINE_H_
#define FWOTA_LIB_REGISTRY_UPLOAD_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fwota/blob_store.h"
#include "fwota/byte_source.h"
#include "fwota/checksum.h"

namespace fwota::internal {

struct UploadLimits {
  int64_t max_size = int64_t{2} << 30;  // bytes; more is kResourceExhausted
  size_t buffer_size = 1 << 20;         // bytes per buffer
  int buffers = 4;                      // ring size; peak memory = buffers * buffer_size
};

// Called from the reading thread after each buffer: bytes so far, total (-1: unknown).
using ProgressCallback = std::function<void(int64_t done, int64_t total)>;

struct StreamedBlob {
  int64_t size = 0;
  std::string sha256;    // lowercase hex: the blob's key
  std::string checksum;  // ThingsBoard text of `algorithm`
  // The written but not yet committed blob: Commit(sha256) publishes it; dropping it
  // leaves nothing behind.
  std::unique_ptr<BlobWriter> writer;
};

// Streams all of `source` into a new blob of `blobs`, computing SHA-256 and `algorithm`
// in the same pass. kResourceExhausted (nothing kept) when the data exceed
// limits.max_size; the source's or the store's error otherwise.
absl::StatusOr<StreamedBlob> StreamIntoBlob(ByteSource& source, BlobStore& blobs,
                                            ChecksumAlgorithm algorithm,
                                            const UploadLimits& limits,
                                            const ProgressCallback& progress);

}  // namespace fwota::internal

#endif  // FWOTA_LIB_REGISTRY_UPLOAD_PIPELINE_H_
