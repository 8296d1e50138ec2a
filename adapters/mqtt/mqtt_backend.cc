#include "adapters/mqtt/mqtt_backend.h"

#include <atomic>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "adapters/common/keyed_workers.h"
#include "adapters/mqtt/recent_messages.h"
#include "adapters/mqtt/tcp_nodelay.h"
#include "mqtt/async_client.h"

namespace fwota::mqtt {
namespace {

constexpr int kQos = 1;

// Room for many answers queued at once. Paho's default (100) is soon reached with many
// devices asking at the same time, and waiting for room is not an option on Paho's
// receive thread: it is the one that reads the broker's acknowledgements that make room.
constexpr int kMaxQueuedMessages = 65535;
// Device messages waiting for a worker, at most; beyond, a flood is dropped (logged).
constexpr size_t kMaxPendingMessages = 100000;
// How many recently handled messages are remembered to recognise redeliveries.
constexpr size_t kRememberedMessages = 1 << 16;
// A worker waiting for acknowledgements gives up waiting after this long (the broker
// went away; the reconnect starts a new count).
constexpr absl::Duration kMaxAckWait = absl::Seconds(5);

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

::mqtt::create_options CreateOptions() {
  ::mqtt::create_options options(MQTTVERSION_DEFAULT, kMaxQueuedMessages);
  options.set_send_while_disconnected(false);
  return options;
}

// The device part of a topic ("<prefix>/<token>"): all of one device's messages go to the
// same worker.
absl::string_view DeviceKey(absl::string_view topic) {
  const size_t first = topic.find('/');
  if (first == absl::string_view::npos) return topic;
  const size_t second = topic.find('/', first + 1);
  return topic.substr(0, second);
}

struct Incoming {
  std::string topic;
  std::string payload;
};

class PahoBackend final : public MqttBackend, private ::mqtt::iaction_listener {
 public:
  PahoBackend(MqttMapping& mapping, MqttBackendOptions options)
      : mapping_(mapping),
        options_(std::move(options)),
        client_(options_.broker_uri, options_.client_id, CreateOptions()) {}

  ~PahoBackend() override {
    try {
      client_.disconnect()->wait_for(std::chrono::seconds(5));
    } catch (const std::exception&) {
      // Already gone.
    }
    // workers_ goes first of the members: it handles what is queued, then joins.
  }

  absl::Status Connect() {
    for (const std::string& filter : mapping_.SubscriptionFilters()) {
      filters_.push_back(options_.share_group.empty()
                             ? filter
                             : absl::StrCat("$share/", options_.share_group, "/", filter));
    }
    client_.set_connected_handler([this](const std::string&) {
      // Every (re)connect opens a new socket and starts a new count of acknowledgements.
      SetTcpNoDelayTowardPort(BrokerPort(options_.broker_uri));
      {
        absl::MutexLock lock(&ack_mu_);
        ++epoch_;
        unacked_bytes_ = 0;
        connected_ = true;
      }
      Subscribe();
    });
    client_.set_connection_lost_handler([this](const std::string& cause) {
      {
        // Nothing waits for acknowledgements that will not come: a publish now fails at
        // once (logged) instead of holding up its caller (the update process's notices).
        absl::MutexLock lock(&ack_mu_);
        connected_ = false;
      }
      Log("warn", absl::StrCat("MQTT connection lost (", cause, "); reconnecting"));
    });
    client_.set_message_callback([this](::mqtt::const_message_ptr message) { Enqueue(*message); });
    auto connect = ::mqtt::connect_options_builder()
                       .clean_session(options_.clean_session)
                       .automatic_reconnect(std::chrono::milliseconds(250), std::chrono::seconds(10))
                       .keep_alive_interval(std::chrono::seconds(30))
                       .max_inflight(kMaxQueuedMessages)
                       .finalize();
    if (!options_.user_name.empty()) connect.set_user_name(options_.user_name);
    if (!options_.password.empty()) connect.set_password(options_.password);
    if (absl::StartsWith(options_.broker_uri, "ssl://") ||
        absl::StartsWith(options_.broker_uri, "mqtts://") || !options_.ca_file.empty() ||
        !options_.cert_file.empty()) {
      ::mqtt::ssl_options ssl;
      if (!options_.ca_file.empty()) ssl.set_trust_store(options_.ca_file);
      if (!options_.cert_file.empty()) ssl.set_key_store(options_.cert_file);
      if (!options_.key_file.empty()) ssl.set_private_key(options_.key_file);
      ssl.set_enable_server_cert_auth(true);
      ssl.set_verify(true);
      connect.set_ssl(std::move(ssl));
    }
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

  // Never waits (the Notifier contract): a notice is small and goes out at once, counted
  // among the bytes on their way.
  void Notify(const AttributeNotice& notice) override {
    Publish(mapping_.NoticeMessage(notice), /*wait_for_room=*/false);
  }

  int64_t handled() const override { return handled_.load(); }
  int64_t duplicates() const override { return duplicates_.load(); }

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

  // On Paho's receive thread: never blocks.
  void Enqueue(const ::mqtt::message& message) {
    const std::string& topic = message.get_topic();
    const absl::string_view device = DeviceKey(topic);
    if (workers_.Full(device)) {
      Log("warn", absl::StrCat("MQTT ", topic, ": dropped, ", workers_.Pending(device),
                               " messages already wait to be handled"));
      return;
    }
    if (!recent_.Add(topic, message.get_payload_str()) && message.is_duplicate()) {
      duplicates_.fetch_add(1);
      return;  // taken already: the broker sent it again after a lost acknowledgement
    }
    // Only this thread adds, so the room checked above is still there.
    workers_.Add(device, {topic, message.get_payload_str()});
  }

  void Handle(Incoming& in) {
    handled_.fetch_add(1);
    MqttResult result = mapping_.Handle(in.topic, in.payload);
    if (!result.status.ok()) {
      Log("warn", absl::StrCat("MQTT ", in.topic, ": ", result.status.message()));
    }
    for (MqttMessage& message : result.publish) Publish(std::move(message), true);
  }

  // Publishes at QoS 1, with `wait_for_room` once the bytes on their way leave room (see
  // max_unacked_bytes); never waits for this message's own acknowledgement.
  void Publish(MqttMessage message, bool wait_for_room) {
    const int64_t size = static_cast<int64_t>(message.payload.size());
    int64_t epoch;
    {
      absl::MutexLock lock(&ack_mu_);
      auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ack_mu_) {
        return !connected_ || unacked_bytes_ == 0 ||
               unacked_bytes_ + size <= options_.max_unacked_bytes;
      };
      if (wait_for_room) ack_mu_.AwaitWithTimeout(absl::Condition(&room), kMaxAckWait);
      unacked_bytes_ += size;
      epoch = epoch_;
    }
    try {
      client_.publish(::mqtt::make_message(message.topic, std::move(message.payload), kQos, false),
                      reinterpret_cast<void*>(static_cast<intptr_t>(epoch)), *this);
    } catch (const std::exception& e) {
      Acknowledged(size, epoch);
      Log("warn", absl::StrCat("MQTT publish to ", message.topic, " failed: ", e.what()));
    }
  }

  // The iaction_listener of every publish: its bytes are no longer on their way.
  void on_success(const ::mqtt::token& token) override { Settle(token); }
  void on_failure(const ::mqtt::token& token) override { Settle(token); }

  void Settle(const ::mqtt::token& token) {
    const auto* delivery = dynamic_cast<const ::mqtt::delivery_token*>(&token);
    if (delivery == nullptr || delivery->get_message() == nullptr) return;
    Acknowledged(static_cast<int64_t>(delivery->get_message()->get_payload().size()),
                 static_cast<int64_t>(reinterpret_cast<intptr_t>(token.get_user_context())));
  }

  void Acknowledged(int64_t size, int64_t epoch) {
    absl::MutexLock lock(&ack_mu_);
    if (epoch != epoch_) return;  // counted in an earlier connection's total
    unacked_bytes_ = std::max<int64_t>(unacked_bytes_ - size, 0);
  }

  void Log(absl::string_view level, absl::string_view message) {
    if (options_.log) options_.log(level, message);
  }

  MqttMapping& mapping_;
  const MqttBackendOptions options_;
  ::mqtt::async_client client_;
  std::vector<std::string> filters_;
  std::atomic<int64_t> handled_{0};
  std::atomic<int64_t> duplicates_{0};

  absl::Mutex ack_mu_;
  int64_t unacked_bytes_ ABSL_GUARDED_BY(ack_mu_) = 0;
  int64_t epoch_ ABSL_GUARDED_BY(ack_mu_) = 0;
  bool connected_ ABSL_GUARDED_BY(ack_mu_) = false;

  RecentMessages recent_{kRememberedMessages};

  // Last: it is destroyed (handling what is queued) before what its items use.
  adapters::KeyedWorkers<Incoming> workers_{options_.worker_threads, kMaxPendingMessages,
                                            [this](Incoming& in) { Handle(in); }};
};

}  // namespace

absl::StatusOr<std::unique_ptr<MqttBackend>> MqttBackend::Start(MqttMapping& mapping,
                                                                MqttBackendOptions options) {
  if (options.broker_uri.empty()) return absl::InvalidArgumentError("no MQTT broker given");
  if (options.client_id.empty()) {
    if (!options.clean_session) {
      return absl::InvalidArgumentError(
          "a persistent MQTT session needs a client id that stays the same across restarts");
    }
    options.client_id = absl::StrCat("fwotad-", RandomSuffix());
  }
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
