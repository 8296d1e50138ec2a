// DataDir: libfwota on its embedded defaults. A data directory holds the SQLite metadata
// (`fwota.db`) and the blob files (`blobs/`); opening it takes an exclusive lock
// (`LOCK`), so one process at a time serves it, recovers what a crash left, and builds
// the OtaService over it.
#ifndef FWOTA_DATA_DIR_H_
#define FWOTA_DATA_DIR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fwota/blob_store.h"
#include "fwota/metadata_store.h"
#include "fwota/ota_service.h"

namespace fwota {

// Not thread-safe itself; service() is.
class DataDir {
 public:
  // Creates `path` if missing. kFailedPrecondition when another process holds it;
  // `service_options` supplies limits, clock and hooks (its store fields are ignored).
  static absl::StatusOr<std::unique_ptr<DataDir>> Open(const std::string& path,
                                                       OtaServiceOptions service_options = {});
  ~DataDir();

  const std::string& path() const { return path_; }
  OtaService& service() { return *service_; }
  MetadataStore& metadata() { return *metadata_; }
  BlobStore& blobs() { return *blobs_; }

 private:
  DataDir() = default;
  std::string path_;
  int lock_fd_ = -1;
  std::unique_ptr<MetadataStore> metadata_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<OtaService> service_;  // declared last: destroyed first
};

}  // namespace fwota

#endif  // FWOTA_DATA_DIR_H_
