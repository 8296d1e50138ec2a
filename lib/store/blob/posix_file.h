// Small RAII helpers over POSIX file descriptors for the file blob store. Internal.
#ifndef FWOTA_LIB_STORE_BLOB_POSIX_FILE_H_
#define FWOTA_LIB_STORE_BLOB_POSIX_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fwota::internal {

// An owned file descriptor; closes on destruction. Not thread-safe except PRead.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  absl::Status Close();

 private:
  int fd_ = -1;
};

// A status for the failed system call `what` on `path`, from errno: ENOSPC and EDQUOT
// (a full disk) become kUnavailable, ENOENT kNotFound, EACCES kPermissionDenied, others
// kInternal.
absl::Status ErrnoStatus(absl::string_view what, absl::string_view path, int err);

absl::StatusOr<UniqueFd> OpenFile(const std::string& path, int flags, int mode = 0644);
// Writes all of `data`, retrying on EINTR and short writes.
absl::Status WriteAll(int fd, absl::Span<const char> data, absl::string_view path);
// Reads up to out.size() bytes at `offset`, retrying on EINTR and short reads; returns
// the count (short only at end of file).
absl::StatusOr<size_t> PReadFull(int fd, int64_t offset, absl::Span<char> out,
                                 absl::string_view path);
absl::Status FsyncFd(int fd, absl::string_view path);
absl::Status FsyncDir(const std::string& dir);
// mkdir -p.
absl::Status MakeDirs(const std::string& dir);

}  // namespace fwota::internal

#endif  // FWOTA_LIB_STORE_BLOB_POSIX_FILE_H_
