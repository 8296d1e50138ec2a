// Blob keys: lowercase hex SHA-256. Internal.
#ifndef FWOTA_LIB_STORE_BLOB_BLOB_KEY_H_
#define FWOTA_LIB_STORE_BLOB_BLOB_KEY_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fwota::internal {

// OK for 64 lowercase hex digits; kInvalidArgument otherwise (this also keeps any path
// separator out of file names built from a key).
inline absl::Status ValidateBlobKey(absl::string_view key) {
  bool ok = key.size() == 64;
  for (char c : key) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) return absl::InvalidArgumentError(absl::StrCat("invalid blob key \"", key, "\""));
  return absl::OkStatus();
}

}  // namespace fwota::internal

#endif  // FWOTA_LIB_STORE_BLOB_BLOB_KEY_H_
