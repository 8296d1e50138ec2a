// fwotad: the composition root. It reads the configuration, opens the data directory
// (SQLite + blobs), builds the OtaService over it, and wires the enabled adapters to it,
// all in this one visible place. SIGINT/SIGTERM shut it down cleanly.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "adapters/coap/coap_backend.h"
#include "adapters/coap/coap_mapping.h"
#include "adapters/http/attribute_updates.h"
#include "adapters/http/http_server.h"
#include "adapters/http/ota_http_api.h"
#include "adapters/mqtt/mqtt_backend.h"
#include "adapters/mqtt/mqtt_mapping.h"
#include "fwota/data_dir.h"
#include "fwota/notifier.h"
#include "fwota/status_macros.h"
#include "fwota/update_worker.h"
#include "tools/fwotad/config.h"
#include "tools/fwotad/log.h"
#include "tools/fwotad/ops_routes.h"

ABSL_FLAG(std::string, config, "", "text-format FwotadConfig file (proto/fwota/v1/config.proto)");
ABSL_FLAG(std::string, data_dir, "./var", "data directory: SQLite metadata and blob files");
ABSL_FLAG(std::string, http_address, "127.0.0.1", "HTTP listen address (0.0.0.0: all interfaces)");
ABSL_FLAG(int32_t, http_port, 8080, "HTTP port (0: any free port)");
ABSL_FLAG(std::string, http_tls_cert, "", "PEM certificate: with --http_tls_key, serve HTTPS only");
ABSL_FLAG(std::string, http_tls_key, "", "PEM private key for --http_tls_cert");
ABSL_FLAG(bool, http_metrics, false,
          "serve GET /metrics (Prometheus text, no API key; GET /healthz is always served)");
ABSL_FLAG(int64_t, max_package_size, int64_t{2} << 30, "largest package accepted, in bytes");
ABSL_FLAG(int64_t, notices_per_minute, 100,
          "update notices sent per minute on average (ThingsBoard: 100); 0: unlimited");
ABSL_FLAG(int64_t, notice_burst, 100, "update notices that may go out at once after a quiet time");
ABSL_FLAG(std::string, stall_timeouts, "",
          "silence allowed per state before a device is a stall, e.g. "
          "\"DOWNLOADING=15m,UPDATING=30m\" (defaults: INITIATED=24h, DOWNLOADING=15m, "
          "DOWNLOADED=15m, VERIFIED=15m, UPDATING=30m; 0 turns a state off)");
ABSL_FLAG(int32_t, stall_renotify, 2, "notices sent again to a silent device before it is FAILED");
ABSL_FLAG(int64_t, stall_sweep_interval_ms, 5000, "how often the stall detector runs");
ABSL_FLAG(std::string, mqtt_broker, "",
          "MQTT broker to serve devices through, tcp://HOST:PORT or ssl://HOST:PORT (empty: off)");
ABSL_FLAG(std::string, mqtt_prefix, "fwota", "first topic level of the device topics");
ABSL_FLAG(std::string, mqtt_share_group, "fwota",
          "shared subscription group, so several fwotad split the requests (\"none\": off)");
ABSL_FLAG(std::string, mqtt_client_id, "",
          "MQTT client id (empty: fwotad-<hostname>-<data dir hash>)");
ABSL_FLAG(bool, mqtt_persistent_session, false,
          "keep the MQTT session across restarts (the broker queues requests while fwotad is away)");
ABSL_FLAG(std::string, mqtt_ca_file, "", "TLS: CA certificates to trust (PEM)");
ABSL_FLAG(std::string, mqtt_cert_file, "", "TLS: client certificate (PEM)");
ABSL_FLAG(std::string, mqtt_key_file, "", "TLS: client private key (PEM)");
ABSL_FLAG(int32_t, mqtt_workers, 2, "threads handling device messages");
ABSL_FLAG(std::string, mqtt_user, "", "MQTT user name");
ABSL_FLAG(std::string, mqtt_password_file, "", "file holding the MQTT password");
ABSL_FLAG(int32_t, coap_port, 5683, "CoAP port (UDP) for devices (0: CoAP off)");
ABSL_FLAG(std::string, coap_address, "127.0.0.1",
          "CoAP listen address (0.0.0.0 or ::: all interfaces)");
ABSL_FLAG(int32_t, coap_dtls_port, 0, "CoAP over DTLS port, e.g. 5684 (0: off; needs --coap_psk_file)");
ABSL_FLAG(std::string, coap_psk_file, "", "DTLS pre-shared keys: one identity:key line per device");
ABSL_FLAG(int32_t, coap_report_threads, 4,
          "threads recording CoAP telemetry, answered as separate responses once durable "
          "(0: in the CoAP thread, piggybacked)");
ABSL_FLAG(std::string, port_file, "",
          "write the bound HTTP port to this file once listening (for scripts and tests)");

namespace fwota::fwotad {
namespace {

// True when the flag was given with a value other than its default: it then wins over
// the config file.
std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

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
  if (FlagChanged("http_metrics")) config.mutable_http()->set_metrics(absl::GetFlag(FLAGS_http_metrics));
  if (FlagChanged("max_package_size")) {
    config.set_max_package_size(absl::GetFlag(FLAGS_max_package_size));
  }
  auto* updates = config.mutable_updates();
  if (FlagChanged("notices_per_minute")) {
    updates->set_notices_per_minute(absl::GetFlag(FLAGS_notices_per_minute));
  }
  if (FlagChanged("notice_burst")) updates->set_notice_burst(absl::GetFlag(FLAGS_notice_burst));
  if (FlagChanged("stall_timeouts")) {
    updates->set_stall_timeouts(absl::GetFlag(FLAGS_stall_timeouts));
  }
  if (FlagChanged("stall_renotify")) {
    updates->set_stall_renotify(absl::GetFlag(FLAGS_stall_renotify));
  }
  if (FlagChanged("stall_sweep_interval_ms")) {
    updates->set_stall_sweep_interval_ms(absl::GetFlag(FLAGS_stall_sweep_interval_ms));
  }
  auto* mqtt = config.mutable_mqtt();
  if (FlagChanged("mqtt_broker")) mqtt->set_broker(absl::GetFlag(FLAGS_mqtt_broker));
  if (FlagChanged("mqtt_prefix")) mqtt->set_prefix(absl::GetFlag(FLAGS_mqtt_prefix));
  if (FlagChanged("mqtt_share_group")) mqtt->set_share_group(absl::GetFlag(FLAGS_mqtt_share_group));
  if (FlagChanged("mqtt_client_id")) mqtt->set_client_id(absl::GetFlag(FLAGS_mqtt_client_id));
  if (FlagChanged("mqtt_persistent_session")) {
    mqtt->set_persistent_session(absl::GetFlag(FLAGS_mqtt_persistent_session));
  }
  if (FlagChanged("mqtt_ca_file")) mqtt->set_ca_file(absl::GetFlag(FLAGS_mqtt_ca_file));
  if (FlagChanged("mqtt_cert_file")) mqtt->set_cert_file(absl::GetFlag(FLAGS_mqtt_cert_file));
  if (FlagChanged("mqtt_key_file")) mqtt->set_key_file(absl::GetFlag(FLAGS_mqtt_key_file));
  if (FlagChanged("mqtt_workers")) mqtt->set_workers(absl::GetFlag(FLAGS_mqtt_workers));
  if (FlagChanged("mqtt_user")) mqtt->set_user_name(absl::GetFlag(FLAGS_mqtt_user));
  if (FlagChanged("mqtt_password_file")) {
    std::ifstream in(absl::GetFlag(FLAGS_mqtt_password_file));
    std::string password;
    if (!in || !std::getline(in, password)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read --mqtt_password_file ", absl::GetFlag(FLAGS_mqtt_password_file)));
    }
    mqtt->set_password(password);
  }
  auto* coap = config.mutable_coap();
  if (FlagChanged("coap_port")) coap->set_port(absl::GetFlag(FLAGS_coap_port));
  if (FlagChanged("coap_address")) coap->set_address(absl::GetFlag(FLAGS_coap_address));
  if (FlagChanged("coap_dtls_port")) coap->set_dtls_port(absl::GetFlag(FLAGS_coap_dtls_port));
  if (FlagChanged("coap_psk_file")) coap->set_psk_file(absl::GetFlag(FLAGS_coap_psk_file));
  if (FlagChanged("coap_report_threads")) {
    coap->set_report_threads(absl::GetFlag(FLAGS_coap_report_threads));
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

  // Notices reach devices through every enabled transport's notifier.
  NotifierFanout notifier;
  http::AttributeUpdateHub long_polls;
  notifier.Add(&long_polls);
  OtaServiceOptions service_options;
  service_options.max_package_size = config->max_package_size();
  service_options.notifier = &notifier;
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

  // Counters for GET /metrics, fed by the hooks below.
  ServerMetrics metrics;

  // ---- Adapters: wired here, and only here. ----
  std::unique_ptr<mqtt::MqttMapping> mqtt_mapping;
  std::unique_ptr<mqtt::MqttBackend> mqtt_backend;
  if (const ::fwota::v1::MqttConfig& m = config->mqtt(); !m.broker().empty()) {
    mqtt::MqttMappingOptions mapping_options;
    mapping_options.prefix = m.prefix();
    mapping_options.max_chunk_size = m.max_chunk_size();
    mqtt_mapping = std::make_unique<mqtt::MqttMapping>(service, mapping_options);
    mqtt::MqttBackendOptions backend_options;
    backend_options.broker_uri = m.broker();
    backend_options.client_id =
        m.client_id().empty() ? DefaultMqttClientId(config->data_dir(), HostName()) : m.client_id();
    backend_options.clean_session = !m.persistent_session();
    backend_options.ca_file = m.ca_file();
    backend_options.cert_file = m.cert_file();
    backend_options.key_file = m.key_file();
    backend_options.worker_threads = m.workers();
    backend_options.max_unacked_bytes = m.max_unacked_bytes();
    backend_options.share_group = m.share_group() == "none" ? "" : m.share_group();
    backend_options.user_name = m.user_name();
    backend_options.password = m.password();
    backend_options.log = [](absl::string_view level, absl::string_view message) {
      Log(std::string(level), "mqtt", {{"detail", std::string(message)}});
    };
    absl::StatusOr<std::unique_ptr<mqtt::MqttBackend>> backend =
        mqtt::MqttBackend::Start(*mqtt_mapping, backend_options);
    if (!backend.ok()) {
      Log("error", "cannot start the MQTT adapter",
          {{"broker", m.broker()}, {"error", std::string(backend.status().message())}});
      return 1;
    }
    mqtt_backend = *std::move(backend);
    notifier.Add(mqtt_backend.get());
  }

  std::unique_ptr<coap::CoapMapping> coap_mapping;
  std::unique_ptr<coap::CoapBackend> coap_backend;
  if (const ::fwota::v1::CoapConfig& c = config->coap(); c.port() != 0 || c.dtls_port() != 0) {
    coap::CoapMappingOptions mapping_options;
    mapping_options.max_block_size = c.max_block_size();
    mapping_options.max_chunk_size = c.max_chunk_size();
    coap_mapping = std::make_unique<coap::CoapMapping>(service, mapping_options);
    coap::CoapBackendOptions backend_options;
    backend_options.address = c.address();
    backend_options.port = c.port() != 0 ? c.port() : -1;
    backend_options.dtls_port = c.dtls_port() != 0 ? c.dtls_port() : -1;
    backend_options.report_threads = c.report_threads();
    if (!c.psk_file().empty()) {
      absl::StatusOr<std::map<std::string, std::string>> keys = coap::ReadPskFile(c.psk_file());
      if (!keys.ok()) {
        Log("error", "cannot read the CoAP PSK file", {{"error", std::string(keys.status().message())}});
        return 1;
      }
      backend_options.psk_keys = *std::move(keys);
    }
    backend_options.log = [](absl::string_view level, absl::string_view message) {
      Log(std::string(level), "coap", {{"detail", std::string(message)}});
    };
    absl::StatusOr<std::unique_ptr<coap::CoapBackend>> backend =
        coap::CoapBackend::Start(*coap_mapping, backend_options);
    if (!backend.ok()) {
      Log("error", "cannot start the CoAP adapter",
          {{"address", c.address()}, {"error", std::string(backend.status().message())}});
      return 1;
    }
    coap_backend = *std::move(backend);
    notifier.Add(coap_backend.get());
    Log("info", "CoAP listening",
        {{"address", c.address()}, {"udp_port", absl::StrCat(coap_backend->udp_port())},
         {"dtls_port", absl::StrCat(coap_backend->dtls_port())}});
  }

  // ---- The update process: paced notices and the stall detector. ----
  // Started once every device adapter is on the notifier: notices still queued from
  // before a restart go out at once, and one sent before MQTT or CoAP listened would be
  // recorded as INITIATED but reach no device.
  const ::fwota::v1::UpdatesConfig& updates = config->updates();
  UpdateWorkerOptions worker_options;
  worker_options.notices_per_minute = updates.notices_per_minute();
  worker_options.notice_burst = updates.notice_burst();
  worker_options.sweep_interval_millis = updates.stall_sweep_interval_ms();
  worker_options.stall = *ParseStallTimeouts(updates.stall_timeouts());  // validated above
  worker_options.stall.renotify = updates.stall_renotify();
  // One log line per 10 s of sending (a paced rollout sends a notice every few hundred
  // ms), and one when the queue runs empty. Called from the worker's one thread.
  worker_options.on_drain = [&metrics, total = DrainResult(), last = absl::InfinitePast()](
                                const DrainResult& r) mutable {
    metrics.RecordDrain(r);
    total.sent += r.sent;
    total.deletions += r.deletions;
    total.skipped += r.skipped;
    if (r.remaining > 0 && absl::Now() - last < absl::Seconds(10)) return;
    Log("info", "notices sent",
        {{"sent", absl::StrCat(total.sent)}, {"deletions", absl::StrCat(total.deletions)},
         {"skipped", absl::StrCat(total.skipped)}, {"queued", absl::StrCat(r.remaining)}});
    total = DrainResult();
    last = absl::Now();
  };
  worker_options.on_sweep = [&metrics](const StallSweepResult& r) {
    metrics.RecordSweep(r);
    Log("warn", "stalled devices",
        {{"notified_again", absl::StrCat(r.renotified)}, {"failed", absl::StrCat(r.failed)}});
  };
  worker_options.on_error = [&metrics](const absl::Status& s) {
    metrics.RecordUpdateError();
    Log("error", "update process", {{"error", std::string(s.message())}});
  };
  absl::StatusOr<std::unique_ptr<UpdateWorker>> worker =
      UpdateWorker::Start(service, worker_options);
  if (!worker.ok()) {
    Log("error", "cannot start the update process", {{"error", std::string(worker.status().message())}});
    return 1;
  }

  // /healthz and /metrics. The MQTT and CoAP figures are read under backends_mu, which
  // the shutdown below takes before it stops those backends.
  absl::Mutex backends_mu;
  mqtt::MqttBackend* mqtt_for_metrics = mqtt_backend.get();
  coap::CoapBackend* coap_for_metrics = coap_backend.get();
  OpsRoutesOptions ops_options;
  ops_options.service = &service;
  ops_options.metrics = &metrics;
  ops_options.metrics_enabled = config->http().metrics();
  ops_options.extra_samples = [&]() {
    std::vector<ServerMetrics::Sample> out;
    absl::MutexLock lock(&backends_mu);
    if (mqtt_for_metrics != nullptr) {
      out.push_back({"fwota_mqtt_messages_handled_total", "MQTT device messages handled",
                     "counter", static_cast<double>(mqtt_for_metrics->handled())});
      out.push_back({"fwota_mqtt_duplicates_dropped_total",
                     "MQTT messages the broker sent again, recognised and not answered twice",
                     "counter", static_cast<double>(mqtt_for_metrics->duplicates())});
    }
    if (coap_for_metrics != nullptr) {
      out.push_back({"fwota_coap_observers", "CoAP devices observing their attributes", "gauge",
                     static_cast<double>(coap_for_metrics->observers())});
    }
    return out;
  };

  http::OtaHttpApiOptions api_options;
  api_options.attribute_updates = &long_polls;
  api_options.max_chunk_size = config->http().max_chunk_size();
  http::HttpServerOptions http_options;
  http_options.address = config->http().address();
  http_options.port = config->http().port();
  http_options.max_connections = config->http().max_connections();
  http_options.io_timeout = absl::Milliseconds(config->http().io_timeout_ms());
  http_options.keep_alive_timeout = absl::Milliseconds(config->http().keep_alive_timeout_ms());
  http_options.tls_certificate_file = config->http().tls_certificate_file();
  http_options.tls_private_key_file = config->http().tls_private_key_file();
  http_options.access_log = [&metrics](const http::AccessLogEntry& e) {
    metrics.RecordHttp(e);
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
      http::HttpServer::Start(http_options, WithOpsRoutes(http::NewOtaHttpApi(service, api_options),
                                                          std::move(ops_options)));
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
       {"max_package_size", absl::StrCat(config->max_package_size())},
       {"notices_per_minute", absl::StrCat(updates.notices_per_minute())}});
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    std::ofstream(port_file + ".tmp") << (*server)->port() << "\n";
    ::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log("info", "shutting down", {{"signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"}});
  worker->reset();  // no notice goes out after this
  long_polls.Shutdown();  // parked long polls answer now
  {
    absl::MutexLock lock(&backends_mu);
    mqtt_for_metrics = nullptr;
    coap_for_metrics = nullptr;
  }
  if (mqtt_backend != nullptr) {
    notifier.Remove(mqtt_backend.get());
    Log("info", "mqtt stopping",
        {{"messages_handled", absl::StrCat(mqtt_backend->handled())},
         {"duplicates_dropped", absl::StrCat(mqtt_backend->duplicates())}});
    mqtt_backend.reset();  // disconnects from the broker
  }
  if (coap_backend != nullptr) {
    notifier.Remove(coap_backend.get());
    coap_backend.reset();  // drops the observations
  }
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
