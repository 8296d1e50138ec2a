// Fuzzes the HTTP adapter's request side without a socket: a request head and body in a
// simple text form are parsed as the backend does (target split, DecodePath, ParseQuery,
// lowercase header names, Content-Length) and handed to the NewOtaHttpApi handler over a
// small in-memory service (tests/fuzz/fuzz_world.h). The Range and ETag helpers of the
// download routes get the same bytes too.
//
// Input: "METHOD TARGET\n" then "Name: value\n" lines up to an empty line, then the body.
// @KEY@, @DEV@, ... are replaced as FuzzWorld::Expand says.
//
// Invariants: no crash or sanitizer report; the status is a valid HTTP status; a blob
// body lies inside its blob and reads back; the device API with a wrong token never
// answers 2xx; a request without a valid API key never gets a 2xx from the admin API.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "adapters/http/http_message.h"
#include "adapters/http/internal/ota_range.h"
#include "adapters/http/ota_http_api.h"
#include "fwota/byte_source.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_world.h"

namespace fwota::http {
namespace {

absl::string_view NextLine(absl::string_view& text) {
  const size_t newline = text.find('\n');
  absl::string_view line = text.substr(0, newline);
  text = newline == absl::string_view::npos ? absl::string_view() : text.substr(newline + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

void CheckRangeHelpers(const HttpRequest& request) {
  for (int64_t total : {int64_t{0}, int64_t{1}, int64_t{3000}, INT64_MAX}) {
    if (const std::string* range = request.Header("range")) {
      internal::RangeDecision d = internal::EvaluateRange(*range, total);
      if (d.kind == internal::RangeDecision::kPartial) {
        FUZZ_CHECK(d.span.offset >= 0 && d.span.length > 0);
        FUZZ_CHECK(d.span.offset < total && d.span.length <= total - d.span.offset);
      }
    }
    int64_t size = 0, chunk = 0;
    const std::string* size_text = request.Query("size");
    const std::string* chunk_text = request.Query("chunk");
    if (size_text != nullptr && chunk_text != nullptr && absl::SimpleAtoi(*size_text, &size) &&
        absl::SimpleAtoi(*chunk_text, &chunk) && size >= 0 && chunk >= 0) {
      internal::ByteSpan span = internal::ChunkSpan(size, chunk, total);
      FUZZ_CHECK(span.offset >= 0 && span.length >= 0);
      FUZZ_CHECK(span.length == 0 || (span.offset < total && span.length <= total - span.offset));
    }
  }
  for (const char* name : {"if-none-match", "if-range"}) {
    if (const std::string* header = request.Header(name)) {
      internal::EntityTagListMatches(*header, "\"abc\"", true);
      internal::EntityTagListMatches(*header, "\"abc\"", false);
      const std::string safe = internal::HeaderSafe(*header, true);
      for (char c : safe) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    }
  }
}

}  // namespace
}  // namespace fwota::http

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fwota::http;
  if (size > 64 * 1024) return 0;
  fwota::fuzzing::FuzzWorld world;
  const std::string input =
      world.Expand(absl::string_view(reinterpret_cast<const char*>(data), size));
  absl::string_view rest = input;

  HttpRequest request;
  const absl::string_view first = NextLine(rest);
  const size_t space = first.find(' ');
  if (space == absl::string_view::npos) return 0;
  request.method = std::string(first.substr(0, space));
  request.target = std::string(first.substr(space + 1));
  request.remote_address = "127.0.0.1:1";
  while (!rest.empty()) {
    const absl::string_view line = NextLine(rest);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) return 0;
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    auto [it, inserted] = request.headers.emplace(std::move(name), std::string(value));
    if (!inserted) absl::StrAppend(&it->second, ", ", value);
  }
  const absl::string_view body_bytes = rest;
  if (const std::string* length = request.Header("content-length")) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(*length, &n) || n < 0) return 0;  // Beast refuses these
    request.content_length = std::min<int64_t>(n, static_cast<int64_t>(body_bytes.size()));
  }

  // As the backend does (internal/connection.cc).
  absl::string_view target = request.target;
  const size_t question = target.find('?');
  const absl::string_view raw_path = target.substr(0, question);
  const absl::string_view raw_query =
      question == absl::string_view::npos ? absl::string_view() : target.substr(question + 1);
  if (raw_path.empty() || raw_path[0] != '/') return 0;
  if (!DecodePath(raw_path, request.path)) {
    FUZZ_CHECK(request.path.empty());
    return 0;
  }
  FUZZ_CHECK(request.path.find('\0') == std::string::npos);
  if (!ParseQuery(raw_query, request.query)) return 0;
  CheckRangeHelpers(request);

  OtaHttpApiOptions options;
  options.max_json_body = 16 << 10;
  options.max_chunk_size = 64 << 10;
  options.max_multipart_overhead = 4 << 10;
  options.default_long_poll_ms = 1;
  options.max_long_poll_ms = 1;
  HttpHandler handler = NewOtaHttpApi(world.service(), options);
  auto body = fwota::NewStringSource(body_bytes);
  HttpResponse response = handler(request, *body);

  FUZZ_CHECK(response.status >= 100 && response.status <= 599);
  if (response.blob.reader != nullptr) {
    const int64_t blob_size = response.blob.reader->size();
    FUZZ_CHECK(response.blob.offset >= 0 && response.blob.length >= 0);
    FUZZ_CHECK(response.blob.offset <= blob_size &&
               response.blob.length <= blob_size - response.blob.offset);
    std::string out(static_cast<size_t>(response.blob.length), '\0');
    absl::StatusOr<size_t> read = response.blob.reader->ReadAt(
        response.blob.offset, absl::Span<char>(out.data(), out.size()));
    FUZZ_CHECK(read.ok() && *read == out.size());
  }
  const bool success = response.status >= 200 && response.status < 300;
  if (absl::StartsWith(request.path, "/api/v1/") &&
      !absl::StartsWith(request.path, "/api/v1/TOK/")) {
    FUZZ_CHECK(!success);
  }
  if (absl::StartsWith(request.path, "/api/") && !absl::StartsWith(request.path, "/api/v1/")) {
    const std::string* auth = request.Header("x-authorization");
    const std::string* auth2 = request.Header("authorization");
    const bool has_key = (auth != nullptr && absl::StrContains(*auth, world.api_key())) ||
                         (auth2 != nullptr && absl::StrContains(*auth2, world.api_key()));
    if (!has_key) FUZZ_CHECK(!success);
  }
  return 0;
}
