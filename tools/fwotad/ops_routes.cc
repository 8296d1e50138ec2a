#include "tools/fwotad/ops_routes.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fwota/json_writer.h"

namespace fwota::fwotad {
namespace {

constexpr char kTextFormat[] = "text/plain; version=0.0.4; charset=utf-8";

void Family(std::string& out, absl::string_view name, absl::string_view type,
            absl::string_view help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

// A family with one unlabelled sample.
void Single(std::string& out, absl::string_view name, absl::string_view type,
            absl::string_view help, int64_t value) {
  Family(out, name, type, help);
  absl::StrAppend(&out, name, " ", value, "\n");
}

// Integers exactly; other values in the shortest form that reads back the same.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9e15) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrFormat("%.15g", v);
}

http::HttpResponse Text(int status, std::string content_type, std::string body) {
  http::HttpResponse r;
  r.status = status;
  r.SetHeader("Content-Type", std::move(content_type));
  r.SetHeader("Cache-Control", "no-store");
  r.body = std::move(body);
  return r;
}

http::HttpResponse MethodNotAllowed() {
  http::HttpResponse r = Text(405, "application/json", R"({"status":405,"message":"Method not allowed"})");
  r.SetHeader("Allow", "GET, HEAD");
  return r;
}

http::HttpResponse Health(OtaService& service) {
  absl::StatusOr<int64_t> queued = service.CountQueuedNotices();
  JsonWriter w;
  w.BeginObject();
  if (queued.ok()) {
    w.Field("status", "UP");
  } else {
    w.Field("status", "DOWN").Field("error", queued.status().message());
  }
  w.EndObject();
  http::HttpResponse r = Text(queued.ok() ? 200 : 503, "application/json", w.str());
  if (!queued.ok()) r.log_error = std::string(queued.status().message());
  return r;
}

}  // namespace

void ServerMetrics::RecordHttp(const http::AccessLogEntry& e) {
  if (e.status >= 100 && e.status < 600) {
    http_by_class_[e.status / 100 - 1].fetch_add(1, std::memory_order_relaxed);
  } else {
    http_failed_connections_.fetch_add(1, std::memory_order_relaxed);
  }
  http_bytes_in_.fetch_add(e.request_bytes, std::memory_order_relaxed);
  http_bytes_out_.fetch_add(e.response_bytes, std::memory_order_relaxed);
  const double seconds = absl::ToDoubleSeconds(e.duration);
  size_t bucket = 0;
  while (bucket < kDurationBuckets.size() && seconds > kDurationBuckets[bucket]) ++bucket;
  duration_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  duration_micros_sum_.fetch_add(absl::ToInt64Microseconds(e.duration),
                                 std::memory_order_relaxed);
}

void ServerMetrics::RecordDrain(const DrainResult& r) {
  notices_sent_.fetch_add(r.sent, std::memory_order_relaxed);
  deletions_sent_.fetch_add(r.deletions, std::memory_order_relaxed);
  notices_skipped_.fetch_add(r.skipped, std::memory_order_relaxed);
}

void ServerMetrics::RecordSweep(const StallSweepResult& r) {
  stall_renotified_.fetch_add(r.renotified, std::memory_order_relaxed);
  stall_failed_.fetch_add(r.failed, std::memory_order_relaxed);
}

std::string ServerMetrics::Render(const std::vector<Sample>& extra) const {
  auto get = [](const std::atomic<int64_t>& v) { return v.load(std::memory_order_relaxed); };
  std::string out;
  Family(out, "fwota_http_requests_total", "counter",
         "HTTP requests answered, by status class (REST, device API, dashboard)");
  for (size_t i = 0; i < http_by_class_.size(); ++i) {
    absl::StrAppend(&out, "fwota_http_requests_total{code=\"", i + 1, "xx\"} ",
                    get(http_by_class_[i]), "\n");
  }
  Single(out, "fwota_http_connection_errors_total", "counter",
         "HTTP connections that ended without an answer (timeout, reset, malformed request)",
         get(http_failed_connections_));
  Single(out, "fwota_http_request_body_bytes_total", "counter", "HTTP request body bytes read",
         get(http_bytes_in_));
  Single(out, "fwota_http_response_body_bytes_total", "counter",
         "HTTP response body bytes written", get(http_bytes_out_));
  Family(out, "fwota_http_request_duration_seconds", "histogram",
         "time from a request's first byte to its answer's last");
  int64_t cumulative = 0;
  for (size_t i = 0; i < duration_buckets_.size(); ++i) {
    cumulative += get(duration_buckets_[i]);
    const std::string le = i < kDurationBuckets.size() ? Number(kDurationBuckets[i]) : "+Inf";
    absl::StrAppend(&out, "fwota_http_request_duration_seconds_bucket{le=\"", le, "\"} ",
                    cumulative, "\n");
  }
  absl::StrAppend(&out, "fwota_http_request_duration_seconds_sum ",
                  Number(static_cast<double>(get(duration_micros_sum_)) / 1e6), "\n",
                  "fwota_http_request_duration_seconds_count ", cumulative, "\n");

  Single(out, "fwota_notices_sent_total", "counter",
         "update notices sent to devices (each wrote INITIATED), re-notifications excluded",
         get(notices_sent_));
  Single(out, "fwota_notice_deletions_sent_total", "counter",
         "attribute-deletion notices sent (unassignments)", get(deletions_sent_));
  Single(out, "fwota_notices_skipped_total", "counter",
         "queued notices dropped as stale (the package is no longer the device's)",
         get(notices_skipped_));
  Family(out, "fwota_stalls_total", "counter",
         "silent devices the stall detector acted on, by action");
  absl::StrAppend(&out, "fwota_stalls_total{action=\"renotified\"} ", get(stall_renotified_),
                  "\nfwota_stalls_total{action=\"failed\"} ", get(stall_failed_), "\n");
  Single(out, "fwota_update_process_errors_total", "counter",
         "failed rounds of the update worker (see the log)", get(update_errors_));
  Family(out, "fwota_uptime_seconds", "gauge", "seconds since fwotad started");
  absl::StrAppend(&out, "fwota_uptime_seconds ",
                  Number(std::floor(absl::ToDoubleSeconds(absl::Now() - start_))), "\n");
  for (const Sample& s : extra) {
    Family(out, s.name, s.type, s.help);
    absl::StrAppend(&out, s.name, " ", Number(s.value), "\n");
  }
  return out;
}

http::HttpHandler WithOpsRoutes(http::HttpHandler api, OpsRoutesOptions options) {
  return [api = std::move(api), options = std::move(options)](const http::HttpRequest& request,
                                                              ByteSource& body) {
    const bool health = request.path == "/healthz";
    const bool metrics = options.metrics_enabled && request.path == "/metrics";
    if (!health && !metrics) return api(request, body);
    if (request.method != "GET" && request.method != "HEAD") return MethodNotAllowed();
    if (health) return Health(*options.service);
    std::vector<ServerMetrics::Sample> extra;
    if (absl::StatusOr<int64_t> queued = options.service->CountQueuedNotices(); queued.ok()) {
      extra.push_back({"fwota_notices_queued", "notices waiting to be sent (all tenants)",
                       "gauge", static_cast<double>(*queued)});
    }
    if (options.extra_samples) {
      for (ServerMetrics::Sample& s : options.extra_samples()) extra.push_back(std::move(s));
    }
    return Text(200, kTextFormat, options.metrics->Render(extra));
  };
}

}  // namespace fwota::fwotad
