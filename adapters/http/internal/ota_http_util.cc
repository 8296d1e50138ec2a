#include "adapters/http/internal/ota_http_util.h"

#include <algorithm>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "adapters/common/tb_json.h"
#include "fwota/clock.h"

namespace fwota::http::internal {

int64_t NowMillis() { return RealClock()->NowMillis(); }

HttpResponse JsonResponse(std::string json) {
  HttpResponse response;
  response.status = 200;
  response.SetHeader("Content-Type", std::string(kJsonContentType));
  response.body = std::move(json);
  return response;
}

HttpResponse ErrorResponse(const absl::Status& status) {
  HttpResponse response;
  response.status = adapters::HttpStatusFor(status.code());
  response.SetHeader("Content-Type", std::string(kJsonContentType));
  response.body = adapters::ErrorJson(status, NowMillis());
  if (response.status >= 500) response.log_error = std::string(status.message());
  return response;
}

HttpResponse HttpError(int http_status, absl::string_view message, adapters::TbErrorCode code) {
  HttpResponse response;
  response.status = http_status;
  response.SetHeader("Content-Type", std::string(kJsonContentType));
  response.body = adapters::HttpErrorJson(http_status, message, code, NowMillis());
  return response;
}

bool IsUuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
    } else if (!absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> CheckUuid(absl::string_view text) {
  if (!IsUuid(text)) {
    constexpr size_t kShown = 100;
    return absl::InvalidArgumentError(absl::StrCat(
        "Invalid UUID string: ", text.substr(0, kShown), text.size() > kShown ? "..." : ""));
  }
  return absl::AsciiStrToLower(text);
}

absl::StatusOr<int64_t> ParseInteger(absl::string_view name, absl::string_view text) {
  auto invalid = [&] {
    constexpr size_t kShown = 40;
    return absl::InvalidArgumentError(absl::StrCat("Invalid value '", text.substr(0, kShown),
                                                   text.size() > kShown ? "..." : "",
                                                   "' of parameter '", name,
                                                   "': expected an integer"));
  };
  absl::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty()) return invalid();
  // Accumulate as a negative number so INT64_MIN fits.
  int64_t value = 0;
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  for (char c : digits) {
    if (c < '0' || c > '9') return invalid();
    const int d = c - '0';
    if (value < (kMin + d) / 10) return invalid();
    value = value * 10 - d;
  }
  if (!negative) {
    if (value == kMin) return invalid();
    value = -value;
  }
  return value;
}

absl::StatusOr<int64_t> NonNegativeParam(const HttpRequest& request, absl::string_view name,
                                         int64_t fallback) {
  const std::string* text = request.Query(name);
  if (text == nullptr || text->empty()) return fallback;
  absl::StatusOr<int64_t> value = ParseInteger(name, *text);
  if (!value.ok()) return value.status();
  if (*value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Parameter '", name, "' must not be negative, not ", *value));
  }
  return value;
}

namespace {

absl::StatusOr<int> RequiredIntParam(const HttpRequest& request, absl::string_view name) {
  const std::string* text = request.Query(name);
  if (text == nullptr || text->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Required request parameter '", name, "' is not present"));
  }
  absl::StatusOr<int64_t> value = ParseInteger(name, *text);
  if (!value.ok()) return value.status();
  if (*value > std::numeric_limits<int>::max() || *value < std::numeric_limits<int>::min()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Invalid value '", *text, "' of parameter '", name,
                     "': out of the 32-bit integer range"));
  }
  return static_cast<int>(*value);
}

}  // namespace

absl::StatusOr<PageQuery> ParsePageQuery(const HttpRequest& request, bool with_sort) {
  PageQuery query;
  absl::StatusOr<int> page_size = RequiredIntParam(request, "pageSize");
  if (!page_size.ok()) return page_size.status();
  absl::StatusOr<int> page = RequiredIntParam(request, "page");
  if (!page.ok()) return page.status();
  if (*page_size < 1) return absl::InvalidArgumentError("Page size must be greater than zero!");
  if (*page < 0) return absl::InvalidArgumentError("Page must be positive integer!");
  query.page_size = *page_size;
  query.page = *page;
  if (const std::string* text = request.Query("textSearch")) query.text_search = *text;
  if (!with_sort) return query;
  const std::string* property = request.Query("sortProperty");
  const std::string* order = request.Query("sortOrder");
  if (property != nullptr && !property->empty()) {
    static constexpr struct {
      absl::string_view name;
      PackageSortProperty property;
    } kProperties[] = {
        {"createdTime", PackageSortProperty::kCreatedTime},
        {"title", PackageSortProperty::kTitle},
        {"version", PackageSortProperty::kVersion},
        {"type", PackageSortProperty::kType},
        {"dataSize", PackageSortProperty::kDataSize},
    };
    bool known = false;
    for (const auto& p : kProperties) {
      if (*property == p.name) {
        query.sort_property = p.property;
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid sortProperty '", property->substr(0, 40),
                       "': expected createdTime, title, version, type or dataSize"));
    }
    query.ascending = true;
  }
  if (order != nullptr && !order->empty()) {
    if (absl::EqualsIgnoreCase(*order, "ASC")) {
      query.ascending = true;
    } else if (absl::EqualsIgnoreCase(*order, "DESC")) {
      query.ascending = false;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("Invalid sortOrder '", order->substr(0, 40), "': expected ASC or DESC"));
    }
  }
  return query;
}

absl::StatusOr<OtaPackageType> TypeParam(const HttpRequest& request, absl::string_view name,
                                         OtaPackageType fallback) {
  const std::string* text = request.Query(name);
  if (text == nullptr || text->empty()) return fallback;
  return adapters::ParsePackageType(*text);
}

std::string BearerToken(const HttpRequest& request) {
  for (absl::string_view header : {"x-authorization", "authorization"}) {
    const std::string* value = request.Header(header);
    if (value == nullptr) continue;
    absl::string_view v = absl::StripAsciiWhitespace(*value);
    if (v.size() > 7 && absl::StartsWithIgnoreCase(v, "Bearer ")) {
      return std::string(absl::StripAsciiWhitespace(v.substr(7)));
    }
  }
  return "";
}

absl::StatusOr<std::string> ReadSmallBody(ByteSource& body, int64_t content_length,
                                          int64_t max_bytes) {
  auto too_large = [&] {
    return absl::ResourceExhaustedError(
        absl::StrCat("The request body exceeds the limit of ", max_bytes, " bytes"));
  };
  if (content_length > max_bytes) return too_large();
  std::string out;
  char buffer[16 * 1024];
  for (;;) {
    absl::StatusOr<size_t> n = body.Read(absl::MakeSpan(buffer, sizeof(buffer)));
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    if (static_cast<int64_t>(out.size() + *n) > max_bytes) return too_large();
    out.append(buffer, *n);
  }
  return out;
}

bool ContainsIgnoreCase(absl::string_view haystack, absl::string_view needle) {
  if (needle.empty()) return true;
  return absl::StrContains(absl::AsciiStrToLower(haystack), absl::AsciiStrToLower(needle));
}

}  // namespace fwota::http::internal
