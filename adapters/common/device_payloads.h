// The payloads ThingsBoard devices exchange with the server, shared by the HTTP, MQTT and
// CoAP adapters: telemetry in (the fw_* / sw_* update reports) and shared attributes out.
// Thread-safe: pure functions.
#ifndef FWOTA_ADAPTERS_COMMON_DEVICE_PAYLOADS_H_
#define FWOTA_ADAPTERS_COMMON_DEVICE_PAYLOADS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fwota/json_writer.h"
#include "fwota/ota_service.h"

namespace fwota::adapters {

// Reads a ThingsBoard telemetry payload and returns the update reports it carries.
// Accepted shapes (ThingsBoard's): an object of key-values `{"fw_state":"DOWNLOADING",...}`,
// an object `{"ts":..,"values":{...}}`, or an array of either. From each object the keys
// fw_state, fw_error, current_fw_title, current_fw_version make one FIRMWARE report and
// sw_state, sw_error, current_sw_title, current_sw_version one SOFTWARE report (only when
// at least one of its keys is present and not null); other keys are ordinary telemetry
// and are ignored. Strings are taken as they are, numbers and booleans as their JSON text.
// Reports come in payload order, FIRMWARE before SOFTWARE within one object.
// kInvalidArgument for malformed JSON or another top-level shape.
absl::StatusOr<std::vector<DeviceReport>> ParseOtaTelemetry(absl::string_view json);

// Records the update reports of a telemetry payload from the device with `token`, as every
// transport does, all or nothing: kUnauthenticated for an unknown token (checked before
// the payload's errors), kInvalidArgument for malformed JSON or a state that is not
// ThingsBoard's (nothing recorded). A payload without update keys only checks the token.
absl::Status RecordOtaTelemetry(OtaService& service, absl::string_view token,
                                absl::string_view json);

// "fw_title, fw_version,,x" -> {"fw_title","fw_version","x"}: the comma-separated key list
// of ThingsBoard's sharedKeys / clientKeys (blanks trimmed, empty entries dropped).
std::vector<std::string> ParseAttributeKeys(absl::string_view list);

// The attributes as one flat JSON object, fw_size as a number and the rest as strings:
// `{"fw_title":"a","fw_size":123}` (what ThingsBoard pushes on v1/devices/me/attributes).
void WriteSharedAttributeValues(JsonWriter& w, const std::vector<SharedAttribute>& attributes);

// ThingsBoard's answer to an attributes request: `{"shared":{...}}`, or `{}` when there
// are none (ThingsBoard leaves out an empty "shared", as it leaves out "client").
std::string SharedAttributesResponseJson(const std::vector<SharedAttribute>& attributes);

// An attribute-update push as ThingsBoard sends it to a subscribed device: the updated
// values as one flat object, plus `"deleted":[keys]` when keys were removed:
// `{"fw_title":"a","fw_size":123,"deleted":["fw_url"]}`, `{"deleted":["fw_title",...]}`.
std::string AttributeUpdateJson(const AttributeNotice& notice);

}  // namespace fwota::adapters

#endif  // FWOTA_ADAPTERS_COMMON_DEVICE_PAYLOADS_H_
