#include "tools/fwotad/config.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "adapters/coap/coap_mapping.h"
#include "adapters/mqtt/mqtt_mapping.h"
#include "fwota/status_macros.h"

namespace fwota::fwotad {
namespace {

// Collects the parser's complaints with their positions.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

::fwota::v1::FwotadConfig DefaultConfig() {
  ::fwota::v1::FwotadConfig c;
  c.set_data_dir("./var");
  c.set_max_package_size(int64_t{2} << 30);
  c.set_shutdown_grace_ms(10000);
  auto* http = c.mutable_http();
  http->set_address("127.0.0.1");
  http->set_port(8080);
  http->set_max_connections(1024);
  http->set_io_timeout_ms(30000);
  http->set_keep_alive_timeout_ms(60000);
  http->set_max_chunk_size(16 << 20);
  auto* updates = c.mutable_updates();
  updates->set_notices_per_minute(100);
  updates->set_notice_burst(100);
  updates->set_stall_renotify(2);
  updates->set_stall_sweep_interval_ms(5000);
  auto* mqtt = c.mutable_mqtt();
  mqtt->set_prefix("fwota");
  mqtt->set_share_group("fwota");
  mqtt->set_max_chunk_size(1 << 20);
  mqtt->set_workers(2);
  mqtt->set_max_unacked_bytes(8 << 20);
  auto* coap = c.mutable_coap();
  coap->set_port(5683);
  coap->set_address("127.0.0.1");
  coap->set_max_block_size(1024);
  coap->set_max_chunk_size(1 << 20);
  coap->set_report_threads(4);
  return c;
}

absl::StatusOr<::fwota::v1::FwotadConfig> LoadConfig(const std::string& path) {
  ::fwota::v1::FwotadConfig config = DefaultConfig();
  if (path.empty()) return config;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  ::fwota::v1::FwotadConfig from_file;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), &from_file)) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", errors.first()));
  }
  // Proto3 scalars without presence: a zero in the file means "not set" and keeps the
  // default. The port has presence, so "port: 0" (any free port) is kept.
  config.MergeFrom(from_file);
  return config;
}

absl::Status ValidateConfig(const ::fwota::v1::FwotadConfig& c) {
  if (c.data_dir().empty()) return absl::InvalidArgumentError("data_dir must not be empty");
  if (c.max_package_size() <= 0) {
    return absl::InvalidArgumentError("max_package_size must be positive");
  }
  const auto& h = c.http();
  if (h.port() < 0 || h.port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("http port ", h.port(), " is out of range"));
  }
  if (h.tls_certificate_file().empty() != h.tls_private_key_file().empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate file and a private key file");
  }
  if (h.max_connections() <= 0) {
    return absl::InvalidArgumentError("http max_connections must be positive");
  }
  if (h.io_timeout_ms() <= 0 || h.keep_alive_timeout_ms() <= 0) {
    return absl::InvalidArgumentError("http timeouts must be positive");
  }
  if (h.max_chunk_size() <= 0) {
    return absl::InvalidArgumentError("http max_chunk_size must be positive");
  }
  const auto& u = c.updates();
  if (u.notices_per_minute() < 0) {
    return absl::InvalidArgumentError("notices_per_minute must not be negative (0: unlimited)");
  }
  if (u.notice_burst() < 1) return absl::InvalidArgumentError("notice_burst must be at least 1");
  if (u.stall_renotify() < 0) {
    return absl::InvalidArgumentError("stall_renotify must not be negative");
  }
  if (u.stall_sweep_interval_ms() < 1) {
    return absl::InvalidArgumentError("stall_sweep_interval_ms must be positive");
  }
  FWOTA_RETURN_IF_ERROR(ParseStallTimeouts(u.stall_timeouts()).status());
  const auto& m = c.mqtt();
  if (!m.broker().empty() && !absl::StartsWith(m.broker(), "tcp://") &&
      !absl::StartsWith(m.broker(), "ssl://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("mqtt broker \"", m.broker(), "\" must be tcp://HOST:PORT or ssl://HOST:PORT"));
  }
  mqtt::MqttMappingOptions mapping;
  mapping.prefix = m.prefix();
  mapping.max_chunk_size = m.max_chunk_size();
  FWOTA_RETURN_IF_ERROR(mqtt::MqttMapping::CheckOptions(mapping));
  if (m.share_group().find_first_of("/+#") != std::string::npos) {
    return absl::InvalidArgumentError("mqtt share_group must be one topic level");
  }
  if (m.workers() < 1 || m.workers() > 64) {
    return absl::InvalidArgumentError("mqtt workers must be between 1 and 64");
  }
  if (m.max_unacked_bytes() < 1) {
    return absl::InvalidArgumentError("mqtt max_unacked_bytes must be positive");
  }
  if (!m.key_file().empty() && m.cert_file().empty()) {
    return absl::InvalidArgumentError("mqtt key_file needs a cert_file");
  }
  const auto& co = c.coap();
  if (co.port() < 0 || co.port() > 65535 || co.dtls_port() < 0 || co.dtls_port() > 65535) {
    return absl::InvalidArgumentError("coap port and dtls_port must be in 0..65535 (0: off)");
  }
  if (co.report_threads() < 0 || co.report_threads() > 64) {
    return absl::InvalidArgumentError("coap report_threads must be between 0 and 64");
  }
  if (co.dtls_port() != 0 && co.psk_file().empty()) {
    return absl::InvalidArgumentError("coap dtls_port needs a psk_file of identity:key lines");
  }
  coap::CoapMappingOptions coap_mapping;
  coap_mapping.max_block_size = co.max_block_size();
  coap_mapping.max_chunk_size = co.max_chunk_size();
  FWOTA_RETURN_IF_ERROR(coap::CoapMapping::CheckOptions(coap_mapping));
  return absl::OkStatus();
}

absl::StatusOr<StallPolicy> ParseStallTimeouts(absl::string_view text) {
  StallPolicy policy = StallPolicy::Default();
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    const size_t eq = item.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("stall_timeouts: \"", item, "\" is not STATE=DURATION"));
    }
    const absl::string_view name = absl::StripAsciiWhitespace(item.substr(0, eq));
    const absl::string_view value = absl::StripAsciiWhitespace(item.substr(eq + 1));
    absl::StatusOr<UpdateState> state = ParseUpdateState(name);
    if (!state.ok() || *state < ::fwota::v1::UPDATE_STATE_INITIATED ||
        *state > ::fwota::v1::UPDATE_STATE_UPDATING) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stall_timeouts: \"", name,
          "\" is not one of INITIATED, DOWNLOADING, DOWNLOADED, VERIFIED, UPDATING"));
    }
    absl::Duration duration;
    if (value == "0") {
      duration = absl::ZeroDuration();
    } else if (!absl::ParseDuration(value, &duration) || duration < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stall_timeouts: \"", value, "\" is not a duration such as 90s, 15m or 24h"));
    }
    policy.silence_millis[*state] = absl::ToInt64Milliseconds(duration);
  }
  return policy;
}

std::string DefaultMqttClientId(const std::string& data_dir, absl::string_view host) {
  std::error_code error;
  std::filesystem::path path = std::filesystem::absolute(data_dir, error);
  path = path.lexically_normal();
  std::string text = path.string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  // FNV-1a: stable across processes and builds (absl::Hash is seeded per process).
  uint32_t hash = 2166136261u;
  for (unsigned char c : text) hash = (hash ^ c) * 16777619u;
  return absl::StrFormat("fwotad-%s-%08x", host.empty() ? "host" : host, hash);
}

}  // namespace fwota::fwotad
