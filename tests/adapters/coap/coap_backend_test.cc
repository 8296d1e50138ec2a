// The CoAP backend (libcoap) on a free port, driven by a raw UDP client that builds its
// datagrams byte by byte, so the test also sends what no library would: repeated and
// oversized options, garbage, Resets. Block-wise download, observe with a notice, a
// Reset ending an observation, telemetry answered separately once durable (and in line
// when asked), and the PSK file reader.
#include "adapters/coap/coap_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/adapters/common/device_service_test.h"
#include "tests/testing/status_matchers.h"

namespace fwota::coap {
namespace {

using ::testing::HasSubstr;

constexpr uint8_t kCon = 0, kNon = 1, kAck = 2, kRst = 3;
constexpr uint8_t kGet = 1, kPost = 2, kChanged = 0x44;
constexpr int kEtag = 4, kObserve = 6, kUriPath = 11, kUriQuery = 15, kBlock2 = 23, kSize2 = 28;

// One CoAP message (RFC 7252 section 3), options sorted by number.
struct Message {
  uint8_t type = kCon;
  uint8_t code = kGet;
  uint16_t mid = 0;
  std::string token;
  std::vector<std::pair<int, std::string>> options;
  std::string payload;

  std::optional<std::string> Option(int number) const {
    for (const auto& [n, v] : options) {
      if (n == number) return v;
    }
    return std::nullopt;
  }
  std::optional<uint32_t> UintOption(int number) const {
    std::optional<std::string> v = Option(number);
    if (!v.has_value()) return std::nullopt;
    uint32_t out = 0;
    for (unsigned char c : *v) out = out << 8 | c;
    return out;
  }
};

std::string Uint(uint32_t value) {
  std::string out;
  while (value != 0) {
    out.insert(out.begin(), static_cast<char>(value & 0xff));
    value >>= 8;
  }
  return out;
}

void AppendNibbleExtension(std::string& out, uint32_t value) {
  if (value >= 269) {
    out.push_back(static_cast<char>((value - 269) >> 8));
    out.push_back(static_cast<char>((value - 269) & 0xff));
  } else if (value >= 13) {
    out.push_back(static_cast<char>(value - 13));
  }
}

int Nibble(uint32_t value) { return value >= 269 ? 14 : value >= 13 ? 13 : static_cast<int>(value); }

std::string Encode(const Message& m) {
  std::string out;
  out.push_back(static_cast<char>(0x40 | m.type << 4 | m.token.size()));
  out.push_back(static_cast<char>(m.code));
  out.push_back(static_cast<char>(m.mid >> 8));
  out.push_back(static_cast<char>(m.mid & 0xff));
  out += m.token;
  int last = 0;
  for (const auto& [number, value] : m.options) {
    const uint32_t delta = number - last;
    last = number;
    out.push_back(static_cast<char>(Nibble(delta) << 4 | Nibble(value.size())));
    AppendNibbleExtension(out, delta);
    AppendNibbleExtension(out, value.size());
    out += value;
  }
  if (!m.payload.empty()) out += '\xff' + m.payload;
  return out;
}

std::optional<Message> Decode(const std::string& in) {
  if (in.size() < 4) return std::nullopt;
  Message m;
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(in[i]); };
  m.type = (byte(0) >> 4) & 3;
  const size_t tkl = byte(0) & 0xf;
  m.code = byte(1);
  m.mid = static_cast<uint16_t>(byte(2) << 8 | byte(3));
  size_t i = 4;
  if (in.size() < i + tkl) return std::nullopt;
  m.token = in.substr(i, tkl);
  i += tkl;
  int number = 0;
  while (i < in.size() && byte(i) != 0xff) {
    uint32_t delta = byte(i) >> 4, length = byte(i) & 0xf;
    ++i;
    for (uint32_t* v : {&delta, &length}) {
      if (*v == 13) {
        *v = 13 + byte(i++);
      } else if (*v == 14) {
        *v = 269 + (byte(i) << 8 | byte(i + 1));
        i += 2;
      }
    }
    number += delta;
    m.options.emplace_back(number, in.substr(i, length));
    i += length;
  }
  if (i < in.size()) m.payload = in.substr(i + 1);
  return m;
}

// A UDP socket talking to the backend.
class Client {
 public:
  explicit Client(int port) : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }
  ~Client() { close(fd_); }

  void SendRaw(const std::string& bytes) { send(fd_, bytes.data(), bytes.size(), 0); }
  void Send(const Message& m) { SendRaw(Encode(m)); }

  std::optional<Message> Receive(int timeout_ms = 3000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return std::nullopt;
    char buf[2048];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) return std::nullopt;
    return Decode(std::string(buf, static_cast<size_t>(n)));
  }

  // A request of `code` for `path` ("fw/TOK") with the next message id and a token of
  // its own; not sent.
  Message Request(uint8_t code, const std::string& path, std::string payload = "") {
    Message m;
    m.code = code;
    m.mid = ++mid_;
    m.token = absl::StrCat("t", mid_);
    size_t start = 0;
    while (start <= path.size()) {
      const size_t slash = std::min(path.find('/', start), path.size());
      m.options.emplace_back(kUriPath, path.substr(start, slash - start));
      start = slash + 1;
    }
    m.payload = std::move(payload);
    return m;
  }

  // An empty ACK of a confirmable message from the server.
  void Acknowledge(const Message& m) {
    Message ack;
    ack.type = kAck;
    ack.code = 0;
    ack.mid = m.mid;
    Send(ack);
  }

  // A confirmable GET of `path` ("fw/TOK") with `query` and extra options; the answer.
  std::optional<Message> Get(const std::string& path, std::vector<std::string> query = {},
                             std::vector<std::pair<int, std::string>> extra = {}) {
    Message m = Request(kGet, path);
    for (const auto& option : extra) m.options.push_back(option);
    for (const std::string& q : query) m.options.emplace_back(kUriQuery, q);
    std::stable_sort(m.options.begin(), m.options.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    Send(m);
    for (;;) {
      std::optional<Message> answer = Receive();
      if (!answer.has_value() || answer->mid == m.mid) return answer;
    }
  }

 private:
  int fd_;
  uint16_t mid_ = 100;
};

// Forwards to another store; while held, appending to the report log waits (a group
// commit that takes its time).
class HeldReportStore : public MetadataStore, private ReportLog {
 public:
  explicit HeldReportStore(std::unique_ptr<MetadataStore> inner) : inner_(std::move(inner)) {}

  absl::Status RunInTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) override {
    return inner_->RunInTransaction(body);
  }
  absl::Status RunInReadTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) override {
    return inner_->RunInReadTransaction(body);
  }
  ReportLog& report_log() override { return *this; }

  void Hold(bool held) {
    absl::MutexLock lock(&mu_);
    held_ = held;
  }
  // Waits until an append is held.
  bool WaitForHeldAppend() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(
                                    +[](int* n) { return *n > 0; }, &waiting_),
                                absl::Seconds(5));
  }

 private:
  absl::Status Append(std::vector<LoggedReport>& reports) override {
    {
      absl::MutexLock lock(&mu_);
      ++waiting_;
      mu_.Await(absl::Condition(+[](bool* held) { return !*held; }, &held_));
      --waiting_;
    }
    return inner_->report_log().Append(reports);
  }
  absl::StatusOr<std::vector<LoggedReport>> ReadAfter(int64_t after, int limit) override {
    return inner_->report_log().ReadAfter(after, limit);
  }
  absl::Status Truncate(int64_t seq) override { return inner_->report_log().Truncate(seq); }
  absl::Status SkipThrough(int64_t seq) override {
    return inner_->report_log().SkipThrough(seq);
  }

  std::unique_ptr<MetadataStore> inner_;
  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

class CoapBackendTest : public adapters::testing::DeviceServiceTest {
 protected:
  void Start(size_t image_size, int report_threads = 4) {
    SetUpService(image_size, &fanout_);
    mapping_ = std::make_unique<CoapMapping>(*service_, CoapMappingOptions());
    CoapBackendOptions options;
    options.port = 0;
    options.report_threads = report_threads;
    ASSERT_OK_AND_ASSIGN(backend_, CoapBackend::Start(*mapping_, options));
    ASSERT_GT(backend_->udp_port(), 0);
    fanout_.Add(backend_.get());
    client_ = std::make_unique<Client>(backend_->udp_port());
  }

  void TearDown() override {
    if (backend_ != nullptr) fanout_.Remove(backend_.get());
  }

  bool WaitForObservers(int64_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (backend_->observers() != n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return backend_->observers() == n;
  }

  // The device's history of firmware reports in `state`.
  int DeviceEvents(::fwota::v1::UpdateState state) {
    PageQuery query;
    query.page_size = 1000;
    absl::StatusOr<Page<UpdateEvent>> history =
        service_->ListUpdateHistory(ctx_, device_.id(), ::fwota::v1::FIRMWARE, query);
    EXPECT_OK(history.status());
    int n = 0;
    for (const UpdateEvent& e : history.ok() ? history->data : std::vector<UpdateEvent>()) {
      n += e.source() == "device" && e.state() == state ? 1 : 0;
    }
    return n;
  }

  NotifierFanout fanout_;
  std::unique_ptr<CoapMapping> mapping_;
  std::unique_ptr<CoapBackend> backend_;
  std::unique_ptr<Client> client_;
};

TEST_F(CoapBackendTest, WholeImageBlockwiseWithExactOptions) {
  Start(100 * 1024 + 17);
  const std::string etag = absl::HexStringToBytes(package_.sha256().substr(0, 16));
  std::string got;
  for (uint32_t num = 0;; ++num) {
    std::optional<Message> m = client_->Get("fw/TOK", {"title=fw"}, {{kBlock2, Uint(num << 4 | 5)}});
    ASSERT_TRUE(m.has_value()) << "no answer to block " << num;
    ASSERT_EQ(m->code, 0x45) << m->payload;
    ASSERT_EQ(m->type, kAck);
    EXPECT_EQ(m->Option(kEtag), etag);
    EXPECT_EQ(m->UintOption(kSize2), data_.size());
    const uint32_t block2 = m->UintOption(kBlock2).value_or(0);
    EXPECT_EQ(block2 >> 4, num);
    EXPECT_EQ(block2 & 7, 5u);
    got += m->payload;
    if ((block2 & 8) == 0) break;
    ASSERT_EQ(m->payload.size(), 512u);
  }
  EXPECT_EQ(got, data_);
}

TEST_F(CoapBackendTest, ObserveGetsTheNoticeUntilDeregistered) {
  Start(3000);
  std::optional<Message> registered =
      client_->Get("api/v1/TOK/attributes", {}, {{kObserve, ""}});
  ASSERT_TRUE(registered.has_value());
  ASSERT_EQ(registered->code, 0x45) << registered->payload;
  ASSERT_TRUE(registered->Option(kObserve).has_value());
  EXPECT_THAT(registered->payload, HasSubstr(R"("fw_title":"fw")"));
  ASSERT_TRUE(WaitForObservers(1));

  // A new package: the update process's notice reaches the observer as a confirmable
  // 2.05 with the observation's token and a later Observe number.
  OtaPackage fw2 = Package("fw", "2.0", "new image");
  ASSERT_OK(service_->AssignDevicePackage(ctx_, device_.id(), ::fwota::v1::FIRMWARE, fw2.id()));
  ASSERT_OK(service_->DrainNotices(100).status());
  std::optional<Message> notice = client_->Receive();
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ(notice->type, kCon);
  EXPECT_EQ(notice->code, 0x45);
  EXPECT_EQ(notice->token, registered->token);
  EXPECT_GT(notice->UintOption(kObserve), registered->UintOption(kObserve));
  EXPECT_THAT(notice->payload, HasSubstr(R"("fw_version":"2.0")"));
  Message ack;
  ack.type = kAck;
  ack.code = 0;
  ack.mid = notice->mid;
  client_->Send(ack);

  // Observe 1 with the same token ends it.
  Message cancel;
  cancel.mid = 7;
  cancel.token = registered->token;
  cancel.options = {{kObserve, Uint(1)}, {kUriPath, "api"}, {kUriPath, "v1"},
                    {kUriPath, "TOK"}, {kUriPath, "attributes"}};
  client_->Send(cancel);
  ASSERT_TRUE(client_->Receive().has_value());
  EXPECT_TRUE(WaitForObservers(0));
}

TEST_F(CoapBackendTest, ResetToANotificationEndsTheObservation) {
  Start(3000);
  ASSERT_TRUE(client_->Get("api/v1/TOK/attributes", {}, {{kObserve, ""}}).has_value());
  ASSERT_TRUE(WaitForObservers(1));
  ASSERT_OK(service_->AssignDevicePackage(ctx_, device_.id(), ::fwota::v1::FIRMWARE, ""));
  ASSERT_OK(service_->DrainNotices(100).status());
  std::optional<Message> notice = client_->Receive();
  ASSERT_TRUE(notice.has_value());
  EXPECT_THAT(notice->payload, HasSubstr(R"("deleted":["fw_title")"));
  Message reset;
  reset.type = kRst;
  reset.code = 0;
  reset.mid = notice->mid;
  client_->Send(reset);
  EXPECT_TRUE(WaitForObservers(0));
}

TEST_F(CoapBackendTest, MalformedRequestsGetErrorsAndTheServerCarriesOn) {
  Start(3000);
  // Block2 twice, and a 4-byte Block2: 4.02.
  std::optional<Message> twice =
      client_->Get("fw/TOK", {}, {{kBlock2, Uint(0x06)}, {kBlock2, Uint(0x16)}});
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(twice->code, 0x82);
  // A 4-byte Block2 does not even parse in libcoap: the datagram is rejected with a Reset
  // (RFC 7252 4.2).
  std::optional<Message> long_block = client_->Get("fw/TOK", {}, {{kBlock2, "\x01\x02\x03\x04"}});
  ASSERT_TRUE(long_block.has_value());
  EXPECT_EQ(long_block->type, kRst);
  EXPECT_EQ(long_block->code, 0);
  // An unknown critical option (odd number): 4.02 from libcoap.
  std::optional<Message> critical = client_->Get("fw/TOK", {}, {{kUriPath - 2, "x"}});
  ASSERT_TRUE(critical.has_value());
  EXPECT_EQ(critical->code, 0x82);
  // Garbage of every short length, a truncated option and a token longer than 8 bytes.
  for (size_t n = 0; n < 12; ++n) client_->SendRaw(std::string(n, '\xfe'));
  client_->SendRaw(std::string("\x40\x01\x00\x09\xbd", 5));
  client_->SendRaw(std::string("\x4f\x01\x00\x0a", 4));
  // Block past the end; BERT.
  std::optional<Message> past = client_->Get("fw/TOK", {}, {{kBlock2, Uint(100 << 4 | 6)}});
  ASSERT_TRUE(past.has_value());
  EXPECT_EQ(past->code, 0x82);
  std::optional<Message> bert = client_->Get("fw/TOK", {}, {{kBlock2, Uint(7)}});
  ASSERT_TRUE(bert.has_value());
  EXPECT_EQ(bert->code, 0x80);
  // Still serving.
  std::optional<Message> fine = client_->Get("fw/TOK", {"size=100", "chunk=1"});
  ASSERT_TRUE(fine.has_value());
  EXPECT_EQ(fine->code, 0x45);
  EXPECT_EQ(fine->payload, data_.substr(100, 100));
}

TEST_F(CoapBackendTest, ReportIsAnsweredSeparatelyOnceDurableWhileDownloadsGoOn) {
  HeldReportStore* store = nullptr;
  wrap_metadata_ = [&store](std::unique_ptr<MetadataStore> inner) {
    auto held = std::make_unique<HeldReportStore>(std::move(inner));
    store = held.get();
    return held;
  };
  Start(3000);
  store->Hold(true);
  const Message report = client_->Request(kPost, "api/v1/TOK/telemetry",
                                          R"({"fw_state":"DOWNLOADING"})");
  client_->Send(report);
  // An empty ACK at once (RFC 7252 5.2.2), and again for a retransmission.
  for (int i = 0; i < 2; ++i) {
    std::optional<Message> ack = client_->Receive();
    ASSERT_TRUE(ack.has_value()) << "attempt " << i;
    EXPECT_EQ(ack->type, kAck);
    EXPECT_EQ(ack->code, 0);
    EXPECT_EQ(ack->mid, report.mid);
    EXPECT_EQ(ack->token, "");
    if (i == 0) {
      ASSERT_TRUE(store->WaitForHeldAppend());
      client_->Send(report);
    }
  }
  // While the report waits to be durable, a download is answered.
  std::optional<Message> chunk = client_->Get("fw/TOK", {"size=100", "chunk=1"});
  ASSERT_TRUE(chunk.has_value());
  EXPECT_EQ(chunk->code, 0x45);
  EXPECT_EQ(chunk->payload, data_.substr(100, 100));
  EXPECT_FALSE(client_->Receive(200).has_value()) << "answered before the report was durable";

  store->Hold(false);
  std::optional<Message> answer = client_->Receive();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->type, kCon);
  EXPECT_EQ(answer->code, kChanged) << answer->payload;
  EXPECT_EQ(answer->token, report.token);
  client_->Acknowledge(*answer);
  EXPECT_EQ(DeviceEvents(::fwota::v1::UPDATE_STATE_DOWNLOADING), 1) << "recorded once";
  EXPECT_FALSE(client_->Receive(200).has_value()) << "nothing more once acknowledged";
}

TEST_F(CoapBackendTest, NonConfirmableReportGetsANonConfirmableAnswer) {
  Start(3000);
  Message report = client_->Request(kPost, "api/v1/TOK/telemetry", R"({"fw_state":"DOWNLOADED"})");
  report.type = kNon;
  client_->Send(report);
  std::optional<Message> answer = client_->Receive();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->type, kNon);
  EXPECT_EQ(answer->code, kChanged) << answer->payload;
  EXPECT_EQ(answer->token, report.token);
  EXPECT_EQ(DeviceEvents(::fwota::v1::UPDATE_STATE_DOWNLOADED), 1);
}

TEST_F(CoapBackendTest, BadReportsGetTheirErrorSeparately) {
  Start(3000);
  for (const auto& [path, payload, code] :
       std::vector<std::tuple<std::string, std::string, uint8_t>>{
           {"api/v1/NOPE/telemetry", R"({"fw_state":"DOWNLOADING"})", 0x81},  // 4.01
           {"api/v1/TOK/telemetry", R"({"fw_state":"NAPPING"})", 0x80},       // 4.00
           {"api/v1/TOK/telemetry", "{not json", 0x80}}) {
    const Message report = client_->Request(kPost, path, payload);
    client_->Send(report);
    std::optional<Message> ack = client_->Receive();
    ASSERT_TRUE(ack.has_value()) << payload;
    EXPECT_EQ(ack->type, kAck);
    EXPECT_EQ(ack->code, 0);
    std::optional<Message> answer = client_->Receive();
    ASSERT_TRUE(answer.has_value()) << payload;
    EXPECT_EQ(answer->code, code) << payload << ": " << answer->payload;
    EXPECT_EQ(answer->token, report.token);
    EXPECT_FALSE(answer->payload.empty());
    client_->Acknowledge(*answer);
  }
}

TEST_F(CoapBackendTest, WithoutReportThreadsTheAnswerIsPiggybacked) {
  Start(3000, /*report_threads=*/0);
  const Message report =
      client_->Request(kPost, "api/v1/TOK/telemetry", R"({"fw_state":"DOWNLOADING"})");
  client_->Send(report);
  std::optional<Message> answer = client_->Receive();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->type, kAck);
  EXPECT_EQ(answer->mid, report.mid);
  EXPECT_EQ(answer->code, kChanged) << answer->payload;
  EXPECT_EQ(DeviceEvents(::fwota::v1::UPDATE_STATE_DOWNLOADING), 1);
}

TEST(ReadPskFileTest, IdentityKeyLines) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/keys");
  std::ofstream(path) << "# devices\n\ndevice-1:secret one\r\ndevice-2:k:with:colons\n";
  ASSERT_OK_AND_ASSIGN(auto keys, ReadPskFile(path));
  EXPECT_EQ(keys, (std::map<std::string, std::string>{{"device-1", "secret one"},
                                                      {"device-2", "k:with:colons"}}));
  std::ofstream(path) << "a:1\na:2\n";
  EXPECT_THAT(ReadPskFile(path), ::fwota::testing::StatusHasSubstr(
                                     absl::StatusCode::kInvalidArgument, "line 2"));
  std::ofstream(path) << "no key\n";
  EXPECT_FALSE(ReadPskFile(path).ok());
  std::ofstream(path) << "id:\n";
  EXPECT_FALSE(ReadPskFile(path).ok());
  EXPECT_THAT(ReadPskFile(path + ".missing"),
              ::fwota::testing::StatusCodeIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace fwota::coap
