// fwotad: the composition root. It reads the configuration, opens the data directory
// (SQLite + blobs), builds the OtaService over it, and wires the enabled adapters to it,
// all in this one visible place. SIGINT/SIGTERM shut it down cleanly.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "adapters/http/http_server.h"
#include "adapters/http/ota_http_api.h"
#include "fwota/data_dir.h"
#include "fwota/status_macros.h"
#include "tools/fwotad/config.h"
#include "tools/fwotad/log.h"

ABSL_FLAG(std::string, config, "", "text-format FwotadConfig file (proto/fwota/v1/config.proto)");
ABSL_FLAG(std::string, data_dir, "./var", "data directory: SQLite metadata and blob files");
ABSL_FLAG(std::string, http_address, "127.0.0.1", "HTTP listen address (0.0.0.0: all interfaces)");
ABSL_FLAG(int32_t, http_port, 8080, "HTTP port (0: any free port)");
ABSL_FLAG(std::string, http_tls_cert, "", "PEM certificate: with --http_tls_key, serve HTTPS only");
ABSL_FLAG(std::string, http_tls_key, "", "PEM private key for --http_tls_cert");
ABSL_FLAG(int64_t, max_package_size, int64_t{2} << 30, "largest package accepted, in bytes");
ABSL_FLAG(std::string, port_file, "",
          "write the bound HTTP port to this file once listening (for scripts and tests)");

namespace fwota::fwotad {
namespace {

// True when the flag was given with a value other than its default: it then wins over
// the config file.
bool FlagChanged(absl::string_view name) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  return flag != nullptr && flag->CurrentValue() != flag->DefaultValue();
}

absl::StatusOr<::fwota::v1::FwotadConfig> EffectiveConfig() {
  FWOTA_ASSIGN_OR_RETURN(::fwota::v1::FwotadConfig config, LoadConfig(absl::GetFlag(FLAGS_config)));
  if (FlagChanged("data_dir")) config.set_data_dir(absl::GetFlag(FLAGS_data_dir));
  if (FlagChanged("http_address")) config.mutable_http()->set_address(absl::GetFlag(FLAGS_http_address));
  if (FlagChanged("http_port")) config.mutable_http()->set_port(absl::GetFlag(FLAGS_http_port));
  if (FlagChanged("http_tls_cert")) {
    config.mutable_http()->set_tls_certificate_file(absl::GetFlag(FLAGS_http_tls_cert));
  }
  if (FlagChanged("http_tls_key")) {
    config.mutable_http()->set_tls_private_key_file(absl::GetFlag(FLAGS_http_tls_key));
  }
  if (FlagChanged("max_package_size")) {
    config.set_max_package_size(absl::GetFlag(FLAGS_max_package_size));
  }
  FWOTA_RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

// First start on an empty data directory: the tenant "default" and its administrator
// API key, written to <data_dir>/admin-api-key (mode 0600).
absl::Status Bootstrap(OtaService& service, const std::string& data_dir) {
  if (service.FindTenant("default").ok()) return absl::OkStatus();
  FWOTA_ASSIGN_OR_RETURN(Tenant tenant, service.CreateTenant("default"));
  TenantContext ctx{tenant.id(), "fwotad"};
  FWOTA_ASSIGN_OR_RETURN(NewApiKey key, service.CreateApiKey(ctx, "admin"));
  const std::string path = data_dir + "/admin-api-key";
  const std::string tmp = path + ".tmp";
  {
    ::umask(077);
    std::ofstream out(tmp, std::ios::trunc);
    out << key.secret << "\n";
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  ::chmod(tmp.c_str(), 0600);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  Log("info", "first start: created tenant \"default\" and its administrator API key",
      {{"api_key_file", path}});
  std::fprintf(stderr,
               "\nfwotad: first start. The administrator API key of tenant \"default\" is in\n"
               "  %s\nUse it as:  curl -H \"X-Authorization: Bearer $(cat %s)\" ...\n\n",
               path.c_str(), path.c_str());
  return absl::OkStatus();
}

int Run() {
  absl::StatusOr<::fwota::v1::FwotadConfig> config = EffectiveConfig();
  if (!config.ok()) {
    std::fprintf(stderr, "fwotad: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  // Signals are taken by sigwait() below, never by a handler, so every thread blocks them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  OtaServiceOptions service_options;
  service_options.max_package_size = config->max_package_size();
  absl::StatusOr<std::unique_ptr<DataDir>> data = DataDir::Open(config->data_dir(), service_options);
  if (!data.ok()) {
    Log("error", "cannot open the data directory",
        {{"data_dir", config->data_dir()}, {"error", std::string(data.status().message())}});
    return 1;
  }
  OtaService& service = (*data)->service();
  if (absl::Status s = Bootstrap(service, config->data_dir()); !s.ok()) {
    Log("error", "first-start setup failed", {{"error", std::string(s.message())}});
    return 1;
  }

  // ---- Adapters: wired here, and only here. ----
  http::OtaHttpApiOptions api_options;
  api_options.max_chunk_size = config->http().max_chunk_size();
  http::HttpServerOptions http_options;
  http_options.address = config->http().address();
  http_options.port = config->http().port();
  http_options.max_connections = config->http().max_connections();
  http_options.io_timeout = absl::Milliseconds(config->http().io_timeout_ms());
  http_options.keep_alive_timeout = absl::Milliseconds(config->http().keep_alive_timeout_ms());
  http_options.tls_certificate_file = config->http().tls_certificate_file();
  http_options.tls_private_key_file = config->http().tls_private_key_file();
  http_options.access_log = [](const http::AccessLogEntry& e) {
    LogFields fields = {{"remote", e.remote_address},
                        {"method", e.method},
                        {"target", e.target},
                        {"status", absl::StrCat(e.status)},
                        {"bytes_in", absl::StrCat(e.request_bytes)},
                        {"bytes_out", absl::StrCat(e.response_bytes)},
                        {"ms", absl::StrCat(absl::ToInt64Milliseconds(e.duration))}};
    if (!e.error.empty()) fields.emplace_back("error", e.error);
    Log(e.error.empty() && e.status < 500 ? "info" : "warn", "request", fields);
  };
  absl::StatusOr<std::unique_ptr<http::HttpServer>> server =
      http::HttpServer::Start(http_options, http::NewOtaHttpApi(service, api_options));
  if (!server.ok()) {
    Log("error", "cannot start the HTTP server",
        {{"address", http_options.address},
         {"port", absl::StrCat(http_options.port)},
         {"error", std::string(server.status().message())}});
    return 1;
  }
  const bool tls = !http_options.tls_certificate_file.empty();
  const std::string url = absl::StrCat(tls ? "https" : "http", "://", http_options.address, ":",
                                       (*server)->port());
  Log("info", "fwotad listening",
      {{"url", url}, {"data_dir", config->data_dir()},
       {"max_package_size", absl::StrCat(config->max_package_size())}});
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    std::ofstream(port_file + ".tmp") << (*server)->port() << "\n";
    ::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log("info", "shutting down", {{"signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"}});
  (*server)->Shutdown(absl::Milliseconds(config->shutdown_grace_ms()));
  server->reset();
  data->reset();  // closes the store and releases the data directory's lock
  Log("info", "stopped");
  return 0;
}

}  // namespace
}  // namespace fwota::fwotad

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "fwotad [--data_dir=DIR] [--http_address=ADDR] [--http_port=N] [--config=FILE]\n"
      "The fwota OTA server: ThingsBoard-compatible REST and device APIs over a data "
      "directory (SQLite + blob files).");
  absl::ParseCommandLine(argc, argv);
  return fwota::fwotad::Run();
}
