// A fixture for the HTTP mapping's tests: an OtaService over in-memory stores with two
// tenants and an API key each, the handler of NewOtaHttpApi, and helpers that build
// HttpRequest values, call the handler directly and read JSON and blob bodies.
#ifndef FWOTA_TESTS_ADAPTERS_HTTP_OTA_HTTP_API_TEST_UTIL_H_
#define FWOTA_TESTS_ADAPTERS_HTTP_OTA_HTTP_API_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adapters/http/http_message.h"
#include "adapters/http/ota_http_api.h"
#include "fwota/blob_store.h"
#include "fwota/metadata_stores.h"
#include "fwota/ota_service.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace fwota::http::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// Parses a JSON response body; a parse failure fails the test and yields null.
inline google::protobuf::Value ParseJson(const std::string& text) {
  google::protobuf::Value value;
  auto status = google::protobuf::util::JsonStringToMessage(text, &value);
  EXPECT_TRUE(status.ok()) << "not JSON: " << text;
  return value;
}

// The value at a dotted path ("id.id", "data.0.title"); null when there is none.
inline google::protobuf::Value JsonAt(const google::protobuf::Value& root,
                                      absl::string_view path) {
  google::protobuf::Value current = root;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (current.has_struct_value()) {
      auto it = current.struct_value().fields().find(std::string(part));
      if (it == current.struct_value().fields().end()) return google::protobuf::Value();
      google::protobuf::Value next = it->second;  // (not from a part of itself)
      current = std::move(next);
    } else if (current.has_list_value()) {
      size_t index = 0;
      if (!absl::SimpleAtoi(part, &index) ||
          index >= static_cast<size_t>(current.list_value().values_size())) {
        return google::protobuf::Value();
      }
      google::protobuf::Value next = current.list_value().values(static_cast<int>(index));
      current = std::move(next);
    } else {
      return google::protobuf::Value();
    }
  }
  return current;
}

// The string at `path` ("<null>" for null or missing, numbers and booleans as text).
inline std::string JsonText(const std::string& json, absl::string_view path) {
  google::protobuf::Value v = JsonAt(ParseJson(json), path);
  switch (v.kind_case()) {
    case google::protobuf::Value::kStringValue:
      return v.string_value();
    case google::protobuf::Value::kNumberValue:
      return absl::StrCat(static_cast<int64_t>(v.number_value()));
    case google::protobuf::Value::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case google::protobuf::Value::kStructValue:
    case google::protobuf::Value::kListValue:
      return "<composite>";
    default:
      return "<null>";
  }
}

inline int64_t JsonInt(const std::string& json, absl::string_view path) {
  return static_cast<int64_t>(JsonAt(ParseJson(json), path).number_value());
}

// A ByteSource that hands out its data a few bytes per Read (the sizes cycle through
// `steps`), like a slow socket.
class TrickleSource : public ByteSource {
 public:
  TrickleSource(std::string data, std::vector<size_t> steps)
      : data_(std::move(data)), steps_(std::move(steps)) {}
  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    size_t n = std::min({out.size(), data_.size() - pos_, steps_[step_++ % steps_.size()]});
    std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  const std::string data_;
  const std::vector<size_t> steps_;
  size_t pos_ = 0;
  size_t step_ = 0;
};

// A ByteSource that serves `data` and then fails (a client that went away).
class FailingSource : public ByteSource {
 public:
  explicit FailingSource(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    if (pos_ == data_.size()) return absl::UnavailableError("connection reset by peer");
    size_t n = std::min(out.size(), data_.size() - pos_);
    std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  const std::string data_;
  size_t pos_ = 0;
};

// A multipart/form-data body with one `file` part (plus `extra_before` / `extra_after`
// raw parts, each "headers\r\n\r\ncontent").
inline std::string MultipartBody(const std::string& boundary, const std::string& file_name,
                                 const std::string& content,
                                 const std::string& content_type = "application/octet-stream") {
  return absl::StrCat("--", boundary, "\r\n",
                      "Content-Disposition: form-data; name=\"file\"; filename=\"", file_name,
                      "\"\r\n", "Content-Type: ", content_type, "\r\n\r\n", content, "\r\n--",
                      boundary, "--\r\n");
}

// Builds the request for `target` ("/api/x?a=b"); headers are lowercased as the backend
// does.
inline HttpRequest MakeRequest(const std::string& method, const std::string& target,
                               const Headers& headers, int64_t content_length) {
  HttpRequest request;
  request.method = method;
  request.target = target;
  const size_t q = target.find('?');
  EXPECT_TRUE(DecodePath(target.substr(0, q), request.path)) << target;
  if (q != std::string::npos) {
    EXPECT_TRUE(ParseQuery(target.substr(q + 1), request.query));
  }
  for (const auto& [name, value] : headers) {
    request.headers[absl::AsciiStrToLower(name)] = value;
  }
  request.content_length = content_length;
  request.remote_address = "127.0.0.1:40000";
  return request;
}

// The whole body of a response: `body`, or the blob range.
inline std::string BodyOf(const HttpResponse& response) {
  if (response.blob.reader == nullptr) return response.body;
  std::string out(static_cast<size_t>(response.blob.length), '\0');
  size_t done = 0;
  while (done < out.size()) {
    absl::StatusOr<size_t> n = response.blob.reader->ReadAt(
        response.blob.offset + static_cast<int64_t>(done),
        absl::MakeSpan(out.data() + done, out.size() - done));
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) break;
    done += *n;
  }
  out.resize(done);
  return out;
}

inline std::string HeaderOf(const HttpResponse& response, absl::string_view name) {
  const std::string* value = response.Header(name);
  return value == nullptr ? "<none>" : *value;
}

class OtaHttpApiTest : public ::testing::Test {
 protected:
  static constexpr int64_t kMaxPackageSize = 256 * 1024;

  void SetUp() override {
    metadata_ = NewMemoryMetadataStore();
    blobs_ = NewMemoryBlobStore();
    clock_.set_auto_advance(1);
    OtaServiceOptions options;
    options.metadata = metadata_.get();
    options.blobs = blobs_.get();
    options.clock = &clock_;
    options.max_package_size = kMaxPackageSize;
    options.notifier = &hub_;
    options.upload_buffer_size = 4096;
    ASSERT_OK_AND_ASSIGN(service_, OtaService::Create(options));
    ASSERT_OK_AND_ASSIGN(Tenant a, service_->CreateTenant("tenant-a"));
    ASSERT_OK_AND_ASSIGN(Tenant b, service_->CreateTenant("tenant-b"));
    a_ = {a.id(), "admin-a"};
    b_ = {b.id(), "admin-b"};
    ASSERT_OK_AND_ASSIGN(NewApiKey key_a, service_->CreateApiKey(a_, "key-a"));
    ASSERT_OK_AND_ASSIGN(NewApiKey key_b, service_->CreateApiKey(b_, "key-b"));
    key_a_ = key_a.secret;
    key_b_ = key_b.secret;
    api_options_.max_json_body = 4096;
    api_options_.max_chunk_size = 64 * 1024;
    api_options_.max_multipart_overhead = 4096;
    api_options_.attribute_updates = &hub_;
    handler_ = NewOtaHttpApi(*service_, api_options_);
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", Headers headers = {},
                    const std::string* api_key = nullptr) {
    const std::string& key = api_key == nullptr ? key_a_ : *api_key;
    if (!key.empty()) headers.emplace_back("X-Authorization", "Bearer " + key);
    HttpRequest request = MakeRequest(method, target, headers,
                                      method == "GET" || method == "DELETE"
                                          ? (body.empty() ? -1 : static_cast<int64_t>(body.size()))
                                          : static_cast<int64_t>(body.size()));
    std::unique_ptr<ByteSource> source = NewStringSource(body);
    return handler_(request, *source);
  }

  // A device route: no authorization header.
  HttpResponse Device(const std::string& method, const std::string& target,
                      const std::string& body = "", Headers headers = {}) {
    const std::string none;
    return Call(method, target, body, std::move(headers), &none);
  }

  HttpResponse CallWith(const std::string& method, const std::string& target,
                        ByteSource& body, Headers headers, int64_t content_length) {
    headers.emplace_back("X-Authorization", "Bearer " + key_a_);
    HttpRequest request = MakeRequest(method, target, headers, content_length);
    return handler_(request, body);
  }

  // ---- Shortcuts over the REST API (each asserts success) ----

  std::string CreateProfile(const std::string& name) {
    HttpResponse r = Call("POST", "/api/deviceProfile",
                          absl::StrCat(R"({"name":")", name, R"(","description":"d"})"));
    EXPECT_EQ(r.status, 200) << r.body;
    return JsonText(r.body, "id.id");
  }

  std::string CreateDevice(const std::string& name, const std::string& profile_id,
                           const std::string& token) {
    HttpResponse r = Call("POST", "/api/device?accessToken=" + token,
                          absl::StrCat(R"({"name":")", name,
                                       R"(","deviceProfileId":{"entityType":"DEVICE_PROFILE","id":")",
                                       profile_id, R"("}})"));
    EXPECT_EQ(r.status, 200) << r.body;
    return JsonText(r.body, "id.id");
  }

  std::string CreatePackageInfo(const std::string& title, const std::string& version,
                                const std::string& profile_id,
                                const std::string& type = "FIRMWARE") {
    HttpResponse r = Call(
        "POST", "/api/otaPackage",
        absl::StrCat(R"({"title":")", title, R"(","version":")", version, R"(","type":")", type,
                     R"(","deviceProfileId":{"entityType":"DEVICE_PROFILE","id":")", profile_id,
                     R"("},"additionalInfo":{"description":"test package"}})"));
    EXPECT_EQ(r.status, 200) << r.body;
    return JsonText(r.body, "id.id");
  }

  HttpResponse UploadMultipart(const std::string& package_id, const std::string& content,
                               const std::string& query = "checksumAlgorithm=SHA256",
                               const std::string& file_name = "fw.bin") {
    const std::string boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    return Call("POST", absl::StrCat("/api/otaPackage/", package_id, "?", query),
                MultipartBody(boundary, file_name, content),
                {{"Content-Type", "multipart/form-data; boundary=" + boundary}});
  }

  // A profile, a device with token "DEVICE_TOKEN" and a FIRMWARE package "fw" 1.0 with
  // `content`, assigned to the device.
  void SetUpAssignedFirmware(const std::string& content) {
    profile_id_ = CreateProfile("thermostats");
    device_id_ = CreateDevice("t-1", profile_id_, "DEVICE_TOKEN");
    package_id_ = CreatePackageInfo("fw", "1.0", profile_id_);
    HttpResponse up = UploadMultipart(package_id_, content);
    ASSERT_EQ(up.status, 200) << up.body;
    sha256_ = JsonText(up.body, "checksum");
    HttpResponse assigned =
        Call("POST", "/api/device",
             absl::StrCat(R"({"id":{"entityType":"DEVICE","id":")", device_id_,
                          R"("},"firmwareId":{"entityType":"OTA_PACKAGE","id":")", package_id_,
                          R"("}})"));
    ASSERT_EQ(assigned.status, 200) << assigned.body;
  }

  // Writes QUEUED with the target "fw" 1.0 (the package of SetUpAssignedFirmware) for the
  // device, straight into the store (as the assignment did).
  void SetFirmwareTarget() {
    UpdateStatus queued;
    queued.set_tenant_id(a_.tenant_id);
    queued.set_device_id(device_id_);
    queued.set_type(::fwota::v1::FIRMWARE);
    queued.set_state(::fwota::v1::UPDATE_STATE_QUEUED);
    queued.set_target_package_id(package_id_);
    queued.set_target_title("fw");
    queued.set_target_version("1.0");
    queued.set_target_tag("fw 1.0");
    queued.set_target_ts(clock_.NowMillis());
    queued.set_state_since(queued.target_ts());
    ASSERT_OK(metadata_->RunInTransaction(
        [&](MetadataTransaction& tx) { return tx.PutUpdateStatus(queued); }));
  }

  ::fwota::testing::FakeClock clock_;
  AttributeUpdateHub hub_;  // the service's notifier and the long polls' hub
  std::unique_ptr<MetadataStore> metadata_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<OtaService> service_;
  TenantContext a_, b_;
  std::string key_a_, key_b_;
  OtaHttpApiOptions api_options_;
  HttpHandler handler_;
  std::string profile_id_, device_id_, package_id_, sha256_;
};

}  // namespace fwota::http::testing

#endif  // FWOTA_TESTS_ADAPTERS_HTTP_OTA_HTTP_API_TEST_UTIL_H_
