// The HTTP mapping: ThingsBoard's admin REST API and device HTTP API over OtaService, as
// one HttpHandler. Pure request -> service call -> response: no sockets, so it is tested
// and fuzzed by calling the handler directly; the backend (http_server.h) carries it.
#ifndef FWOTA_ADAPTERS_HTTP_OTA_HTTP_API_H_
#define FWOTA_ADAPTERS_HTTP_OTA_HTTP_API_H_

#include <cstdint>

#include "adapters/http/http_message.h"
#include "fwota/ota_service.h"

namespace fwota::http {

struct OtaHttpApiOptions {
  // Largest JSON request body (package info, device, profile, telemetry). Default 1 MiB.
  int64_t max_json_body = 1 << 20;
  // Largest chunk a device may ask for with ?size= (bigger asks get 400). Default 16 MiB.
  int64_t max_chunk_size = 16 << 20;
  // Multipart envelope allowance beyond the service's package limit. Default 64 KiB.
  int64_t max_multipart_overhead = 64 << 10;
};

// `service` must outlive the handler. Thread-safe (the handler may run on many
// connection threads at once).
HttpHandler NewOtaHttpApi(OtaService& service, const OtaHttpApiOptions& options = {});

}  // namespace fwota::http

#endif  // FWOTA_ADAPTERS_HTTP_OTA_HTTP_API_H_
