// The MQTT mapping: ThingsBoard's device topics, carried under a per-device prefix
// (design.md: `<prefix>/<accessToken>/` + the ThingsBoard topic), turned into OtaService
// calls and the messages to publish back. Pure: topic and payload in, messages out; no
// broker, so it is unit-tested and fuzzed on its own. The backend (a broker client)
// subscribes to SubscriptionFilters() and publishes what Handle returns.
//
// Topics below `<prefix>/<token>/` (ThingsBoard's, see protocol-reference.md):
// - `v1/devices/me/telemetry`: fw_state / fw_error / current_fw_* reports (and sw_*).
// - `v1/devices/me/attributes/request/{id}` with `{"sharedKeys":"fw_title,..."}`: answered
//   on `v1/devices/me/attributes/response/{id}` with `{"shared":{...}}`.
// - `v2/fw/request/{requestId}/chunk/{n}` (and `v2/sw/...`): payload = the chunk size in
//   ASCII decimal; empty: the size this requestId used last, or the whole file when it
//   has none. Answer: the bytes at size*n on `v2/fw/response/{requestId}/chunk/{n}` (empty
//   past the end). Errors go to `v2/fw/error` as "NAME: message" (NOT_FOUND,
//   PAYLOAD_TOO_LARGE, FAILURE) and nothing is dropped or disconnected.
// - Notices are pushed on `v1/devices/me/attributes` (values, and `"deleted":[...]`).
//
// Beyond ThingsBoard: chunks up to `max_chunk_size` (default 1 MiB; a larger ask gets a
// PAYLOAD_TOO_LARGE error naming the limit), and a requestId whose package was
// reassigned is answered from the device's current package (the requestId is only a
// label for the client's sizes), never from the old one.
#ifndef FWOTA_ADAPTERS_MQTT_MQTT_MAPPING_H_
#define FWOTA_ADAPTERS_MQTT_MQTT_MAPPING_H_

#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "fwota/notifier.h"
#include "fwota/ota_service.h"

namespace fwota::mqtt {

// One message to publish.
struct MqttMessage {
  std::string topic;
  std::string payload;
};

struct MqttMappingOptions {
  // The first topic level of every device topic. Non-empty, no '/', '+' or '#'.
  std::string prefix = "fwota";
  // The largest chunk a device may ask for, in bytes.
  int64_t max_chunk_size = 1 << 20;
  // How many requestIds' last chunk sizes are remembered (least recently used go).
  size_t max_remembered_requests = 100000;
};

// What one incoming message led to: the messages to publish, and, for a message that
// was dropped or answered with an error, why (for the backend's log).
struct MqttResult {
  std::vector<MqttMessage> publish;
  absl::Status status;
};

// Thread-safe. `service` must outlive the mapping.
class MqttMapping {
 public:
  MqttMapping(OtaService& service, MqttMappingOptions options);

  // The topic filters the backend subscribes to (to be wrapped in `$share/<group>/`).
  std::vector<std::string> SubscriptionFilters() const;

  // Handles one message a device published. Topics outside the prefix, malformed
  // topics and unknown tokens publish nothing (status says why): with no valid device
  // there is no one to answer.
  MqttResult Handle(absl::string_view topic, absl::string_view payload);

  // The attributes push for a notice: `<prefix>/<token>/v1/devices/me/attributes`.
  MqttMessage NoticeMessage(const AttributeNotice& notice) const;

  // kInvalidArgument for a bad prefix or limit.
  static absl::Status CheckOptions(const MqttMappingOptions& options);

 private:
  MqttResult Telemetry(const std::string& token, absl::string_view payload);
  MqttResult AttributesRequest(const std::string& token, absl::string_view request_id,
                               absl::string_view payload);
  MqttResult Chunk(const std::string& token, OtaPackageType type, absl::string_view request_id,
                   absl::string_view chunk, absl::string_view payload);
  std::string DeviceTopic(absl::string_view token, absl::string_view rest) const;
  // The size remembered for (token, type, requestId), or -1; Remember sets it.
  int64_t RememberedSize(const std::string& key);
  void Remember(const std::string& key, int64_t size);

  OtaService& service_;
  const MqttMappingOptions options_;
  absl::Mutex mu_;
  // LRU of requestId sizes: most recent at the front.
  std::list<std::pair<std::string, int64_t>> lru_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::list<std::pair<std::string, int64_t>>::iterator> sizes_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace fwota::mqtt

#endif  // FWOTA_ADAPTERS_MQTT_MQTT_MAPPING_H_
