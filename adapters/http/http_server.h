// The HTTP/1.1 backend: Boost.Beast on Boost.Asio, blocking I/O with one thread per
// connection (handlers may block on the store or stream an upload), optional TLS through
// OpenSSL. It parses requests (with limits), hands each to an HttpHandler with the body
// as a ByteSource, and writes the HttpResponse, streaming blob bodies by range (with
// sendfile when the blob reader offers a file descriptor and TLS is off).
#ifndef FWOTA_ADAPTERS_HTTP_HTTP_SERVER_H_
#define FWOTA_ADAPTERS_HTTP_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/http/http_message.h"

namespace fwota::http {

// One finished request, for the access log.
struct AccessLogEntry {
  std::string remote_address;
  std::string method;
  std::string target;
  int status = 0;
  int64_t request_bytes = 0;   // body bytes read
  int64_t response_bytes = 0;  // body bytes written
  absl::Duration duration;
  std::string error;  // set when the connection failed (timeout, reset, bad request)
};

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // "0.0.0.0" / "::" to listen everywhere
  int port = 8080;                     // 0: any free port (see HttpServer::port())
  size_t max_header_bytes = 16 * 1024;  // request line + headers; more: 431
  int max_connections = 1024;           // more: accepted and closed with 503
  // A connection idle between requests this long is closed.
  absl::Duration keep_alive_timeout = absl::Seconds(60);
  // A request (head or body) or a response write that makes no progress this long is
  // abandoned (a stalled client cannot hold a thread forever).
  absl::Duration io_timeout = absl::Seconds(30);
  // TLS: both set = HTTPS only. PEM files.
  std::string tls_certificate_file;
  std::string tls_private_key_file;
  // Called once per request (and per failed connection) from the connection's thread.
  std::function<void(const AccessLogEntry&)> access_log;
};

// Thread-safe.
class HttpServer {
 public:
  // Binds, listens and starts accepting on a background thread. kUnavailable when the
  // address is in use; kInvalidArgument for a bad address or TLS files (or only one of
  // the two); kPermissionDenied for a port the process may not bind.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           HttpHandler handler);
  // Shuts down (as Shutdown(absl::ZeroDuration())) if still running.
  virtual ~HttpServer() = default;

  // The bound port (useful with port 0).
  virtual int port() const = 0;
  // Stops accepting, lets requests in flight finish for up to `grace`, then closes every
  // connection and joins all threads. Idempotent.
  virtual void Shutdown(absl::Duration grace) = 0;
};

}  // namespace fwota::http

#endif  // FWOTA_ADAPTERS_HTTP_HTTP_SERVER_H_
