// The HTTP mapping: ThingsBoard's admin REST API and device HTTP API over OtaService, as
// one HttpHandler. Pure request -> service call -> response: no sockets, so it is tested
// and fuzzed by calling the handler directly; the backend (http_server.h) carries it.
#ifndef FWOTA_ADAPTERS_HTTP_OTA_HTTP_API_H_
#define FWOTA_ADAPTERS_HTTP_OTA_HTTP_API_H_

#include <cstdint>

#include "adapters/http/attribute_updates.h"
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
  // Where long polls (GET /api/v1/{token}/attributes/updates) wait for notices; wire it
  // into the service's Notifier. Null: long polls answer 408 after their timeout with no
  // notice ever arriving. Must outlive the handler.
  AttributeUpdateHub* attribute_updates = nullptr;
  // Long-poll timeout when the device gives none (or 0), and the largest it may ask for.
  int64_t default_long_poll_ms = 30000;
  int64_t max_long_poll_ms = 600000;
};

// `service` must outlive the handler. Thread-safe (the handler may run on many
// connection threads at once).
HttpHandler NewOtaHttpApi(OtaService& service, const OtaHttpApiOptions& options = {});

}  // namespace fwota::http

#endif  // FWOTA_ADAPTERS_HTTP_OTA_HTTP_API_H_
