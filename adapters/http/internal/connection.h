// Internal to the HTTP backend: serving one accepted connection on the calling thread,
// request after request, until the peer closes, a timeout, an error, or the server
// stops.
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_CONNECTION_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_CONNECTION_H_

#include <string>

#include "adapters/http/http_message.h"
#include "adapters/http/http_server.h"
#include "adapters/http/internal/transport.h"

namespace fwota::http::internal {

// What every connection of one server shares. Read-only while connections run.
struct ServerConfig {
  HttpServerOptions options;
  HttpHandler handler;
  TlsContext* tls = nullptr;  // null: plain HTTP. Owned by the server.
};

// How a connection tells its server where it is, so Shutdown can close idle connections
// at once and give busy ones their grace period. Called on the connection's thread.
class ConnectionHooks {
 public:
  virtual ~ConnectionHooks() = default;
  // Before waiting for the next request: false when the server is stopping (the
  // connection then closes).
  virtual bool OnIdle() = 0;
  // A request head has arrived; the connection is busy until the next OnIdle.
  virtual void OnBusy() = 0;
  // True once the server is stopping (responses then carry "Connection: close").
  virtual bool Stopping() = 0;
};

// Serves the connected socket `fd` (which the caller owns and closes afterwards). With
// `reject` set, every request is answered 503 and the connection closed (the server is
// at max_connections). Never throws.
void ServeConnection(const ServerConfig& config, int fd, const std::string& remote_address,
                     bool reject, ConnectionHooks& hooks);

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_CONNECTION_H_
