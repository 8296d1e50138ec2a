#include "adapters/mqtt/mqtt_backend.h"

#include <atomic>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "adapters/mqtt/tcp_nodelay.h"
#include "mqtt/async_client.h"

namespace fwota::mqtt {
namespace {

constexpr int kQos = 1;

std::string RandomSuffix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  uint64_t x = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) ^
               reinterpret_cast<uintptr_t>(&out);
  for (int i = 0; i < 10; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    out.push_back(kAlphabet[(x >> 33) % 36]);
  }
  return out;
}

class PahoBackend final : public MqttBackend {
 public:
  PahoBackend(MqttMapping& mapping, MqttBackendOptions options)
      : mapping_(mapping),
        options_(std::move(options)),
        client_(options_.broker_uri, options_.client_id) {}

  ~PahoBackend() override {
    try {
      client_.disconnect()->wait_for(std::chrono::seconds(5));
    } catch (const std::exception&) {
      // Already gone.
    }
  }

  absl::Status Connect() {
    for (const std::string& filter : mapping_.SubscriptionFilters()) {
      filters_.push_back(options_.share_group.empty()
                             ? filter
                             : absl::StrCat("$share/", options_.share_group, "/", filter));
    }
    client_.set_connected_handler([this](const std::string&) {
      // Every (re)connect opens a new socket.
      SetTcpNoDelayTowardPort(BrokerPort(options_.broker_uri));
      Subscribe();
    });
    client_.set_connection_lost_handler([this](const std::string& cause) {
      Log("warn", absl::StrCat("MQTT connection lost (", cause, "); reconnecting"));
    });
    client_.set_message_callback([this](::mqtt::const_message_ptr message) {
      OnMessage(message->get_topic(), message->get_payload_ref());
    });
    auto connect = ::mqtt::connect_options_builder()
                       .clean_session(true)
                       .automatic_reconnect(std::chrono::milliseconds(250), std::chrono::seconds(10))
                       .keep_alive_interval(std::chrono::seconds(30))
                       .finalize();
    if (!options_.user_name.empty()) connect.set_user_name(options_.user_name);
    if (!options_.password.empty()) connect.set_password(options_.password);
    try {
      auto token = client_.connect(connect);
      if (!token->wait_for(std::chrono::milliseconds(
              absl::ToInt64Milliseconds(options_.connect_timeout)))) {
        return absl::UnavailableError(
            absl::StrCat("MQTT broker ", options_.broker_uri, " did not answer"));
      }
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to the MQTT broker ", options_.broker_uri, ": ", e.what()));
    }
    return absl::OkStatus();
  }

  void Notify(const AttributeNotice& notice) override {
    Publish(mapping_.NoticeMessage(notice));
  }

  int64_t handled() const override { return handled_.load(); }

 private:
  void Subscribe() {
    try {
      std::vector<int> qos(filters_.size(), kQos);
      client_.subscribe(::mqtt::string_collection::create(filters_), qos);
      Log("info", absl::StrCat("MQTT connected to ", options_.broker_uri, ", subscribed to ",
                               filters_.size(), " device topics"));
    } catch (const std::exception& e) {
      Log("error", absl::StrCat("MQTT subscribe failed: ", e.what()));
    }
  }

  void OnMessage(const std::string& topic, const ::mqtt::binary_ref& payload) {
    handled_.fetch_add(1);
    MqttResult result = mapping_.Handle(topic, payload.to_string());
    if (!result.status.ok()) {
      Log("warn", absl::StrCat("MQTT ", topic, ": ", result.status.message()));
    }
    for (const MqttMessage& message : result.publish) Publish(message);
  }

  // Publishes without waiting for the broker's acknowledgement. When the client's
  // outgoing buffer is full (a burst of answers), waits for room (up to about 2 s)
  // instead of dropping the answer.
  void Publish(const MqttMessage& message) {
    for (int attempt = 0;; ++attempt) {
      try {
        client_.publish(message.topic, message.payload.data(), message.payload.size(), kQos,
                        false);
        return;
      } catch (const ::mqtt::exception& e) {
        if (e.get_return_code() == MQTTASYNC_MAX_BUFFERED_MESSAGES && attempt < 200) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        Log("warn", absl::StrCat("MQTT publish to ", message.topic, " failed: ", e.what()));
        return;
      } catch (const std::exception& e) {
        Log("warn", absl::StrCat("MQTT publish to ", message.topic, " failed: ", e.what()));
        return;
      }
    }
  }

  void Log(absl::string_view level, absl::string_view message) {
    if (options_.log) options_.log(level, message);
  }

  MqttMapping& mapping_;
  const MqttBackendOptions options_;
  ::mqtt::async_client client_;
  std::vector<std::string> filters_;
  std::atomic<int64_t> handled_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<MqttBackend>> MqttBackend::Start(MqttMapping& mapping,
                                                                MqttBackendOptions options) {
  if (options.broker_uri.empty()) return absl::InvalidArgumentError("no MQTT broker given");
  if (options.client_id.empty()) options.client_id = absl::StrCat("fwotad-", RandomSuffix());
  std::unique_ptr<PahoBackend> backend;
  try {
    backend = std::make_unique<PahoBackend>(mapping, std::move(options));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("MQTT client: ", e.what()));
  }
  if (absl::Status s = backend->Connect(); !s.ok()) return s;
  return std::unique_ptr<MqttBackend>(std::move(backend));
}

}  // namespace fwota::mqtt
