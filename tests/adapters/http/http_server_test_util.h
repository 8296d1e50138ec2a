// Helpers for the HTTP backend's tests: a raw socket client (for what curl will not do:
// half bodies, stalls, garbage), a curl runner, and a test handler with echo, upload and
// blob routes.
#ifndef FWOTA_TESTS_ADAPTERS_HTTP_HTTP_SERVER_TEST_UTIL_H_
#define FWOTA_TESTS_ADAPTERS_HTTP_HTTP_SERVER_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "adapters/http/http_message.h"
#include "adapters/http/http_server.h"
#include "fwota/blob_store.h"

namespace fwota::http::testing {

// A file or directory path under TEST_TMPDIR.
std::string TempPath(const std::string& name);
// `n` pseudo-random bytes (deterministic for a seed).
std::string RandomBytes(size_t n, uint32_t seed);
bool WriteFile(const std::string& path, const std::string& data);
std::string ReadFile(const std::string& path);
std::string Sha256Hex(const std::string& data);
// Polls `done` every 10 ms until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, absl::Duration timeout);

// Runs `curl -sS <args>` through the shell; stdout is captured.
struct CurlResult {
  int exit_code = -1;
  std::string out;
};
CurlResult Curl(const std::string& args);

// One TCP connection to 127.0.0.1:port with a 20 s receive timeout (a hung server fails
// the test instead of hanging it).
class RawClient {
 public:
  explicit RawClient(int port);
  ~RawClient();
  bool connected() const { return fd_ >= 0; }
  bool Send(const std::string& data);

  struct Response {
    int status = 0;                              // 0: no (complete) response
    std::map<std::string, std::string> headers;  // lowercase names
    std::string body;
    const std::string* Header(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? nullptr : &it->second;
    }
  };
  // Reads one response: the head, then Content-Length bytes (or up to the close when
  // there is no length). `head_only` for answers to HEAD and 1xx.
  Response ReadResponse(bool head_only = false);
  // True when the server closes the connection (recv returns 0 or an error) within
  // `timeout`, discarding what arrives meanwhile.
  bool ClosedByServer(absl::Duration timeout);
  void Close();

 private:
  bool Fill();  // one recv into buffered_
  int fd_ = -1;
  std::string buffered_;
};

// A BlobReader decorator that counts calls, to tell the sendfile path from the ReadAt
// path.
class CountingReader : public BlobReader {
 public:
  explicit CountingReader(std::shared_ptr<BlobReader> base) : base_(std::move(base)) {}
  int64_t size() const override { return base_->size(); }
  absl::StatusOr<size_t> ReadAt(int64_t offset, absl::Span<char> out) override {
    ++read_at_calls;
    return base_->ReadAt(offset, out);
  }
  absl::StatusOr<int> PrepareSendFile(int64_t offset, int64_t length) override {
    ++prepare_send_file_calls;
    return base_->PrepareSendFile(offset, length);
  }
  std::atomic<int> read_at_calls{0};
  std::atomic<int> prepare_send_file_calls{0};

 private:
  std::shared_ptr<BlobReader> base_;
};

// A reader of `size` bytes of 'x' whose ReadAt fails with kDataLoss from `fail_from` on.
class DamagedReader : public BlobReader {
 public:
  DamagedReader(int64_t size, int64_t fail_from) : size_(size), fail_from_(fail_from) {}
  int64_t size() const override { return size_; }
  absl::StatusOr<size_t> ReadAt(int64_t offset, absl::Span<char> out) override;

 private:
  const int64_t size_;
  const int64_t fail_from_;
};

// The test handler. Routes:
//   /echo...            method, path, query and the x-echo header, one per line
//   /upload             reads the whole body: "<size> <sha256>", or 400 with the error
//   /ignore-body        answers 413 without reading the body
//   /blob/file, /blob/memory, /blob/damaged-early, /blob/damaged-late
//                       the blob, ?offset=&length= for a range
//   /status?code=N      an empty answer with that status
class TestHandler {
 public:
  HttpHandler AsHandler();

  std::shared_ptr<CountingReader> file_blob;
  std::shared_ptr<CountingReader> memory_blob;
  std::shared_ptr<BlobReader> damaged_early = std::make_shared<DamagedReader>(1 << 20, 0);
  std::shared_ptr<BlobReader> damaged_late = std::make_shared<DamagedReader>(1 << 20, 300000);

  // Set by /upload.
  std::atomic<int> uploads_started{0};
  std::atomic<int> upload_errors{0};
  absl::Mutex mu;
  absl::Status last_upload_error ABSL_GUARDED_BY(mu);

 private:
  HttpResponse Handle(const HttpRequest& request, ByteSource& body);
};

// Collects access log entries. Thread-safe.
class AccessLog {
 public:
  std::function<void(const AccessLogEntry&)> Callback();
  std::vector<AccessLogEntry> Entries();
  // Waits until some entry satisfies `match`.
  bool WaitForEntry(const std::function<bool(const AccessLogEntry&)>& match,
                    absl::Duration timeout = absl::Seconds(10));

 private:
  absl::Mutex mu_;
  std::vector<AccessLogEntry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fwota::http::testing

#endif  // FWOTA_TESTS_ADAPTERS_HTTP_HTTP_SERVER_TEST_UTIL_H_
