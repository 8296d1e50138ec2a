// fwotad's operational endpoints, in front of the REST API on the same port:
//   GET /healthz   200 {"status":"UP"} when the metadata store answers a read, else 503
//                  {"status":"DOWN","error":...}: for load balancers and supervisors.
//   GET /metrics   (only with `metrics_enabled`) the process's counters in Prometheus'
//                  text format 0.0.4: HTTP requests by status class, bytes, a latency
//                  histogram, notices sent, stalls acted on, update-process errors, the
//                  notice queue, MQTT and CoAP figures, uptime. No tenant's ids, names or
//                  counts are in it.
// Neither needs an API key. Other methods on these paths are 405; every other path goes
// to the wrapped handler.
#ifndef FWOTA_TOOLS_FWOTAD_OPS_ROUTES_H_
#define FWOTA_TOOLS_FWOTAD_OPS_ROUTES_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "adapters/http/http_message.h"
#include "adapters/http/http_server.h"
#include "fwota/ota_service.h"

namespace fwota::fwotad {

// Counters fed by fwotad's hooks (access log, update worker); all thread-safe.
class ServerMetrics {
 public:
  // Upper bounds (seconds) of the request-duration histogram's buckets, +Inf implied.
  static constexpr std::array<double, 11> kDurationBuckets = {
      0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30};

  ServerMetrics() : start_(absl::Now()) {}

  void RecordHttp(const http::AccessLogEntry& entry);
  void RecordDrain(const DrainResult& result);
  void RecordSweep(const StallSweepResult& result);
  void RecordUpdateError() { update_errors_.fetch_add(1, std::memory_order_relaxed); }

  // Figures read when scraped: name, help, type ("gauge" or "counter"), value.
  struct Sample {
    std::string name;
    std::string help;
    std::string type;
    double value = 0;
  };
  // The text exposition of every counter, then `extra`.
  std::string Render(const std::vector<Sample>& extra) const;

 private:
  const absl::Time start_;
  std::array<std::atomic<int64_t>, 5> http_by_class_{};  // 1xx .. 5xx
  std::atomic<int64_t> http_failed_connections_{0};      // a status of 0: nothing answered
  std::atomic<int64_t> http_bytes_in_{0};
  std::atomic<int64_t> http_bytes_out_{0};
  std::array<std::atomic<int64_t>, kDurationBuckets.size() + 1> duration_buckets_{};
  std::atomic<int64_t> duration_micros_sum_{0};
  std::atomic<int64_t> notices_sent_{0};
  std::atomic<int64_t> deletions_sent_{0};
  std::atomic<int64_t> notices_skipped_{0};
  std::atomic<int64_t> stall_renotified_{0};
  std::atomic<int64_t> stall_failed_{0};
  std::atomic<int64_t> update_errors_{0};
};

struct OpsRoutesOptions {
  OtaService* service = nullptr;  // required; must outlive the handler
  ServerMetrics* metrics = nullptr;  // required; must outlive the handler
  bool metrics_enabled = false;
  // Figures read at each scrape (MQTT and CoAP backends), appended to the exposition.
  std::function<std::vector<ServerMetrics::Sample>()> extra_samples;
};

// `api` with /healthz and /metrics in front of it.
http::HttpHandler WithOpsRoutes(http::HttpHandler api, OpsRoutesOptions options);

}  // namespace fwota::fwotad

#endif  // FWOTA_TOOLS_FWOTAD_OPS_ROUTES_H_
