#include "lib/registry/package_rules.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "fwota/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace fwota::internal {
namespace {

constexpr size_t kMaxFieldLength = 255;

absl::Status CheckText(absl::string_view field, absl::string_view prefix,
                       absl::string_view value, bool required) {
  if (required && absl::StripAsciiWhitespace(value).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, " should be specified!"));
  }
  if (value.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, " should not contain 0x00 symbol!"));
  }
  if (value.size() > kMaxFieldLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("The length of ", field, " should be equal or shorter than 255"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view TypeWord(OtaPackageType type) {
  return type == ::fwota::v1::SOFTWARE ? "software" : "firmware";
}

absl::string_view TypeName(OtaPackageType type) {
  switch (type) {
    case ::fwota::v1::FIRMWARE:
      return "FIRMWARE";
    case ::fwota::v1::SOFTWARE:
      return "SOFTWARE";
    default:
      return "UNSPECIFIED";
  }
}

absl::StatusOr<std::string> NormalizeAdditionalInfo(absl::string_view json) {
  if (absl::StripAsciiWhitespace(json).empty()) return std::string("{}");
  google::protobuf::Struct parsed;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &parsed);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("additionalInfo must be a JSON object: ", status.message().as_string()));
  }
  return std::string(json);
}

absl::Status ValidateNewPackageInfo(const PackageInfoRequest& r) {
  if (r.type != ::fwota::v1::FIRMWARE && r.type != ::fwota::v1::SOFTWARE) {
    return absl::InvalidArgumentError("Type should be specified!");
  }
  FWOTA_RETURN_IF_ERROR(CheckText("title", "OtaPackage title", r.title, true));
  FWOTA_RETURN_IF_ERROR(CheckText("version", "OtaPackage version", r.version, true));
  FWOTA_RETURN_IF_ERROR(CheckText("tag", "OtaPackage tag", r.tag, false));
  if (absl::StripAsciiWhitespace(r.device_profile_id).empty()) {
    return absl::InvalidArgumentError("OtaPackage deviceProfileId should be specified!");
  }
  if (r.url.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("OtaPackage URL should not contain 0x00 symbol!");
  }
  if (!r.url.empty() && r.url.size() > 8192) {
    return absl::InvalidArgumentError("The length of URL should be equal or shorter than 8192");
  }
  return NormalizeAdditionalInfo(r.additional_info_json).status();
}

absl::Status ValidatePackageInfoUpdate(const OtaPackage& old, const PackageInfoRequest& r) {
  if (r.type != old.type()) return absl::InvalidArgumentError("Updating type is prohibited!");
  if (r.title != old.title()) {
    return absl::InvalidArgumentError("Updating otaPackage title is prohibited!");
  }
  if (r.version != old.version()) {
    return absl::InvalidArgumentError("Updating otaPackage version is prohibited!");
  }
  if (!r.tag.empty() && r.tag != old.tag()) {
    return absl::InvalidArgumentError("Updating otaPackage tag is prohibited!");
  }
  if (r.device_profile_id != old.device_profile_id()) {
    return absl::InvalidArgumentError("Updating otaPackage deviceProfile is prohibited!");
  }
  if (r.url != old.url()) return absl::InvalidArgumentError("Updating otaPackage URL is prohibited!");
  return NormalizeAdditionalInfo(r.additional_info_json).status();
}

absl::Status ValidateUploadRequest(const UploadRequest& upload) {
  FWOTA_RETURN_IF_ERROR(CheckText("file name", "OtaPackage file name", upload.file_name, true));
  FWOTA_RETURN_IF_ERROR(
      CheckText("content type", "OtaPackage content type", upload.content_type, false));
  if (!upload.checksum.empty()) {
    FWOTA_RETURN_IF_ERROR(NormalizeChecksumText(upload.checksum).status());
  }
  return absl::OkStatus();
}

}  // namespace fwota::internal
