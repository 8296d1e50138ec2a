#include "adapters/http/internal/json_request.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "adapters/common/tb_json.h"
#include "adapters/http/internal/ota_http_util.h"
#include "fwota/json_writer.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace fwota::http::internal {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::StatusOr<Struct> ParseObject(absl::string_view json) {
  Value root;
  auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid JSON in the request body: ", parsed.message().as_string()));
  }
  if (root.kind_case() != Value::kStructValue) {
    return absl::InvalidArgumentError("The request body must be a JSON object");
  }
  return std::move(*root.mutable_struct_value());
}

const Value* Find(const Struct& object, absl::string_view key) {
  auto it = object.fields().find(std::string(key));
  if (it == object.fields().end()) return nullptr;
  if (it->second.kind_case() == Value::kNullValue) return nullptr;
  return &it->second;
}

// A string field: absent and null read as "".
absl::StatusOr<std::string> StringField(const Struct& object, absl::string_view key) {
  const Value* v = Find(object, key);
  if (v == nullptr) return std::string();
  if (v->kind_case() != Value::kStringValue) {
    return absl::InvalidArgumentError(absl::StrCat("Invalid value of '", key, "': expected a string"));
  }
  return v->string_value();
}

// An id: {"id":"<uuid>",...} or "<uuid>".
absl::StatusOr<IdField> IdOf(const Struct& object, absl::string_view key) {
  IdField out;
  auto it = object.fields().find(std::string(key));
  if (it == object.fields().end()) return out;
  const Value& v = it->second;
  const Value* text = &v;
  switch (v.kind_case()) {
    case Value::kNullValue:
      out.state = IdField::kNull;
      return out;
    case Value::kStructValue: {
      const Value* inner = Find(v.struct_value(), "id");
      if (inner == nullptr) {
        out.state = IdField::kNull;
        return out;
      }
      text = inner;
      break;
    }
    default:
      break;
  }
  if (text->kind_case() != Value::kStringValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid value of '", key, "': expected an id object or a UUID string"));
  }
  if (text->string_value().empty()) {
    out.state = IdField::kNull;
    return out;
  }
  absl::StatusOr<std::string> id = CheckUuid(text->string_value());
  if (!id.ok()) return id.status();
  out.state = IdField::kSet;
  out.id = *std::move(id);
  return out;
}

// `value` as JSON text with object keys sorted, so stored additionalInfo is the same
// whatever order protobuf's map iterates in. Integral numbers print without a fraction.
void WriteValue(JsonWriter& w, const Value& value) {
  switch (value.kind_case()) {
    case Value::kStructValue: {
      std::vector<const std::string*> keys;
      for (const auto& field : value.struct_value().fields()) keys.push_back(&field.first);
      std::sort(keys.begin(), keys.end(),
                [](const std::string* a, const std::string* b) { return *a < *b; });
      w.BeginObject();
      for (const std::string* key : keys) {
        w.Key(*key);
        WriteValue(w, value.struct_value().fields().at(*key));
      }
      w.EndObject();
      return;
    }
    case Value::kListValue:
      w.BeginArray();
      for (const Value& item : value.list_value().values()) WriteValue(w, item);
      w.EndArray();
      return;
    case Value::kStringValue:
      w.String(value.string_value());
      return;
    case Value::kBoolValue:
      w.Bool(value.bool_value());
      return;
    case Value::kNumberValue: {
      const double d = value.number_value();
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.0e15) {
        w.Int(static_cast<int64_t>(d));
      } else if (std::isfinite(d)) {
        w.Raw(absl::StrFormat("%.17g", d));
      } else {
        w.Null();
      }
      return;
    }
    default:
      w.Null();
      return;
  }
}

// An id that is either set or not: null and absent both read as "".
absl::StatusOr<std::string> PlainId(const Struct& object, absl::string_view key) {
  absl::StatusOr<IdField> id = IdOf(object, key);
  if (!id.ok()) return id.status();
  return id->id;
}

}  // namespace

#define FWOTA_ASSIGN_FIELD(lhs, expr)           \
  do {                                          \
    auto fwota_field_ = (expr);                 \
    if (!fwota_field_.ok()) return fwota_field_.status(); \
    lhs = *std::move(fwota_field_);             \
  } while (0)

absl::StatusOr<PackageInfoRequest> ParsePackageInfoJson(absl::string_view json) {
  absl::StatusOr<Struct> object = ParseObject(json);
  if (!object.ok()) return object.status();
  PackageInfoRequest r;
  FWOTA_ASSIGN_FIELD(r.id, PlainId(*object, "id"));
  FWOTA_ASSIGN_FIELD(r.title, StringField(*object, "title"));
  FWOTA_ASSIGN_FIELD(r.version, StringField(*object, "version"));
  FWOTA_ASSIGN_FIELD(r.tag, StringField(*object, "tag"));
  FWOTA_ASSIGN_FIELD(r.url, StringField(*object, "url"));
  FWOTA_ASSIGN_FIELD(r.device_profile_id, PlainId(*object, "deviceProfileId"));
  std::string type;
  FWOTA_ASSIGN_FIELD(type, StringField(*object, "type"));
  if (!type.empty()) FWOTA_ASSIGN_FIELD(r.type, adapters::ParsePackageType(type));
  if (const Value* info = Find(*object, "additionalInfo")) {
    if (info->kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError("additionalInfo must be a JSON object");
    }
    JsonWriter w;
    WriteValue(w, *info);
    r.additional_info_json = w.str();
  }
  return r;
}

absl::StatusOr<ProfileRequest> ParseProfileJson(absl::string_view json) {
  absl::StatusOr<Struct> object = ParseObject(json);
  if (!object.ok()) return object.status();
  ProfileRequest r;
  FWOTA_ASSIGN_FIELD(r.id, PlainId(*object, "id"));
  FWOTA_ASSIGN_FIELD(r.name, StringField(*object, "name"));
  if (Find(*object, "description") != nullptr) {
    FWOTA_ASSIGN_FIELD(r.description, StringField(*object, "description"));
  }
  FWOTA_ASSIGN_FIELD(r.firmware_id, IdOf(*object, "firmwareId"));
  FWOTA_ASSIGN_FIELD(r.software_id, IdOf(*object, "softwareId"));
  return r;
}

absl::StatusOr<DeviceRequest> ParseDeviceJson(absl::string_view json) {
  absl::StatusOr<Struct> object = ParseObject(json);
  if (!object.ok()) return object.status();
  DeviceRequest r;
  FWOTA_ASSIGN_FIELD(r.id, PlainId(*object, "id"));
  FWOTA_ASSIGN_FIELD(r.name, StringField(*object, "name"));
  FWOTA_ASSIGN_FIELD(r.profile_id, PlainId(*object, "deviceProfileId"));
  FWOTA_ASSIGN_FIELD(r.profile_name, StringField(*object, "type"));
  FWOTA_ASSIGN_FIELD(r.firmware_id, IdOf(*object, "firmwareId"));
  FWOTA_ASSIGN_FIELD(r.software_id, IdOf(*object, "softwareId"));
  return r;
}

#undef FWOTA_ASSIGN_FIELD

}  // namespace fwota::http::internal
