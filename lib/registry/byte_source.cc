#include "fwota/byte_source.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace fwota {
namespace {

class FdSource : public ByteSource {
 public:
  FdSource(int fd, bool owned, int64_t size_hint, std::string name)
      : fd_(fd), owned_(owned), size_hint_(size_hint), name_(std::move(name)) {}
  ~FdSource() override {
    if (owned_) ::close(fd_);
  }
  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    while (true) {
      ssize_t n = ::read(fd_, out.data(), out.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("read ", name_, ": ", strerror(errno)));
    }
  }
  int64_t SizeHint() const override { return size_hint_; }

 private:
  const int fd_;
  const bool owned_;
  const int64_t size_hint_;
  const std::string name_;
};

class StringSource : public ByteSource {
 public:
  explicit StringSource(absl::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    size_t n = std::min(out.size(), data_.size() - pos_);
    if (n == 0) return n;  // (an empty `out` may have a null data(): no memcpy then)
    std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  int64_t SizeHint() const override { return static_cast<int64_t>(data_.size()); }

 private:
  const absl::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path) {
  if (path == "-") return std::unique_ptr<ByteSource>(new FdSource(0, false, -1, "stdin"));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string message = absl::StrCat("cannot open ", path, ": ", strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES) return absl::PermissionDeniedError(message);
    return absl::InvalidArgumentError(message);
  }
  struct stat st;
  int64_t size = -1;
  if (::fstat(fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(path, " is a directory"));
    }
    if (S_ISREG(st.st_mode)) size = st.st_size;
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<ByteSource>(new FdSource(fd, true, size, path));
}

std::unique_ptr<ByteSource> NewFdSource(int fd) {
  return std::unique_ptr<ByteSource>(new FdSource(fd, false, -1, absl::StrCat("fd ", fd)));
}

std::unique_ptr<ByteSource> NewStringSource(absl::string_view data) {
  return std::unique_ptr<ByteSource>(new StringSource(data));
}

}  // namespace fwota
