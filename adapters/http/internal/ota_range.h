// Byte-range arithmetic of the download routes: ThingsBoard's ?size=&chunk= slices and
// RFC 7233 Range / If-Range with RFC 7232 ETags. Pure functions, 64-bit, overflow-safe.
// Not API: used by ota_http_api.cc.
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_OTA_RANGE_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_OTA_RANGE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace fwota::http::internal {

// [offset, offset + length) of a representation.
struct ByteSpan {
  int64_t offset = 0;
  int64_t length = 0;
};

// ThingsBoard's chunk: offset = size * chunk, at most `size` bytes, empty past the end
// (also when size * chunk overflows). size 0: the whole file. REQUIRES: size >= 0,
// chunk >= 0, total >= 0.
ByteSpan ChunkSpan(int64_t size, int64_t chunk, int64_t total);

// What to do with a Range header.
struct RangeDecision {
  enum Kind {
    kIgnore,          // no Range, a malformed one, or several ranges: 200 with everything
    kPartial,         // 206 with `span`
    kUnsatisfiable,   // 416
  };
  Kind kind = kIgnore;
  ByteSpan span;
};

// Evaluates a Range header value against a representation of `total` bytes (RFC 7233
// section 2.1 and 4.4): "bytes=a-b" (b clamped to the end), "bytes=a-", "bytes=-n" (the
// last n bytes; all of them when n >= total). A first position at or past the end, and
// "bytes=-0", are unsatisfiable. Anything malformed (another unit, a > b, junk) is
// ignored, as the RFC allows. Several ranges ("bytes=0-1,5-6") are ignored too: the whole
// representation with 200 is a valid answer and avoids multipart/byteranges. Numbers too
// large for 64 bits count as "very large" (so "bytes=99999999999999999999-" is
// unsatisfiable).
RangeDecision EvaluateRange(absl::string_view range, int64_t total);

// True when the entity-tag list `header` (If-None-Match / If-Match syntax: "*" or
// comma-separated quoted tags, optionally W/) names `etag` (a quoted tag). `weak`: the
// weak comparison of If-None-Match (W/ prefixes ignored); otherwise the strong one of
// If-Range (a weak tag never matches).
bool EntityTagListMatches(absl::string_view header, absl::string_view etag, bool weak);

// `value` made safe for a header field and for the quoted filename of
// Content-Disposition: control characters become '_', '"' and '\' are backslash-escaped
// when `quoted`.
std::string HeaderSafe(absl::string_view value, bool quoted);

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_OTA_RANGE_H_
