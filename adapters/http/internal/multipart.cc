#include "adapters/http/internal/multipart.h"

#include <string.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace fwota::http::internal {
namespace {

// Transport padding (spaces and tabs) allowed after a delimiter before its CRLF.
constexpr size_t kMaxPadding = 256;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 5987 ext-value: charset "'" [language] "'" pct-encoded. Only UTF-8 and ISO-8859-1
// are common; both are kept as bytes (ISO-8859-1 bytes above 0x7f become U+FFFD later in
// JSON). Returns false when it is not an ext-value.
bool DecodeExtValue(absl::string_view in, std::string& out) {
  const size_t q1 = in.find('\'');
  if (q1 == absl::string_view::npos) return false;
  const size_t q2 = in.find('\'', q1 + 1);
  if (q2 == absl::string_view::npos) return false;
  absl::string_view encoded = in.substr(q2 + 1);
  out.clear();
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%') {
      if (i + 2 >= encoded.size()) return false;
      const int hi = HexDigit(encoded[i + 1]);
      const int lo = HexDigit(encoded[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(encoded[i]);
    }
  }
  return true;
}

}  // namespace

HeaderValue ParseHeaderValue(absl::string_view header) {
  HeaderValue out;
  size_t i = 0;
  const size_t n = header.size();
  // The leading token, up to the first ';'.
  size_t semi = header.find(';');
  out.value = std::string(absl::StripAsciiWhitespace(header.substr(0, semi)));
  if (semi == absl::string_view::npos) return out;
  i = semi + 1;
  while (i < n) {
    while (i < n && (header[i] == ' ' || header[i] == '\t' || header[i] == ';')) ++i;
    size_t name_start = i;
    while (i < n && header[i] != '=' && header[i] != ';') ++i;
    std::string name =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(header.substr(name_start, i - name_start)));
    std::string value;
    if (i < n && header[i] == '=') {
      ++i;
      while (i < n && (header[i] == ' ' || header[i] == '\t')) ++i;
      if (i < n && header[i] == '"') {
        ++i;
        while (i < n && header[i] != '"') {
          if (header[i] == '\\' && i + 1 < n && (header[i + 1] == '"' || header[i + 1] == '\\')) {
            ++i;
          }
          value.push_back(header[i]);
          ++i;
        }
        if (i < n) ++i;  // closing quote
        while (i < n && header[i] != ';') ++i;
      } else {
        size_t value_start = i;
        while (i < n && header[i] != ';') ++i;
        value = std::string(absl::StripAsciiWhitespace(header.substr(value_start, i - value_start)));
      }
    }
    if (name.empty()) continue;
    if (!name.empty() && name.back() == '*') {
      std::string decoded;
      if (!DecodeExtValue(value, decoded)) continue;
      value = std::move(decoded);
    }
    out.params.emplace(std::move(name), std::move(value));
  }
  return out;
}

bool IsMultipartContentType(absl::string_view content_type) {
  return absl::StartsWithIgnoreCase(absl::StripLeadingAsciiWhitespace(content_type),
                                    "multipart/");
}

absl::StatusOr<std::string> MultipartBoundary(absl::string_view content_type) {
  HeaderValue parsed = ParseHeaderValue(content_type);
  auto it = parsed.params.find("boundary");
  if (it == parsed.params.end() || it->second.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMalformedMultipart, ": no boundary in the Content-Type"));
  }
  const std::string& boundary = it->second;
  if (boundary.size() > 70) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMalformedMultipart, ": the boundary is longer than 70 characters"));
  }
  for (char c : boundary) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(kMalformedMultipart, ": the boundary holds control characters"));
    }
  }
  return boundary;
}

MultipartFileSource::MultipartFileSource(ByteSource& body, std::string boundary,
                                         std::string field, const MultipartLimits& limits)
    : body_(body),
      delimiter_(absl::StrCat("\r\n--", boundary)),
      field_(std::move(field)),
      limits_(limits) {
  // Room for one read plus what may stay buffered between reads: a partial header line,
  // a possible partial delimiter, or padding after a delimiter.
  capacity_ = std::max<size_t>(limits_.read_size, 1) + limits_.max_part_header_bytes +
              delimiter_.size() + kMaxPadding + 16;
  buffer_.reset(new char[capacity_]);
  // The body may start with the first delimiter without a CRLF before it: pretend there
  // was one, so that every delimiter is CRLF "--" boundary.
  buffer_[0] = '\r';
  buffer_[1] = '\n';
  end_ = 2;
  overhead_ = -2;
}

absl::StatusOr<std::unique_ptr<MultipartFileSource>> MultipartFileSource::Open(
    ByteSource& body, absl::string_view boundary, absl::string_view field,
    const MultipartLimits& limits) {
  if (boundary.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kMalformedMultipart, ": empty boundary"));
  }
  std::unique_ptr<MultipartFileSource> source(
      new MultipartFileSource(body, std::string(boundary), std::string(field), limits));
  absl::StatusOr<size_t> n = source->Step(absl::Span<char>(), /*stop_at_file=*/true);
  if (!n.ok()) return n.status();
  if (!source->in_file_) {
    return absl::InvalidArgumentError(
        absl::StrCat("Required request part '", field, "' is not present"));
  }
  return source;
}

absl::StatusOr<size_t> MultipartFileSource::Read(absl::Span<char> out) {
  if (out.empty()) return 0;
  return Step(out, /*stop_at_file=*/false);
}

absl::Status MultipartFileSource::Malformed(absl::string_view why) const {
  return absl::InvalidArgumentError(absl::StrCat(kMalformedMultipart, ": ", why));
}

absl::Status MultipartFileSource::Fill() {
  if (eof_) return absl::OkStatus();
  if (begin_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  const size_t room = std::min(capacity_ - end_, std::max<size_t>(limits_.read_size, 1));
  if (room == 0) return absl::InternalError("multipart buffer full");  // not reached
  absl::StatusOr<size_t> n = body_.Read(absl::MakeSpan(buffer_.get() + end_, room));
  if (!n.ok()) return n.status();
  if (*n == 0) {
    eof_ = true;
  } else {
    end_ += std::min(*n, room);
  }
  return absl::OkStatus();
}

absl::Status MultipartFileSource::Discard(size_t n) {
  begin_ += n;
  overhead_ += static_cast<int64_t>(n);
  if (overhead_ > limits_.max_overhead) {
    return absl::ResourceExhaustedError(
        absl::StrCat("The multipart body carries more than ", limits_.max_overhead,
                     " bytes besides the file"));
  }
  return absl::OkStatus();
}

absl::Status MultipartFileSource::HeaderLine(absl::string_view line) {
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0 || line[0] == ' ' || line[0] == '\t') {
    return Malformed("bad part header line");
  }
  const absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
  const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (absl::EqualsIgnoreCase(name, "Content-Disposition")) {
    HeaderValue disposition = ParseHeaderValue(value);
    auto get = [&](const char* key) -> std::string {
      auto it = disposition.params.find(key);
      return it == disposition.params.end() ? std::string() : it->second;
    };
    part_name_ = get("name");
    part_file_name_ = get("filename*");
    if (part_file_name_.empty()) part_file_name_ = get("filename");
  } else if (absl::EqualsIgnoreCase(name, "Content-Type")) {
    part_content_type_ = std::string(value);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> MultipartFileSource::Step(absl::Span<char> out, bool stop_at_file) {
  for (;;) {
    switch (state_) {
      case State::kPreamble: {
        const void* found = memmem(data(), available(), delimiter_.data(), delimiter_.size());
        if (found != nullptr) {
          const size_t at = static_cast<const char*>(found) - data();
          absl::Status s = Discard(at + delimiter_.size());
          if (!s.ok()) return s;
          state_ = State::kAfterDelimiter;
          continue;
        }
        if (available() >= delimiter_.size()) {
          absl::Status s = Discard(available() - (delimiter_.size() - 1));
          if (!s.ok()) return s;
        }
        if (eof_) return Malformed("no boundary found");
        break;  // fill
      }

      case State::kAfterDelimiter: {
        if (available() >= 2 && data()[0] == '-' && data()[1] == '-') {
          absl::Status s = Discard(2);
          if (!s.ok()) return s;
          state_ = State::kDone;
          continue;
        }
        size_t pad = 0;
        while (pad < available() && (data()[pad] == ' ' || data()[pad] == '\t')) ++pad;
        if (pad > kMaxPadding) return Malformed("garbage after a boundary");
        if (available() >= pad + 2) {
          if (data()[pad] != '\r' || data()[pad + 1] != '\n') {
            return Malformed("garbage after a boundary");
          }
          absl::Status s = Discard(pad + 2);
          if (!s.ok()) return s;
          state_ = State::kHeaders;
          header_bytes_ = 0;
          part_name_.clear();
          part_file_name_.clear();
          part_content_type_.clear();
          continue;
        }
        if (available() == 1 && data()[0] != '-' && data()[0] != '\r' && data()[0] != ' ' &&
            data()[0] != '\t') {
          return Malformed("garbage after a boundary");
        }
        if (eof_) return Malformed("truncated after a boundary");
        break;  // fill
      }

      case State::kHeaders: {
        const void* found = memmem(data(), available(), "\r\n", 2);
        if (found == nullptr) {
          if (available() > limits_.max_part_header_bytes) {
            return Malformed("part headers too long");
          }
          if (eof_) return Malformed("truncated in part headers");
          break;  // fill
        }
        const size_t len = static_cast<const char*>(found) - data();
        header_bytes_ += len + 2;
        if (header_bytes_ > limits_.max_part_header_bytes) {
          return Malformed("part headers too long");
        }
        if (len > 0) {
          absl::Status s = HeaderLine(absl::string_view(data(), len));
          if (!s.ok()) return s;
          s = Discard(len + 2);
          if (!s.ok()) return s;
          continue;
        }
        absl::Status s = Discard(2);
        if (!s.ok()) return s;
        state_ = State::kBody;
        if (!found_file_ && part_name_ == field_) {
          found_file_ = true;
          in_file_ = true;
          file_name_ = part_file_name_;
          content_type_ = part_content_type_;
          if (stop_at_file) return 0;
        }
        continue;
      }

      case State::kBody: {
        const void* found = memmem(data(), available(), delimiter_.data(), delimiter_.size());
        const size_t content = found != nullptr
                                   ? static_cast<const char*>(found) - data()
                                   : (available() >= delimiter_.size()
                                          ? available() - (delimiter_.size() - 1)
                                          : 0);
        if (in_file_ && content > 0) {
          // Hand the content out; the service's size limit bounds it.
          const size_t n = std::min(content, out.size());
          std::memcpy(out.data(), data(), n);
          begin_ += n;
          return n;
        }
        if (!in_file_ && content > 0) {
          absl::Status s = Discard(content);
          if (!s.ok()) return s;
        }
        if (found != nullptr) {
          absl::Status s = Discard(delimiter_.size());
          if (!s.ok()) return s;
          in_file_ = false;
          state_ = State::kAfterDelimiter;
          continue;
        }
        if (eof_) return Malformed("missing final boundary");
        break;  // fill
      }

      case State::kDone:
        // Read(): the file part ended and so did the body. Open(): no such part, which
        // Open() reports.
        return 0;
    }
    absl::Status s = Fill();
    if (!s.ok()) return s;
  }
}

}  // namespace fwota::http::internal
