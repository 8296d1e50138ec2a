#include "adapters/http/dashboard.h"

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "adapters/http/internal/dashboard_files.h"

namespace fwota::http {
namespace {

// No inline script or style anywhere in the page, so nothing needs 'unsafe-inline'.
constexpr char kContentSecurityPolicy[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

struct DashboardFile {
  absl::string_view path;  // as requested
  absl::string_view name;  // in kDashboardFiles
  absl::string_view content_type;
};

constexpr DashboardFile kPaths[] = {
    {"/dashboard", "index.html", "text/html; charset=utf-8"},
    {"/dashboard/", "index.html", "text/html; charset=utf-8"},
    {"/dashboard/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/dashboard/app.css", "app.css", "text/css; charset=utf-8"},
};

absl::string_view Content(absl::string_view name) {
  for (size_t i = 0; i < internal::kDashboardFileCount; ++i) {
    if (internal::kDashboardFiles[i].name == name) return internal::kDashboardFiles[i].content;
  }
  return {};
}

// FNV-1a 64 of the bytes: the files change only with the binary, so this is a strong
// validator that lets browsers revalidate (Cache-Control: no-cache) for a 304.
std::string ETagOf(absl::string_view content) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : content) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return absl::StrFormat("\"%016x-%d\"", hash, content.size());
}

bool ETagMatches(const std::string* if_none_match, const std::string& etag) {
  if (if_none_match == nullptr) return false;
  for (absl::string_view tag : absl::StrSplit(*if_none_match, ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    if (absl::StartsWith(tag, "W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

void SetCommonHeaders(HttpResponse& response) {
  response.SetHeader("Content-Security-Policy", kContentSecurityPolicy);
  response.SetHeader("X-Content-Type-Options", "nosniff");
  response.SetHeader("Referrer-Policy", "no-referrer");
  response.SetHeader("X-Frame-Options", "DENY");
}

}  // namespace

std::optional<HttpResponse> ServeDashboard(const HttpRequest& request) {
  const DashboardFile* file = nullptr;
  for (const DashboardFile& candidate : kPaths) {
    if (request.path == candidate.path) file = &candidate;
  }
  if (file == nullptr) return std::nullopt;

  HttpResponse response;
  SetCommonHeaders(response);
  if (request.method != "GET") {
    response.status = 405;
    response.SetHeader("Allow", "GET");
    response.SetHeader("Content-Type", "text/plain; charset=utf-8");
    response.body = absl::StrCat("Request method '", request.method.substr(0, 20),
                                 "' not supported\n");
    return response;
  }
  const absl::string_view content = Content(file->name);
  const std::string etag = ETagOf(content);
  response.SetHeader("Cache-Control", "no-cache");
  response.SetHeader("ETag", etag);
  if (ETagMatches(request.Header("if-none-match"), etag)) {
    response.status = 304;
    return response;
  }
  response.status = 200;
  response.SetHeader("Content-Type", std::string(file->content_type));
  response.body = std::string(content);
  return response;
}

}  // namespace fwota::http
