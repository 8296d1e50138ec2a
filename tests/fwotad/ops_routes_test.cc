// fwotad's /healthz and /metrics in front of a stand-in REST API, over an OtaService on
// in-memory stores (one of which can be made to fail).
#include "tools/fwotad/ops_routes.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fwota/blob_store.h"
#include "fwota/byte_source.h"
#include "fwota/metadata_stores.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace fwota::fwotad {
namespace {

using ::testing::HasSubstr;

// Forwards to a memory store, or fails every transaction while `failing` is set.
class FailableStore : public MetadataStore {
 public:
  absl::Status RunInTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) override {
    if (failing) return absl::UnavailableError("disk I/O error");
    return inner_->RunInTransaction(body);
  }
  absl::Status RunInReadTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) override {
    if (failing) return absl::UnavailableError("disk I/O error");
    return inner_->RunInReadTransaction(body);
  }
  ReportLog& report_log() override { return inner_->report_log(); }

  std::atomic<bool> failing{false};

 private:
  std::unique_ptr<MetadataStore> inner_ = NewMemoryMetadataStore();
};

class OpsRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OtaServiceOptions options;
    options.metadata = &store_;
    options.blobs = blobs_.get();
    ASSERT_OK_AND_ASSIGN(service_, OtaService::Create(options));
  }

  http::HttpHandler Handler(bool metrics_enabled,
                            std::function<std::vector<ServerMetrics::Sample>()> extra = {}) {
    OpsRoutesOptions options;
    options.service = service_.get();
    options.metrics = &metrics_;
    options.metrics_enabled = metrics_enabled;
    options.extra_samples = std::move(extra);
    return WithOpsRoutes(
        [this](const http::HttpRequest& request, ByteSource&) {
          api_paths_.push_back(request.path);
          http::HttpResponse r;
          r.status = 404;
          return r;
        },
        std::move(options));
  }

  static http::HttpResponse Call(const http::HttpHandler& handler, const std::string& method,
                                 const std::string& path) {
    http::HttpRequest request;
    request.method = method;
    request.path = path;
    request.target = path;
    std::unique_ptr<ByteSource> body = NewStringSource("");
    return handler(request, *body);
  }

  FailableStore store_;
  std::unique_ptr<BlobStore> blobs_ = NewMemoryBlobStore();
  std::unique_ptr<OtaService> service_;
  ServerMetrics metrics_;
  std::vector<std::string> api_paths_;
};

TEST_F(OpsRoutesTest, HealthIsUpWhileTheStoreAnswersAndDownWhenItFails) {
  http::HttpHandler handler = Handler(false);
  http::HttpResponse up = Call(handler, "GET", "/healthz");
  EXPECT_EQ(up.status, 200);
  EXPECT_EQ(up.body, R"({"status":"UP"})");
  EXPECT_EQ(*up.Header("Content-Type"), "application/json");
  EXPECT_EQ(*up.Header("Cache-Control"), "no-store");
  EXPECT_EQ(Call(handler, "HEAD", "/healthz").status, 200);

  store_.failing = true;
  http::HttpResponse down = Call(handler, "GET", "/healthz");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.body, R"({"status":"DOWN","error":"disk I/O error"})");
  EXPECT_EQ(down.log_error, "disk I/O error");
  store_.failing = false;
  EXPECT_EQ(Call(handler, "GET", "/healthz").status, 200);
  EXPECT_TRUE(api_paths_.empty());
}

TEST_F(OpsRoutesTest, OtherMethodsAre405AndOtherPathsGoToTheApi) {
  http::HttpHandler handler = Handler(true);
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    for (const char* path : {"/healthz", "/metrics"}) {
      http::HttpResponse r = Call(handler, method, path);
      EXPECT_EQ(r.status, 405) << method << " " << path;
      EXPECT_EQ(*r.Header("Allow"), "GET, HEAD");
    }
  }
  EXPECT_EQ(Call(handler, "GET", "/api/otaPackages").status, 404);
  EXPECT_EQ(Call(handler, "GET", "/healthz/").status, 404);
  EXPECT_EQ(Call(handler, "GET", "/metrics2").status, 404);
  EXPECT_EQ(api_paths_, (std::vector<std::string>{"/api/otaPackages", "/healthz/", "/metrics2"}));
}

TEST_F(OpsRoutesTest, MetricsOnlyWhenEnabled) {
  EXPECT_EQ(Call(Handler(false), "GET", "/metrics").status, 404);  // the API's answer
  EXPECT_EQ(api_paths_, std::vector<std::string>{"/metrics"});
  http::HttpResponse r = Call(Handler(true), "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(*r.Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("\nfwota_notices_queued 0\n"));
}

TEST_F(OpsRoutesTest, CountersAndTheHistogramAddUp) {
  auto entry = [](int status, int64_t in, int64_t out, absl::Duration d) {
    http::AccessLogEntry e;
    e.status = status;
    e.request_bytes = in;
    e.response_bytes = out;
    e.duration = d;
    return e;
  };
  metrics_.RecordHttp(entry(200, 0, 1000, absl::Microseconds(500)));
  metrics_.RecordHttp(entry(206, 0, 24, absl::Milliseconds(20)));
  metrics_.RecordHttp(entry(404, 10, 50, absl::Milliseconds(1)));  // on a bound: le="0.001"
  metrics_.RecordHttp(entry(503, 5, 0, absl::Seconds(2)));
  metrics_.RecordHttp(entry(0, 0, 0, absl::Seconds(60)));  // a connection that failed
  DrainResult drain;
  drain.sent = 7;
  drain.deletions = 2;
  drain.skipped = 1;
  metrics_.RecordDrain(drain);
  metrics_.RecordDrain(drain);
  StallSweepResult sweep;
  sweep.renotified = 3;
  sweep.failed = 1;
  metrics_.RecordSweep(sweep);
  metrics_.RecordUpdateError();

  const std::string text = Call(Handler(true, [] {
                                  return std::vector<ServerMetrics::Sample>{
                                      {"fwota_mqtt_messages_handled_total", "handled", "counter",
                                       12345}};
                                }),
                                "GET", "/metrics")
                               .body;
  for (const char* line : {
           "fwota_http_requests_total{code=\"2xx\"} 2",
           "fwota_http_requests_total{code=\"4xx\"} 1",
           "fwota_http_requests_total{code=\"5xx\"} 1",
           "fwota_http_requests_total{code=\"1xx\"} 0",
           "fwota_http_connection_errors_total 1",
           "fwota_http_request_body_bytes_total 15",
           "fwota_http_response_body_bytes_total 1074",
           "fwota_http_request_duration_seconds_bucket{le=\"0.001\"} 2",
           "fwota_http_request_duration_seconds_bucket{le=\"0.01\"} 2",
           "fwota_http_request_duration_seconds_bucket{le=\"0.025\"} 3",
           "fwota_http_request_duration_seconds_bucket{le=\"1\"} 3",
           "fwota_http_request_duration_seconds_bucket{le=\"5\"} 4",
           "fwota_http_request_duration_seconds_bucket{le=\"30\"} 4",
           "fwota_http_request_duration_seconds_bucket{le=\"+Inf\"} 5",
           "fwota_http_request_duration_seconds_count 5",
           "fwota_http_request_duration_seconds_sum 62.0215",
           "fwota_notices_sent_total 14",
           "fwota_notice_deletions_sent_total 4",
           "fwota_notices_skipped_total 2",
           "fwota_stalls_total{action=\"renotified\"} 3",
           "fwota_stalls_total{action=\"failed\"} 1",
           "fwota_update_process_errors_total 1",
           "fwota_notices_queued 0",
           "fwota_mqtt_messages_handled_total 12345",
       }) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("\n", line, "\n"))) << line;
  }
}

// Every sample line is `name{labels} value` under its family's HELP and TYPE, and each
// family is described once (what Prometheus' parser requires of the text format).
TEST_F(OpsRoutesTest, TheExpositionIsWellFormed) {
  metrics_.RecordHttp(http::AccessLogEntry{});
  const std::string text = Call(Handler(true), "GET", "/metrics").body;
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');
  const std::regex sample(R"re(([a-z_]+)(\{[a-z]+="[^"]*"\})? (-?[0-9.e+-]+|\+Inf))re");
  const std::regex help(R"(# HELP ([a-z_]+) .+)");
  const std::regex type(R"(# TYPE ([a-z_]+) (counter|gauge|histogram))");
  std::set<std::string> described;
  std::string family;
  std::string family_type;
  for (absl::string_view line : absl::StrSplit(text.substr(0, text.size() - 1), '\n')) {
    std::smatch m;
    const std::string s(line);
    if (std::regex_match(s, m, help)) {
      EXPECT_TRUE(described.insert(m[1]).second) << "described twice: " << s;
      family = m[1];
    } else if (std::regex_match(s, m, type)) {
      EXPECT_EQ(m[1], family) << s;
      family_type = m[2];
    } else {
      ASSERT_TRUE(std::regex_match(s, m, sample)) << "not a sample: " << s;
      std::string name = m[1];
      if (family_type == "histogram") {
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
          if (absl::EndsWith(name, suffix)) name.resize(name.size() - strlen(suffix));
        }
      }
      EXPECT_EQ(name, family) << s;
    }
  }
  EXPECT_GE(described.size(), 10u);
}

}  // namespace
}  // namespace fwota::fwotad
