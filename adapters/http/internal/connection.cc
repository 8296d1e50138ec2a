#include "adapters/http/internal/connection.h"

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fwota::http::internal {
namespace {

namespace bhttp = boost::beast::http;
using boost::system::error_code;
using RequestParser = bhttp::request_parser<bhttp::buffer_body>;

// ReadAt buffer for blob bodies that cannot go through sendfile (TLS, memory stores).
constexpr size_t kCopyBufferSize = 256 * 1024;
// A sendfile body is checked (PrepareSendFile) this much at a time, so the first byte of
// a large file does not wait for the whole file's check.
constexpr int64_t kSendFileWindow = 8 << 20;
// Bodies from this size on are sent corked (TCP_CORK from the head to the end of the
// body): only full segments leave until the end. Measured on loopback, one connection,
// whole 64 MiB files: about 1.3x the throughput of TCP_NODELAY with MSG_MORE alone.
// Smaller bodies do without (two more syscalls per request cost more than they gain).
constexpr int64_t kCorkFrom = 1 << 20;

bool IsHttpParseError(const error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

bool IsTimeout(const error_code& ec) { return ec == boost::asio::error::timed_out; }

// The peer went away (closed, reset, or ended TLS without close_notify).
bool IsPeerGone(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset ||
         ec == boost::asio::error::connection_aborted || ec == boost::asio::error::broken_pipe ||
         ec == boost::asio::ssl::error::stream_truncated;
}

absl::string_view ReasonPhrase(int status) {
  const boost::beast::string_view beast_reason =
      bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(status)));
  const absl::string_view reason(beast_reason.data(), beast_reason.size());
  if (reason.empty() || reason[0] == '<') return "Status";
  return reason;
}

// The Date header value, formatted at most once a second per thread.
const std::string& HttpDate() {
  thread_local time_t cached_second = -1;
  thread_local std::string cached;
  const time_t now = ::time(nullptr);
  if (now != cached_second) {
    cached_second = now;
    cached =
        absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::FromTimeT(now), absl::UTCTimeZone());
  }
  return cached;
}

bool HeaderIsSafe(absl::string_view name, absl::string_view value) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c == '\r' || c == '\n' || c == ':' || c == ' ' || c == '\t' || c == '\0') return false;
  }
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// The request body as a stream, read from the socket as the handler asks for it.
class BodyReader : public ByteSource {
 public:
  BodyReader(Transport& transport, boost::beast::flat_buffer& buffer, RequestParser& parser,
             bool expect_continue, int64_t content_length, absl::Duration io_timeout)
      : transport_(transport),
        buffer_(buffer),
        parser_(parser),
        expect_continue_(expect_continue),
        content_length_(content_length),
        io_timeout_(io_timeout) {}

  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    if (!status_.ok()) return status_;
    if (parser_.is_done() || out.empty()) return 0;
    if (expect_continue_) {
      // The client waits for this before it sends the body.
      expect_continue_ = false;
      static constexpr absl::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      boost::asio::const_buffer piece(kContinue.data(), kContinue.size());
      error_code ec;
      transport_.WriteAll(&piece, 1, ec);
      if (ec) return Fail(ec);
    }
    for (;;) {
      bhttp::buffer_body::value_type& body = parser_.get().body();
      body.data = out.data();
      body.size = out.size();
      error_code ec;
      bhttp::read_some(transport_, buffer_, parser_, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      const size_t got = out.size() - body.size;
      body.data = nullptr;
      body.size = 0;
      if (ec) return Fail(ec);
      bytes_read_ += static_cast<int64_t>(got);
      if (got > 0) return got;
      if (parser_.is_done()) return 0;
    }
  }

  int64_t SizeHint() const override { return content_length_; }

  int64_t bytes_read() const { return bytes_read_; }
  const absl::Status& status() const { return status_; }

 private:
  absl::Status Fail(const error_code& ec) {
    if (IsTimeout(ec)) {
      status_ = absl::DeadlineExceededError(absl::StrCat(
          "the client sent no request body data for ", absl::FormatDuration(io_timeout_)));
    } else if (IsPeerGone(ec)) {
      status_ = absl::UnavailableError("the client closed the connection during the request body");
    } else if (IsHttpParseError(ec)) {
      status_ = absl::InvalidArgumentError(absl::StrCat("malformed request body: ", ec.message()));
    } else {
      status_ =
          absl::UnavailableError(absl::StrCat("reading the request body failed: ", ec.message()));
    }
    return status_;
  }

  Transport& transport_;
  boost::beast::flat_buffer& buffer_;
  RequestParser& parser_;
  bool expect_continue_;
  const int64_t content_length_;
  const absl::Duration io_timeout_;
  int64_t bytes_read_ = 0;
  absl::Status status_;
};

class Connection {
 public:
  Connection(const ServerConfig& config, int fd, std::string remote_address, bool reject,
             ConnectionHooks& hooks)
      : config_(config),
        options_(config.options),
        socket_(fd,
                config.tls != nullptr ? config.tls->executor() : boost::asio::any_io_executor()),
        transport_(socket_, config.tls),
        remote_address_(std::move(remote_address)),
        reject_(reject),
        hooks_(hooks) {}

  void Serve() {
    if (!socket_.Configure(options_.io_timeout)) {
      LogFailure(absl::StrCat("cannot set socket options: ", std::strerror(errno)));
      return;
    }
    if (transport_.is_tls()) {
      error_code ec;
      transport_.Handshake(ec);
      if (ec) {
        LogFailure(absl::StrCat("TLS handshake failed: ", ec.message()));
        return;
      }
    }
    while (hooks_.OnIdle() && ServeOneRequest()) {
    }
  }

  void LogFailure(std::string error) {
    AccessLogEntry entry;
    entry.remote_address = remote_address_;
    entry.error = std::move(error);
    Log(entry);
  }

 private:
  void Log(const AccessLogEntry& entry) {
    if (options_.access_log) options_.access_log(entry);
  }

  // Reads one request, runs the handler, writes the response. False when the connection
  // is to be closed.
  bool ServeOneRequest() {
    RequestParser parser;
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(std::max<size_t>(options_.max_header_bytes, 1), UINT32_MAX)));
    // No body limit: the handler enforces sizes as it streams. (Not boost::none: Boost
    // 1.74 compares Content-Length with the optional itself, and anything is > none.)
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    socket_.ArmIdleWait(options_.keep_alive_timeout);
    error_code ec;
    bhttp::read_header(transport_, buffer_, parser, ec);
    socket_.DisarmIdleWait();
    const absl::Time start = absl::Now();
    if (ec) {
      HeadFailed(ec, start);
      return false;
    }
    hooks_.OnBusy();

    bhttp::request<bhttp::buffer_body>& head = parser.get();
    AccessLogEntry entry;
    entry.remote_address = remote_address_;
    entry.method = std::string(head.method_string());
    entry.target = std::string(head.target());

    HttpRequest request;
    request.method = entry.method;
    request.target = entry.target;
    request.remote_address = remote_address_;
    for (const auto& field : head) {
      std::string name = absl::AsciiStrToLower(
          absl::string_view(field.name_string().data(), field.name_string().size()));
      absl::string_view value(field.value().data(), field.value().size());
      auto [it, inserted] = request.headers.emplace(std::move(name), std::string(value));
      if (!inserted) absl::StrAppend(&it->second, ", ", value);
    }
    if (auto length = parser.content_length()) {
      if (*length > static_cast<uint64_t>(INT64_MAX)) {
        return Refuse(400, "Content-Length is too large", start, entry);
      }
      request.content_length = static_cast<int64_t>(*length);
    }
    if (const std::string* coding = request.Header("transfer-encoding")) {
      // RFC 9112 6.1: a request whose last transfer coding is not chunked has no
      // determinable length (400); other codings are not implemented here (501).
      if (!parser.chunked()) {
        return Refuse(400, "Transfer-Encoding must end with chunked", start, entry);
      }
      if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(*coding), "chunked")) {
        return Refuse(501, "only the chunked transfer coding is supported", start, entry);
      }
    }
    absl::string_view target = request.target;
    const size_t question = target.find('?');
    const absl::string_view raw_path = target.substr(0, question);
    const absl::string_view raw_query =
        question == absl::string_view::npos ? absl::string_view() : target.substr(question + 1);
    if (raw_path.empty() || raw_path[0] != '/') {
      return Refuse(400, "the request target must be a path", start, entry);
    }
    if (!DecodePath(raw_path, request.path)) {
      return Refuse(400, "malformed or forbidden escape in the path", start, entry);
    }
    if (!ParseQuery(raw_query, request.query)) {
      return Refuse(414, "too many query parameters", start, entry);
    }
    if (reject_) return Refuse(503, "too many connections", start, entry);

    const bool expect_continue =
        head.version() >= 11 && absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(absl::string_view(
                                                           head[bhttp::field::expect].data(),
                                                           head[bhttp::field::expect].size())),
                                                       "100-continue");
    bool keep_alive = head.version() >= 11 && head.keep_alive() && !hooks_.Stopping();
    const bool is_head = head.method() == bhttp::verb::head;

    BodyReader body(transport_, buffer_, parser, expect_continue, request.content_length,
                    options_.io_timeout);
    HttpResponse response;
    try {
      response = config_.handler(request, body);
    } catch (const std::exception& e) {
      response = ErrorResponse(500, "internal error");
      entry.error = absl::StrCat("the handler threw: ", e.what());
      keep_alive = false;
    } catch (...) {
      response = ErrorResponse(500, "internal error");
      entry.error = "the handler threw";
      keep_alive = false;
    }
    entry.request_bytes = body.bytes_read();
    if (entry.error.empty()) entry.error = response.log_error;
    if (!body.status().ok()) entry.error = std::string(body.status().message());
    // A body left unread (or broken) leaves the stream at no request boundary.
    const bool body_done = body.status().ok() && parser.is_done();
    if (!body_done || hooks_.Stopping()) keep_alive = false;

    const bool written = WriteResponse(is_head, response, keep_alive, entry);
    entry.duration = absl::Now() - start;
    Log(entry);
    if (!written) return false;
    if (!keep_alive) {
      if (!body_done) LingeringClose(socket_);
      return false;
    }
    return true;
  }

  // The request head could not be read.
  void HeadFailed(const error_code& ec, absl::Time start) {
    const bool nothing_received = buffer_.size() == 0;
    if (nothing_received &&
        (ec == bhttp::error::end_of_stream || ec == boost::asio::ssl::error::stream_truncated ||
         ec == boost::asio::error::eof || (IsTimeout(ec) && socket_.idle_timed_out()))) {
      return;  // an idle connection closed, by the peer or by the keep-alive timeout
    }
    AccessLogEntry entry;
    entry.remote_address = remote_address_;
    if (ec == bhttp::error::header_limit) {
      Refuse(431, "Request Header Fields Too Large", start, entry);
    } else if (IsTimeout(ec)) {
      Refuse(408, "timed out reading the request head", start, entry);
    } else if (IsHttpParseError(ec) && ec != bhttp::error::partial_message) {
      Refuse(400, absl::StrCat("malformed request: ", ec.message()), start, entry);
    } else {
      entry.error = absl::StrCat("reading the request head failed: ", ec.message());
      entry.duration = absl::Now() - start;
      Log(entry);
    }
  }

  static HttpResponse ErrorResponse(int status, absl::string_view message) {
    HttpResponse response;
    response.status = status;
    response.SetHeader("Content-Type", "text/plain; charset=utf-8");
    response.body = absl::StrCat(message, "\n");
    return response;
  }

  // Answers `status` without running the handler and closes the connection. Returns false.
  bool Refuse(int status, absl::string_view message, absl::Time start, AccessLogEntry& entry) {
    HttpResponse response = ErrorResponse(status, message);
    if (status == 503) response.SetHeader("Retry-After", "1");
    if (entry.error.empty()) entry.error = std::string(message);
    bool keep_alive = false;
    if (WriteResponse(/*is_head=*/false, response, keep_alive, entry)) LingeringClose(socket_);
    entry.duration = absl::Now() - start;
    Log(entry);
    return false;
  }

  // The status line and headers. `content_length` < 0: none.
  std::string BuildHead(int status, const HttpResponse& response, int64_t content_length,
                        bool keep_alive) {
    std::string head;
    head.reserve(512);  // a download's head is about 320 bytes
    absl::StrAppend(&head, "HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\n");
    bool has_server = false;
    bool has_date = false;
    for (const auto& [name, value] : response.headers) {
      if (!HeaderIsSafe(name, value)) continue;
      if (absl::EqualsIgnoreCase(name, "content-length") ||
          absl::EqualsIgnoreCase(name, "connection") ||
          absl::EqualsIgnoreCase(name, "transfer-encoding")) {
        continue;  // the backend's to decide
      }
      if (absl::EqualsIgnoreCase(name, "server")) has_server = true;
      if (absl::EqualsIgnoreCase(name, "date")) has_date = true;
      absl::StrAppend(&head, name, ": ", value, "\r\n");
    }
    if (!has_server) head += "Server: fwota\r\n";
    if (!has_date) absl::StrAppend(&head, "Date: ", HttpDate(), "\r\n");
    if (content_length >= 0) absl::StrAppend(&head, "Content-Length: ", content_length, "\r\n");
    if (!keep_alive) head += "Connection: close\r\n";
    head += "\r\n";
    return head;
  }

  // Writes `response`. False when the connection broke (or a blob body could not be
  // finished, so the promised length cannot be kept); `entry` gets the status, the body
  // bytes written and the error. May turn `keep_alive` off.
  bool WriteResponse(bool is_head, HttpResponse& response, bool& keep_alive,
                     AccessLogEntry& entry) {
    int status = response.status;
    if (status < 200 || status > 999) {
      entry.error = absl::StrCat("the handler answered an invalid status ", status);
      response = ErrorResponse(500, "internal error");
      status = 500;
    }
    entry.status = status;
    BlobReader* const blob = response.blob.reader.get();
    int64_t offset = 0;
    int64_t length = static_cast<int64_t>(response.body.size());
    if (blob != nullptr) {
      const int64_t size = blob->size();
      offset = std::clamp<int64_t>(response.blob.offset, 0, size);
      length = std::clamp<int64_t>(response.blob.length, 0, size - offset);
    }
    const bool bodyless_status = status == 204 || status == 304;
    int64_t content_length = bodyless_status ? -1 : length;
    if (is_head || status == 304) {
      // A HEAD (or 304) answer may state the length of a body it does not carry.
      const std::string* stated = response.Header("content-length");
      int64_t value;
      if (stated != nullptr && length == 0 && absl::SimpleAtoi(*stated, &value) && value >= 0) {
        content_length = value;
      }
    }
    const bool send_body = !is_head && !bodyless_status && length > 0;

    if (blob == nullptr || !send_body) {
      const std::string head = BuildHead(status, response, content_length, keep_alive);
      boost::asio::const_buffer pieces[2] = {
          {head.data(), head.size()}, {response.body.data(), send_body ? response.body.size() : 0}};
      error_code ec;
      transport_.WriteAll(pieces, 2, ec);
      if (ec) return WriteFailed(ec, entry);
      if (send_body) entry.response_bytes = length;
      return true;
    }

    // A blob body: check the first piece before promising a length.
    int file_fd = -1;
    if (!transport_.is_tls()) {
      absl::StatusOr<int> fd = blob->PrepareSendFile(offset, std::min(length, kSendFileWindow));
      if (fd.ok()) {
        file_fd = *fd;
      } else if (!absl::IsUnimplemented(fd.status())) {
        return BlobFailedBeforeHead(fd.status(), is_head, keep_alive, entry);
      }
    }
    if (file_fd >= 0) {
      const std::string head = BuildHead(status, response, content_length, keep_alive);
      error_code ec;
      const bool cork = length >= kCorkFrom && socket_.SetCork(true);
      socket_.WriteAll(head.data(), head.size(), /*more=*/true, ec);
      if (ec) return WriteFailed(ec, entry);
      int64_t pos = offset;
      const int64_t end = offset + length;
      while (pos < end) {
        const int64_t window = std::min(end - pos, kSendFileWindow);
        if (pos > offset) {
          absl::StatusOr<int> fd = blob->PrepareSendFile(pos, window);
          if (!fd.ok()) return BlobFailedMidBody(fd.status(), entry);
          file_fd = *fd;
        }
        const int64_t before = pos;
        SendFileAll(socket_, file_fd, &pos, window, ec);
        entry.response_bytes += pos - before;
        if (ec == boost::asio::error::eof) {
          return BlobFailedMidBody(absl::DataLossError("the blob file ended early"), entry);
        }
        if (ec) return WriteFailed(ec, entry);
      }
      if (cork) socket_.SetCork(false);  // sends the last partial segment
      return true;
    }

    // Copy through a buffer: TLS, or a reader without a file.
    if (!copy_buffer_) copy_buffer_.reset(new char[kCopyBufferSize]);
    const absl::Span<char> buffer(copy_buffer_.get(), kCopyBufferSize);
    absl::StatusOr<size_t> got =
        blob->ReadAt(offset, buffer.subspan(0, std::min<int64_t>(length, kCopyBufferSize)));
    if (!got.ok()) return BlobFailedBeforeHead(got.status(), is_head, keep_alive, entry);
    if (*got == 0) {
      return BlobFailedBeforeHead(absl::DataLossError("the blob ended early"), is_head, keep_alive,
                                  entry);
    }
    const std::string head = BuildHead(status, response, content_length, keep_alive);
    boost::asio::const_buffer pieces[2] = {{head.data(), head.size()}, {copy_buffer_.get(), *got}};
    error_code ec;
    transport_.WriteAll(pieces, 2, ec);
    if (ec) return WriteFailed(ec, entry);
    int64_t pos = offset + static_cast<int64_t>(*got);
    entry.response_bytes = static_cast<int64_t>(*got);
    const int64_t end = offset + length;
    while (pos < end) {
      got = blob->ReadAt(pos, buffer.subspan(0, std::min<int64_t>(end - pos, kCopyBufferSize)));
      if (!got.ok()) return BlobFailedMidBody(got.status(), entry);
      if (*got == 0) return BlobFailedMidBody(absl::DataLossError("the blob ended early"), entry);
      boost::asio::const_buffer piece(copy_buffer_.get(), *got);
      transport_.WriteAll(&piece, 1, ec);
      if (ec) return WriteFailed(ec, entry);
      pos += static_cast<int64_t>(*got);
      entry.response_bytes += static_cast<int64_t>(*got);
    }
    return true;
  }

  bool WriteFailed(const error_code& ec, AccessLogEntry& entry) {
    entry.error = IsTimeout(ec) ? absl::StrCat("the client accepted no response data for ",
                                               absl::FormatDuration(options_.io_timeout))
                                : absl::StrCat("writing the response failed: ", ec.message());
    return false;
  }

  // The blob cannot be read where the body starts: a 500 instead (nothing promised yet).
  bool BlobFailedBeforeHead(const absl::Status& status, bool is_head, bool& keep_alive,
                            AccessLogEntry& entry) {
    entry.error = std::string(status.message());
    HttpResponse response =
        ErrorResponse(500, absl::IsDataLoss(status) ? "the stored file is damaged"
                                                    : "cannot read the stored file");
    keep_alive = false;
    const std::string keep_error = entry.error;
    bool ok = WriteResponse(is_head, response, keep_alive, entry);
    if (entry.error.empty()) entry.error = keep_error;
    return ok;
  }

  // The blob failed after the head promised its length: the connection must close.
  bool BlobFailedMidBody(const absl::Status& status, AccessLogEntry& entry) {
    entry.error = absl::StrCat("response body cut short: ", status.message());
    return false;
  }

  const ServerConfig& config_;
  const HttpServerOptions& options_;
  SocketStream socket_;
  Transport transport_;
  const std::string remote_address_;
  const bool reject_;
  ConnectionHooks& hooks_;
  boost::beast::flat_buffer buffer_;
  std::unique_ptr<char[]> copy_buffer_;
};

}  // namespace

void ServeConnection(const ServerConfig& config, int fd, const std::string& remote_address,
                     bool reject, ConnectionHooks& hooks) {
  try {
    Connection connection(config, fd, remote_address, reject, hooks);
    try {
      connection.Serve();
    } catch (const std::exception& e) {
      connection.LogFailure(absl::StrCat("connection failed: ", e.what()));
    }
  } catch (...) {
    // Nothing may escape a connection thread; there is no one left to tell.
  }
}

}  // namespace fwota::http::internal
