#include "fwota/data_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "fwota/metadata_stores.h"
#include "fwota/status_macros.h"
#include "lib/store/blob/posix_file.h"

namespace fwota {

absl::StatusOr<std::unique_ptr<DataDir>> DataDir::Open(const std::string& path,
                                                       OtaServiceOptions service_options) {
  if (path.empty()) return absl::InvalidArgumentError("data directory path is empty");
  FWOTA_RETURN_IF_ERROR(internal::MakeDirs(path));
  std::unique_ptr<DataDir> dir(new DataDir());
  dir->path_ = path;
  const std::string lock_path = path + "/LOCK";
  dir->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (dir->lock_fd_ < 0) return internal::ErrnoStatus("open", lock_path, errno);
  if (::flock(dir->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      char pid[32] = {0};
      ssize_t n = ::pread(dir->lock_fd_, pid, sizeof(pid) - 1, 0);
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", path, " is in use by another process",
                       n > 0 ? absl::StrCat(" (pid ", absl::string_view(pid, n), ")") : "",
                       "; stop it first"));
    }
    return internal::ErrnoStatus("flock", lock_path, errno);
  }
  std::string pid = absl::StrCat(::getpid());
  if (::ftruncate(dir->lock_fd_, 0) == 0) {
    (void)!::pwrite(dir->lock_fd_, pid.data(), pid.size(), 0);
  }
  FWOTA_ASSIGN_OR_RETURN(dir->metadata_, OpenSqliteMetadataStore(path + "/fwota.db"));
  FWOTA_ASSIGN_OR_RETURN(dir->blobs_, OpenFileBlobStore(path + "/blobs"));
  service_options.metadata = dir->metadata_.get();
  service_options.blobs = dir->blobs_.get();
  FWOTA_ASSIGN_OR_RETURN(dir->service_, OtaService::Create(std::move(service_options)));
  return dir;
}

DataDir::~DataDir() {
  service_.reset();
  blobs_.reset();
  metadata_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

}  // namespace fwota
