// The route handlers of the HTTP mapping. ota_http_api.cc matches the path and method,
// authenticates and checks path ids, then calls one of these with a RouteCall. Each
// handler returns its response (errors included) and throws nothing of its own. Not API.
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_OTA_ROUTES_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_OTA_ROUTES_H_

#include <string>
#include <vector>

#include "adapters/http/http_message.h"
#include "adapters/http/ota_http_api.h"
#include "fwota/ota_service.h"

namespace fwota::http::internal {

// What every handler shares. `service` outlives it.
struct ApiContext {
  OtaService& service;
  OtaHttpApiOptions options;
};

// One matched request.
struct RouteCall {
  const HttpRequest& request;
  ByteSource& body;
  // The authenticated tenant of an admin route; null for device routes.
  const TenantContext* tenant = nullptr;
  // The path's {placeholders} in order: UUIDs already checked and lowercased, device
  // tokens as they came.
  std::vector<std::string> params;
};

using RouteHandler = HttpResponse (*)(const ApiContext& api, const RouteCall& call);

// ---- Admin REST API (ota_admin_routes.cc): ThingsBoard's paths and shapes ----
// Packages.
HttpResponse SavePackageInfo(const ApiContext& api, const RouteCall& call);      // POST otaPackage
HttpResponse UploadPackage(const ApiContext& api, const RouteCall& call);        // POST otaPackage/{id}
HttpResponse GetPackage(const ApiContext& api, const RouteCall& call);           // GET otaPackage[/info]/{id}
HttpResponse DownloadPackage(const ApiContext& api, const RouteCall& call);      // GET otaPackage/{id}/download
HttpResponse DeletePackage(const ApiContext& api, const RouteCall& call);        // DELETE otaPackage/{id}
HttpResponse ListPackages(const ApiContext& api, const RouteCall& call);         // GET otaPackages
HttpResponse ListProfilePackages(const ApiContext& api, const RouteCall& call);  // GET otaPackages/{id}/{type}
// Device profiles.
HttpResponse SaveProfile(const ApiContext& api, const RouteCall& call);
HttpResponse GetProfile(const ApiContext& api, const RouteCall& call);
HttpResponse DeleteProfile(const ApiContext& api, const RouteCall& call);
HttpResponse ListProfiles(const ApiContext& api, const RouteCall& call);
// Devices.
HttpResponse SaveDevice(const ApiContext& api, const RouteCall& call);
HttpResponse GetDevice(const ApiContext& api, const RouteCall& call);
HttpResponse GetDeviceCredentials(const ApiContext& api, const RouteCall& call);
HttpResponse DeleteDevice(const ApiContext& api, const RouteCall& call);
HttpResponse ListDevices(const ApiContext& api, const RouteCall& call);
// Audit log, and ours: update status, history, explain.
HttpResponse ListAudit(const ApiContext& api, const RouteCall& call);
HttpResponse GetOtaStatus(const ApiContext& api, const RouteCall& call);
HttpResponse ListOtaHistory(const ApiContext& api, const RouteCall& call);
HttpResponse ExplainDevice(const ApiContext& api, const RouteCall& call);
HttpResponse GetOtaStats(const ApiContext& api, const RouteCall& call);      // GET ota/stats
HttpResponse ListOtaDevices(const ApiContext& api, const RouteCall& call);   // GET ota/devices

// ---- Device HTTP API (ota_device_routes.cc), params[0] = access token ----
HttpResponse GetDeviceFirmware(const ApiContext& api, const RouteCall& call);
HttpResponse GetDeviceSoftware(const ApiContext& api, const RouteCall& call);
HttpResponse GetDeviceAttributes(const ApiContext& api, const RouteCall& call);
HttpResponse PostDeviceTelemetry(const ApiContext& api, const RouteCall& call);
// GET v1/{token}/attributes/updates?timeout=MS: ThingsBoard's long poll.
HttpResponse WaitDeviceAttributeUpdates(const ApiContext& api, const RouteCall& call);

// ---- Shared by both downloads (ota_device_routes.cc) ----
// The bytes of `package` from `reader`, with Content-Disposition / x-filename,
// `content_type`, a strong ETag (its SHA-256) and Accept-Ranges. `chunk_size` > 0 serves
// ThingsBoard's chunk `chunk` (200, empty past the end) and ignores Range; otherwise
// If-None-Match (304), Range and If-Range (206 / 416 / 200) apply to the whole file.
HttpResponse ServePackageBytes(const HttpRequest& request, std::shared_ptr<BlobReader> reader,
                               const OtaPackage& package, absl::string_view content_type,
                               int64_t chunk_size, int64_t chunk);

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_OTA_ROUTES_H_
