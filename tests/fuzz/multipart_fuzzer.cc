// Fuzzes the streaming multipart/form-data parser of uploads
// (adapters/http/internal/multipart.h) and its header-value helpers.
//
// Input: byte 0 picks the underlying source's largest read (1..256 bytes, so every split
// of the body is tried) and the reader's buffer size; byte 1 the caller's read size;
// then a Content-Type line, then the body. The file field is "file".
//
// Invariants: no crash or sanitizer report; a boundary that is accepted is 1..70
// characters without control characters; when the whole file is read (Read returns 0),
// its content is a part of the body, and the body holds the boundary.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "adapters/http/internal/multipart.h"
#include "fwota/byte_source.h"
#include "tests/fuzz/fuzz_check.h"

namespace fwota::http::internal {
namespace {

// Hands out at most `step` bytes per Read.
class SteppedSource : public ByteSource {
 public:
  SteppedSource(absl::string_view data, size_t step) : data_(data), step_(step) {}
  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    const size_t n = std::min({out.size(), step_, data_.size()});
    std::copy_n(data_.data(), n, out.data());
    data_.remove_prefix(n);
    return n;
  }

 private:
  absl::string_view data_;
  const size_t step_;
};

}  // namespace
}  // namespace fwota::http::internal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fwota::http::internal;
  if (size < 2 || size > 256 * 1024) return 0;
  const size_t step = 1 + data[0];
  const size_t out_size = 1 + data[1] % 64;
  absl::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  const size_t newline = rest.find('\n');
  if (newline == absl::string_view::npos) return 0;
  const absl::string_view content_type = rest.substr(0, newline);
  const absl::string_view body = rest.substr(newline + 1);

  HeaderValue parsed = ParseHeaderValue(content_type);
  (void)parsed;
  IsMultipartContentType(content_type);
  absl::StatusOr<std::string> boundary = MultipartBoundary(content_type);
  if (!boundary.ok()) return 0;
  FUZZ_CHECK(!boundary->empty() && boundary->size() <= 70);
  for (char c : *boundary) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);

  SteppedSource source(body, step);
  MultipartLimits limits;
  limits.max_overhead = 8 << 10;
  limits.max_part_header_bytes = 1 << 10;
  limits.read_size = 16 + (data[0] & 0x3f);
  absl::StatusOr<std::unique_ptr<MultipartFileSource>> file =
      MultipartFileSource::Open(source, *boundary, "file", limits);
  if (!file.ok()) return 0;
  std::string content;
  std::string out(out_size, '\0');
  while (true) {
    absl::StatusOr<size_t> n = (*file)->Read(absl::Span<char>(out.data(), out.size()));
    if (!n.ok()) return 0;
    FUZZ_CHECK(*n <= out.size());
    if (*n == 0) break;
    content.append(out.data(), *n);
    FUZZ_CHECK(content.size() <= body.size());
  }
  FUZZ_CHECK(absl::StrContains(body, content));
  FUZZ_CHECK(absl::StrContains(body, *boundary));
  return 0;
}
