// A small synchronous HTTP/1.1 client for the command line's remote mode: one keep-alive
// connection for JSON calls, streamed request bodies (uploads) and streamed response
// bodies (downloads), over TCP or TLS. Built on Boost.Beast and OpenSSL, which stay in
// http_client.cc. A server silent for longer than the timeout (connecting, sending or
// receiving) ends the call with kUnavailable naming the limit.
#ifndef FWOTA_TOOLS_FWOTA_REMOTE_HTTP_CLIENT_H_
#define FWOTA_TOOLS_FWOTA_REMOTE_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fwota::cli::remote {

// A server's base URL: http://host[:port] or https://host[:port] (IPv6 in brackets); a
// trailing "/" is ignored, a path is refused.
struct ServerUrl {
  bool tls = false;
  std::string host;         // without brackets
  std::string port;         // "80" / "443" when not given
  std::string host_header;  // the Host header: host[:port] as given
  std::string text;         // the URL for messages, without a trailing "/"
};

// kInvalidArgument (a usage mistake) for anything that is not such a URL.
absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view url);

struct HttpClientOptions {
  ServerUrl server;
  // Accept any TLS certificate (self-signed servers). Default: verify against the system
  // CA store and the URL's host name.
  bool insecure = false;
  // Seconds without progress after which connecting, a read or a write gives up (an idle
  // limit: a long transfer that keeps moving is never cut). 0: wait forever.
  int timeout_seconds = 120;
  // Sent with every request (the API key header).
  std::vector<std::pair<std::string, std::string>> headers;
};

// A whole, small response.
struct HttpAnswer {
  int status = 0;
  std::string body;
};

// Writes one piece of a request body; an error stops the body.
using BodySink = std::function<absl::Status(absl::string_view piece)>;
// Produces a request body by calling the sink for each piece, in order.
using BodyWriter = std::function<absl::Status(const BodySink& sink)>;

// A response whose body is read as it arrives. Owns its connection. Not thread-safe.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual int status() const = 0;
  // The Content-Length, or -1 when the body is chunked or ends with the connection.
  virtual int64_t content_length() const = 0;
  // A response header's value ("" when absent); `name` is case-insensitive.
  virtual std::string header(absl::string_view name) const = 0;
  // Up to out.size() bytes of the body (fewer only at its end); 0 once it is complete.
  // kAborted when the connection ends before the body does; kUnavailable for other
  // network errors.
  virtual absl::StatusOr<size_t> Read(absl::Span<char> out) = 0;
  // The rest of the body, up to `limit` bytes (for error answers).
  absl::StatusOr<std::string> ReadRest(size_t limit);
};

// Not thread-safe: one command uses one client.
class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();

  const ServerUrl& server() const { return options_.server; }

  // One request with a small body (`content_type` empty: none) and the whole response
  // (at most 256 MiB). A keep-alive connection the server has closed meanwhile is
  // reopened once, transparently. kUnavailable "cannot connect to URL: ..." when the
  // server cannot be reached, TLS failures included.
  absl::StatusOr<HttpAnswer> Send(absl::string_view method, absl::string_view target,
                                  absl::string_view content_type = "",
                                  absl::string_view body = "");

  // A request whose body of `content_length` bytes (-1: unknown, sent chunked) comes
  // from `body`, piece by piece, after the server's "100 Continue" (or a one-second wait
  // for servers that do not send it). A final answer that comes before the body is done
  // (a refusal) ends the upload early. Errors of `body` are returned as they are.
  absl::StatusOr<HttpAnswer> SendStreaming(absl::string_view method, absl::string_view target,
                                           absl::string_view content_type,
                                           int64_t content_length, const BodyWriter& body);

  // A GET on a connection of its own, with `headers` added, that returns once the
  // response head has arrived.
  absl::StatusOr<std::unique_ptr<ResponseStream>> Open(
      absl::string_view target, const std::vector<std::pair<std::string, std::string>>& headers);

  // Not API: the connection type of http_client.cc.
  class Connection;

 private:
  absl::StatusOr<Connection*> Connect();
  absl::Status TransportError(absl::string_view method, absl::string_view target,
                              absl::string_view what) const;

  const HttpClientOptions options_;
  std::unique_ptr<Connection> connection_;  // the keep-alive one; null when closed
};

}  // namespace fwota::cli::remote

#endif  // FWOTA_TOOLS_FWOTA_REMOTE_HTTP_CLIENT_H_
