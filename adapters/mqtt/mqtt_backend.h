// The MQTT backend: a client of a real broker (Eclipse Paho MQTT C++) that subscribes to
// the mapping's device topics, hands every message to MqttMapping::Handle and publishes
// what it returns, at QoS 1. It is also the adapter's Notifier: notices go out on the
// devices' attribute topics. Paho reconnects with backoff when the broker goes away; the
// subscriptions are renewed on every (re)connect.
//
// With a share group, it subscribes through `$share/<group>/...`, so that several fwotad
// instances split the devices' requests between them (each request goes to one).
#ifndef FWOTA_ADAPTERS_MQTT_MQTT_BACKEND_H_
#define FWOTA_ADAPTERS_MQTT_MQTT_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adapters/mqtt/mqtt_mapping.h"
#include "fwota/notifier.h"

namespace fwota::mqtt {

struct MqttBackendOptions {
  // "tcp://host:port" (or "ssl://host:port").
  std::string broker_uri;
  // Empty: "fwotad-" and random characters.
  std::string client_id;
  // Empty: a plain subscription (one fwotad instance).
  std::string share_group;
  std::string user_name;
  std::string password;
  // How long Start waits for the first connection.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Called with "info", "warn" or "error" and a message (connections, dropped messages).
  std::function<void(absl::string_view level, absl::string_view message)> log;
};

class MqttBackend : public Notifier {
 public:
  // Connects, subscribes and starts serving; kUnavailable when the broker cannot be
  // reached within connect_timeout. `mapping` must outlive the backend.
  static absl::StatusOr<std::unique_ptr<MqttBackend>> Start(MqttMapping& mapping,
                                                            MqttBackendOptions options);
  // Disconnects.
  ~MqttBackend() override = default;
  // Notify (the Notifier) publishes the notice's attributes push without waiting for
  // the broker.
  // Device messages this backend has handled so far (for logs and tests).
  virtual int64_t handled() const = 0;
};

}  // namespace fwota::mqtt

#endif  // FWOTA_ADAPTERS_MQTT_MQTT_BACKEND_H_
