#include "lib/store/metadata/metadata_errors.h"

#include "absl/strings/str_cat.h"
#include "fwota/status_macros.h"

namespace fwota {
namespace metadata_internal {
namespace {

void AddOptional(std::vector<Reference>& refs, absl::string_view entity, const std::string& id) {
  if (!id.empty()) refs.push_back({entity, id});
}

// The enum's name, or its number when it has none (proto3 enums are open).
std::string TypeName(OtaPackageType type) {
  if (::fwota::v1::OtaPackageType_IsValid(type)) return ::fwota::v1::OtaPackageType_Name(type);
  return absl::StrCat(static_cast<int>(type));
}

}  // namespace

std::vector<Reference> ReferencesOf(const DeviceProfile& profile) {
  std::vector<Reference> refs;
  AddOptional(refs, kTenant, profile.tenant_id());
  AddOptional(refs, kPackage, profile.firmware_id());
  AddOptional(refs, kPackage, profile.software_id());
  return refs;
}

std::vector<Reference> ReferencesOf(const Device& device) {
  std::vector<Reference> refs;
  AddOptional(refs, kTenant, device.tenant_id());
  AddOptional(refs, kProfile, device.device_profile_id());
  AddOptional(refs, kPackage, device.firmware_id());
  AddOptional(refs, kPackage, device.software_id());
  return refs;
}

std::vector<Reference> ReferencesOf(const OtaPackage& package) {
  std::vector<Reference> refs;
  AddOptional(refs, kTenant, package.tenant_id());
  AddOptional(refs, kProfile, package.device_profile_id());
  return refs;
}

std::vector<Reference> ReferencesOf(const AuditEvent& event) {
  std::vector<Reference> refs;
  AddOptional(refs, kTenant, event.tenant_id());
  return refs;
}

std::vector<Reference> ReferencesOf(const ApiKey& key) {
  std::vector<Reference> refs;
  AddOptional(refs, kTenant, key.tenant_id());
  return refs;
}

std::vector<Reference> ReferencesOf(const UpdateStatus& status) {
  std::vector<Reference> refs;
  AddOptional(refs, kTenant, status.tenant_id());
  AddOptional(refs, kDevice, status.device_id());
  return refs;
}

std::vector<Reference> ReferencesOf(const UpdateEvent& event) {
  std::vector<Reference> refs;
  AddOptional(refs, kTenant, event.tenant_id());
  AddOptional(refs, kDevice, event.device_id());
  return refs;
}

std::vector<Reference> ReferencesOf(const Notice& notice) {
  std::vector<Reference> refs;
  AddOptional(refs, kTenant, notice.tenant_id());
  AddOptional(refs, kDevice, notice.device_id());
  return refs;
}

std::string BulkEventId(absl::string_view base, int64_t n) {
  return absl::StrCat(base.substr(0, 24), absl::Hex(n, absl::kZeroPad12));
}

std::string UpdateStatusKey(absl::string_view device_id, OtaPackageType type) {
  return absl::StrCat(device_id, "/", TypeName(type));
}

absl::Status CheckIdPresent(absl::string_view entity, absl::string_view id) {
  if (!id.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(entity, " id must not be empty"));
}

absl::Status CheckTenantPresent(absl::string_view entity, absl::string_view id,
                                absl::string_view tenant_id) {
  if (!tenant_id.empty()) return absl::OkStatus();
  return MissingReferenceError(entity, id, Reference{kTenant, ""});
}

absl::Status CheckDevicePresent(absl::string_view entity, absl::string_view id,
                                absl::string_view device_id) {
  if (!device_id.empty()) return absl::OkStatus();
  return MissingReferenceError(entity, id, Reference{kDevice, ""});
}

absl::Status CheckKeyHashPresent(const ApiKey& key) {
  if (!key.key_hash().empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("API key '", key.id(), "': the key hash must not be empty"));
}

absl::Status CheckUpdateType(absl::string_view entity, absl::string_view id, OtaPackageType type) {
  if (type != ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED &&
      ::fwota::v1::OtaPackageType_IsValid(type)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      entity, " '", id, "': the package type must be FIRMWARE or SOFTWARE, not ", TypeName(type)));
}

absl::Status CheckUpdateState(absl::string_view entity, absl::string_view id, UpdateState state) {
  if (::fwota::v1::UpdateState_IsValid(state)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(entity, " '", id, "': unknown update state ", static_cast<int>(state)));
}

absl::Status CheckLoggedReport(const LoggedReport& report) {
  const std::string key = UpdateStatusKey(report.device_id, report.type);
  FWOTA_RETURN_IF_ERROR(CheckDevicePresent(kReport, key, report.device_id));
  return CheckUpdateType(kReport, key, report.type);
}

absl::Status CheckRetarget(absl::string_view profile_id, OtaPackageType type,
                           UpdateState status_state, UpdateState event_state) {
  const std::string key = UpdateStatusKey(profile_id, type);
  FWOTA_RETURN_IF_ERROR(CheckUpdateType(kUpdateStatus, key, type));
  FWOTA_RETURN_IF_ERROR(CheckUpdateState(kUpdateStatus, key, status_state));
  return CheckUpdateState(kUpdateEvent, key, event_state);
}

absl::Status CheckPageQuery(const PageQuery& query) {
  if (query.page_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("page size must be at least 1, not ", query.page_size));
  }
  if (query.page < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page must not be negative, not ", query.page));
  }
  return absl::OkStatus();
}

absl::Status NotFoundError(absl::string_view entity, absl::string_view key) {
  return absl::NotFoundError(absl::StrCat(entity, " with ", key, " not found"));
}

absl::Status NotFoundById(absl::string_view entity, absl::string_view id) {
  return NotFoundError(entity, absl::StrCat("id '", id, "'"));
}

absl::Status DuplicateIdError(absl::string_view entity, absl::string_view id) {
  return absl::AlreadyExistsError(absl::StrCat(entity, " with id '", id, "' already exists"));
}

absl::Status DuplicateTenantNameError(const Tenant& tenant) {
  return absl::AlreadyExistsError(
      absl::StrCat("tenant named '", tenant.name(), "' already exists"));
}

absl::Status DuplicateProfileNameError(const DeviceProfile& profile) {
  return absl::AlreadyExistsError(absl::StrCat("device profile named '", profile.name(),
                                               "' already exists in tenant '", profile.tenant_id(),
                                               "'"));
}

absl::Status DuplicateDeviceNameError(const Device& device) {
  return absl::AlreadyExistsError(absl::StrCat(
      "device named '", device.name(), "' already exists in tenant '", device.tenant_id(), "'"));
}

absl::Status DuplicateAccessTokenError(const Device& device) {
  return absl::AlreadyExistsError(absl::StrCat(
      "another device already has the access token given for device '", device.id(), "'"));
}

absl::Status DuplicatePackageTitleVersionError(const OtaPackage& package) {
  return absl::AlreadyExistsError(
      absl::StrCat("OTA package with title '", package.title(), "' and version '",
                   package.version(), "' already exists in tenant '", package.tenant_id(), "'"));
}

absl::Status DuplicateApiKeyNameError(const ApiKey& key) {
  return absl::AlreadyExistsError(absl::StrCat(
      "API key named '", key.name(), "' already exists in tenant '", key.tenant_id(), "'"));
}

absl::Status DuplicateApiKeyHashError(const ApiKey& key) {
  return absl::AlreadyExistsError(
      absl::StrCat("another API key already has the key hash given for API key '", key.id(), "'"));
}

absl::Status UpdateStatusNotFoundError(absl::string_view device_id, OtaPackageType type) {
  return NotFoundError(kUpdateStatus,
                       absl::StrCat("device '", device_id, "' and type ", TypeName(type)));
}

absl::Status MissingReferenceError(absl::string_view entity, absl::string_view id,
                                   const Reference& missing) {
  return absl::FailedPreconditionError(absl::StrCat(entity, " '", id, "' refers to ",
                                                    missing.entity, " '", missing.id,
                                                    "', which does not exist"));
}

absl::Status PackageStillReferencedError(absl::string_view id, const PackageReferences& refs) {
  return absl::FailedPreconditionError(
      absl::StrCat("OTA package '", id, "' is still referenced by ", refs.devices,
                   " device(s) and ", refs.profiles, " device profile(s)"));
}

absl::Status ProfileStillReferencedError(absl::string_view id, int64_t devices, int64_t packages) {
  return absl::FailedPreconditionError(
      absl::StrCat("device profile '", id, "' is still referenced by ", devices, " device(s) and ",
                   packages, " OTA package(s)"));
}

}  // namespace metadata_internal
}  // namespace fwota
