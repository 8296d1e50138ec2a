// The MQTT backend: a client of a real broker (Eclipse Paho MQTT C++) that subscribes to
// the mapping's device topics, hands every message to MqttMapping::Handle and publishes
// what it returns, at QoS 1. It is also the adapter's Notifier: notices go out on the
// devices' attribute topics. Paho reconnects with backoff when the broker goes away; the
// subscriptions are renewed on every (re)connect.
//
// Messages are handled by worker threads, each device's always by the same one (so its
// reports keep their order), never on Paho's receive thread: that thread also reads the
// broker's acknowledgements, and answers wait for those when more than
// `max_unacked_bytes` of them are on their way (fwotad's memory stays bounded however
// many devices ask at once).
//
// With a share group, it subscribes through `$share/<group>/...`, so that several fwotad
// instances split the devices' requests between them (each request goes to one).
//
// With a persistent session (clean_session false), while fwotad is away (a restart, a
// crash) the broker keeps its subscriptions and queues the requests for it, and delivers
// them when it comes back under the same client id. The price, with a share group: the
// broker (mosquitto at least) goes on giving the absent member its share until it is
// back. So the default is a clean session: the other members take everything at once,
// and a device asks again after its timeout. A request the broker delivers again (its
// duplicate flag set) after fwotad already answered it is not answered twice.
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
  // Give each instance its own. With a persistent session, the same across restarts
  // (required). Empty: "fwotad-" and random characters.
  std::string client_id;
  // True: the broker forgets the subscriptions and drops what arrives while fwotad is
  // away. False: a persistent session (see above).
  bool clean_session = true;
  // Empty: a plain subscription (one fwotad instance).
  std::string share_group;
  std::string user_name;
  std::string password;
  // TLS (an ssl:// broker URI): the CA certificates to trust (PEM; empty: the system's),
  // and a client certificate and its key (PEM) when the broker asks for one.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Threads that handle device messages.
  int worker_threads = 2;
  // Payload bytes published and not yet acknowledged by the broker, at most (one larger
  // message still goes alone).
  int64_t max_unacked_bytes = 8 << 20;
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
  // Messages the broker delivered again that had been handled already (not answered
  // twice).
  virtual int64_t duplicates() const = 0;
};

}  // namespace fwota::mqtt

#endif  // FWOTA_ADAPTERS_MQTT_MQTT_BACKEND_H_
