// The command line's remote mode: an OtaService whose calls go to a running fwotad over
// its admin REST API (ThingsBoard's paths), so every fwota command runs unchanged against
// a server and prints what it prints on a data directory.
//
// How the calls map (see docs/api.md for the paths):
// - Profiles and devices by id: GET .../{id}; by name: a listing with textSearch and an
//   exact match, as the embedded lookup falls back from id to name. A device read this
//   way also carries its access token (GET /api/device/{id}/credentials).
// - Assignment reads the device or profile, sets firmwareId / softwareId and posts it
//   back, as ThingsBoard's UI does.
// - CreatePackageWithData posts the info, then uploads the data (multipart part `file`,
//   streamed from the source in 1 MiB pieces with Content-Length computed up front, or
//   chunked when the size is unknown); when the upload fails it deletes the info again,
//   so the command stays all or nothing.
// - OpenPackageData streams GET /api/otaPackage/{id}/download (reopening with Range when
//   read out of order); VerifyPackage downloads everything to nowhere and checks the
//   package's checksum and the SHA-256 ETag: kDataLoss when they differ or the server
//   cuts the body short.
// - A reference the server would refuse as "Invalid UUID string" (a name that matched
//   nothing) is sent as the nil UUID, so that the answer is the core's own message
//   ("Can't assign non-existent firmware!", "OtaPackage is referencing to non-existent
//   device profile!"), as in embedded mode.
// - The update process's reads: GET /api/device/{id}/otaStatus and /otaHistory,
//   /api/ota/stats and /api/ota/devices.
// - Errors come back through http_status.h with the codes embedded mode returns.
// Tenant, API key and device-facing calls are kUnimplemented: the command line refuses
// those commands in remote mode before they get here. The TenantContext arguments are
// ignored: the API key decides the tenant.
//
// Not thread-safe (one keep-alive connection), unlike the embedded service.
#ifndef FWOTA_TOOLS_FWOTA_REMOTE_REMOTE_OTA_SERVICE_H_
#define FWOTA_TOOLS_FWOTA_REMOTE_REMOTE_OTA_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fwota/ota_service.h"

namespace fwota::cli::remote {

struct RemoteServiceOptions {
  // http://host[:port] or https://host[:port]. Required.
  std::string server_url;
  // The administrator API key (X-Authorization: Bearer). Required.
  std::string api_key;
  // Accept any TLS certificate. Default: verify against the system CA store.
  bool insecure = false;
  // Seconds of silence from the server (connecting, sending or receiving) after which a
  // call fails with kUnavailable; 0: no limit. Negative: kInvalidArgument.
  int timeout_seconds = 120;
};

// kInvalidArgument for a malformed URL. Connects on the first call, not here.
absl::StatusOr<std::unique_ptr<OtaService>> NewRemoteOtaService(RemoteServiceOptions options);

}  // namespace fwota::cli::remote

#endif  // FWOTA_TOOLS_FWOTA_REMOTE_REMOTE_OTA_SERVICE_H_
