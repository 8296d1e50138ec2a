#include "adapters/http/internal/ota_range.h"

#include <algorithm>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fwota::http::internal {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// Parses a non-empty run of ASCII digits, saturating at kMax. False for anything else.
bool ParseDigits(absl::string_view s, int64_t& out) {
  if (s.empty()) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const int d = c - '0';
    v = v > (kMax - d) / 10 ? kMax : v * 10 + d;
  }
  out = v;
  return true;
}

}  // namespace

ByteSpan ChunkSpan(int64_t size, int64_t chunk, int64_t total) {
  if (size <= 0) return {0, total};
  if (chunk > 0 && size > kMax / chunk) return {total, 0};  // overflow: far past the end
  const int64_t offset = size * chunk;
  if (offset >= total) return {total, 0};
  return {offset, std::min(size, total - offset)};
}

RangeDecision EvaluateRange(absl::string_view range, int64_t total) {
  RangeDecision ignore;
  range = absl::StripAsciiWhitespace(range);
  // The unit is case-insensitive (RFC 7233 section 2.1).
  if (range.size() < 6 || !absl::StartsWithIgnoreCase(range, "bytes")) return ignore;
  range.remove_prefix(5);
  range = absl::StripLeadingAsciiWhitespace(range);
  if (!absl::ConsumePrefix(&range, "=")) return ignore;
  if (range.find(',') != absl::string_view::npos) return ignore;  // several ranges
  range = absl::StripAsciiWhitespace(range);
  const size_t dash = range.find('-');
  if (dash == absl::string_view::npos) return ignore;
  const absl::string_view first_text = absl::StripAsciiWhitespace(range.substr(0, dash));
  const absl::string_view last_text = absl::StripAsciiWhitespace(range.substr(dash + 1));
  RangeDecision out;
  if (first_text.empty()) {
    // Suffix: the last n bytes.
    int64_t n = 0;
    if (!ParseDigits(last_text, n)) return ignore;
    if (n == 0 || total == 0) {
      out.kind = RangeDecision::kUnsatisfiable;
      return out;
    }
    n = std::min(n, total);
    out.kind = RangeDecision::kPartial;
    out.span = {total - n, n};
    return out;
  }
  int64_t first = 0;
  if (!ParseDigits(first_text, first)) return ignore;
  int64_t last = kMax;
  if (!last_text.empty()) {
    if (!ParseDigits(last_text, last)) return ignore;
    if (last < first) return ignore;  // syntactically invalid: ignored
  }
  if (first >= total) {
    out.kind = RangeDecision::kUnsatisfiable;
    return out;
  }
  last = std::min(last, total - 1);
  out.kind = RangeDecision::kPartial;
  out.span = {first, last - first + 1};
  return out;
}

bool EntityTagListMatches(absl::string_view header, absl::string_view etag, bool weak) {
  header = absl::StripAsciiWhitespace(header);
  if (header == "*") return true;
  for (absl::string_view tag : absl::StrSplit(header, ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    if (absl::ConsumePrefix(&tag, "W/")) {
      if (!weak) continue;
    }
    if (tag == etag) return true;
  }
  return false;
}

std::string HeaderSafe(absl::string_view value, bool quoted) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out.push_back('_');
    } else if (quoted && (c == '"' || c == '\\')) {
      out.push_back('\\');
      out.push_back(c);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace fwota::http::internal
