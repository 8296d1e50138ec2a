// Fuzzes the device payloads shared by the HTTP, MQTT and CoAP adapters
// (adapters/common/device_payloads.h) and the JSON that tb_json.h writes around
// outside text.
//
// The whole input is a telemetry payload (ParseOtaTelemetry, RecordOtaTelemetry for the
// known token "TOK" and an unknown one) and a sharedKeys list (ParseAttributeKeys); its
// lines are attribute keys and values, and device, package and error texts, for the
// writers.
//
// Invariants: no crash or sanitizer report; telemetry is recorded only when it parses;
// an unknown token is always kUnauthenticated, whatever the payload; attribute keys are
// non-empty, trimmed and comma-free; everything the writers produce is valid JSON (also
// for invalid UTF-8), and ASCII text reads back unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "adapters/common/device_payloads.h"
#include "adapters/common/tb_json.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "fwota/json_writer.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_world.h"

namespace {

using google::protobuf::Value;

Value MustParse(const std::string& json) {
  Value value;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &value);
  if (!status.ok()) std::fprintf(stderr, "not JSON: %s\n", json.c_str());
  FUZZ_CHECK(status.ok());
  return value;
}

bool IsAscii(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fwota;
  using namespace fwota::adapters;
  if (size > 64 * 1024) return 0;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  // Telemetry.
  absl::StatusOr<std::vector<DeviceReport>> reports = ParseOtaTelemetry(input);
  if (reports.ok()) {
    for (const DeviceReport& report : *reports) {
      FUZZ_CHECK(report.type == ::fwota::v1::FIRMWARE || report.type == ::fwota::v1::SOFTWARE);
    }
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(reports.status()));
  }
  {
    fuzzing::FuzzWorld world;
    const absl::Status unknown = RecordOtaTelemetry(world.service(), "no-such-token", input);
    FUZZ_CHECK(absl::IsUnauthenticated(unknown));
    const absl::Status known = RecordOtaTelemetry(world.service(), "TOK", input);
    if (known.ok()) FUZZ_CHECK(reports.ok());
    if (!reports.ok()) FUZZ_CHECK(!known.ok());
  }

  // sharedKeys.
  for (const std::string& key : ParseAttributeKeys(input)) {
    FUZZ_CHECK(!key.empty());
    FUZZ_CHECK(key.find(',') == std::string::npos);
    FUZZ_CHECK(!absl::ascii_isspace(static_cast<unsigned char>(key.front())) &&
               !absl::ascii_isspace(static_cast<unsigned char>(key.back())));
  }

  // Writers over outside text.
  std::vector<std::string> lines = absl::StrSplit(input, '\n');
  lines.resize(std::max<size_t>(lines.size(), 4));
  // The service's attribute keys are distinct and never "deleted"; so are these, as
  // written: two keys that differ only in invalid UTF-8 bytes are written alike (each
  // bad byte becomes U+FFFD), so they count as the same key.
  AttributeNotice notice;
  std::vector<std::string> written_keys;
  for (size_t i = 0; i + 1 < lines.size() && i < 16; i += 2) {
    if (lines[i] == "deleted") continue;
    JsonWriter key_writer;
    key_writer.String(lines[i]);
    const std::string written = key_writer.str();
    if (std::find(written_keys.begin(), written_keys.end(), written) != written_keys.end()) {
      continue;
    }
    written_keys.push_back(written);
    SharedAttribute a;
    a.key = lines[i];
    a.text = lines[i + 1];
    a.is_number = lines[i] == "fw_size";
    a.number = static_cast<int64_t>(lines[i + 1].size());
    notice.updated.push_back(a);
    notice.deleted.push_back(lines[i + 1]);
  }
  MustParse(AttributeUpdateJson(notice));
  const Value shared = MustParse(SharedAttributesResponseJson(notice.updated));
  if (!notice.updated.empty() && IsAscii(notice.updated[0].key) && IsAscii(notice.updated[0].text) &&
      !notice.updated[0].is_number) {
    const auto& fields = shared.struct_value().fields().at("shared").struct_value().fields();
    auto it = fields.find(notice.updated[0].key);
    FUZZ_CHECK(it != fields.end());
    if (it->second.has_string_value()) FUZZ_CHECK(it->second.string_value() == notice.updated[0].text);
  }

  ::fwota::v1::Device device;
  device.set_id(lines[0]);
  device.set_name(lines[1]);
  device.set_type(lines[2]);
  device.set_access_token(lines[3]);
  const Value device_json = MustParse(DeviceJson(device));
  if (IsAscii(lines[1])) {
    FUZZ_CHECK(device_json.struct_value().fields().at("name").string_value() == lines[1]);
  }
  MustParse(DeviceCredentialsJson(device));
  ::fwota::v1::OtaPackage package;
  package.set_title(lines[0]);
  package.set_version(lines[1]);
  package.set_tag(lines[2]);
  package.set_file_name(lines[3]);
  MustParse(PackageJson(package));
  MustParse(ErrorJson(absl::InvalidArgumentError(lines[0]), 1));
  ParsePackageType(lines[0]).IgnoreError();
  return 0;
}
