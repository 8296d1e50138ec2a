#include "tools/fwota/remote/tb_json_reader.h"

#include "absl/strings/str_cat.h"
#include "adapters/common/tb_json.h"
#include "fwota/checksum.h"
#include "fwota/status_macros.h"

namespace fwota::cli::remote {
namespace {

// A string member; "" when absent, null or not a string.
std::string Str(const JsonValue& object, absl::string_view key) {
  const JsonValue* v = object.Find(key);
  return v == nullptr ? std::string() : v->string();
}

int64_t Int(const JsonValue& object, absl::string_view key) {
  const JsonValue* v = object.Find(key);
  return v == nullptr ? 0 : v->Int();
}

// Stored JSON text (additionalInfo, actionData): the raw text, "" for null or absent
// (tb_json.h writes an empty one as null or {}; RawOr below undoes exactly that).
std::string RawOr(const JsonValue& object, absl::string_view key, absl::string_view empty_form) {
  const JsonValue* v = object.Find(key);
  if (v == nullptr || v->is_null() || v->raw() == empty_form) return std::string();
  return v->raw();
}

absl::Status RequireObject(const JsonValue& json, absl::string_view what) {
  if (!json.is_object()) return UnexpectedAnswer(absl::StrCat(what, " that is not an object"));
  return absl::OkStatus();
}

OtaPackageType TypeOf(const JsonValue& object) {
  absl::StatusOr<OtaPackageType> type = adapters::ParsePackageType(Str(object, "type"));
  return type.ok() ? *type : ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED;
}

// A "state" member; UNSPECIFIED for null, absent or unknown.
UpdateState StateOf(const JsonValue& object) {
  absl::StatusOr<UpdateState> state = ParseUpdateState(Str(object, "state"));
  return state.ok() ? *state : ::fwota::v1::UPDATE_STATE_UNSPECIFIED;
}

}  // namespace

absl::Status UnexpectedAnswer(absl::string_view what) {
  return absl::InternalError(absl::StrCat("unexpected answer from the server: ", what));
}

std::string IdOf(const JsonValue* value) {
  if (value == nullptr) return "";
  if (value->is_string()) return value->string();
  const JsonValue* id = value->Find("id");
  return id == nullptr ? std::string() : id->string();
}

absl::StatusOr<OtaPackage> ReadPackage(const JsonValue& json) {
  FWOTA_RETURN_IF_ERROR(RequireObject(json, "an OTA package"));
  OtaPackage p;
  p.set_id(IdOf(json.Find("id")));
  p.set_created_time(Int(json, "createdTime"));
  p.set_tenant_id(IdOf(json.Find("tenantId")));
  p.set_device_profile_id(IdOf(json.Find("deviceProfileId")));
  p.set_type(TypeOf(json));
  p.set_title(Str(json, "title"));
  p.set_version(Str(json, "version"));
  p.set_tag(Str(json, "tag"));
  p.set_url(Str(json, "url"));
  const JsonValue* has_data = json.Find("hasData");
  p.set_has_data(has_data != nullptr && has_data->boolean());
  p.set_file_name(Str(json, "fileName"));
  p.set_content_type(Str(json, "contentType"));
  const std::string algorithm = Str(json, "checksumAlgorithm");
  if (!algorithm.empty()) {
    absl::StatusOr<ChecksumAlgorithm> parsed = ParseChecksumAlgorithm(algorithm);
    if (!parsed.ok()) return UnexpectedAnswer(absl::StrCat("checksumAlgorithm ", algorithm));
    p.set_checksum_algorithm(*parsed);
  }
  p.set_checksum(Str(json, "checksum"));
  p.set_data_size(Int(json, "dataSize"));
  // tb_json.h writes an empty additionalInfo as null.
  p.set_additional_info_json(RawOr(json, "additionalInfo", "null"));
  return p;
}

absl::StatusOr<Device> ReadDevice(const JsonValue& json) {
  FWOTA_RETURN_IF_ERROR(RequireObject(json, "a device"));
  Device d;
  d.set_id(IdOf(json.Find("id")));
  d.set_created_time(Int(json, "createdTime"));
  d.set_tenant_id(IdOf(json.Find("tenantId")));
  d.set_name(Str(json, "name"));
  d.set_type(Str(json, "type"));
  d.set_device_profile_id(IdOf(json.Find("deviceProfileId")));
  d.set_firmware_id(IdOf(json.Find("firmwareId")));
  d.set_software_id(IdOf(json.Find("softwareId")));
  return d;
}

absl::StatusOr<DeviceProfile> ReadDeviceProfile(const JsonValue& json) {
  FWOTA_RETURN_IF_ERROR(RequireObject(json, "a device profile"));
  DeviceProfile p;
  p.set_id(IdOf(json.Find("id")));
  p.set_created_time(Int(json, "createdTime"));
  p.set_tenant_id(IdOf(json.Find("tenantId")));
  p.set_name(Str(json, "name"));
  p.set_description(Str(json, "description"));
  p.set_firmware_id(IdOf(json.Find("firmwareId")));
  p.set_software_id(IdOf(json.Find("softwareId")));
  return p;
}

absl::StatusOr<AuditEvent> ReadAuditEvent(const JsonValue& json) {
  FWOTA_RETURN_IF_ERROR(RequireObject(json, "an audit log entry"));
  AuditEvent e;
  e.set_id(IdOf(json.Find("id")));
  e.set_created_time(Int(json, "createdTime"));
  e.set_tenant_id(IdOf(json.Find("tenantId")));
  if (const JsonValue* entity = json.Find("entityId"); entity != nullptr && entity->is_object()) {
    e.set_entity_type(Str(*entity, "entityType"));
    e.set_entity_id(Str(*entity, "id"));
  }
  e.set_entity_name(Str(json, "entityName"));
  e.set_user_name(Str(json, "userName"));
  ::fwota::v1::AuditActionType action;
  if (::fwota::v1::AuditActionType_Parse(Str(json, "actionType"), &action)) {
    e.set_action_type(action);
  }
  // tb_json.h writes an empty actionData as {}.
  e.set_action_data_json(RawOr(json, "actionData", "{}"));
  ::fwota::v1::AuditActionStatus status;
  if (::fwota::v1::AuditActionStatus_Parse(Str(json, "actionStatus"), &status)) {
    e.set_action_status(status);
  }
  e.set_failure_details(Str(json, "actionFailureDetails"));
  return e;
}

absl::StatusOr<UpdateStatus> ReadUpdateStatus(const JsonValue& json) {
  FWOTA_RETURN_IF_ERROR(RequireObject(json, "an update status"));
  UpdateStatus s;
  s.set_device_id(IdOf(json.Find("deviceId")));
  s.set_type(TypeOf(json));
  s.set_state(StateOf(json));
  s.set_state_since(Int(json, "stateSince"));
  s.set_target_package_id(IdOf(json.Find("targetPackageId")));
  s.set_target_title(Str(json, "targetTitle"));
  s.set_target_version(Str(json, "targetVersion"));
  s.set_target_tag(Str(json, "targetTag"));
  s.set_target_ts(Int(json, "targetTs"));
  s.set_current_title(Str(json, "currentTitle"));
  s.set_current_version(Str(json, "currentVersion"));
  s.set_error(Str(json, "error"));
  s.set_last_activity(Int(json, "lastActivity"));
  s.set_notices_sent(static_cast<int32_t>(Int(json, "noticesSent")));
  return s;
}

absl::StatusOr<UpdateEvent> ReadUpdateEvent(const JsonValue& json) {
  FWOTA_RETURN_IF_ERROR(RequireObject(json, "an update history entry"));
  UpdateEvent e;
  e.set_id(Str(json, "id"));
  e.set_created_time(Int(json, "createdTime"));
  e.set_device_id(IdOf(json.Find("deviceId")));
  e.set_type(TypeOf(json));
  e.set_state(StateOf(json));
  e.set_package_id(IdOf(json.Find("packageId")));
  e.set_title(Str(json, "title"));
  e.set_version(Str(json, "version"));
  e.set_error(Str(json, "error"));
  e.set_source(Str(json, "source"));
  const JsonValue* accepted = json.Find("accepted");
  e.set_accepted(accepted != nullptr && accepted->boolean());
  e.set_note(Str(json, "note"));
  return e;
}

absl::StatusOr<std::vector<int64_t>> ReadUpdateStats(const JsonValue& json) {
  FWOTA_RETURN_IF_ERROR(RequireObject(json, "update statistics"));
  std::vector<int64_t> counts(::fwota::v1::UPDATE_STATE_FAILED + 1, 0);
  for (int i = ::fwota::v1::UPDATE_STATE_QUEUED; i <= ::fwota::v1::UPDATE_STATE_FAILED; ++i) {
    const JsonValue* n = json.Find(UpdateStateName(static_cast<UpdateState>(i)));
    if (n == nullptr) return UnexpectedAnswer("update statistics without every state");
    counts[i] = n->Int();
  }
  return counts;
}

absl::StatusOr<Explanation> ReadExplanation(const JsonValue& json) {
  FWOTA_RETURN_IF_ERROR(RequireObject(json, "an explanation"));
  Explanation x;
  x.device.set_id(IdOf(json.Find("deviceId")));
  x.device.set_name(Str(json, "deviceName"));
  x.type = TypeOf(json);
  const std::string source = Str(json, "source");
  if (source == ExplanationSourceName(Explanation::Source::kDeviceOverride)) {
    x.source = Explanation::Source::kDeviceOverride;
  } else if (source == ExplanationSourceName(Explanation::Source::kProfileDefault)) {
    x.source = Explanation::Source::kProfileDefault;
  } else {
    x.source = Explanation::Source::kNone;
  }
  if (const JsonValue* package = json.Find("package"); package != nullptr && !package->is_null()) {
    FWOTA_ASSIGN_OR_RETURN(x.package, ReadPackage(*package));
  }
  x.reason = Str(json, "reason");
  return x;
}

absl::StatusOr<std::string> ReadAccessToken(const JsonValue& json) {
  FWOTA_RETURN_IF_ERROR(RequireObject(json, "device credentials"));
  return Str(json, "credentialsId");
}

}  // namespace fwota::cli::remote
