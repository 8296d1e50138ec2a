#include "adapters/common/tb_json.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "adapters/common/status_mapping.h"
#include "fwota/checksum.h"

namespace fwota::adapters {
namespace {

// A string field, or null when it is empty.
void StringOrNull(JsonWriter& w, absl::string_view key, absl::string_view value) {
  w.Key(key);
  if (value.empty()) {
    w.Null();
  } else {
    w.String(value);
  }
}

// Stored JSON text (already validated by the core), or `fallback` when it is empty.
void RawOr(JsonWriter& w, absl::string_view key, absl::string_view json,
           absl::string_view fallback) {
  w.Key(key);
  if (!absl::StripAsciiWhitespace(json).empty()) {
    w.Raw(json);
  } else {
    w.Raw(fallback);
  }
}

}  // namespace

absl::string_view PackageTypeName(OtaPackageType type) {
  switch (type) {
    case ::fwota::v1::FIRMWARE:
      return "FIRMWARE";
    case ::fwota::v1::SOFTWARE:
      return "SOFTWARE";
    default:
      return "";
  }
}

absl::StatusOr<OtaPackageType> ParsePackageType(absl::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(name));
  if (upper == "FIRMWARE") return ::fwota::v1::FIRMWARE;
  if (upper == "SOFTWARE") return ::fwota::v1::SOFTWARE;
  return absl::InvalidArgumentError(
      absl::StrCat("Unknown OTA package type \"", name, "\": expected FIRMWARE or SOFTWARE"));
}

void WriteEntityId(JsonWriter& w, absl::string_view entity_type, absl::string_view id) {
  if (id.empty()) {
    w.Null();
    return;
  }
  w.BeginObject().Field("entityType", entity_type).Field("id", id).EndObject();
}

void WriteTenant(JsonWriter& w, const Tenant& tenant) {
  w.BeginObject();
  w.Key("id");
  WriteEntityId(w, "TENANT", tenant.id());
  w.Field("createdTime", tenant.created_time());
  w.Field("title", tenant.name());
  w.Field("name", tenant.name());
  w.EndObject();
}

void WritePackage(JsonWriter& w, const OtaPackage& p) {
  w.BeginObject();
  w.Key("id");
  WriteEntityId(w, "OTA_PACKAGE", p.id());
  w.Field("createdTime", p.created_time());
  w.Key("tenantId");
  WriteEntityId(w, "TENANT", p.tenant_id());
  w.Key("deviceProfileId");
  WriteEntityId(w, "DEVICE_PROFILE", p.device_profile_id());
  StringOrNull(w, "type", PackageTypeName(p.type()));
  StringOrNull(w, "title", p.title());
  StringOrNull(w, "version", p.version());
  StringOrNull(w, "tag", p.tag());
  StringOrNull(w, "url", p.url());
  w.Field("hasData", p.has_data());
  StringOrNull(w, "fileName", p.file_name());
  StringOrNull(w, "contentType", p.content_type());
  StringOrNull(w, "checksumAlgorithm",
               p.checksum_algorithm() == ::fwota::v1::CHECKSUM_ALGORITHM_UNSPECIFIED
                   ? absl::string_view()
                   : ChecksumAlgorithmName(p.checksum_algorithm()));
  StringOrNull(w, "checksum", p.checksum());
  w.Key("dataSize");
  if (p.has_data()) {
    w.Int(p.data_size());
  } else {
    w.Null();
  }
  RawOr(w, "additionalInfo", p.additional_info_json(), "null");
  w.Field("name", absl::StrCat(p.title(), " ", p.version()));
  w.EndObject();
}

void WriteDevice(JsonWriter& w, const Device& d) {
  w.BeginObject();
  w.Key("id");
  WriteEntityId(w, "DEVICE", d.id());
  w.Field("createdTime", d.created_time());
  w.Key("tenantId");
  WriteEntityId(w, "TENANT", d.tenant_id());
  StringOrNull(w, "name", d.name());
  StringOrNull(w, "type", d.type());
  w.Key("label").Null();
  w.Key("deviceProfileId");
  WriteEntityId(w, "DEVICE_PROFILE", d.device_profile_id());
  w.Key("firmwareId");
  WriteEntityId(w, "OTA_PACKAGE", d.firmware_id());
  w.Key("softwareId");
  WriteEntityId(w, "OTA_PACKAGE", d.software_id());
  w.Key("additionalInfo").Null();
  w.EndObject();
}

void WriteDeviceProfile(JsonWriter& w, const DeviceProfile& p) {
  w.BeginObject();
  w.Key("id");
  WriteEntityId(w, "DEVICE_PROFILE", p.id());
  w.Field("createdTime", p.created_time());
  w.Key("tenantId");
  WriteEntityId(w, "TENANT", p.tenant_id());
  StringOrNull(w, "name", p.name());
  StringOrNull(w, "description", p.description());
  w.Field("default", false);
  w.Field("type", "DEFAULT");
  w.Field("transportType", "DEFAULT");
  w.Field("provisionType", "DISABLED");
  w.Key("firmwareId");
  WriteEntityId(w, "OTA_PACKAGE", p.firmware_id());
  w.Key("softwareId");
  WriteEntityId(w, "OTA_PACKAGE", p.software_id());
  w.EndObject();
}

std::string CredentialsIdFor(absl::string_view device_id) {
  std::string hex = ChecksumText(::fwota::v1::SHA256,
                                 absl::StrCat("fwota-device-credentials:", device_id));
  hex.resize(32);
  hex[12] = '5';  // version
  static constexpr char kVariant[] = "89ab";
  const int nibble = hex[16] <= '9' ? hex[16] - '0' : hex[16] - 'a' + 10;
  hex[16] = kVariant[nibble & 3];
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20, 12));
}

void WriteDeviceCredentials(JsonWriter& w, const Device& d) {
  w.BeginObject();
  w.Key("id");
  WriteEntityId(w, "DEVICE_CREDENTIALS", CredentialsIdFor(d.id()));
  w.Field("createdTime", d.created_time());
  w.Key("deviceId");
  WriteEntityId(w, "DEVICE", d.id());
  w.Field("credentialsType", "ACCESS_TOKEN");
  StringOrNull(w, "credentialsId", d.access_token());
  w.Key("credentialsValue").Null();
  w.EndObject();
}

void WriteAuditEvent(JsonWriter& w, const AuditEvent& e) {
  w.BeginObject();
  w.Key("id");
  WriteEntityId(w, "AUDIT_LOG", e.id());
  w.Field("createdTime", e.created_time());
  w.Key("tenantId");
  WriteEntityId(w, "TENANT", e.tenant_id());
  w.Key("entityId");
  WriteEntityId(w, e.entity_type(), e.entity_id());
  StringOrNull(w, "entityName", e.entity_name());
  StringOrNull(w, "userName", e.user_name());
  StringOrNull(w, "actionType",
               e.action_type() == ::fwota::v1::AUDIT_ACTION_TYPE_UNSPECIFIED
                   ? std::string()
                   : ::fwota::v1::AuditActionType_Name(e.action_type()));
  RawOr(w, "actionData", e.action_data_json(), "{}");
  StringOrNull(w, "actionStatus",
               e.action_status() == ::fwota::v1::AUDIT_ACTION_STATUS_UNSPECIFIED
                   ? std::string()
                   : ::fwota::v1::AuditActionStatus_Name(e.action_status()));
  StringOrNull(w, "actionFailureDetails", e.failure_details());
  w.EndObject();
}

void WriteExplanation(JsonWriter& w, const Explanation& x) {
  w.BeginObject();
  w.Key("deviceId");
  WriteEntityId(w, "DEVICE", x.device.id());
  StringOrNull(w, "deviceName", x.device.name());
  StringOrNull(w, "type", PackageTypeName(x.type));
  w.Field("source", ExplanationSourceName(x.source));
  w.Key("package");
  if (x.package.has_value()) {
    WritePackage(w, *x.package);
  } else {
    w.Null();
  }
  w.Field("reason", x.reason);
  w.EndObject();
}

int UpdateProgressPercent(UpdateState state) {
  switch (state) {
    case ::fwota::v1::UPDATE_STATE_INITIATED:
      return 5;
    case ::fwota::v1::UPDATE_STATE_DOWNLOADING:
      return 10;
    case ::fwota::v1::UPDATE_STATE_DOWNLOADED:
      return 55;
    case ::fwota::v1::UPDATE_STATE_VERIFIED:
      return 60;
    case ::fwota::v1::UPDATE_STATE_UPDATING:
      return 70;
    case ::fwota::v1::UPDATE_STATE_FAILED:
      return 99;
    case ::fwota::v1::UPDATE_STATE_UPDATED:
      return 100;
    default:
      return 0;
  }
}

namespace {

// The ThingsBoard name of a state, or "" for UNSPECIFIED.
absl::string_view StateNameOrEmpty(UpdateState state) {
  return state == ::fwota::v1::UPDATE_STATE_UNSPECIFIED ? absl::string_view()
                                                        : UpdateStateName(state);
}

}  // namespace

void WriteUpdateStatus(JsonWriter& w, const UpdateStatus& s) {
  WriteUpdateStatus(w, s, absl::string_view());
}

void WriteUpdateStatus(JsonWriter& w, const UpdateStatus& s, absl::string_view device_name) {
  w.BeginObject();
  w.Key("deviceId");
  WriteEntityId(w, "DEVICE", s.device_id());
  if (!device_name.empty()) w.Field("deviceName", device_name);
  StringOrNull(w, "type", PackageTypeName(s.type()));
  StringOrNull(w, "state", StateNameOrEmpty(s.state()));
  w.Field("stateSince", s.state_since());
  w.Field("progress", UpdateProgressPercent(s.state()));
  w.Key("targetPackageId");
  WriteEntityId(w, "OTA_PACKAGE", s.target_package_id());
  StringOrNull(w, "targetTitle", s.target_title());
  StringOrNull(w, "targetVersion", s.target_version());
  StringOrNull(w, "targetTag", s.target_tag());
  w.Field("targetTs", s.target_ts());
  StringOrNull(w, "currentTitle", s.current_title());
  StringOrNull(w, "currentVersion", s.current_version());
  StringOrNull(w, "error", s.error());
  w.Field("lastActivity", s.last_activity());
  w.Field("noticesSent", static_cast<int64_t>(s.notices_sent()));
  w.EndObject();
}

void WriteUpdateEvent(JsonWriter& w, const UpdateEvent& e) {
  w.BeginObject();
  StringOrNull(w, "id", e.id());
  w.Field("createdTime", e.created_time());
  w.Key("deviceId");
  WriteEntityId(w, "DEVICE", e.device_id());
  StringOrNull(w, "type", PackageTypeName(e.type()));
  StringOrNull(w, "state", StateNameOrEmpty(e.state()));
  w.Key("packageId");
  WriteEntityId(w, "OTA_PACKAGE", e.package_id());
  StringOrNull(w, "title", e.title());
  StringOrNull(w, "version", e.version());
  StringOrNull(w, "error", e.error());
  StringOrNull(w, "source", e.source());
  w.Field("accepted", e.accepted());
  StringOrNull(w, "note", e.note());
  w.EndObject();
}

void WriteUpdateStats(JsonWriter& w, OtaPackageType type, const std::vector<int64_t>& counts) {
  auto count = [&](UpdateState s) {
    const size_t i = static_cast<size_t>(s);
    return i < counts.size() ? counts[i] : int64_t{0};
  };
  w.BeginObject();
  StringOrNull(w, "type", PackageTypeName(type));
  int64_t updating = 0;
  for (int i = ::fwota::v1::UPDATE_STATE_QUEUED; i <= ::fwota::v1::UPDATE_STATE_FAILED; ++i) {
    const auto state = static_cast<UpdateState>(i);
    w.Field(UpdateStateName(state), count(state));
    if (state >= ::fwota::v1::UPDATE_STATE_INITIATED &&
        state <= ::fwota::v1::UPDATE_STATE_UPDATING) {
      updating += count(state);
    }
  }
  w.Field("waiting", count(::fwota::v1::UPDATE_STATE_QUEUED))
      .Field("updating", updating)
      .Field("updated", count(::fwota::v1::UPDATE_STATE_UPDATED))
      .Field("failed", count(::fwota::v1::UPDATE_STATE_FAILED))
      .EndObject();
}

void WriteError(JsonWriter& w, const absl::Status& status, int64_t timestamp_ms) {
  WriteHttpError(w, HttpStatusFor(status.code()), status.message(),
                 TbErrorCodeFor(status.code()), timestamp_ms);
}

void WriteHttpError(JsonWriter& w, int http_status, absl::string_view message,
                    TbErrorCode code, int64_t timestamp_ms) {
  w.BeginObject();
  w.Field("status", http_status);
  w.Field("message", message);
  w.Field("errorCode", static_cast<int>(code));
  w.Field("timestamp", timestamp_ms);
  w.EndObject();
}

std::string HttpErrorJson(int http_status, absl::string_view message, TbErrorCode code,
                          int64_t timestamp_ms) {
  JsonWriter w;
  WriteHttpError(w, http_status, message, code, timestamp_ms);
  return w.str();
}

#define FWOTA_TB_JSON_STRING_FORM(Name, Type, Writer) \
  std::string Name(const Type& value) {               \
    JsonWriter w;                                     \
    Writer(w, value);                                 \
    return w.str();                                   \
  }

FWOTA_TB_JSON_STRING_FORM(TenantJson, Tenant, WriteTenant)
FWOTA_TB_JSON_STRING_FORM(PackageJson, OtaPackage, WritePackage)
FWOTA_TB_JSON_STRING_FORM(DeviceJson, Device, WriteDevice)
FWOTA_TB_JSON_STRING_FORM(DeviceProfileJson, DeviceProfile, WriteDeviceProfile)
FWOTA_TB_JSON_STRING_FORM(DeviceCredentialsJson, Device, WriteDeviceCredentials)
FWOTA_TB_JSON_STRING_FORM(AuditEventJson, AuditEvent, WriteAuditEvent)
FWOTA_TB_JSON_STRING_FORM(ExplanationJson, Explanation, WriteExplanation)
FWOTA_TB_JSON_STRING_FORM(UpdateStatusJson, UpdateStatus, WriteUpdateStatus)
FWOTA_TB_JSON_STRING_FORM(UpdateEventJson, UpdateEvent, WriteUpdateEvent)

#undef FWOTA_TB_JSON_STRING_FORM

std::string ErrorJson(const absl::Status& status, int64_t timestamp_ms) {
  JsonWriter w;
  WriteError(w, status, timestamp_ms);
  return w.str();
}

}  // namespace fwota::adapters
