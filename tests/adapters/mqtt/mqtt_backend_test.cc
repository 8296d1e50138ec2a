// The MQTT backend against a real mosquitto broker on a free port: a device made of a
// Paho client downloads a package in chunks through the broker, reports telemetry and
// receives a notice; the broker is killed and restarted and the backend carries on.
#include "adapters/mqtt/mqtt_backend.h"
#include "adapters/mqtt/tcp_nodelay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "fwota/metadata_stores.h"
#include "gtest/gtest.h"
#include "mqtt/async_client.h"
#include "tests/adapters/common/device_service_test.h"
#include "tests/testing/status_matchers.h"

namespace fwota::mqtt {
namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool Connectable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

std::string TempDir() { return getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp"; }

// A mosquitto broker of our own on a free loopback port; with `tls_dir` (holding ca.crt,
// server.crt, server.key) also a TLS listener on another free port.
class Mosquitto {
 public:
  explicit Mosquitto(const std::string& tls_dir = "") : port_(FreePort()) {
    config_ = absl::StrCat(TempDir(), "/mosquitto-", port_, ".conf");
    std::ofstream out(config_);
    // "user root": as root, mosquitto would otherwise become user mosquitto, who cannot
    // read the test's files.
    out << "user root\nper_listener_settings false\nallow_anonymous true\npersistence false\n"
        << "set_tcp_nodelay true\nlistener " << port_ << " 127.0.0.1\n";
    if (!tls_dir.empty()) {
      tls_port_ = FreePort();
      out << "listener " << tls_port_ << " 127.0.0.1\ncafile " << tls_dir << "/ca.crt\n"
          << "certfile " << tls_dir << "/server.crt\nkeyfile " << tls_dir << "/server.key\n";
    }
  }
  ~Mosquitto() { Stop(); }

  void Start() {
    ASSERT_EQ(access(kBinary, X_OK), 0)
        << kBinary << " is missing: run tools/scripts/install-deps.sh (package mosquitto)";
    pid_ = fork();
    if (pid_ == 0) {
      execl(kBinary, kBinary, "-c", config_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!Connectable(port_) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(Connectable(port_)) << "mosquitto did not start on port " << port_;
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  // SIGSTOP / SIGCONT: the broker keeps its connections but answers nothing.
  void Pause() { kill(pid_, SIGSTOP); }
  void Resume() { kill(pid_, SIGCONT); }

  std::string uri() const { return absl::StrCat("tcp://127.0.0.1:", port_); }
  std::string tls_uri() const { return absl::StrCat("ssl://127.0.0.1:", tls_port_); }

 private:
  static constexpr const char* kBinary = "/usr/sbin/mosquitto";
  int port_;
  int tls_port_ = 0;
  std::string config_;
  pid_t pid_ = -1;
};

// A device: a Paho client subscribed to its own prefix, collecting what it receives.
class DeviceClient {
 public:
  explicit DeviceClient(const std::string& uri) : client_(uri, "device-TOK") {
    client_.set_message_callback([this](::mqtt::const_message_ptr m) {
      absl::MutexLock lock(&mu_);
      received_.emplace_back(m->get_topic(), m->to_string());
    });
    client_.set_connected_handler([this, uri](const std::string&) {
      SetTcpNoDelayTowardPort(BrokerPort(uri));
      client_.subscribe("fwota/TOK/#", 1);
    });
  }
  ~DeviceClient() {
    try {
      client_.disconnect()->wait();
    } catch (const std::exception&) {
    }
  }
  void Connect() {
    auto options = ::mqtt::connect_options_builder()
                       .clean_session(true)
                       .automatic_reconnect(std::chrono::milliseconds(100), std::chrono::seconds(1))
                       .finalize();
    client_.connect(options)->wait();
    // The subscription is made in the connected handler; wait until it is active.
    absl::SleepFor(absl::Milliseconds(200));
  }
  void Publish(const std::string& topic, const std::string& payload, bool wait = true) {
    auto token = client_.publish(topic, payload.data(), payload.size(), 1, false);
    if (wait) token->wait();
  }
  // Waits for a message on `topic`, removing it from what was received.
  std::optional<std::string> Await(const std::string& topic, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& [t, p] : received_) {
        if (t == topic) return true;
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&has), timeout)) return std::nullopt;
    for (auto it = received_.begin(); it != received_.end(); ++it) {
      if (it->first == topic) {
        std::string payload = std::move(it->second);
        received_.erase(it);
        return payload;
      }
    }
    return std::nullopt;
  }
  bool connected() { return client_.is_connected(); }

 private:
  ::mqtt::async_client client_;
  absl::Mutex mu_;
  std::vector<std::pair<std::string, std::string>> received_ ABSL_GUARDED_BY(mu_);
};

class MqttBackendTest : public adapters::testing::DeviceServiceTest {
 protected:
  void SetUp() override {
    SetUpService(64 * 1024 + 123, &fanout_);
    mapping_ = std::make_unique<MqttMapping>(*service_, MqttMappingOptions());
    broker_.Start();
    ASSERT_OK_AND_ASSIGN(backend_, MqttBackend::Start(*mapping_, BackendOptions("fwotad-1")));
    fanout_.Add(backend_.get());
    device_client_ = std::make_unique<DeviceClient>(broker_.uri());
    device_client_->Connect();
  }

  void TearDown() override {
    device_client_.reset();
    if (backend_ != nullptr) fanout_.Remove(backend_.get());
    backend_.reset();
  }

  MqttBackendOptions BackendOptions(const std::string& client_id) {
    MqttBackendOptions options;
    options.broker_uri = broker_.uri();
    options.share_group = "fwota";
    options.client_id = client_id;
    return options;
  }

  // Downloads the whole package in `chunk`-byte chunks through the broker.
  std::string Download(int chunk, const std::string& request_id) {
    std::string out;
    for (int n = 0;; ++n) {
      device_client_->Publish(absl::StrCat("fwota/TOK/v2/fw/request/", request_id, "/chunk/", n),
                              n == 0 ? std::to_string(chunk) : "");
      std::optional<std::string> part = device_client_->Await(
          absl::StrCat("fwota/TOK/v2/fw/response/", request_id, "/chunk/", n), absl::Seconds(10));
      EXPECT_TRUE(part.has_value()) << "no answer to chunk " << n;
      if (!part.has_value() || part->empty()) break;
      out += *part;
    }
    return out;
  }

  Mosquitto broker_;
  NotifierFanout fanout_;
  std::unique_ptr<MqttMapping> mapping_;
  std::unique_ptr<MqttBackend> backend_;
  std::unique_ptr<DeviceClient> device_client_;
};

TEST_F(MqttBackendTest, ChunkedDownloadTelemetryAndNoticeThroughTheBroker) {
  EXPECT_EQ(Download(4096, "1"), data_);
  EXPECT_EQ(Download(65536, "2"), data_);
  // Errors arrive as payloads on the error topic.
  device_client_->Publish("fwota/TOK/v2/fw/request/3/chunk/0", "2000000");
  std::optional<std::string> error =
      device_client_->Await("fwota/TOK/v2/fw/error", absl::Seconds(10));
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rfind("PAYLOAD_TOO_LARGE: a chunk of 2000000 bytes", 0), 0u) << *error;
  // Telemetry reaches the history.
  device_client_->Publish("fwota/TOK/v1/devices/me/telemetry", R"({"fw_state":"DOWNLOADING"})");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  absl::StatusOr<UpdateStatus> status;
  do {
    status = service_->GetUpdateStatus(ctx_, device_.id(), ::fwota::v1::FIRMWARE);
    if (status.ok() && status->state() == ::fwota::v1::UPDATE_STATE_DOWNLOADING) break;
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < deadline);
  ASSERT_OK(status.status());
  EXPECT_EQ(status->state(), ::fwota::v1::UPDATE_STATE_DOWNLOADING);
  // The notice of an unassignment is pushed on the attributes topic.
  ASSERT_OK(service_->AssignDevicePackage(ctx_, device_.id(), ::fwota::v1::FIRMWARE, ""));
  ASSERT_OK(service_->DrainNotices(10));
  std::optional<std::string> pushed =
      device_client_->Await("fwota/TOK/v1/devices/me/attributes", absl::Seconds(10));
  ASSERT_TRUE(pushed.has_value());
  EXPECT_EQ(pushed->rfind(R"({"deleted":["fw_title",)", 0), 0u) << *pushed;
  // An attributes request is answered.
  device_client_->Publish("fwota/TOK/v1/devices/me/attributes/request/5", "");
  std::optional<std::string> answer = device_client_->Await(
      "fwota/TOK/v1/devices/me/attributes/response/5", absl::Seconds(10));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(*answer, "{}");
}

TEST_F(MqttBackendTest, FiveMebibytesIn4KiB64KiBAnd1MiBChunks) {
  const std::string big = adapters::testing::RandomBytes(5 * 1024 * 1024, 5);
  OtaPackage p = Package("fw", "5m", big);
  ASSERT_OK(service_->AssignDevicePackage(ctx_, device_.id(), ::fwota::v1::FIRMWARE, p.id()));
  const absl::Time start = absl::Now();
  EXPECT_TRUE(Download(4096, "4k") == big);
  std::printf("5 MiB in 4 KiB chunks: %.2f s\n", absl::ToDoubleSeconds(absl::Now() - start));
  EXPECT_TRUE(Download(64 * 1024, "64k") == big);
  EXPECT_TRUE(Download(1 << 20, "1m") == big);
}

TEST_F(MqttBackendTest, TwoInstancesOnOneShareGroupAnswerEachRequestOnce) {
  // A second fwotad instance: its own backend on the same broker and share group.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MqttBackend> second,
                       MqttBackend::Start(*mapping_, BackendOptions("fwotad-2")));
  absl::SleepFor(absl::Milliseconds(300));  // its subscriptions are in place
  const int64_t first_before = backend_->handled();
  constexpr int kRequests = 10000;
  for (int i = 0; i < kRequests; ++i) {
    // Pipelined, in windows of 50 (the client buffers a limited number of messages).
    device_client_->Publish(absl::StrCat("fwota/TOK/v2/fw/request/r", i, "/chunk/0"), "16",
                            /*wait=*/i % 50 == 49);
  }
  int answered = 0;
  for (int i = 0; i < kRequests; ++i) {
    std::optional<std::string> part = device_client_->Await(
        absl::StrCat("fwota/TOK/v2/fw/response/r", i, "/chunk/0"), absl::Seconds(10));
    ASSERT_TRUE(part.has_value()) << "request " << i << " was not answered";
    EXPECT_EQ(*part, data_.substr(0, 16));
    ++answered;
  }
  EXPECT_EQ(answered, kRequests);
  // None answered twice: nothing more arrives for any of them.
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_FALSE(device_client_
                   ->Await("fwota/TOK/v2/fw/response/r0/chunk/0", absl::Milliseconds(1))
                   .has_value());
  const int64_t by_first = backend_->handled() - first_before;
  const int64_t by_second = second->handled();
  EXPECT_EQ(by_first + by_second, kRequests);
  EXPECT_GT(by_first, 0);
  EXPECT_GT(by_second, 0);
  std::printf("shared subscription: first instance %lld, second %lld requests\n",
              static_cast<long long>(by_first), static_cast<long long>(by_second));
}

// The broker killed in the middle of a download and started again: both clients
// reconnect on their own, the backend subscribes again, and the device goes on from the
// chunk it was at (asking again what got no answer, as a device does on its timeout).
TEST_F(MqttBackendTest, BrokerRestartMidTransferIsSurvived) {
  constexpr int kChunk = 4096;
  std::string got;
  int n = 0;
  for (; n < 5; ++n) {
    device_client_->Publish(absl::StrCat("fwota/TOK/v2/fw/request/9/chunk/", n),
                            std::to_string(kChunk));
    std::optional<std::string> part = device_client_->Await(
        absl::StrCat("fwota/TOK/v2/fw/response/9/chunk/", n), absl::Seconds(10));
    ASSERT_TRUE(part.has_value());
    got += *part;
  }
  broker_.Stop();
  absl::SleepFor(absl::Milliseconds(300));
  broker_.Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!device_client_->connected() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(device_client_->connected());
  for (;;) {
    std::optional<std::string> part;
    while (!part.has_value() && absl::Now() < deadline) {
      try {
        device_client_->Publish(absl::StrCat("fwota/TOK/v2/fw/request/9/chunk/", n),
                                std::to_string(kChunk));
      } catch (const std::exception&) {
        // Not reconnected yet: ask again.
      }
      part = device_client_->Await(absl::StrCat("fwota/TOK/v2/fw/response/9/chunk/", n),
                                   absl::Milliseconds(500));
    }
    ASSERT_TRUE(part.has_value()) << "no answer to chunk " << n << " after the broker restart";
    if (part->empty()) break;
    got += *part;
    ++n;
  }
  EXPECT_TRUE(got == data_) << got.size() << " bytes, expected " << data_.size();
}

// Notices come from the update process's thread and never wait: not for room among the
// unacknowledged bytes (a broker that has stopped answering), not while the broker is
// gone (they fail at once, logged).
TEST_F(MqttBackendTest, NoticesNeverWait) {
  fanout_.Remove(backend_.get());
  backend_.reset();
  MqttBackendOptions options = BackendOptions("fwotad-1");
  options.max_unacked_bytes = 16;  // one notice fills it
  ASSERT_OK_AND_ASSIGN(backend_, MqttBackend::Start(*mapping_, options));
  AttributeNotice notice;
  notice.access_token = "TOK";
  notice.type = ::fwota::v1::FIRMWARE;
  notice.deleted = {"fw_title", "fw_version"};
  broker_.Pause();
  absl::Time start = absl::Now();
  for (int i = 0; i < 5; ++i) backend_->Notify(notice);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  broker_.Resume();
  // Delivered once the broker answers again.
  EXPECT_TRUE(device_client_->Await("fwota/TOK/v1/devices/me/attributes", absl::Seconds(10))
                  .has_value());
  broker_.Stop();
  absl::SleepFor(absl::Milliseconds(300));  // the backend has seen the connection go
  start = absl::Now();
  for (int i = 0; i < 20; ++i) backend_->Notify(notice);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

// fwotad goes away (a restart): a persistent session keeps the subscriptions, the
// broker queues what devices ask meanwhile, and the next start under the same client id
// answers it. With a clean session (the default) it is gone.
TEST_F(MqttBackendTest, PersistentSessionAnswersRequestsAskedWhileAway) {
  fanout_.Remove(backend_.get());
  backend_.reset();
  MqttBackendOptions persistent = BackendOptions("fwotad-p");
  persistent.clean_session = false;
  ASSERT_OK_AND_ASSIGN(backend_, MqttBackend::Start(*mapping_, persistent));
  absl::SleepFor(absl::Milliseconds(300));  // subscribed
  backend_.reset();
  for (int n = 0; n < 3; ++n) {
    device_client_->Publish(absl::StrCat("fwota/TOK/v2/fw/request/away/chunk/", n), "1000");
  }
  EXPECT_FALSE(device_client_->Await("fwota/TOK/v2/fw/response/away/chunk/0", absl::Milliseconds(300))
                   .has_value());
  ASSERT_OK_AND_ASSIGN(backend_, MqttBackend::Start(*mapping_, persistent));
  fanout_.Add(backend_.get());
  for (int n = 0; n < 3; ++n) {
    std::optional<std::string> part = device_client_->Await(
        absl::StrCat("fwota/TOK/v2/fw/response/away/chunk/", n), absl::Seconds(10));
    ASSERT_TRUE(part.has_value()) << "request " << n << " asked while fwotad was away";
    EXPECT_EQ(*part, data_.substr(1000 * n, 1000));
  }
  // A clean session instead: what is asked while it is away is gone.
  fanout_.Remove(backend_.get());
  backend_.reset();
  // (The same client id: the clean start also ends the persistent session.)
  MqttBackendOptions clean = BackendOptions("fwotad-p");
  ASSERT_OK_AND_ASSIGN(backend_, MqttBackend::Start(*mapping_, clean));
  fanout_.Add(backend_.get());
  absl::SleepFor(absl::Milliseconds(300));
  fanout_.Remove(backend_.get());
  backend_.reset();
  device_client_->Publish("fwota/TOK/v2/fw/request/lost/chunk/0", "1000");
  ASSERT_OK_AND_ASSIGN(backend_, MqttBackend::Start(*mapping_, clean));
  fanout_.Add(backend_.get());
  EXPECT_FALSE(device_client_->Await("fwota/TOK/v2/fw/response/lost/chunk/0", absl::Seconds(1))
                   .has_value());
}

// Far more answer bytes asked at once than the backend lets travel unacknowledged: they
// wait for the broker's acknowledgements (read on Paho's thread, which never waits) and
// all arrive, right.
TEST_F(MqttBackendTest, AByteBudgetSmallerThanTheBurstStillAnswersEverything) {
  fanout_.Remove(backend_.get());
  backend_.reset();
  MqttBackendOptions options = BackendOptions("fwotad-1");
  options.max_unacked_bytes = 100 * 1024;
  options.worker_threads = 3;
  ASSERT_OK_AND_ASSIGN(backend_, MqttBackend::Start(*mapping_, options));
  constexpr int kRequests = 400;  // 400 x 16 KiB: 6.4 MiB against a budget of 100 KiB
  for (int i = 0; i < kRequests; ++i) {
    device_client_->Publish(absl::StrCat("fwota/TOK/v2/fw/request/b", i, "/chunk/", i % 4),
                            "16384", /*wait=*/i % 50 == 49);
  }
  for (int i = 0; i < kRequests; ++i) {
    std::optional<std::string> part = device_client_->Await(
        absl::StrCat("fwota/TOK/v2/fw/response/b", i, "/chunk/", i % 4), absl::Seconds(20));
    ASSERT_TRUE(part.has_value()) << "request " << i << " was not answered";
    EXPECT_TRUE(*part == data_.substr(16384 * (i % 4), 16384)) << "request " << i;
  }
}

// Bad input through the broker: each gets an error payload on the device's error topic
// or is dropped (logged), and the backend goes on answering.
TEST_F(MqttBackendTest, BadInputGetsErrorsOrIsDroppedAndNothingElseIsDisturbed) {
  device_client_->Publish("fwota/TOK/v2/fw/request/1/chunk/-1", "100");
  std::optional<std::string> error =
      device_client_->Await("fwota/TOK/v2/fw/error", absl::Seconds(10));
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rfind("FAILURE: chunk number \"-1\"", 0), 0u) << *error;
  device_client_->Publish("fwota/TOK/v2/fw/request/1/chunk/0", "-5");
  error = device_client_->Await("fwota/TOK/v2/fw/error", absl::Seconds(10));
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rfind("FAILURE: chunk size \"-5\"", 0), 0u) << *error;
  device_client_->Publish("fwota/TOK/v2/fw/request/1/chunk/0", "99999999999999999999999");
  error = device_client_->Await("fwota/TOK/v2/fw/error", absl::Seconds(10));
  ASSERT_TRUE(error.has_value());
  // Dropped: no one to answer, or nothing to answer.
  const int64_t before = backend_->handled();
  device_client_->Publish("fwota/NOPE/v2/fw/request/1/chunk/0", "100");
  device_client_->Publish("fwota/TOK/v2/fw/request//chunk/0", "100");
  device_client_->Publish("fwota/TOK/v2/sw/request/1/chunk/0", "100");  // no software
  device_client_->Publish("fwota/TOK/v1/devices/me/telemetry", "{not json");
  device_client_->Publish("fwota/TOK/v1/devices/me/telemetry", std::string(3 << 20, '{'));
  device_client_->Publish("fwota/TOK/v1/devices/me/attributes/request/1", "[1,2");
  // Each was handled (and refused) and the backend answers the next good request.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (backend_->handled() < before + 6 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(backend_->handled(), before + 6);
  device_client_->Publish("fwota/TOK/v2/fw/request/ok/chunk/2", "100");
  std::optional<std::string> part =
      device_client_->Await("fwota/TOK/v2/fw/response/ok/chunk/2", absl::Seconds(10));
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(*part, data_.substr(200, 100));
  // Nothing else came out of the bad ones: no further error, no response for NOPE.
  EXPECT_FALSE(device_client_->Await("fwota/TOK/v2/fw/error", absl::Milliseconds(200)).has_value());
  ASSERT_OK_AND_ASSIGN(UpdateStatus status,
                       service_->GetUpdateStatus(ctx_, device_.id(), ::fwota::v1::FIRMWARE));
  EXPECT_NE(status.state(), ::fwota::v1::UPDATE_STATE_FAILED);
}

// Certificates made by the openssl command line: a CA, a server certificate for
// 127.0.0.1 signed by it, and an unrelated CA.
void MakeCertificates(const std::string& dir) {
  const std::string script = absl::StrCat(
      "set -e; cd ", dir, "; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=fwota-test-ca "
      "-keyout ca.key -out ca.crt 2>/dev/null; ",
      "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key "
      "-out server.csr 2>/dev/null; ",
      "printf 'subjectAltName=IP:127.0.0.1\n' > san.ext; ",
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile san.ext -out server.crt 2>/dev/null; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca "
      "-keyout other.key -out other.crt 2>/dev/null");
  ASSERT_EQ(std::system(script.c_str()), 0) << "openssl failed";
}

class MqttBackendTlsTest : public adapters::testing::DeviceServiceTest {};

TEST_F(MqttBackendTlsTest, ConnectsOverTlsTrustingOnlyItsCa) {
  const std::string dir = absl::StrCat(TempDir(), "/tls");
  ASSERT_EQ(std::system(absl::StrCat("mkdir -p ", dir).c_str()), 0);
  MakeCertificates(dir);
  Mosquitto broker(dir);
  broker.Start();
  SetUpService(4096);
  MqttMapping mapping(*service_, MqttMappingOptions());
  MqttBackendOptions options;
  options.broker_uri = broker.tls_uri();
  options.client_id = "fwotad-tls";
  options.ca_file = dir + "/ca.crt";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MqttBackend> backend, MqttBackend::Start(mapping, options));
  // The device on the plain listener of the same broker.
  DeviceClient device(broker.uri());
  device.Connect();
  device.Publish("fwota/TOK/v2/fw/request/1/chunk/1", "1000");
  std::optional<std::string> part =
      device.Await("fwota/TOK/v2/fw/response/1/chunk/1", absl::Seconds(10));
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(*part, data_.substr(1000, 1000));
  backend.reset();
  // A CA that did not sign the broker's certificate: no connection.
  options.ca_file = dir + "/other.crt";
  options.connect_timeout = absl::Seconds(3);
  EXPECT_THAT(MqttBackend::Start(mapping, options),
              ::fwota::testing::StatusCodeIs(absl::StatusCode::kUnavailable));
}

TEST(MqttBackendStartTest, UnreachableBrokerIsUnavailable) {
  auto metadata = NewMemoryMetadataStore();
  auto blobs = NewMemoryBlobStore();
  OtaServiceOptions options;
  options.metadata = metadata.get();
  options.blobs = blobs.get();
  ASSERT_OK_AND_ASSIGN(auto service, OtaService::Create(options));
  MqttMapping mapping(*service, MqttMappingOptions());
  MqttBackendOptions backend_options;
  backend_options.broker_uri = absl::StrCat("tcp://127.0.0.1:", FreePort());
  backend_options.client_id = "fwotad-unreachable";
  backend_options.connect_timeout = absl::Seconds(2);
  EXPECT_THAT(MqttBackend::Start(mapping, backend_options),
              ::fwota::testing::StatusCodeIs(absl::StatusCode::kUnavailable));
  backend_options.broker_uri = "";
  EXPECT_THAT(MqttBackend::Start(mapping, backend_options),
              ::fwota::testing::StatusCodeIs(absl::StatusCode::kInvalidArgument));
  // A persistent session needs a stable client id.
  backend_options.broker_uri = "tcp://127.0.0.1:1";
  backend_options.client_id = "";
  backend_options.clean_session = false;
  EXPECT_THAT(MqttBackend::Start(mapping, backend_options),
              ::fwota::testing::StatusCodeIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fwota::mqtt
