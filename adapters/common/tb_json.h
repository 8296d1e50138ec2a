// ThingsBoard-shaped JSON for libfwota's entities: what ThingsBoard's REST API answers
// for OtaPackageInfo, Device, DeviceProfile, DeviceCredentials, AuditLog, Tenant,
// PageData<T> and its error body, so that scripts written against ThingsBoard read
// fwota's output unchanged. Ids are `{"entityType":"...","id":"<uuid>"}` objects; fields
// without a value are written as null, as ThingsBoard writes them. The one shape of our
// own is the Explanation ("why does this device get this package").
//
// Two forms: Write*(JsonWriter&, entity) appends the entity as one value (for nesting in
// a larger document); *Json(entity) returns it as a string. Thread-safe: pure functions.
#ifndef FWOTA_ADAPTERS_COMMON_TB_JSON_H_
#define FWOTA_ADAPTERS_COMMON_TB_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adapters/common/status_mapping.h"
#include "fwota/json_writer.h"
#include "fwota/metadata_store.h"
#include "fwota/ota_service.h"

namespace fwota::adapters {

// "FIRMWARE" / "SOFTWARE" ("" for UNSPECIFIED).
absl::string_view PackageTypeName(OtaPackageType type);
// "FIRMWARE" / "SOFTWARE", case-insensitive; kInvalidArgument otherwise.
absl::StatusOr<OtaPackageType> ParsePackageType(absl::string_view name);

// `{"entityType":<entity_type>,"id":<id>}`, or null when `id` is empty.
void WriteEntityId(JsonWriter& w, absl::string_view entity_type, absl::string_view id);

// Tenant: id, createdTime, title, name.
void WriteTenant(JsonWriter& w, const Tenant& tenant);
std::string TenantJson(const Tenant& tenant);

// OtaPackageInfo: id, createdTime, tenantId, deviceProfileId, type, title, version, tag,
// url, hasData, fileName, contentType, checksumAlgorithm, checksum, dataSize,
// additionalInfo, name ("<title> <version>").
void WritePackage(JsonWriter& w, const OtaPackage& package);
std::string PackageJson(const OtaPackage& package);

// Device: id, createdTime, tenantId, name, type, label, deviceProfileId, firmwareId,
// softwareId, additionalInfo.
void WriteDevice(JsonWriter& w, const Device& device);
std::string DeviceJson(const Device& device);

// DeviceProfile: id, createdTime, tenantId, name, description, default, type,
// transportType, provisionType, firmwareId, softwareId.
void WriteDeviceProfile(JsonWriter& w, const DeviceProfile& profile);
std::string DeviceProfileJson(const DeviceProfile& profile);

// DeviceCredentials of an access-token device: id, createdTime, deviceId,
// credentialsType "ACCESS_TOKEN", credentialsId (the token), credentialsValue null. fwota
// keeps no separate credentials row, so the id is derived from the device id (a stable
// name-based UUID).
void WriteDeviceCredentials(JsonWriter& w, const Device& device);
std::string DeviceCredentialsJson(const Device& device);

// The id DeviceCredentials JSON carries for `device_id`: a version-5-style UUID built from
// the SHA-256 of the device id.
std::string CredentialsIdFor(absl::string_view device_id);

// AuditLog: id, createdTime, tenantId, entityId, entityName, userName, actionType,
// actionData, actionStatus, actionFailureDetails.
void WriteAuditEvent(JsonWriter& w, const AuditEvent& event);
std::string AuditEventJson(const AuditEvent& event);

// Our own shape: deviceId, deviceName, type, source ("device_override",
// "profile_default", "none"), package (an OtaPackageInfo or null), reason.
void WriteExplanation(JsonWriter& w, const Explanation& explanation);
std::string ExplanationJson(const Explanation& explanation);

// Our own shape for a device's update status of one type: deviceId, type, state
// ("QUEUED" ... "FAILED", null before the first one), stateSince, progress (the dashboard's
// percentage for the state: QUEUED 0, INITIATED 5, DOWNLOADING 10, DOWNLOADED 55, VERIFIED
// 60, UPDATING 70, FAILED 99, UPDATED 100), targetPackageId, targetTitle, targetVersion,
// targetTag, targetTs, currentTitle, currentVersion, error, lastActivity, noticesSent
// (notices sent for the current target, re-notifications included).
void WriteUpdateStatus(JsonWriter& w, const UpdateStatus& status);
// The same with "deviceName" (for listings of many devices' statuses).
void WriteUpdateStatus(JsonWriter& w, const UpdateStatus& status, absl::string_view device_name);
std::string UpdateStatusJson(const UpdateStatus& status);

// One entry of a device's update history: id, createdTime, deviceId, type, state,
// packageId, title, version, error, source ("server" / "device"), accepted, note.
void WriteUpdateEvent(JsonWriter& w, const UpdateEvent& event);
std::string UpdateEventJson(const UpdateEvent& event);

// The per-state counts of one type, as GET /api/ota/stats answers them:
// {"type":"FIRMWARE","QUEUED":n,...,"FAILED":n,"waiting":..,"updating":..,"updated":..,
// "failed":..}: the dashboard's count cards (waiting = QUEUED, updating = INITIATED to
// UPDATING) and the counts behind them. `counts` is indexed by UpdateState (missing
// entries count 0).
void WriteUpdateStats(JsonWriter& w, OtaPackageType type, const std::vector<int64_t>& counts);

// The dashboard's progress percentage of `state` (see WriteUpdateStatus); 0 for
// UNSPECIFIED.
int UpdateProgressPercent(UpdateState state);

// PageData<T>: {"data":[...],"totalPages":N,"totalElements":N,"hasNext":bool}, each
// element written by `write_one`.
template <typename T>
void WritePage(JsonWriter& w, const Page<T>& page,
               absl::FunctionRef<void(JsonWriter&, const T&)> write_one) {
  w.BeginObject().Key("data").BeginArray();
  for (const T& item : page.data) write_one(w, item);
  w.EndArray();
  w.Field("totalPages", page.total_pages);
  w.Field("totalElements", page.total_elements);
  w.Field("hasNext", page.has_next);
  w.EndObject();
}

// All of `items` as one page (totalPages 1, or 0 when empty; hasNext false).
template <typename T>
Page<T> SinglePage(std::vector<T> items) {
  Page<T> page;
  page.total_elements = static_cast<int64_t>(items.size());
  page.total_pages = items.empty() ? 0 : 1;
  page.has_next = false;
  page.data = std::move(items);
  return page;
}

// ThingsBoard's error body: {"status":<HTTP status>,"message":<status message>,
// "errorCode":<TbErrorCode>,"timestamp":<timestamp_ms>}, with the codes of
// status_mapping.h. REQUIRES: !status.ok().
void WriteError(JsonWriter& w, const absl::Status& status, int64_t timestamp_ms);
std::string ErrorJson(const absl::Status& status, int64_t timestamp_ms);

// The same body for an HTTP status that no absl::StatusCode maps to (405, 416, ...):
// {"status":<http_status>,"message":<message>,"errorCode":<code>,"timestamp":<ms>}.
void WriteHttpError(JsonWriter& w, int http_status, absl::string_view message,
                    TbErrorCode code, int64_t timestamp_ms);
std::string HttpErrorJson(int http_status, absl::string_view message, TbErrorCode code,
                          int64_t timestamp_ms);

}  // namespace fwota::adapters

#endif  // FWOTA_ADAPTERS_COMMON_TB_JSON_H_
