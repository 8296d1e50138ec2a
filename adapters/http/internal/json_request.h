// The JSON bodies of ThingsBoard's admin REST API, read into plain values: OtaPackageInfo,
// DeviceProfile and Device as a ThingsBoard client or its UI posts them. Unknown fields
// are ignored (the UI posts whole entities back). Ids may be ThingsBoard's
// `{"entityType":..,"id":"<uuid>"}` or a bare "<uuid>" string. Not API: used by
// ota_http_api.cc. Thread-safe: pure functions.
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_JSON_REQUEST_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_JSON_REQUEST_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fwota/ota_service.h"

namespace fwota::http::internal {

// An id field that may be absent, null or set: for firmwareId / softwareId, absent
// leaves an assignment as it is, null removes it.
struct IdField {
  enum State { kAbsent, kNull, kSet };
  State state = kAbsent;
  std::string id;  // lowercase UUID when kSet
};

// POST /api/otaPackage. `id` set: an update of additionalInfo (the other fields must
// repeat the stored ones, which the service checks).
absl::StatusOr<PackageInfoRequest> ParsePackageInfoJson(absl::string_view json);

// POST /api/deviceProfile.
struct ProfileRequest {
  std::string id;  // empty: create
  std::string name;
  std::optional<std::string> description;  // absent or null: none
  IdField firmware_id;
  IdField software_id;
};
absl::StatusOr<ProfileRequest> ParseProfileJson(absl::string_view json);

// POST /api/device.
struct DeviceRequest {
  std::string id;  // empty: create
  std::string name;
  std::string profile_id;    // deviceProfileId, lowercase UUID; empty when absent
  std::string profile_name;  // ThingsBoard's "type" (the profile's name); empty when absent
  IdField firmware_id;
  IdField software_id;
};
absl::StatusOr<DeviceRequest> ParseDeviceJson(absl::string_view json);

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_JSON_REQUEST_H_
