#include "tools/fwota/remote/http_client.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "fwota/status_macros.h"

namespace fwota::cli::remote {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

// Whole answers are JSON: pages of entities at most.
constexpr uint64_t kMaxAnswerBytes = uint64_t{256} << 20;
// How long to wait for "100 Continue" before sending the body anyway (curl waits 1 s).
constexpr int kContinueWaitMillis = 1000;
constexpr char kUserAgent[] = "fwota";

http::verb VerbOf(absl::string_view method) {
  return http::string_to_verb(boost::beast::string_view(method.data(), method.size()));
}

// A TCP socket whose reads and writes give up with net::error::timed_out after
// `timeout_millis` without progress (-1: never). The socket is non-blocking underneath and
// waits in poll(2), so the limit is on silence, not on the length of a transfer: a slow
// but moving 2 GiB download is never cut. Meets Asio's SyncReadStream and SyncWriteStream,
// so Beast and the TLS stream run on top of it.
class TimedSocket {
 public:
  using executor_type = tcp::socket::executor_type;
  using lowest_layer_type = tcp::socket::lowest_layer_type;

  TimedSocket(net::io_context& io, int timeout_millis)
      : socket_(io), timeout_millis_(timeout_millis) {}

  executor_type get_executor() { return socket_.get_executor(); }
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return socket_.lowest_layer(); }
  tcp::socket& socket() { return socket_; }

  // Tries the endpoints in order, each within the timeout. The socket stays non-blocking.
  void Connect(const tcp::resolver::results_type& endpoints, error_code& ec) {
    ec = net::error::host_not_found;
    for (const auto& entry : endpoints) {
      const tcp::endpoint endpoint = entry.endpoint();
      error_code ignored;
      socket_.close(ignored);
      socket_.open(endpoint.protocol(), ec);
      if (!ec) socket_.non_blocking(true, ec);
      if (ec) continue;
      if (::connect(socket_.native_handle(), endpoint.data(),
                    static_cast<socklen_t>(endpoint.size())) == 0) {
        ec = {};
        return;
      }
      if (errno != EINPROGRESS) {
        ec = error_code(errno, net::error::get_system_category());
        continue;
      }
      if (!Wait(POLLOUT, ec)) continue;
      int error = 0;
      socklen_t length = sizeof(error);
      if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        error = errno;
      }
      ec = error_code(error, net::error::get_system_category());
      if (!ec) return;
    }
  }

  template <typename Buffers>
  size_t read_some(const Buffers& buffers, error_code& ec) {
    return Retry(POLLIN, ec, [&] { return socket_.read_some(buffers, ec); });
  }
  template <typename Buffers>
  size_t read_some(const Buffers& buffers) {
    error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <typename Buffers>
  size_t write_some(const Buffers& buffers, error_code& ec) {
    return Retry(POLLOUT, ec, [&] { return socket_.write_some(buffers, ec); });
  }
  template <typename Buffers>
  size_t write_some(const Buffers& buffers) {
    error_code ec;
    const size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  template <typename Op>
  size_t Retry(short events, error_code& ec, const Op& op) {
    for (;;) {
      const size_t n = op();
      if (ec != net::error::would_block && ec != net::error::try_again) return n;
      if (!Wait(events, ec)) return 0;
    }
  }

  // Whether the socket became ready for `events` in time; else `ec` says why.
  bool Wait(short events, error_code& ec) {
    pollfd p{socket_.native_handle(), events, 0};
    int r;
    do {
      r = ::poll(&p, 1, timeout_millis_);
    } while (r < 0 && errno == EINTR);
    if (r > 0) return true;
    ec = r == 0 ? error_code(net::error::timed_out)
                : error_code(errno, net::error::get_system_category());
    return false;
  }

  tcp::socket socket_;
  const int timeout_millis_;
};

// An error's text for messages; a timeout names the limit and the flag that sets it.
std::string DescribeError(const error_code& ec, int timeout_seconds) {
  if (ec == net::error::timed_out) {
    return absl::StrCat("no answer from the server for ", timeout_seconds,
                        " s (--timeout sets the limit)");
  }
  return ec.message();
}

// A failure before any byte of the answer arrived on a reused connection: the server
// closed it while it was idle, and the request may be sent again.
bool IsStaleConnection(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

}  // namespace

// One TCP connection, with TLS on top when the URL says https. Not thread-safe.
class HttpClient::Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const HttpClientOptions& options) {
    std::unique_ptr<Connection> c(new Connection(options.timeout_seconds));
    const ServerUrl& url = options.server;
    auto cannot = [&](absl::string_view why) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", url.text, ": ", why));
    };
    error_code ec;
    tcp::resolver resolver(c->io_);
    tcp::resolver::results_type endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) return cannot(ec.message());
    c->socket_.Connect(endpoints, ec);
    if (ec) return cannot(c->Describe(ec));
    c->socket_.socket().set_option(tcp::no_delay(true), ec);
    if (!url.tls) return c;

    c->ssl_context_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                    ssl::context::no_tlsv1_1,
                                ec);
    if (options.insecure) {
      c->ssl_context_.set_verify_mode(ssl::verify_none, ec);
    } else {
      c->ssl_context_.set_default_verify_paths(ec);
      if (ec) return cannot(absl::StrCat("cannot load the system CA certificates: ", ec.message()));
      c->ssl_context_.set_verify_mode(ssl::verify_peer, ec);
    }
    c->tls_ = std::make_unique<ssl::stream<TimedSocket&>>(c->socket_, c->ssl_context_);
    if (!options.insecure) c->tls_->set_verify_callback(ssl::host_name_verification(url.host));
    error_code not_ip;
    net::ip::make_address(url.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(c->tls_->native_handle(), url.host.c_str());  // SNI
    c->tls_->handshake(ssl::stream_base::client, ec);
    if (ec) {
      const long verify = SSL_get_verify_result(c->tls_->native_handle());
      if (!options.insecure && verify != X509_V_OK) {
        return cannot(absl::StrCat("TLS certificate verification failed: ",
                                   X509_verify_cert_error_string(verify),
                                   " (pass --insecure to accept a self-signed certificate)"));
      }
      return cannot(absl::StrCat("TLS handshake failed: ", c->Describe(ec)));
    }
    return c;
  }

  // Calls fn(stream) with the TLS stream or the plain socket.
  template <typename Fn>
  void Visit(Fn&& fn) {
    if (tls_) {
      fn(*tls_);
    } else {
      fn(socket_);
    }
  }

  boost::beast::flat_buffer& buffer() { return buffer_; }

  std::string Describe(const error_code& ec) const { return DescribeError(ec, timeout_seconds_); }

  // Whether answer bytes are waiting, or arrive within `timeout_millis`. Over TLS the
  // socket may also be readable for TLS records that carry no data (session tickets),
  // so this is a hint there, not a promise.
  bool WaitReadable(int timeout_millis) {
    if (buffer_.size() > 0) return true;
    pollfd p{socket_.socket().native_handle(), POLLIN, 0};
    int r;
    do {
      r = ::poll(&p, 1, timeout_millis);
    } while (r < 0 && errno == EINTR);
    return r > 0;
  }

  bool tls() const { return tls_ != nullptr; }

  // Requests answered on this connection so far.
  int answered = 0;

 private:
  explicit Connection(int timeout_seconds)
      : timeout_seconds_(timeout_seconds),
        socket_(io_, timeout_seconds > 0 ? timeout_seconds * 1000 : -1) {}

  const int timeout_seconds_;
  // Declaration order is destruction order in reverse: the TLS stream goes first.
  net::io_context io_;
  ssl::context ssl_context_{ssl::context::tls_client};
  TimedSocket socket_;
  std::unique_ptr<ssl::stream<TimedSocket&>> tls_;
  boost::beast::flat_buffer buffer_;
};

namespace {

template <typename Body>
void SetCommonHeaders(http::request<Body>& request, const HttpClientOptions& options) {
  request.set(http::field::host, options.server.host_header);
  request.set(http::field::user_agent, kUserAgent);
  for (const auto& [name, value] : options.headers) request.set(name, value);
}

// Reads one final answer (skipping 1xx ones). `got_some`: whether any byte arrived.
absl::StatusOr<HttpAnswer> ReadAnswer(HttpClient::Connection& c, bool& keep_alive,
                                      bool& got_some, error_code& ec) {
  for (;;) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    c.Visit([&](auto& stream) { http::read(stream, c.buffer(), parser, ec); });
    got_some = got_some || parser.got_some();
    if (ec) return absl::UnavailableError(ec.message());
    if (parser.get().result_int() / 100 == 1) continue;
    keep_alive = parser.get().keep_alive();
    HttpAnswer answer;
    answer.status = parser.get().result_int();
    answer.body = std::move(parser.get().body());
    return answer;
  }
}

// Reads one answer: nullopt for an interim (1xx) one, else the whole final answer.
std::optional<HttpAnswer> ReadInterimOrFinal(HttpClient::Connection& c, bool& got_some,
                                             error_code& ec) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  c.Visit([&](auto& stream) { http::read_header(stream, c.buffer(), parser, ec); });
  got_some = parser.got_some();
  if (ec || parser.get().result_int() / 100 == 1) return std::nullopt;
  c.Visit([&](auto& stream) { http::read(stream, c.buffer(), parser, ec); });
  if (ec) return std::nullopt;
  HttpAnswer answer;
  answer.status = parser.get().result_int();
  answer.body = std::move(parser.get().body());
  return answer;
}

class StreamImpl : public ResponseStream {
 public:
  explicit StreamImpl(std::unique_ptr<HttpClient::Connection> connection)
      : connection_(std::move(connection)) {}

  // Reads the head (after any 1xx answers). `ec` set on failure.
  void ReadHead(error_code& ec) {
    for (;;) {
      parser_ = std::make_unique<http::response_parser<http::buffer_body>>();
      parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
      connection_->Visit(
          [&](auto& stream) { http::read_header(stream, connection_->buffer(), *parser_, ec); });
      if (ec || parser_->get().result_int() / 100 != 1) return;
    }
  }

  int status() const override { return parser_->get().result_int(); }

  int64_t content_length() const override {
    const boost::optional<std::uint64_t> length = parser_->content_length();
    return length ? static_cast<int64_t>(*length) : -1;
  }

  std::string header(absl::string_view name) const override {
    auto it = parser_->get().find(boost::beast::string_view(name.data(), name.size()));
    if (it == parser_->get().end()) return "";
    return std::string(it->value());
  }

  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    if (parser_->is_done() || out.empty()) return 0;
    http::buffer_body::value_type& body = parser_->get().body();
    body.data = out.data();
    body.size = out.size();
    error_code ec;
    connection_->Visit(
        [&](auto& stream) { http::read(stream, connection_->buffer(), *parser_, ec); });
    if (ec == http::error::need_buffer) ec = {};
    const size_t got = out.size() - body.size;
    body.data = nullptr;
    body.size = 0;
    received_ += static_cast<int64_t>(got);
    if (ec == http::error::partial_message || ec == net::error::eof ||
        ec == ssl::error::stream_truncated) {
      return absl::AbortedError(absl::StrCat(
          "the server closed the connection in the middle of the response body (after ",
          received_, " bytes)"));
    }
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("reading the response failed: ", connection_->Describe(ec)));
    }
    return got;
  }

 private:
  std::unique_ptr<HttpClient::Connection> connection_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  int64_t received_ = 0;
};

}  // namespace

absl::StatusOr<std::string> ResponseStream::ReadRest(size_t limit) {
  std::string out;
  char buffer[16 * 1024];
  while (out.size() < limit) {
    FWOTA_ASSIGN_OR_RETURN(size_t n, Read(absl::MakeSpan(buffer, sizeof(buffer))));
    if (n == 0) break;
    out.append(buffer, std::min(n, limit - out.size()));
  }
  return out;
}

absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view url) {
  ServerUrl out;
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --server \"", url, "\": ", why,
                     " (expected http://HOST[:PORT] or https://HOST[:PORT])"));
  };
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "https://")) {
    out.tls = true;
  } else if (!absl::ConsumePrefix(&rest, "http://")) {
    return invalid("unknown scheme");
  }
  while (absl::ConsumeSuffix(&rest, "/")) {
  }
  if (rest.find_first_of("/?#@") != absl::string_view::npos) {
    return invalid("a path, query or user name is not supported");
  }
  if (rest.empty()) return invalid("no host");
  out.host_header = std::string(rest);
  absl::string_view host = rest;
  absl::string_view port;
  if (rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) return invalid("unterminated IPv6 address");
    host = rest.substr(1, close - 1);
    absl::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return invalid("junk after the IPv6 address");
      port = after.substr(1);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != absl::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return invalid("no host");
  int port_number = 0;
  if (!port.empty() && (!absl::SimpleAtoi(port, &port_number) || port_number <= 0 ||
                        port_number > 65535)) {
    return invalid("bad port");
  }
  out.host = std::string(host);
  out.port = port.empty() ? (out.tls ? "443" : "80") : std::string(port);
  out.text = absl::StrCat(out.tls ? "https://" : "http://", out.host_header);
  return out;
}

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) {}
HttpClient::~HttpClient() = default;

absl::StatusOr<HttpClient::Connection*> HttpClient::Connect() {
  if (connection_ == nullptr) {
    FWOTA_ASSIGN_OR_RETURN(connection_, Connection::Open(options_));
  }
  return connection_.get();
}

absl::Status HttpClient::TransportError(absl::string_view method, absl::string_view target,
                                        absl::string_view what) const {
  const size_t question = target.find('?');
  return absl::UnavailableError(absl::StrCat(method, " ", options_.server.text,
                                             target.substr(0, question), " failed: ", what));
}

absl::StatusOr<HttpAnswer> HttpClient::Send(absl::string_view method, absl::string_view target,
                                            absl::string_view content_type,
                                            absl::string_view body) {
  http::request<http::string_body> request(VerbOf(method),
                                           boost::beast::string_view(target.data(), target.size()),
                                           11);
  SetCommonHeaders(request, options_);
  request.set(http::field::accept, "application/json");
  if (!content_type.empty()) {
    request.set(http::field::content_type,
                boost::beast::string_view(content_type.data(), content_type.size()));
    request.body() = std::string(body);
  }
  request.keep_alive(true);
  request.prepare_payload();
  for (int attempt = 0;; ++attempt) {
    FWOTA_ASSIGN_OR_RETURN(Connection * c, Connect());
    const bool reused = c->answered > 0;
    error_code ec;
    c->Visit([&](auto& stream) { http::write(stream, request, ec); });
    bool keep_alive = false;
    bool got_some = false;
    absl::StatusOr<HttpAnswer> answer;
    if (!ec) answer = ReadAnswer(*c, keep_alive, got_some, ec);
    if (!ec) {
      ++c->answered;
      if (!keep_alive) connection_.reset();
      return answer;
    }
    connection_.reset();
    if (reused && attempt == 0 && !got_some && IsStaleConnection(ec)) continue;
    return TransportError(method, target, DescribeError(ec, options_.timeout_seconds));
  }
}

absl::StatusOr<HttpAnswer> HttpClient::SendStreaming(absl::string_view method,
                                                     absl::string_view target,
                                                     absl::string_view content_type,
                                                     int64_t content_length,
                                                     const BodyWriter& body) {
  http::request<http::empty_body> request(VerbOf(method),
                                          boost::beast::string_view(target.data(), target.size()),
                                          11);
  SetCommonHeaders(request, options_);
  request.set(http::field::accept, "application/json");
  request.set(http::field::content_type,
              boost::beast::string_view(content_type.data(), content_type.size()));
  request.set(http::field::expect, "100-continue");
  request.keep_alive(true);
  const bool chunked = content_length < 0;
  if (chunked) {
    request.chunked(true);
  } else {
    request.content_length(static_cast<uint64_t>(content_length));
  }

  // Up to the server's go-ahead nothing of the body is sent, so a stale keep-alive
  // connection may be replaced once.
  Connection* c = nullptr;
  std::optional<HttpAnswer> early;  // a final answer before the body was done
  for (int attempt = 0;; ++attempt) {
    FWOTA_ASSIGN_OR_RETURN(c, Connect());
    const bool reused = c->answered > 0;
    error_code ec;
    http::request_serializer<http::empty_body> serializer(request);
    c->Visit([&](auto& stream) { http::write_header(stream, serializer, ec); });
    bool got_some = false;
    if (!ec && c->WaitReadable(kContinueWaitMillis)) {
      early = ReadInterimOrFinal(*c, got_some, ec);
    }
    if (!ec) break;
    connection_.reset();
    if (reused && attempt == 0 && !got_some && IsStaleConnection(ec)) continue;
    return TransportError(method, target, DescribeError(ec, options_.timeout_seconds));
  }

  // The body. On a plain socket that turns readable meanwhile, the server has answered
  // early (a refusal; a late "100 Continue" is skipped): stop sending and take that answer.
  error_code write_error;
  absl::Status body_status;
  if (!early.has_value()) {
    body_status = body([&](absl::string_view piece) -> absl::Status {
      if (piece.empty()) return absl::OkStatus();
      if (!c->tls() && c->WaitReadable(0)) {
        bool got_some = false;
        early = ReadInterimOrFinal(*c, got_some, write_error);
        if (write_error) return absl::UnavailableError(write_error.message());
        if (early.has_value()) return absl::CancelledError("answered early");
      }
      std::string chunk_head;
      if (chunked) chunk_head = absl::StrFormat("%x\r\n", piece.size());
      const std::array<net::const_buffer, 3> pieces = {
          net::buffer(chunk_head), net::buffer(piece.data(), piece.size()),
          net::buffer(chunked ? "\r\n" : "", chunked ? 2 : 0)};
      c->Visit([&](auto& stream) { net::write(stream, pieces, write_error); });
      if (write_error) return absl::UnavailableError(write_error.message());
      return absl::OkStatus();
    });
  }
  if (early.has_value()) {
    connection_.reset();  // the body announced was not (all) sent
    return *std::move(early);
  }
  if (!body_status.ok() && !write_error) {
    connection_.reset();  // the server sees a body cut short
    return body_status;
  }
  if (body_status.ok() && chunked) {
    c->Visit([&](auto& stream) { net::write(stream, net::buffer("0\r\n\r\n", 5), write_error); });
  }
  // The answer, also after a failed write: the server may have refused and closed.
  bool keep_alive = false;
  bool got_some = false;
  error_code ec;
  absl::StatusOr<HttpAnswer> answer = ReadAnswer(*c, keep_alive, got_some, ec);
  if (ec) {
    connection_.reset();
    return TransportError(method, target,
                          write_error ? absl::StrCat("sending the body: ",
                                                     DescribeError(write_error,
                                                                   options_.timeout_seconds))
                                      : DescribeError(ec, options_.timeout_seconds));
  }
  ++c->answered;
  if (!keep_alive || write_error) connection_.reset();
  return answer;
}

absl::StatusOr<std::unique_ptr<ResponseStream>> HttpClient::Open(
    absl::string_view target, const std::vector<std::pair<std::string, std::string>>& headers) {
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Connection::Open(options_));
  http::request<http::empty_body> request(
      http::verb::get, boost::beast::string_view(target.data(), target.size()), 11);
  SetCommonHeaders(request, options_);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.keep_alive(false);
  error_code ec;
  c->Visit([&](auto& stream) { http::write(stream, request, ec); });
  if (ec) return TransportError("GET", target, DescribeError(ec, options_.timeout_seconds));
  auto stream = std::make_unique<StreamImpl>(std::move(c));
  stream->ReadHead(ec);
  if (ec) return TransportError("GET", target, DescribeError(ec, options_.timeout_seconds));
  return stream;
}

}  // namespace fwota::cli::remote
