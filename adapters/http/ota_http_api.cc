// The route table of the HTTP mapping: path and method matching (404 / 405 with Allow),
// admin authentication by API key (401), path id checks (400), and the last line of
// defence: no exception leaves the handler (500). The handlers live in internal/.
//
// Choices where ThingsBoard says nothing:
// - Order of checks: unknown path 404, wrong method 405, missing/bad API key 401, a path
//   id that is not a UUID 400, then the route's own checks (so an unauthenticated caller
//   learns nothing about ids).
// - Downloads: with ?size= > 0 (ThingsBoard's chunks) a Range header is ignored; Range and
//   If-Range apply only to whole-file requests. Several ranges in one header are ignored
//   (200 with the whole file, which RFC 7233 allows) rather than answered with
//   multipart/byteranges. If-None-Match is checked first (304) for every download, chunks
//   included: the ETag is the SHA-256 of the whole file, and a given URL's bytes never
//   change while it stays the same.
// - HEAD is not routed (405).
// - POST /api/device and /api/deviceProfile with an id: firmwareId/softwareId absent
//   keeps the assignment, null removes it; a changed name (or profile, or description),
//   which the service cannot update, is refused with 400 rather than dropped. A create
//   whose assignment fails is undone (ThingsBoard does both in one transaction).
// - Plain-body uploads: Content-Type application/x-www-form-urlencoded (curl's default for
//   --data-binary) is not taken as the package's content type.
#include "adapters/http/ota_http_api.h"

#include <algorithm>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "adapters/common/status_mapping.h"
#include "adapters/http/dashboard.h"
#include "adapters/http/internal/ota_http_util.h"
#include "adapters/http/internal/ota_routes.h"

namespace fwota::http {
namespace {

using internal::ApiContext;
using internal::RouteCall;
using internal::RouteHandler;

enum class Auth {
  kAdmin,   // X-Authorization / Authorization: Bearer <API key>
  kDevice,  // the access token in the path ({token})
};

// One route: a method and a path below "/api/" whose segments are literals or
// placeholders: "{id}" (a UUID, checked), "{token}" and "{type}" (taken as they are).
struct Route {
  const char* method;
  const char* pattern;
  Auth auth;
  RouteHandler handler;
};

// Order matters only where two patterns match the same path: the first wins
// ("otaPackage/info/{id}" before "otaPackage/{id}/download").
const Route kRoutes[] = {
    // Packages.
    {"POST", "otaPackage", Auth::kAdmin, internal::SavePackageInfo},
    {"GET", "otaPackage/info/{id}", Auth::kAdmin, internal::GetPackage},
    {"GET", "otaPackage/{id}", Auth::kAdmin, internal::GetPackage},
    {"POST", "otaPackage/{id}", Auth::kAdmin, internal::UploadPackage},
    {"DELETE", "otaPackage/{id}", Auth::kAdmin, internal::DeletePackage},
    {"GET", "otaPackage/{id}/download", Auth::kAdmin, internal::DownloadPackage},
    {"GET", "otaPackages", Auth::kAdmin, internal::ListPackages},
    {"GET", "otaPackages/{id}/{type}", Auth::kAdmin, internal::ListProfilePackages},
    // Device profiles.
    {"POST", "deviceProfile", Auth::kAdmin, internal::SaveProfile},
    {"GET", "deviceProfile/{id}", Auth::kAdmin, internal::GetProfile},
    {"DELETE", "deviceProfile/{id}", Auth::kAdmin, internal::DeleteProfile},
    {"GET", "deviceProfiles", Auth::kAdmin, internal::ListProfiles},
    // Devices.
    {"POST", "device", Auth::kAdmin, internal::SaveDevice},
    {"GET", "device/{id}", Auth::kAdmin, internal::GetDevice},
    {"DELETE", "device/{id}", Auth::kAdmin, internal::DeleteDevice},
    {"GET", "device/{id}/credentials", Auth::kAdmin, internal::GetDeviceCredentials},
    {"GET", "device/{id}/otaStatus", Auth::kAdmin, internal::GetOtaStatus},
    {"GET", "ota/stats", Auth::kAdmin, internal::GetOtaStats},
    {"GET", "ota/devices", Auth::kAdmin, internal::ListOtaDevices},
    {"GET", "device/{id}/otaHistory", Auth::kAdmin, internal::ListOtaHistory},
    {"GET", "tenant/devices", Auth::kAdmin, internal::ListDevices},
    // Audit log and explain.
    {"GET", "audit/logs", Auth::kAdmin, internal::ListAudit},
    {"GET", "explain", Auth::kAdmin, internal::ExplainDevice},
    // Device API.
    {"GET", "v1/{token}/firmware", Auth::kDevice, internal::GetDeviceFirmware},
    {"GET", "v1/{token}/software", Auth::kDevice, internal::GetDeviceSoftware},
    {"GET", "v1/{token}/attributes", Auth::kDevice, internal::GetDeviceAttributes},
    {"GET", "v1/{token}/attributes/updates", Auth::kDevice, internal::WaitDeviceAttributeUpdates},
    {"POST", "v1/{token}/telemetry", Auth::kDevice, internal::PostDeviceTelemetry},
};

constexpr absl::string_view kApiPrefix = "/api/";

// Route patterns and request paths have at most this many segments that can match.
constexpr size_t kMaxSegments = 8;
using Segments = absl::InlinedVector<absl::string_view, kMaxSegments + 1>;

// kRoutes' patterns split once into segments (views into the literals).
const std::vector<Segments>& RouteParts() {
  static const std::vector<Segments>* parts = [] {
    auto* all = new std::vector<Segments>();
    for (const Route& route : kRoutes) {
      Segments split;
      for (absl::string_view part : absl::StrSplit(route.pattern, '/')) split.push_back(part);
      all->push_back(std::move(split));
    }
    return all;
  }();
  return *parts;
}

// Matches `segments` against a pattern's `parts`; true when they match. Allocates nothing.
bool Matches(const Segments& parts, const Segments& segments) {
  if (parts.size() != segments.size()) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].empty() && parts[i][0] == '{') {
      if (segments[i].empty()) return false;
    } else if (parts[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

class OtaHttpApi {
 public:
  OtaHttpApi(OtaService& service, const OtaHttpApiOptions& options)
      : api_{service, options} {}

  HttpResponse Handle(const HttpRequest& request, ByteSource& body) const {
    try {
      return Dispatch(request, body);
    } catch (const std::exception&) {
      return InternalError();
    } catch (...) {
      return InternalError();
    }
  }

 private:
  static HttpResponse InternalError() {
    try {
      return internal::HttpError(500, "Internal server error", adapters::TbErrorCode::kGeneral);
    } catch (...) {
      HttpResponse response;
      response.status = 500;
      return response;
    }
  }

  HttpResponse Dispatch(const HttpRequest& request, ByteSource& body) const {
    absl::string_view path = request.path;
    if (!absl::StartsWith(path, kApiPrefix)) {
      // The dashboard's static files (no API key: the page's API calls carry it).
      if (std::optional<HttpResponse> page = ServeDashboard(request)) return *std::move(page);
      return NoRoute(request);
    }
    path.remove_prefix(kApiPrefix.size());
    Segments segments;
    for (absl::string_view segment : absl::StrSplit(path, '/')) {
      if (segments.size() > kMaxSegments) break;  // longer than any pattern: no match
      segments.push_back(segment);
    }

    const std::vector<Segments>& route_parts = RouteParts();
    const Route* matched = nullptr;
    const Segments* matched_parts = nullptr;
    std::vector<std::string> allowed;
    for (size_t r = 0; r < std::size(kRoutes); ++r) {
      const Route& route = kRoutes[r];
      if (!Matches(route_parts[r], segments)) continue;
      if (request.method == route.method) {
        if (matched == nullptr) {
          matched = &route;
          matched_parts = &route_parts[r];
        }
      } else if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) {
        allowed.push_back(route.method);
      }
    }
    if (matched == nullptr) {
      if (allowed.empty()) return NoRoute(request);
      HttpResponse response = internal::HttpError(
          405, absl::StrCat("Request method '", request.method.substr(0, 20), "' not supported"),
          adapters::TbErrorCode::kGeneral);
      response.SetHeader("Allow", absl::StrJoin(allowed, ", "));
      return response;
    }
    std::vector<std::string> params;
    for (size_t i = 0; i < matched_parts->size(); ++i) {
      if (!(*matched_parts)[i].empty() && (*matched_parts)[i][0] == '{') {
        params.emplace_back(segments[i]);
      }
    }

    RouteCall call{request, body, nullptr, {}};
    TenantContext tenant;
    if (matched->auth == Auth::kAdmin) {
      const std::string key = internal::BearerToken(request);
      if (key.empty()) {
        return internal::ErrorResponse(absl::UnauthenticatedError("Authentication failed"));
      }
      absl::StatusOr<TenantContext> authenticated = api_.service.AuthenticateApiKey(key);
      if (!authenticated.ok()) return internal::ErrorResponse(authenticated.status());
      tenant = *std::move(authenticated);
      call.tenant = &tenant;
    }
    // Placeholders in pattern order: check the {id} ones.
    size_t p = 0;
    for (absl::string_view part : *matched_parts) {
      if (part.empty() || part[0] != '{') continue;
      if (part == "{id}") {
        absl::StatusOr<std::string> id = internal::CheckUuid(params[p]);
        if (!id.ok()) return internal::ErrorResponse(id.status());
        params[p] = *std::move(id);
      }
      ++p;
    }
    call.params = std::move(params);
    return matched->handler(api_, call);
  }

  static HttpResponse NoRoute(const HttpRequest& request) {
    constexpr size_t kShown = 200;
    return internal::HttpError(
        404,
        absl::StrCat("No endpoint ", request.method.substr(0, 20), " ",
                     request.path.substr(0, kShown), request.path.size() > kShown ? "..." : ""),
        adapters::TbErrorCode::kItemNotFound);
  }

  const ApiContext api_;
};

}  // namespace

HttpHandler NewOtaHttpApi(OtaService& service, const OtaHttpApiOptions& options) {
  auto api = std::make_shared<const OtaHttpApi>(service, options);
  return [api](const HttpRequest& request, ByteSource& body) {
    return api->Handle(request, body);
  };
}

}  // namespace fwota::http
