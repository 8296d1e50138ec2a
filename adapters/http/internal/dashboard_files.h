// The dashboard's static files, embedded at build time (the genrule
// //adapters/http:dashboard_files runs embed_files.sh over adapters/http/dashboard/).
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_DASHBOARD_FILES_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_DASHBOARD_FILES_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace fwota::http::internal {

struct EmbeddedFile {
  absl::string_view name;     // the base name: "index.html", "app.js", "app.css"
  absl::string_view content;  // the bytes, static storage
};

extern const EmbeddedFile kDashboardFiles[];
extern const size_t kDashboardFileCount;

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_DASHBOARD_FILES_H_
