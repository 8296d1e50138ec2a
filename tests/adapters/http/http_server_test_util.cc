#include "tests/adapters/http/http_server_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "fwota/checksum.h"

namespace fwota::http::testing {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t v = rng();
    std::memcpy(&out[i], &v, 4);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(rng());
  return out;
}

bool WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(f);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string Sha256Hex(const std::string& data) {
  return ChecksumText(::fwota::v1::SHA256, absl::string_view(data));
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

CurlResult Curl(const std::string& args) {
  CurlResult result;
  const std::string command = absl::StrCat("curl -sS --max-time 120 ", args, " 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) result.out.append(buf, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// ---- RawClient ----

RawClient::RawClient(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  timeval tv{20, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

RawClient::~RawClient() { Close(); }

void RawClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawClient::Send(const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool RawClient::Fill() {
  char buf[65536];
  ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  if (n <= 0) return false;
  buffered_.append(buf, static_cast<size_t>(n));
  return true;
}

RawClient::Response RawClient::ReadResponse(bool head_only) {
  Response response;
  size_t end;
  while ((end = buffered_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill()) return response;
  }
  const std::string head = buffered_.substr(0, end);
  buffered_.erase(0, end + 4);
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  std::vector<std::string> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  int status = 0;
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &status)) return response;
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    response.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  if (!head_only && status >= 200 && status != 204 && status != 304) {
    const std::string* length = response.Header("content-length");
    size_t want = 0;
    if (length != nullptr && absl::SimpleAtoi(*length, &want)) {
      while (buffered_.size() < want) {
        if (!Fill()) return response;  // cut short: status stays 0
      }
      response.body = buffered_.substr(0, want);
      buffered_.erase(0, want);
    } else {
      while (Fill()) {
      }
      response.body = std::move(buffered_);
      buffered_.clear();
    }
  }
  response.status = status;
  return response;
}

bool RawClient::ClosedByServer(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  char buf[65536];
  for (;;) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
    ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) return true;
  }
}

// ---- Readers ----

absl::StatusOr<size_t> DamagedReader::ReadAt(int64_t offset, absl::Span<char> out) {
  if (offset >= fail_from_) return absl::DataLossError("test: damaged block");
  if (offset >= size_) return 0;
  const size_t n = static_cast<size_t>(std::min<int64_t>(out.size(), size_ - offset));
  std::fill(out.begin(), out.begin() + n, 'x');
  return n;
}

// ---- TestHandler ----

HttpHandler TestHandler::AsHandler() {
  return [this](const HttpRequest& request, ByteSource& body) { return Handle(request, body); };
}

HttpResponse TestHandler::Handle(const HttpRequest& request, ByteSource& body) {
  HttpResponse response;
  response.SetHeader("Content-Type", "text/plain");
  const std::string& path = request.path;
  if (path.rfind("/echo", 0) == 0) {
    absl::StrAppend(&response.body, "method=", request.method, "\npath=", path, "\n");
    for (const auto& [k, v] : request.query)
      absl::StrAppend(&response.body, "query ", k, "=", v, "\n");
    if (const std::string* echo = request.Header("x-echo")) {
      absl::StrAppend(&response.body, "x-echo=", *echo, "\n");
    }
    absl::StrAppend(&response.body, "remote=", request.remote_address, "\n");
    return response;
  }
  if (path == "/upload") {
    ++uploads_started;
    auto hasher = std::move(NewHasher(::fwota::v1::SHA256)).value();
    std::vector<char> buf(1 << 20);
    int64_t size = 0;
    for (;;) {
      absl::StatusOr<size_t> n = body.Read(absl::MakeSpan(buf));
      if (!n.ok()) {
        absl::MutexLock lock(&mu);
        last_upload_error = n.status();
        ++upload_errors;
        response.status = 400;
        response.body = std::string(n.status().message());
        return response;
      }
      if (*n == 0) break;
      hasher->Update(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(buf.data()), *n));
      size += static_cast<int64_t>(*n);
    }
    response.body = absl::StrCat(size, " ", ToHex(hasher->Finish()));
    return response;
  }
  if (path == "/ignore-body") {
    response.status = 413;
    response.body = "too large\n";
    return response;
  }
  if (path.rfind("/status", 0) == 0) {
    int code = 200;
    if (const std::string* c = request.Query("code")) (void)absl::SimpleAtoi(*c, &code);
    response.status = code;
    return response;
  }
  std::shared_ptr<BlobReader> reader;
  if (path == "/blob/file") reader = file_blob;
  if (path == "/blob/memory") reader = memory_blob;
  if (path == "/blob/damaged-early") reader = damaged_early;
  if (path == "/blob/damaged-late") reader = damaged_late;
  if (reader != nullptr) {
    response.SetHeader("Content-Type", "application/octet-stream");
    response.blob.reader = reader;
    response.blob.offset = 0;
    response.blob.length = reader->size();
    if (const std::string* o = request.Query("offset"))
      (void)absl::SimpleAtoi(*o, &response.blob.offset);
    if (const std::string* l = request.Query("length"))
      (void)absl::SimpleAtoi(*l, &response.blob.length);
    return response;
  }
  response.status = 404;
  response.body = "not found\n";
  return response;
}

// ---- AccessLog ----

std::function<void(const AccessLogEntry&)> AccessLog::Callback() {
  return [this](const AccessLogEntry& entry) {
    absl::MutexLock lock(&mu_);
    entries_.push_back(entry);
  };
}

std::vector<AccessLogEntry> AccessLog::Entries() {
  absl::MutexLock lock(&mu_);
  return entries_;
}

bool AccessLog::WaitForEntry(const std::function<bool(const AccessLogEntry&)>& match,
                             absl::Duration timeout) {
  return WaitFor(
      [&] {
        for (const AccessLogEntry& e : Entries()) {
          if (match(e)) return true;
        }
        return false;
      },
      timeout);
}

}  // namespace fwota::http::testing
