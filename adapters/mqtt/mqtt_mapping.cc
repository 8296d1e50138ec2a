#include "adapters/mqtt/mqtt_mapping.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adapters/common/device_payloads.h"
#include "adapters/common/status_mapping.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace fwota::mqtt {
namespace {

constexpr absl::string_view kTelemetry = "v1/devices/me/telemetry";
constexpr absl::string_view kAttributes = "v1/devices/me/attributes";
constexpr absl::string_view kAttributesRequest = "v1/devices/me/attributes/request/";
constexpr absl::string_view kAttributesResponse = "v1/devices/me/attributes/response/";

// A topic level that MQTT allows in a published topic and ThingsBoard uses as an id:
// non-empty, no wildcards, not too long.
bool ValidLevel(absl::string_view level) {
  return !level.empty() && level.size() <= 255 &&
         level.find_first_of("+#/") == absl::string_view::npos;
}

// "v2/fw" / "v2/sw" of a package type.
absl::string_view OtaBase(OtaPackageType type) {
  return type == ::fwota::v1::SOFTWARE ? "v2/sw" : "v2/fw";
}

}  // namespace

MqttMapping::MqttMapping(OtaService& service, MqttMappingOptions options)
    : service_(service), options_(std::move(options)) {}

absl::Status MqttMapping::CheckOptions(const MqttMappingOptions& options) {
  if (!ValidLevel(options.prefix) || options.prefix.front() == '$') {
    return absl::InvalidArgumentError(absl::StrCat(
        "MQTT prefix \"", options.prefix, "\" must be one topic level without '/', '+', '#'"
        " and not start with '$'"));
  }
  if (options.max_chunk_size < 1) {
    return absl::InvalidArgumentError("MQTT max_chunk_size must be positive");
  }
  return absl::OkStatus();
}

std::vector<std::string> MqttMapping::SubscriptionFilters() const {
  const std::string p = options_.prefix;
  return {absl::StrCat(p, "/+/", kTelemetry), absl::StrCat(p, "/+/", kAttributesRequest, "+"),
          absl::StrCat(p, "/+/v2/fw/request/+/chunk/+"),
          absl::StrCat(p, "/+/v2/sw/request/+/chunk/+")};
}

std::string MqttMapping::DeviceTopic(absl::string_view token, absl::string_view rest) const {
  return absl::StrCat(options_.prefix, "/", token, "/", rest);
}

MqttMessage MqttMapping::NoticeMessage(const AttributeNotice& notice) const {
  return {DeviceTopic(notice.access_token, kAttributes), adapters::AttributeUpdateJson(notice)};
}

MqttResult MqttMapping::Handle(absl::string_view topic, absl::string_view payload) {
  MqttResult result;
  // <prefix>/<token>/<ThingsBoard topic>
  const std::string prefix = absl::StrCat(options_.prefix, "/");
  if (!absl::StartsWith(topic, prefix)) {
    result.status = absl::InvalidArgumentError(absl::StrCat("topic outside the prefix: ", topic));
    return result;
  }
  absl::string_view rest = topic.substr(prefix.size());
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || !ValidLevel(rest.substr(0, slash))) {
    result.status = absl::InvalidArgumentError(absl::StrCat("no device token in topic: ", topic));
    return result;
  }
  const std::string token(rest.substr(0, slash));
  rest.remove_prefix(slash + 1);

  if (rest == kTelemetry) return Telemetry(token, payload);
  if (absl::StartsWith(rest, kAttributesRequest)) {
    const absl::string_view id = rest.substr(kAttributesRequest.size());
    if (ValidLevel(id)) return AttributesRequest(token, id, payload);
  }
  // v2/{fw|sw}/request/{requestId}/chunk/{n}
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts.size() == 6 && parts[0] == "v2" && (parts[1] == "fw" || parts[1] == "sw") &&
      parts[2] == "request" && parts[4] == "chunk" && ValidLevel(parts[3]) &&
      ValidLevel(parts[5])) {
    return Chunk(token, parts[1] == "sw" ? ::fwota::v1::SOFTWARE : ::fwota::v1::FIRMWARE,
                 parts[3], parts[5], payload);
  }
  result.status = absl::InvalidArgumentError(absl::StrCat("unknown device topic: ", topic));
  return result;
}

MqttResult MqttMapping::Telemetry(const std::string& token, absl::string_view payload) {
  MqttResult result;
  result.status = adapters::RecordOtaTelemetry(service_, token, payload);
  return result;
}

MqttResult MqttMapping::AttributesRequest(const std::string& token, absl::string_view request_id,
                                          absl::string_view payload) {
  MqttResult result;
  std::vector<std::string> keys;
  if (!absl::StripAsciiWhitespace(payload).empty()) {
    google::protobuf::Struct request;
    google::protobuf::util::JsonParseOptions parse;
    if (!google::protobuf::util::JsonStringToMessage(std::string(payload), &request, parse).ok()) {
      result.status = absl::InvalidArgumentError("attributes request: malformed JSON");
      return result;
    }
    auto shared = request.fields().find("sharedKeys");
    if (shared != request.fields().end()) {
      if (!shared->second.has_string_value()) {
        result.status = absl::InvalidArgumentError("attributes request: sharedKeys is not a string");
        return result;
      }
      keys = adapters::ParseAttributeKeys(shared->second.string_value());
    }
  }
  absl::StatusOr<std::vector<SharedAttribute>> attributes =
      service_.DeviceSharedAttributes(token, keys);
  if (!attributes.ok()) {
    result.status = attributes.status();  // unknown token: no one to answer
    return result;
  }
  result.publish.push_back({DeviceTopic(token, absl::StrCat(kAttributesResponse, request_id)),
                            adapters::SharedAttributesResponseJson(*attributes)});
  return result;
}

MqttResult MqttMapping::Chunk(const std::string& token, OtaPackageType type,
                              absl::string_view request_id, absl::string_view chunk_text,
                              absl::string_view payload) {
  MqttResult result;
  bool checked_token = false;  // set once the service has authenticated `token`
  const std::string error_topic = DeviceTopic(token, absl::StrCat(OtaBase(type), "/error"));
  auto fail = [&](absl::Status status) {
    // The device may not exist at all (unknown token): then nobody is answered. Errors
    // found before the service saw the token (a malformed chunk number or size) check it
    // here, on the error path only, so that a stranger's topic never gets an answer.
    if (!absl::IsUnauthenticated(status) && !checked_token) {
      if (absl::Status known = service_.AuthenticateDevice(token).status(); !known.ok()) {
        status = std::move(known);
      }
    }
    if (!absl::IsUnauthenticated(status)) {
      result.publish.push_back(
          {error_topic, absl::StrCat(adapters::MqttErrorFor(status.code()), ": ",
                                     status.message())});
    }
    result.status = std::move(status);
    return result;
  };
  int64_t chunk = 0;
  if (!absl::SimpleAtoi(chunk_text, &chunk) || chunk < 0) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("chunk number \"", chunk_text, "\" is not a non-negative integer")));
  }
  const std::string key = absl::StrCat(token, "/", OtaBase(type), "/", request_id);
  int64_t size = -1;  // -1: the whole file
  const absl::string_view size_text = absl::StripAsciiWhitespace(payload);
  if (size_text.empty()) {
    size = RememberedSize(key);
  } else if (!absl::SimpleAtoi(size_text, &size) || size < 0) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("chunk size \"", size_text.substr(0, 32),
                     "\" is not a non-negative integer")));
  }
  if (size == 0) size = -1;  // as over HTTP: size 0 is the whole file
  absl::StatusOr<DevicePackage> found = service_.OpenDevicePackage(token, type, "", "");
  // Any answer but kUnauthenticated means the token is a device's.
  checked_token = !absl::IsUnauthenticated(found.status());
  if (absl::IsNotFound(found.status())) {
    // ThingsBoard answers FAILURE for a URL package (nothing to download here) and
    // NOT_FOUND when nothing is assigned.
    absl::StatusOr<std::vector<SharedAttribute>> url = service_.DeviceSharedAttributes(
        token, {absl::StrCat(type == ::fwota::v1::SOFTWARE ? "sw" : "fw", "_url")});
    if (url.ok() && !url->empty()) {
      return fail(absl::FailedPreconditionError(found.status().message()));
    }
  }
  if (!found.ok()) return fail(found.status());
  const int64_t total = found->data->size();
  const int64_t wanted = size < 0 ? total : size;
  if (wanted > options_.max_chunk_size) {
    return fail(absl::ResourceExhaustedError(absl::StrCat(
        size < 0 ? absl::StrCat("the whole file (", wanted, " bytes)")
                 : absl::StrCat("a chunk of ", wanted, " bytes"),
        " exceeds the limit of ", options_.max_chunk_size,
        " bytes per message; ask for smaller chunks")));
  }
  if (size > 0) Remember(key, size);
  // Offset = size * n; past the end (or an overflowing product): an empty payload.
  int64_t offset = 0;
  if (size > 0 && chunk > 0 && chunk > (total - 1) / size) {
    offset = total;
  } else if (size > 0) {
    offset = size * chunk;
  } else if (chunk > 0) {
    offset = total;  // the whole file is chunk 0
  }
  const int64_t length = std::min<int64_t>(wanted, total - offset);
  std::string bytes(static_cast<size_t>(std::max<int64_t>(length, 0)), '\0');
  for (int64_t done = 0; done < length;) {
    absl::StatusOr<size_t> n = found->data->ReadAt(
        offset + done, absl::MakeSpan(bytes.data() + done, static_cast<size_t>(length - done)));
    if (!n.ok()) return fail(n.status());
    if (*n == 0) return fail(absl::DataLossError("the stored package ended early"));
    done += static_cast<int64_t>(*n);
  }
  result.publish.push_back(
      {DeviceTopic(token, absl::StrCat(OtaBase(type), "/response/", request_id, "/chunk/",
                                       chunk_text)),
       std::move(bytes)});
  return result;
}

int64_t MqttMapping::RememberedSize(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = sizes_.find(key);
  if (it == sizes_.end()) return -1;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void MqttMapping::Remember(const std::string& key, int64_t size) {
  absl::MutexLock lock(&mu_);
  auto it = sizes_.find(key);
  if (it != sizes_.end()) {
    it->second->second = size;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(key, size);
  sizes_[key] = lru_.begin();
  while (lru_.size() > std::max<size_t>(options_.max_remembered_requests, 1)) {
    sizes_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

}  // namespace fwota::mqtt
