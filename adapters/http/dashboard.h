// The live dashboard's static files (HTML, JavaScript, CSS), compiled into the binary so
// fwotad serves them with no file on disk and nothing fetched at run time. The page
// itself calls the admin REST API with the tenant's API key; the files need no key.
#ifndef FWOTA_ADAPTERS_HTTP_DASHBOARD_H_
#define FWOTA_ADAPTERS_HTTP_DASHBOARD_H_

#include <optional>

#include "adapters/http/http_message.h"

namespace fwota::http {

// The response for a dashboard path, or std::nullopt when `request.path` is not one:
// GET /dashboard and /dashboard/ (the page), /dashboard/app.js, /dashboard/app.css.
// 200 with Content-Type, Cache-Control: no-cache, a strong ETag (304 on If-None-Match)
// and a strict Content-Security-Policy (default-src 'self', no inline code); any other
// method is 405 with Allow: GET. Thread-safe.
std::optional<HttpResponse> ServeDashboard(const HttpRequest& request);

}  // namespace fwota::http

#endif  // FWOTA_ADAPTERS_HTTP_DASHBOARD_H_
