// The HTTP adapter's plain values: a request as the mapping sees it and the response it
// returns. No Beast or Asio type appears here, so the mapping (routes -> OtaService) is
// testable and fuzzable without a socket, and another backend could carry it.
#ifndef FWOTA_ADAPTERS_HTTP_HTTP_MESSAGE_H_
#define FWOTA_ADAPTERS_HTTP_HTTP_MESSAGE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "fwota/blob_store.h"
#include "fwota/byte_source.h"

namespace fwota::http {

// One parsed request head. Header names are lowercase; repeated headers are joined with
// ", " (as RFC 9110 allows for list-valued fields).
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: path plus optional "?query"
  std::string path;    // percent-decoded path, without the query
  // Decoded query parameters in order of appearance (a key may repeat).
  std::vector<std::pair<std::string, std::string>> query;
  std::map<std::string, std::string> headers;
  // -1 when the request has no Content-Length (chunked, or no body).
  int64_t content_length = -1;
  std::string remote_address;  // "ip:port", for logs

  // The first value of query parameter `key`, or nullptr.
  const std::string* Query(absl::string_view key) const;
  // The header `name` (lowercase), or nullptr.
  const std::string* Header(absl::string_view name) const;
};

// A response body served from a blob, by range, without holding it in memory.
struct BlobBody {
  std::shared_ptr<BlobReader> reader;
  int64_t offset = 0;
  int64_t length = 0;
};

struct HttpResponse {
  int status = 200;
  // Header name -> value; Content-Length is set by the backend from the body.
  std::vector<std::pair<std::string, std::string>> headers;
  // Exactly one of these carries the body: `body` (small, in memory) or `blob` (set when
  // blob.reader is not null).
  std::string body;
  BlobBody blob;
  // Why the server failed (a 5xx), for its access log; not sent.
  std::string log_error;

  void SetHeader(std::string name, std::string value);
  const std::string* Header(absl::string_view name) const;  // case-insensitive
};

// What the backend hands to the mapping: the request head, and the body as a stream the
// handler reads as far as it wants (a handler that does not read it all makes the
// backend close the connection after the response, rather than read the rest).
// Handlers run on the connection's thread and may block (store calls, uploads).
using HttpHandler = std::function<HttpResponse(const HttpRequest& request, ByteSource& body)>;

// Splits "a=1&b=%20x&c" into decoded pairs ("+" is a space in queries). Malformed
// percent escapes are kept literally. Returns false when the query is unreasonably
// large (more than `max_pairs` pairs).
bool ParseQuery(absl::string_view query, std::vector<std::pair<std::string, std::string>>& out,
                size_t max_pairs = 256);

// Percent-decodes a path. Returns false for an escape that decodes to NUL or a "/"
// (%2F), which could hide a path separator, or for a malformed escape.
bool DecodePath(absl::string_view raw, std::string& out);

}  // namespace fwota::http

#endif  // FWOTA_ADAPTERS_HTTP_HTTP_MESSAGE_H_
