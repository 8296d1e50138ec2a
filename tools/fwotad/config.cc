#include "tools/fwotad/config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

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
  return absl::OkStatus();
}

}  // namespace fwota::fwotad
