// Small helpers of the HTTP mapping: responses in ThingsBoard's shapes, UUID and query
// parameter checks, bounded body reads. Not API: used by ota_http_api.cc. Thread-safe:
// plain functions.
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_OTA_HTTP_UTIL_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_OTA_HTTP_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adapters/common/status_mapping.h"
#include "adapters/http/http_message.h"
#include "fwota/byte_source.h"
#include "fwota/metadata_store.h"

namespace fwota::http::internal {

inline constexpr absl::string_view kJsonContentType = "application/json";

// The error timestamp: the real clock (an adapter, not the core).
int64_t NowMillis();

// A 200 with a JSON body.
HttpResponse JsonResponse(std::string json);
// ThingsBoard's error body with the status mapping's HTTP status and errorCode.
// REQUIRES: !status.ok().
HttpResponse ErrorResponse(const absl::Status& status);
// The same body for an HTTP status of its own (404 route, 405, 416, 500).
HttpResponse HttpError(int http_status, absl::string_view message, adapters::TbErrorCode code);

// True for the canonical textual form of a UUID: 36 characters, hex digits with dashes at
// 8, 13, 18 and 23 (either case).
bool IsUuid(absl::string_view text);
// `text` lowercased when it is a UUID, else kInvalidArgument "Invalid UUID string: <text>"
// (ThingsBoard's message; long texts are cut).
absl::StatusOr<std::string> CheckUuid(absl::string_view text);

// A decimal integer ("+" or "-" allowed, 64-bit range). kInvalidArgument naming `name`
// for anything else.
absl::StatusOr<int64_t> ParseInteger(absl::string_view name, absl::string_view text);

// The query parameter `name` as an integer >= 0; `fallback` when it is absent or empty.
// kInvalidArgument when it is not a number or is negative.
absl::StatusOr<int64_t> NonNegativeParam(const HttpRequest& request, absl::string_view name,
                                         int64_t fallback);

// ThingsBoard's paging parameters: pageSize and page (both required, pageSize >= 1,
// page >= 0, 32-bit), textSearch, and with `with_sort` sortProperty (createdTime, title,
// version, type, dataSize) and sortOrder (ASC / DESC; ASC when only sortProperty is given;
// newest first when neither).
absl::StatusOr<PageQuery> ParsePageQuery(const HttpRequest& request, bool with_sort);

// The package type in query parameter `name`, or `fallback` when absent.
absl::StatusOr<OtaPackageType> TypeParam(const HttpRequest& request, absl::string_view name,
                                         OtaPackageType fallback);

// The API key of "X-Authorization: Bearer <key>" (preferred) or "Authorization: Bearer
// <key>"; empty when neither carries one.
std::string BearerToken(const HttpRequest& request);

// Reads a whole small body: kResourceExhausted (413) when Content-Length or the bytes
// read exceed `max_bytes` (the rest is not read), errors of `body` as they are.
absl::StatusOr<std::string> ReadSmallBody(ByteSource& body, int64_t content_length,
                                          int64_t max_bytes);

// Case-insensitive substring test (ThingsBoard's textSearch).
bool ContainsIgnoreCase(absl::string_view haystack, absl::string_view needle);

// `items` whose name(item) contains query.text_search (case-insensitive; empty: all),
// cut to one page of `query`, in the order given.
template <typename T, typename NameFn>
Page<T> PageOf(std::vector<T> items, const PageQuery& query, NameFn name) {
  Page<T> page;
  std::vector<T> matching;
  for (T& item : items) {
    if (ContainsIgnoreCase(name(item), query.text_search)) matching.push_back(std::move(item));
  }
  page.total_elements = static_cast<int64_t>(matching.size());
  const int64_t begin = static_cast<int64_t>(query.page) * query.page_size;
  for (int64_t i = begin; i < page.total_elements && i < begin + query.page_size; ++i) {
    page.data.push_back(std::move(matching[i]));
  }
  FinishPage(query, page);
  return page;
}

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_OTA_HTTP_UTIL_H_
