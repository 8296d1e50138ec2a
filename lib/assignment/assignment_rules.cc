#include "lib/assignment/assignment_rules.h"

#include "absl/strings/str_cat.h"
#include "fwota/status_macros.h"
#include "lib/registry/package_rules.h"

namespace fwota::internal {

const std::string& AssignedId(const Device& device, OtaPackageType type) {
  return type == ::fwota::v1::SOFTWARE ? device.software_id() : device.firmware_id();
}

const std::string& AssignedId(const DeviceProfile& profile, OtaPackageType type) {
  return type == ::fwota::v1::SOFTWARE ? profile.software_id() : profile.firmware_id();
}

void SetAssignedId(Device& device, OtaPackageType type, std::string id) {
  if (type == ::fwota::v1::SOFTWARE) {
    device.set_software_id(std::move(id));
  } else {
    device.set_firmware_id(std::move(id));
  }
}

void SetAssignedId(DeviceProfile& profile, OtaPackageType type, std::string id) {
  if (type == ::fwota::v1::SOFTWARE) {
    profile.set_software_id(std::move(id));
  } else {
    profile.set_firmware_id(std::move(id));
  }
}

absl::StatusOr<OtaPackage> CheckAssignable(MetadataTransaction& tx, absl::string_view tenant_id,
                                           absl::string_view profile_id, OtaPackageType type,
                                           absl::string_view package_id) {
  const absl::string_view word = TypeWord(type);
  absl::StatusOr<OtaPackage> package = tx.GetPackage(package_id);
  if (absl::IsNotFound(package.status())) {
    return absl::NotFoundError(absl::StrCat("Can't assign non-existent ", word, "!"));
  }
  if (!package.ok()) return package.status();
  if (package->tenant_id() != tenant_id) {
    return absl::PermissionDeniedError(absl::StrCat("Can't assign ", word, " from different tenant!"));
  }
  if (package->type() != type) {
    return absl::InvalidArgumentError(
        absl::StrCat("Can't assign ", word, " with type: ", TypeName(package->type())));
  }
  if (!package->has_data() && package->url().empty()) {
    return absl::FailedPreconditionError(absl::StrCat("Can't assign ", word, " with empty data!"));
  }
  if (package->device_profile_id() != profile_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("Can't assign ", word, " with different deviceProfile!"));
  }
  return package;
}

absl::StatusOr<Explanation> ExplainEffectivePackage(MetadataTransaction& tx,
                                                    const Device& device,
                                                    OtaPackageType type) {
  Explanation out;
  out.type = type;
  out.device = device;
  FWOTA_ASSIGN_OR_RETURN(out.profile, tx.GetProfile(device.device_profile_id()));
  const absl::string_view word = TypeWord(type);
  const std::string& own = AssignedId(device, type);
  const std::string& inherited = AssignedId(out.profile, type);
  if (!own.empty()) {
    FWOTA_ASSIGN_OR_RETURN(out.package, tx.GetPackage(own));
    out.source = Explanation::Source::kDeviceOverride;
    out.reason = absl::StrCat("device \"", device.name(), "\" has its own ", word,
                              " assignment, which wins over its profile's");
    if (!inherited.empty() && inherited != own) {
      absl::StrAppend(&out.reason, " (profile \"", out.profile.name(), "\" would give another)");
    }
  } else if (!inherited.empty()) {
    FWOTA_ASSIGN_OR_RETURN(out.package, tx.GetPackage(inherited));
    out.source = Explanation::Source::kProfileDefault;
    out.reason = absl::StrCat("device \"", device.name(), "\" has no ", word,
                              " of its own and takes the default of its profile \"",
                              out.profile.name(), "\"");
  } else {
    out.source = Explanation::Source::kNone;
    out.reason = absl::StrCat("neither device \"", device.name(), "\" nor its profile \"",
                              out.profile.name(), "\" has a ", word, " assigned");
  }
  return out;
}

}  // namespace fwota::internal
