// ThingsBoard's OTA package rules, with its messages. Internal to libfwota. Pure
// functions: thread-safe.
#ifndef FWOTA_LIB_REGISTRY_PACKAGE_RULES_H_
#define FWOTA_LIB_REGISTRY_PACKAGE_RULES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fwota/ota_service.h"

namespace fwota::internal {

// "firmware" / "software", as ThingsBoard words its assignment messages.
absl::string_view TypeWord(OtaPackageType type);
// "FIRMWARE" / "SOFTWARE".
absl::string_view TypeName(OtaPackageType type);

// Checks a new package's info (required fields, lengths <= 255, no NUL, a JSON object
// for additional info). kInvalidArgument with ThingsBoard's message.
absl::Status ValidateNewPackageInfo(const PackageInfoRequest& request);

// Checks an update of `old` to `request`: only additional info may change.
absl::Status ValidatePackageInfoUpdate(const OtaPackage& old, const PackageInfoRequest& request);

// Checks an upload's parameters (file name given, checksum well-formed).
absl::Status ValidateUploadRequest(const UploadRequest& upload);

// An empty text becomes "{}"; anything that is not a JSON object is kInvalidArgument.
absl::StatusOr<std::string> NormalizeAdditionalInfo(absl::string_view json);

}  // namespace fwota::internal

#endif  // FWOTA_LIB_REGISTRY_PACKAGE_RULES_H_
