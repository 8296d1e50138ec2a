// ByteSource: where uploaded package bytes come from (a file, a pipe, later a socket).
// The upload path pulls from it in bounded buffers, so a package is never whole in
// memory.
#ifndef FWOTA_BYTE_SOURCE_H_
#define FWOTA_BYTE_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fwota {

// Not thread-safe: one reader.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to out.size() bytes into `out`; returns how many, 0 only at the end of the
  // data. An error (a dropped connection, an I/O failure) aborts the upload.
  virtual absl::StatusOr<size_t> Read(absl::Span<char> out) = 0;
  // The total size when known in advance (a regular file, a Content-Length), else -1.
  virtual int64_t SizeHint() const { return -1; }
};

// Reads the file at `path` ("-" is standard input). kNotFound when it does not exist.
absl::StatusOr<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path);

// Reads from a file descriptor it does not own (must stay open while in use).
std::unique_ptr<ByteSource> NewFdSource(int fd);

// Serves the bytes of `data`, which must outlive the source. For tests and small inputs.
std::unique_ptr<ByteSource> NewStringSource(absl::string_view data);

}  // namespace fwota

#endif  // FWOTA_BYTE_SOURCE_H_
