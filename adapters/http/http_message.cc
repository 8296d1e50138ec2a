// The plain request/response values and their small parsers (no Beast or Asio here).
#include "adapters/http/http_message.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace fwota::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes "%XX" at text[i] (text[i] == '%') into *byte; false when malformed.
bool DecodeEscape(absl::string_view text, size_t i, char* byte) {
  if (i + 2 >= text.size()) return false;
  const int hi = HexValue(text[i + 1]);
  const int lo = HexValue(text[i + 2]);
  if (hi < 0 || lo < 0) return false;
  *byte = static_cast<char>(hi * 16 + lo);
  return true;
}

// Query component decoding: "+" is a space; a malformed escape stays as it is.
std::string DecodeQueryComponent(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    char byte;
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && DecodeEscape(text, i, &byte)) {
      out.push_back(byte);
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

const std::string* HttpRequest::Query(absl::string_view key) const {
  for (const auto& [k, v] : query) {
    if (k == key) return &v;
  }
  return nullptr;
}

const std::string* HttpRequest::Header(absl::string_view name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? nullptr : &it->second;
}

void HttpResponse::SetHeader(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

const std::string* HttpResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return &v;
  }
  return nullptr;
}

bool ParseQuery(absl::string_view query, std::vector<std::pair<std::string, std::string>>& out,
                size_t max_pairs) {
  out.clear();
  while (!query.empty()) {
    size_t amp = query.find('&');
    absl::string_view pair = query.substr(0, amp);
    query = amp == absl::string_view::npos ? absl::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;  // "a=1&&b=2"
    if (out.size() == max_pairs) {
      out.clear();
      return false;
    }
    size_t eq = pair.find('=');
    if (eq == absl::string_view::npos) {
      out.emplace_back(DecodeQueryComponent(pair), std::string());
    } else {
      out.emplace_back(DecodeQueryComponent(pair.substr(0, eq)),
                       DecodeQueryComponent(pair.substr(eq + 1)));
    }
  }
  return true;
}

bool DecodePath(absl::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\0') {
      out.clear();
      return false;
    }
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    char byte;
    if (!DecodeEscape(raw, i, &byte) || byte == '\0' || byte == '/') {
      out.clear();
      return false;
    }
    out.push_back(byte);
    i += 2;
  }
  return true;
}

}  // namespace fwota::http
