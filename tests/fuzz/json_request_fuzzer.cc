// Fuzzes the admin REST API's JSON bodies (adapters/http/internal/json_request.h): the
// same bytes as an OtaPackageInfo, a DeviceProfile and a Device.
//
// Invariants: no crash or sanitizer report; every id that is read is a lowercase UUID;
// a package's additionalInfo, written back out, is JSON that parses as an object again;
// text that is not a JSON object is refused.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "adapters/http/internal/json_request.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool IsLowerUuid(const std::string& id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

void CheckId(const std::string& id) { FUZZ_CHECK(id.empty() || IsLowerUuid(id)); }

void CheckIdField(const fwota::http::internal::IdField& field) {
  if (field.state == fwota::http::internal::IdField::kSet) {
    FUZZ_CHECK(IsLowerUuid(field.id));
  } else {
    FUZZ_CHECK(field.id.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fwota::http::internal;
  if (size > 64 * 1024) return 0;
  const absl::string_view json(reinterpret_cast<const char*>(data), size);

  google::protobuf::Value root;
  const bool is_object =
      google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(json.data(), json.size()), &root)
          .ok() &&
      root.kind_case() == google::protobuf::Value::kStructValue;

  absl::StatusOr<fwota::PackageInfoRequest> package = ParsePackageInfoJson(json);
  if (package.ok()) {
    FUZZ_CHECK(is_object);
    CheckId(package->id);
    CheckId(package->device_profile_id);
    if (!package->additional_info_json.empty()) {
      google::protobuf::Value info;
      FUZZ_CHECK(google::protobuf::util::JsonStringToMessage(package->additional_info_json, &info)
                     .ok());
      FUZZ_CHECK(info.kind_case() == google::protobuf::Value::kStructValue);
    }
  }
  absl::StatusOr<ProfileRequest> profile = ParseProfileJson(json);
  if (profile.ok()) {
    FUZZ_CHECK(is_object);
    CheckId(profile->id);
    CheckIdField(profile->firmware_id);
    CheckIdField(profile->software_id);
  }
  absl::StatusOr<DeviceRequest> device = ParseDeviceJson(json);
  if (device.ok()) {
    FUZZ_CHECK(is_object);
    CheckId(device->id);
    CheckId(device->profile_id);
    CheckIdField(device->firmware_id);
    CheckIdField(device->software_id);
  }
  if (!is_object) FUZZ_CHECK(!package.ok() && !profile.ok() && !device.ok());
  return 0;
}
