#include "adapters/coap/coap_backend.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "adapters/common/keyed_workers.h"
#include "coap3/coap.h"
#include "fwota/status_macros.h"

namespace fwota::coap {
namespace {

using adapters::CoapCode;

// Room left in a PDU for the header, the token and our options (ETag, Observe,
// Content-Format, Block2, Size2) in front of a block's bytes.
constexpr size_t kPduOverhead = 64;

// libcoap's context-level callbacks (NACKs, session events, log lines) carry no user
// pointer in 4.3.1, so they find their backend here.
absl::Mutex registry_mu(absl::kConstInit);
std::map<const coap_context_t*, class LibcoapBackend*>& Registry() {
  static auto* registry = new std::map<const coap_context_t*, LibcoapBackend*>();
  return *registry;
}

// libcoap's own log lines (ERR and worse) go to the log of the backend started last.
const std::function<void(absl::string_view, absl::string_view)>* library_log
    ABSL_GUARDED_BY(registry_mu) = nullptr;

void OnLibraryLog(coap_log_t level, const char* message) {
  absl::MutexLock lock(&registry_mu);
  if (library_log != nullptr && *library_log) {
    (*library_log)(level <= LOG_ERR ? "error" : "warn",
                   absl::StrCat("libcoap: ", absl::StripAsciiWhitespace(message)));
  }
}

void StartLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    coap_startup();
    coap_set_log_handler(OnLibraryLog);
    // Malformed datagrams are answered or dropped by libcoap; they are no error of ours.
    coap_set_log_level(LOG_ERR);
  });
}

absl::StatusOr<coap_address_t> ListenAddress(const std::string& host, int port) {
  coap_address_t addr;
  std::memset(&addr, 0, sizeof(addr));
  if (inet_pton(AF_INET, host.c_str(), &addr.addr.sin.sin_addr) == 1) {
    addr.size = sizeof(addr.addr.sin);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_port = htons(static_cast<uint16_t>(port));
    return addr;
  }
  if (inet_pton(AF_INET6, host.c_str(), &addr.addr.sin6.sin6_addr) == 1) {
    addr.size = sizeof(addr.addr.sin6);
    addr.addr.sin6.sin6_family = AF_INET6;
    addr.addr.sin6.sin6_port = htons(static_cast<uint16_t>(port));
    return addr;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("CoAP address \"", host, "\" is not an IPv4 or IPv6 address"));
}

// The port an endpoint is bound to, from its description ("127.0.0.1:5683").
int EndpointPort(const coap_endpoint_t* endpoint) {
  const std::string text = coap_endpoint_str(endpoint);
  const size_t colon = text.rfind(':');
  int port = -1;
  if (colon == std::string::npos) return -1;
  std::string digits;
  for (size_t i = colon + 1; i < text.size() && absl::ascii_isdigit(text[i]); ++i) {
    digits.push_back(text[i]);
  }
  return absl::SimpleAtoi(digits, &port) ? port : -1;
}

void AddUintOption(coap_pdu_t* pdu, coap_option_num_t number, uint32_t value) {
  uint8_t buf[4];
  coap_add_option(pdu, number, coap_encode_var_safe(buf, sizeof(buf), value), buf);
}

// An option the request may carry once, of at most `max_length` bytes.
struct SingleUintOption {
  std::optional<uint32_t> value;
  bool bad = false;  // repeated or too long
  void Take(const coap_opt_t* opt, size_t max_length) {
    if (value.has_value() || coap_opt_length(opt) > max_length) {
      bad = true;
      return;
    }
    value = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
  }
};

class LibcoapBackend final : public CoapBackend {
 public:
  LibcoapBackend(CoapMapping& mapping, CoapBackendOptions options)
      : mapping_(mapping), options_(std::move(options)) {}

  ~LibcoapBackend() override {
    if (thread_.joinable()) {
      stop_.store(true);
      Wake();
      thread_.join();
    }
    // Reports already taken are still recorded (their answers go nowhere: the device
    // asks again, and a report repeated is harmless).
    reporters_.reset();
    {
      absl::MutexLock lock(&done_mu_);
      for (PendingReport& report : done_) coap_session_release(report.session);
      done_.clear();
    }
    for (auto& [device, observation] : observations_) coap_session_release(observation.session);
    observations_.clear();
    if (context_ != nullptr) {
      absl::MutexLock lock(&registry_mu);
      Registry().erase(context_);
      if (library_log == &options_.log) library_log = nullptr;
    }
    if (context_ != nullptr) coap_free_context(context_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  absl::Status Init() {
    StartLibraryOnce();
    if (options_.port < 0 && options_.dtls_port < 0) {
      return absl::InvalidArgumentError("CoAP needs a UDP or a DTLS port");
    }
    if (options_.dtls_port >= 0 && options_.psk_keys.empty()) {
      return absl::InvalidArgumentError("CoAP over DTLS needs at least one pre-shared key");
    }
    if (options_.dtls_port >= 0 && !coap_dtls_is_supported()) {
      return absl::UnimplementedError("this libcoap has no DTLS support");
    }
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return absl::InternalError("eventfd failed");
    context_ = coap_new_context(nullptr);
    if (context_ == nullptr) return absl::InternalError("coap_new_context failed");
    {
      absl::MutexLock lock(&registry_mu);
      Registry()[context_] = this;
      library_log = &options_.log;
    }
    // Blocks are ours (see the header); sessions of clients that went away are dropped
    // after libcoap's idle timeout, and at most this many idle ones are kept.
    coap_context_set_block_mode(context_, 0);
    coap_context_set_max_idle_sessions(context_, 10000);
    coap_register_nack_handler(context_, &LibcoapBackend::OnNack);
    coap_register_event_handler(context_, &LibcoapBackend::OnEvent);

    if (options_.dtls_port >= 0) {
      for (const auto& [identity, key] : options_.psk_keys) {
        keys_[identity] = coap_bin_const_t{key.size(), reinterpret_cast<const uint8_t*>(key.data())};
      }
      coap_dtls_spsk_t spsk;
      std::memset(&spsk, 0, sizeof(spsk));
      spsk.version = COAP_DTLS_SPSK_SETUP_VERSION;
      spsk.validate_id_call_back = &LibcoapBackend::OnPskIdentity;
      spsk.id_call_back_arg = this;
      if (!coap_context_set_psk2(context_, &spsk)) {
        return absl::InternalError("cannot set up the DTLS pre-shared keys");
      }
    }
    if (options_.port >= 0) {
      FWOTA_ASSIGN_OR_RETURN(coap_address_t addr,
                             ListenAddress(options_.address, options_.port));
      coap_endpoint_t* udp = coap_new_endpoint(context_, &addr, COAP_PROTO_UDP);
      if (udp == nullptr) {
        return absl::UnavailableError(absl::StrCat("cannot bind CoAP to udp ", options_.address,
                                                   ":", options_.port));
      }
      udp_port_ = EndpointPort(udp);
    }
    if (options_.dtls_port >= 0) {
      FWOTA_ASSIGN_OR_RETURN(coap_address_t addr,
                             ListenAddress(options_.address, options_.dtls_port));
      coap_endpoint_t* dtls = coap_new_endpoint(context_, &addr, COAP_PROTO_DTLS);
      if (dtls == nullptr) {
        return absl::UnavailableError(absl::StrCat(
            "cannot bind CoAP over DTLS to udp ", options_.address, ":", options_.dtls_port));
      }
      dtls_port_ = EndpointPort(dtls);
    }

    // Every path is the device's own (it holds its token), so one resource catches all.
    coap_resource_t* any = coap_resource_unknown_init2(&LibcoapBackend::OnRequest, 0);
    for (coap_request_t method : {COAP_REQUEST_GET, COAP_REQUEST_POST, COAP_REQUEST_PUT,
                                  COAP_REQUEST_DELETE, COAP_REQUEST_FETCH, COAP_REQUEST_PATCH,
                                  COAP_REQUEST_IPATCH}) {
      coap_register_request_handler(any, method, &LibcoapBackend::OnRequest);
    }
    coap_resource_set_userdata(any, this);
    coap_add_resource(context_, any);

    if (options_.report_threads > 0) {
      if (coap_async_is_supported()) {
        reporters_ = std::make_unique<adapters::KeyedWorkers<PendingReport>>(
            options_.report_threads, static_cast<size_t>(std::max(options_.max_pending_reports, 1)),
            [this](PendingReport& report) { Record(report); });
      } else {
        Log("warn", "this libcoap has no separate responses: telemetry is answered in line");
      }
    }

    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  void Notify(const AttributeNotice& notice) override {
    {
      absl::MutexLock lock(&notices_mu_);
      notices_.push_back(notice);
    }
    Wake();
  }

  int udp_port() const override { return udp_port_; }
  int dtls_port() const override { return dtls_port_; }
  int64_t observers() const override { return observer_count_.load(); }

 private:
  // A telemetry POST on its way through a report thread.
  struct PendingReport {
    coap_session_t* session = nullptr;  // referenced until the answer is handed to libcoap
    std::string coap_token;
    CoapRequest request;
    CoapResponse answer;
  };

  // One observation of a device's attributes.
  struct Observation {
    coap_session_t* session;  // referenced while the observation lives
    std::string coap_token;
    std::vector<std::string> keys;
  };

  static LibcoapBackend* Of(const coap_session_t* session) {
    absl::MutexLock lock(&registry_mu);
    auto it = Registry().find(coap_session_get_context(session));
    return it == Registry().end() ? nullptr : it->second;
  }

  void Wake() {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }

  void Log(absl::string_view level, absl::string_view message) {
    if (options_.log) options_.log(level, message);
  }

  void Run() {
    const int coap_fd = coap_context_get_coap_fd(context_);
    while (!stop_.load()) {
      bool woken = true;
      if (coap_fd >= 0) {
        // libcoap's epoll descriptor and our wake-up side by side; the timeout bounds the
        // delay of libcoap's timers (retransmissions of notifications, idle sessions).
        pollfd fds[2] = {{coap_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        ::poll(fds, 2, 100);
        coap_io_process(context_, COAP_IO_NO_WAIT);
        woken = (fds[1].revents & POLLIN) != 0;
      } else {
        // A libcoap without epoll: its own wait, and the queue looked at in between.
        coap_io_process(context_, 20);
      }
      uint64_t count = 0;
      if (woken && ::read(wake_fd_, &count, sizeof(count)) > 0) {
        DeliverNotices();
        AnswerReports();
      }
    }
  }

  static void OnRequest(coap_resource_t* resource, coap_session_t* session,
                        const coap_pdu_t* request, const coap_string_t* /*query*/,
                        coap_pdu_t* response) {
    static_cast<LibcoapBackend*>(coap_resource_get_userdata(resource))
        ->HandleRequest(session, request, response);
  }

  void HandleRequest(coap_session_t* session, const coap_pdu_t* request, coap_pdu_t* response) {
    const coap_bin_const_t token = coap_pdu_get_token(request);
    const std::string coap_token(reinterpret_cast<const char*>(token.s), token.length);
    if (reporters_ != nullptr && coap_find_async(session, token) != nullptr) {
      // libcoap's second call for a report whose answer AnswerReports made ready; it
      // sends the answer as a separate response and then drops the async state.
      auto ready = ready_.find({session, coap_token});
      if (ready == ready_.end()) {
        Answer(response, Failure("the report's answer was lost"));
      } else {
        Answer(response, ready->second);
        ready_.erase(ready);
      }
      return;
    }
    CoapRequest decoded;
    const coap_pdu_code_t code = coap_pdu_get_code(request);
    decoded.method = static_cast<CoapMethod>(code & 0x1f);
    SingleUintOption block2;
    SingleUintOption observe;
    coap_opt_iterator_t it;
    coap_option_iterator_init(request, &it, COAP_OPT_ALL);
    while (const coap_opt_t* opt = coap_option_next(&it)) {
      const auto* value = reinterpret_cast<const char*>(coap_opt_value(opt));
      const size_t length = coap_opt_length(opt);
      switch (it.number) {
        case COAP_OPTION_URI_PATH:
          decoded.path.emplace_back(value, length);
          break;
        case COAP_OPTION_URI_QUERY:
          decoded.query.emplace_back(value, length);
          break;
        case COAP_OPTION_BLOCK2:
          block2.Take(opt, 3);
          break;
        case COAP_OPTION_OBSERVE:
          observe.Take(opt, 3);
          break;
        case COAP_OPTION_BLOCK1:
          decoded.has_block1 = true;
          break;
        default:
          break;
      }
    }
    if (block2.bad || observe.bad) {
      Answer(response, BadOption(block2.bad ? "Block2" : "Observe"));
      return;
    }
    if (block2.value.has_value()) decoded.block2 = BlockOption::Decode(*block2.value);
    decoded.observe = observe.value;
    size_t size = 0;
    const uint8_t* data = nullptr;
    if (coap_get_data(request, &size, &data)) {
      decoded.payload.assign(reinterpret_cast<const char*>(data), size);
    }
    decoded.max_block_size = MaxBlockSize(session, token.length);
    if (reporters_ != nullptr && CoapMapping::IsReport(decoded)) {
      Defer(session, request, coap_token, std::move(decoded), response);
      return;
    }

    CoapResponse answer = HandleAndLog(decoded);
    if (decoded.observe == 1u) Forget(session, coap_token);
    std::optional<uint32_t> observe_number;
    if (answer.observe && decoded.observe == 0u && answer.code == CoapCode::kContent &&
        Keep(session, coap_token, answer)) {
      observe_number = NextObserveNumber();
    }
    Answer(response, answer, observe_number);
  }

  CoapResponse HandleAndLog(const CoapRequest& request) {
    CoapResponse answer = mapping_.Handle(request);
    if (!answer.status.ok()) {
      // A device's mistake is news, a failure of ours (5.xx) a warning.
      Log(static_cast<uint8_t>(answer.code) >= 0xa0 ? "warn" : "info",
          absl::StrCat("CoAP ", adapters::CoapCodeText(answer.code), ": ",
                       answer.status.message()));
    }
    return answer;
  }

  // Hands a telemetry POST to its device's report thread. The response is left without
  // a code, so libcoap sends an empty ACK now (nothing for a non-confirmable request);
  // the answer follows from AnswerReports.
  void Defer(coap_session_t* session, const coap_pdu_t* request, const std::string& coap_token,
             CoapRequest decoded, coap_pdu_t* response) {
    const std::string device = decoded.path[2];
    if (reporters_->Full(device)) {
      CoapResponse busy;
      busy.code = CoapCode::kServiceUnavailable;
      busy.payload = "too many reports wait to be recorded; try again";
      Log("warn", absl::StrCat("CoAP 5.03: ", busy.payload));
      Answer(response, busy);
      return;
    }
    if (coap_register_async(session, request, 0) == nullptr) {
      // The client reused the CoAP token of a report still on its way: answered in line.
      Answer(response, HandleAndLog(decoded));
      return;
    }
    // Only this thread adds, so the room checked above is still there.
    reporters_->Add(device, PendingReport{coap_session_reference(session), coap_token,
                                          std::move(decoded), {}});
  }

  // On a report thread.
  void Record(PendingReport& report) {
    report.answer = HandleAndLog(report.request);
    {
      absl::MutexLock lock(&done_mu_);
      done_.push_back(std::move(report));
    }
    Wake();
  }

  // Makes the recorded reports' answers ready and has libcoap call the handler again for
  // each (coap_async_trigger), which sends it.
  void AnswerReports() {
    std::deque<PendingReport> done;
    {
      absl::MutexLock lock(&done_mu_);
      done.swap(done_);
    }
    for (PendingReport& report : done) {
      const coap_bin_const_t token{report.coap_token.size(),
                                   reinterpret_cast<const uint8_t*>(report.coap_token.data())};
      // Gone when libcoap dropped the session meanwhile (the client went away).
      if (coap_async_t* async = coap_find_async(report.session, token)) {
        ready_[{report.session, report.coap_token}] = std::move(report.answer);
        coap_async_trigger(async);
      }
      coap_session_release(report.session);
    }
  }

  static CoapResponse Failure(absl::string_view message) {
    CoapResponse r;
    r.code = CoapCode::kInternalServerError;
    r.payload = std::string(message);
    r.status = absl::InternalError(r.payload);
    return r;
  }

  static CoapResponse BadOption(absl::string_view name) {
    CoapResponse r;
    r.code = CoapCode::kBadOption;
    r.payload = absl::StrCat("the ", name, " option is repeated or longer than 3 bytes");
    r.status = absl::InvalidArgumentError(r.payload);
    return r;
  }

  // The largest power-of-two block (16..1024) that fits the session's PDU with our
  // options in front of it.
  static int MaxBlockSize(const coap_session_t* session, size_t token_length) {
    const size_t pdu = coap_session_max_pdu_size(session);
    int block = 1024;
    while (block > 16 && static_cast<size_t>(block) + kPduOverhead + token_length > pdu) {
      block /= 2;
    }
    return block;
  }

  static void Answer(coap_pdu_t* pdu, const CoapResponse& answer,
                     std::optional<uint32_t> observe_number = std::nullopt) {
    coap_pdu_set_code(pdu, static_cast<coap_pdu_code_t>(answer.code));
    // Options in ascending number order: ETag 4, Observe 6, Content-Format 12, Block2 23,
    // Size2 28, Size1 60.
    if (!answer.etag.empty()) {
      coap_add_option(pdu, COAP_OPTION_ETAG, answer.etag.size(),
                      reinterpret_cast<const uint8_t*>(answer.etag.data()));
    }
    if (observe_number.has_value()) AddUintOption(pdu, COAP_OPTION_OBSERVE, *observe_number);
    if (answer.content_format.has_value()) {
      AddUintOption(pdu, COAP_OPTION_CONTENT_FORMAT, static_cast<uint32_t>(*answer.content_format));
    }
    if (answer.block2.has_value()) AddUintOption(pdu, COAP_OPTION_BLOCK2, answer.block2->Encode());
    if (answer.size2.has_value()) {
      AddUintOption(pdu, COAP_OPTION_SIZE2, static_cast<uint32_t>(*answer.size2));
    }
    if (answer.size1.has_value()) {
      AddUintOption(pdu, COAP_OPTION_SIZE1, static_cast<uint32_t>(*answer.size1));
    }
    if (!answer.payload.empty()) {
      coap_add_data(pdu, answer.payload.size(),
                    reinterpret_cast<const uint8_t*>(answer.payload.data()));
    }
  }

  uint32_t NextObserveNumber() {
    // One increasing counter for every observation (RFC 7641 only asks for increasing
    // numbers per observation); 24 bits on the wire.
    observe_counter_ = (observe_counter_ + 1) & 0xffffff;
    return observe_counter_;
  }

  // Keeps (or renews) the observation; false when there is no room left.
  bool Keep(coap_session_t* session, const std::string& coap_token, const CoapResponse& answer) {
    auto [first, last] = observations_.equal_range(answer.observe_token);
    int of_device = 0;
    auto oldest = last;
    for (auto it = first; it != last; ++it) {
      if (it->second.session == session && it->second.coap_token == coap_token) {
        it->second.keys = answer.observe_keys;  // a re-registration (RFC 7641 4.1)
        return true;
      }
      if (oldest == last) oldest = it;
      ++of_device;
    }
    if (of_device >= options_.max_observers_per_device && oldest != last) {
      coap_session_release(oldest->second.session);
      observations_.erase(oldest);
      observer_count_.fetch_sub(1);
    } else if (observer_count_.load() >= options_.max_observers) {
      Log("warn", "CoAP observation refused: the observer limit is reached");
      return false;
    }
    observations_.emplace(answer.observe_token,
                          Observation{coap_session_reference(session), coap_token,
                                      answer.observe_keys});
    observer_count_.fetch_add(1);
    return true;
  }

  // Drops the observations of `session` (with this CoAP token, unless it is null).
  void Forget(const coap_session_t* session, const std::optional<std::string>& coap_token) {
    for (auto it = observations_.begin(); it != observations_.end();) {
      if (it->second.session == session &&
          (!coap_token.has_value() || it->second.coap_token == *coap_token)) {
        coap_session_release(it->second.session);
        it = observations_.erase(it);
        observer_count_.fetch_sub(1);
      } else {
        ++it;
      }
    }
  }

  void DeliverNotices() {
    std::deque<AttributeNotice> notices;
    {
      absl::MutexLock lock(&notices_mu_);
      notices.swap(notices_);
    }
    for (const AttributeNotice& notice : notices) {
      auto [first, last] = observations_.equal_range(notice.access_token);
      for (auto it = first; it != last; ++it) {
        std::optional<std::string> payload = CoapMapping::NoticePayload(notice, it->second.keys);
        if (payload.has_value()) SendNotification(it->second, *payload);
      }
    }
  }

  void SendNotification(const Observation& observation, const std::string& payload) {
    coap_session_t* session = observation.session;
    coap_pdu_t* pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_RESPONSE_CODE_CONTENT,
                                    coap_new_message_id(session),
                                    coap_session_max_pdu_size(session));
    if (pdu == nullptr) return;
    coap_add_token(pdu, observation.coap_token.size(),
                   reinterpret_cast<const uint8_t*>(observation.coap_token.data()));
    CoapResponse notice;
    notice.content_format = kFormatJson;
    notice.payload = payload;
    Answer(pdu, notice, NextObserveNumber());
    if (coap_send(session, pdu) == COAP_INVALID_MID) {
      Log("warn", "CoAP notification could not be sent");
    }
  }

  static void OnNack(coap_session_t* session, const coap_pdu_t* sent, coap_nack_reason_t reason,
                     coap_mid_t /*mid*/) {
    LibcoapBackend* self = Of(session);
    if (self == nullptr || sent == nullptr) return;
    if (reason != COAP_NACK_RST && reason != COAP_NACK_TOO_MANY_RETRIES) return;
    const coap_bin_const_t token = coap_pdu_get_token(sent);
    // A device that resets or never acknowledges a notification has stopped observing.
    self->Forget(session, std::string(reinterpret_cast<const char*>(token.s), token.length));
  }

  static int OnEvent(coap_session_t* session, coap_event_t event) {
    if (event == COAP_EVENT_DTLS_CLOSED || event == COAP_EVENT_DTLS_ERROR ||
        event == COAP_EVENT_SESSION_CLOSED || event == COAP_EVENT_SESSION_FAILED ||
        event == COAP_EVENT_SERVER_SESSION_DEL) {
      if (LibcoapBackend* self = Of(session)) self->Forget(session, std::nullopt);
    }
    return 0;
  }

  static const coap_bin_const_t* OnPskIdentity(coap_bin_const_t* identity,
                                               coap_session_t* /*session*/, void* arg) {
    auto* self = static_cast<LibcoapBackend*>(arg);
    const std::string id(reinterpret_cast<const char*>(identity->s), identity->length);
    auto it = self->keys_.find(id);
    if (it == self->keys_.end()) {
      self->Log("warn", absl::StrCat("CoAP DTLS: unknown PSK identity \"",
                                     absl::CHexEscape(id.substr(0, 64)), "\""));
      return nullptr;  // the handshake fails
    }
    return &it->second;
  }

  CoapMapping& mapping_;
  const CoapBackendOptions options_;
  coap_context_t* context_ = nullptr;
  int wake_fd_ = -1;
  int udp_port_ = -1;
  int dtls_port_ = -1;
  // identity -> key, pointing into options_.psk_keys.
  std::map<std::string, coap_bin_const_t> keys_;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  absl::Mutex notices_mu_;
  std::deque<AttributeNotice> notices_ ABSL_GUARDED_BY(notices_mu_);

  // Telemetry POSTs being recorded (null: recorded in the libcoap thread), and those
  // recorded whose answer the libcoap thread has yet to send.
  std::unique_ptr<adapters::KeyedWorkers<PendingReport>> reporters_;
  absl::Mutex done_mu_;
  std::deque<PendingReport> done_ ABSL_GUARDED_BY(done_mu_);

  // Touched only by the libcoap thread (and the destructor after it stopped).
  std::multimap<std::string, Observation> observations_;  // by device access token
  // Answers of recorded reports, by (session, CoAP token), until libcoap asks for them.
  std::map<std::pair<const coap_session_t*, std::string>, CoapResponse> ready_;
  uint32_t observe_counter_ = 0;
  std::atomic<int64_t> observer_count_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<CoapBackend>> CoapBackend::Start(CoapMapping& mapping,
                                                                CoapBackendOptions options) {
  auto backend = std::make_unique<LibcoapBackend>(mapping, std::move(options));
  FWOTA_RETURN_IF_ERROR(backend->Init());
  return backend;
}

absl::StatusOr<std::map<std::string, std::string>> ReadPskFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the PSK file ", path));
  std::map<std::string, std::string> keys;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " line ", number, ": expected identity:key with neither part empty"));
    }
    if (!keys.emplace(line.substr(0, colon), line.substr(colon + 1)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " line ", number, ": identity \"", line.substr(0, colon),
                       "\" is given twice"));
    }
  }
  return keys;
}

}  // namespace fwota::coap
