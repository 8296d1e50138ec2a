#include "adapters/common/device_payloads.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "fwota/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace fwota::adapters {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// The telemetry keys of one package type.
struct ReportKeys {
  OtaPackageType type;
  const char* state;
  const char* error;
  const char* current_title;
  const char* current_version;
};

constexpr ReportKeys kReportKeys[] = {
    {::fwota::v1::FIRMWARE, "fw_state", "fw_error", "current_fw_title", "current_fw_version"},
    {::fwota::v1::SOFTWARE, "sw_state", "sw_error", "current_sw_title", "current_sw_version"},
};

// A scalar as text: strings unchanged, integral numbers without a fraction, other
// values as their JSON text. False when the value is null (treated as absent).
bool ValueText(const Value& value, std::string& out) {
  switch (value.kind_case()) {
    case Value::kNullValue:
    case Value::KIND_NOT_SET:
      return false;
    case Value::kStringValue:
      out = value.string_value();
      return true;
    case Value::kBoolValue:
      out = value.bool_value() ? "true" : "false";
      return true;
    case Value::kNumberValue: {
      const double d = value.number_value();
      if (std::trunc(d) == d && std::fabs(d) < 9.0e15) {
        out = absl::StrCat(static_cast<int64_t>(d));
      } else {
        out = absl::StrFormat("%.17g", d);
      }
      return true;
    }
    default: {
      std::string json;
      if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) return false;
      out = std::move(json);
      return true;
    }
  }
}

// Appends the reports of one key-value object.
void ReportsOf(const Struct& values, std::vector<DeviceReport>& out) {
  for (const ReportKeys& keys : kReportKeys) {
    DeviceReport report;
    report.type = keys.type;
    bool any = false;
    auto take = [&](const char* key, std::string& field) {
      auto it = values.fields().find(key);
      if (it != values.fields().end() && ValueText(it->second, field)) any = true;
    };
    take(keys.state, report.state);
    take(keys.error, report.error);
    take(keys.current_title, report.current_title);
    take(keys.current_version, report.current_version);
    if (any) out.push_back(std::move(report));
  }
}

absl::Status ReportsOfEntry(const Value& entry, std::vector<DeviceReport>& out) {
  if (entry.kind_case() != Value::kStructValue) {
    return absl::InvalidArgumentError(
        "Malformed telemetry: expected a JSON object or an array of objects");
  }
  const Struct& object = entry.struct_value();
  auto ts = object.fields().find("ts");
  auto values = object.fields().find("values");
  if (ts != object.fields().end() && values != object.fields().end()) {
    if (values->second.kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError("Malformed telemetry: \"values\" must be a JSON object");
    }
    ReportsOf(values->second.struct_value(), out);
  } else {
    ReportsOf(object, out);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<DeviceReport>> ParseOtaTelemetry(absl::string_view json) {
  Value root;
  auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Malformed telemetry JSON: ", parsed.message().as_string()));
  }
  std::vector<DeviceReport> out;
  if (root.kind_case() == Value::kListValue) {
    for (const Value& entry : root.list_value().values()) {
      absl::Status s = ReportsOfEntry(entry, out);
      if (!s.ok()) return s;
    }
    return out;
  }
  absl::Status s = ReportsOfEntry(root, out);
  if (!s.ok()) return s;
  return out;
}

absl::Status RecordOtaTelemetry(OtaService& service, absl::string_view token,
                                absl::string_view json) {
  absl::StatusOr<std::vector<DeviceReport>> reports = ParseOtaTelemetry(json);
  // RecordDeviceReport checks the token itself, in the same transaction as the report,
  // so only payloads without reports (or malformed ones) need a lookup of their own.
  if (!reports.ok() || reports->empty()) {
    FWOTA_RETURN_IF_ERROR(service.AuthenticateDevice(token).status());
  }
  FWOTA_RETURN_IF_ERROR(reports.status());
  // All or nothing: a payload with one bad state records none of its reports. The token
  // is still checked first, so an unknown one is kUnauthenticated whatever it sent.
  for (const DeviceReport& report : *reports) {
    if (report.state.empty()) continue;
    if (absl::Status state = ParseUpdateState(report.state).status(); !state.ok()) {
      FWOTA_RETURN_IF_ERROR(service.AuthenticateDevice(token).status());
      return state;
    }
  }
  for (const DeviceReport& report : *reports) {
    FWOTA_RETURN_IF_ERROR(service.RecordDeviceReport(token, report));
  }
  return absl::OkStatus();
}

std::vector<std::string> ParseAttributeKeys(absl::string_view list) {
  std::vector<std::string> keys;
  for (absl::string_view key : absl::StrSplit(list, ',')) {
    key = absl::StripAsciiWhitespace(key);
    if (!key.empty()) keys.emplace_back(key);
  }
  return keys;
}

void WriteSharedAttributeValues(JsonWriter& w, const std::vector<SharedAttribute>& attributes) {
  w.BeginObject();
  for (const SharedAttribute& a : attributes) {
    w.Key(a.key);
    if (a.is_number) {
      w.Int(a.number);
    } else {
      w.String(a.text);
    }
  }
  w.EndObject();
}

std::string SharedAttributesResponseJson(const std::vector<SharedAttribute>& attributes) {
  JsonWriter w;
  w.BeginObject();
  if (!attributes.empty()) {
    w.Key("shared");
    WriteSharedAttributeValues(w, attributes);
  }
  w.EndObject();
  return w.str();
}

std::string AttributeUpdateJson(const AttributeNotice& notice) {
  JsonWriter w;
  w.BeginObject();
  for (const SharedAttribute& a : notice.updated) {
    w.Key(a.key);
    if (a.is_number) {
      w.Int(a.number);
    } else {
      w.String(a.text);
    }
  }
  if (!notice.deleted.empty()) {
    w.Key("deleted").BeginArray();
    for (const std::string& key : notice.deleted) w.String(key);
    w.EndArray();
  }
  w.EndObject();
  return w.str();
}

}  // namespace fwota::adapters
