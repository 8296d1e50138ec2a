// The statuses both MetadataStore implementations answer, built in one place so that the
// SQLite and the in-memory store say the same thing for the same mistake. Not API.
#ifndef FWOTA_STORE_METADATA_METADATA_ERRORS_H_
#define FWOTA_STORE_METADATA_METADATA_ERRORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fwota/metadata_store.h"

namespace fwota {
namespace metadata_internal {

// Entity names as they appear in messages.
inline constexpr absl::string_view kTenant = "tenant";
inline constexpr absl::string_view kProfile = "device profile";
inline constexpr absl::string_view kDevice = "device";
inline constexpr absl::string_view kPackage = "OTA package";
inline constexpr absl::string_view kAudit = "audit event";
inline constexpr absl::string_view kApiKey = "API key";
inline constexpr absl::string_view kUpdateStatus = "update status";
inline constexpr absl::string_view kUpdateEvent = "update event";
inline constexpr absl::string_view kNotice = "notice";
inline constexpr absl::string_view kReport = "device report";

// One reference a row makes: `entity` (one of the names above) with id `id`.
struct Reference {
  absl::string_view entity;
  std::string id;
};

// The optional references of each entity (an empty id is "no reference"), in the order
// both stores check them. The tenant comes first; it is required on profiles, devices
// and packages (see CheckTenantPresent) and optional on audit events. API keys
// refer to their tenant (required); update statuses and events to their tenant
// (optional) and device (required, see CheckDevicePresent), never to a package: they
// keep a deleted package's id as history.
std::vector<Reference> ReferencesOf(const DeviceProfile& profile);
std::vector<Reference> ReferencesOf(const Device& device);
std::vector<Reference> ReferencesOf(const OtaPackage& package);
std::vector<Reference> ReferencesOf(const AuditEvent& event);
std::vector<Reference> ReferencesOf(const ApiKey& key);
std::vector<Reference> ReferencesOf(const UpdateStatus& status);
std::vector<Reference> ReferencesOf(const UpdateEvent& event);
std::vector<Reference> ReferencesOf(const Notice& notice);

// The id of the `n`th history entry of a RetargetProfileMembers call: the first 24
// characters of `base` (a time-ordered UUID), then `n` as 12 lowercase hex digits.
std::string BulkEventId(absl::string_view base, int64_t n);

// How messages name an update status, which has no id of its own: "<device id>/<TYPE>".
std::string UpdateStatusKey(absl::string_view device_id, OtaPackageType type);

// The checks every insert (and update) starts with, in this order, in both stores.
// kInvalidArgument when `id` is empty: every row needs its id.
absl::Status CheckIdPresent(absl::string_view entity, absl::string_view id);
// kFailedPrecondition when `tenant_id` is empty: the tenant "" does not exist.
absl::Status CheckTenantPresent(absl::string_view entity, absl::string_view id,
                                absl::string_view tenant_id);
// kFailedPrecondition when `device_id` is empty: the device "" does not exist.
absl::Status CheckDevicePresent(absl::string_view entity, absl::string_view id,
                                absl::string_view device_id);
// kInvalidArgument for an empty key hash: it would be a key that nothing can present.
absl::Status CheckKeyHashPresent(const ApiKey& key);
// kInvalidArgument for a package type that is UNSPECIFIED or not in the enum (an
// update status or event is always about firmware or software).
absl::Status CheckUpdateType(absl::string_view entity, absl::string_view id, OtaPackageType type);
// kInvalidArgument for a state number that is not in the enum (UNSPECIFIED is in it):
// CountUpdateStates indexes by state.
absl::Status CheckUpdateState(absl::string_view entity, absl::string_view id, UpdateState state);

// The checks of AppendReport: a device id, a FIRMWARE or SOFTWARE type.
absl::Status CheckLoggedReport(const LoggedReport& report);

// The checks of RetargetProfileMembers: a FIRMWARE or SOFTWARE type, states of the enum.
absl::Status CheckRetarget(absl::string_view profile_id, OtaPackageType type,
                           UpdateState status_state, UpdateState event_state);

// kInvalidArgument for a page_size below 1 or a negative page.
absl::Status CheckPageQuery(const PageQuery& query);

// kNotFound: "<entity> with <key> not found".
absl::Status NotFoundError(absl::string_view entity, absl::string_view key);
absl::Status NotFoundById(absl::string_view entity, absl::string_view id);

// kAlreadyExists, naming the key that collided (never the access token itself: it is a
// credential and messages end up in logs).
absl::Status DuplicateIdError(absl::string_view entity, absl::string_view id);
absl::Status DuplicateTenantNameError(const Tenant& tenant);
absl::Status DuplicateProfileNameError(const DeviceProfile& profile);
absl::Status DuplicateDeviceNameError(const Device& device);
absl::Status DuplicateAccessTokenError(const Device& device);
absl::Status DuplicatePackageTitleVersionError(const OtaPackage& package);
// Neither message shows the hash: it identifies a credential.
absl::Status DuplicateApiKeyNameError(const ApiKey& key);
absl::Status DuplicateApiKeyHashError(const ApiKey& key);

// kNotFound for GetUpdateStatus.
absl::Status UpdateStatusNotFoundError(absl::string_view device_id, OtaPackageType type);

// kFailedPrecondition: the row `entity` `id` refers to `missing`, which does not exist.
absl::Status MissingReferenceError(absl::string_view entity, absl::string_view id,
                                   const Reference& missing);
// kFailedPrecondition for a delete the store refuses because others refer to the row.
absl::Status PackageStillReferencedError(absl::string_view id, const PackageReferences& refs);
absl::Status ProfileStillReferencedError(absl::string_view id, int64_t devices, int64_t packages);

}  // namespace metadata_internal
}  // namespace fwota

#endif  // FWOTA_STORE_METADATA_METADATA_ERRORS_H_
