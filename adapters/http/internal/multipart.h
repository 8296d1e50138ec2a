// Streaming multipart/form-data (RFC 7578 over RFC 2046) for uploads: one file field is
// handed on as a ByteSource while the body is parsed on the fly, so a 2 GiB upload goes
// through a fixed buffer into the upload path. Not API: used by ota_http_api.cc.
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_MULTIPART_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_MULTIPART_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "fwota/byte_source.h"

namespace fwota::http::internal {

// The prefix of every message about a broken multipart envelope (kInvalidArgument).
inline constexpr absl::string_view kMalformedMultipart = "Malformed multipart body";

// A header value split into its leading token and its parameters:
// `form-data; name="file"; filename="a b.bin"` -> value "form-data", params {name: file,
// filename: a b.bin}. Parameter names are lowercased; quoted values are unquoted (`\"`
// and `\\` unescaped, other backslashes kept, as browsers send Windows paths unescaped).
// `filename*=UTF-8''%e2%82%ac.bin` (RFC 5987) is percent-decoded into "filename*".
struct HeaderValue {
  std::string value;
  std::map<std::string, std::string> params;
};
HeaderValue ParseHeaderValue(absl::string_view header);

// True when `content_type` is multipart/form-data (or any multipart/ type).
bool IsMultipartContentType(absl::string_view content_type);

// The boundary of a multipart Content-Type (quoted or not). kInvalidArgument when it is
// missing, empty, longer than 70 characters or holds control characters.
absl::StatusOr<std::string> MultipartBoundary(absl::string_view content_type);

struct MultipartLimits {
  // Bytes outside the file part's content (preamble, other parts, headers, delimiters)
  // a body may carry; more is kResourceExhausted. Default 64 KiB.
  int64_t max_overhead = 64 << 10;
  // Largest header block of one part. Default 8 KiB.
  size_t max_part_header_bytes = 8 << 10;
  // Bytes asked of the underlying source per read. Default 256 KiB.
  size_t read_size = 256 << 10;
};

// The content of the first part whose Content-Disposition name is `field`, read from a
// multipart body on the fly. Parts before it are skipped; after its content has been
// handed out, Read() goes on through any later parts to the close delimiter and returns 0
// only once it has seen it, so a truncated body (or one without its final boundary) is
// an error from Read() and never looks like a complete file. The epilogue is not read.
// Not thread-safe: one reader.
class MultipartFileSource : public ByteSource {
 public:
  // Reads `body` (which must outlive the source) up to the start of the field's content.
  // kInvalidArgument "Malformed multipart body: ..." for a broken envelope,
  // "Required request part '<field>' is not present" when no part has that name,
  // kResourceExhausted past limits.max_overhead; errors of `body` as they are.
  static absl::StatusOr<std::unique_ptr<MultipartFileSource>> Open(
      ByteSource& body, absl::string_view boundary, absl::string_view field,
      const MultipartLimits& limits = {});

  // From the part's headers: filename (filename* preferred) and Content-Type; empty when
  // absent.
  const std::string& file_name() const { return file_name_; }
  const std::string& content_type() const { return content_type_; }

  absl::StatusOr<size_t> Read(absl::Span<char> out) override;

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kBody, kDone };

  MultipartFileSource(ByteSource& body, std::string boundary, std::string field,
                      const MultipartLimits& limits);

  // Advances the parser. Copies file content into `out` (when not empty) and returns how
  // many bytes it copied; returns 0 when it stopped for another reason: the file part's
  // content begins (stop_at_file), or the close delimiter was seen.
  absl::StatusOr<size_t> Step(absl::Span<char> out, bool stop_at_file);
  // Reads more of the body into the buffer; sets eof_ at its end.
  absl::Status Fill();
  // Drops `n` buffered bytes that are not file content.
  absl::Status Discard(size_t n);
  absl::Status HeaderLine(absl::string_view line);
  absl::Status Malformed(absl::string_view why) const;

  size_t available() const { return end_ - begin_; }
  const char* data() const { return buffer_.get() + begin_; }

  ByteSource& body_;
  const std::string delimiter_;  // CRLF "--" boundary
  const std::string field_;
  const MultipartLimits limits_;

  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;

  State state_ = State::kPreamble;
  bool in_file_ = false;     // the current part is the field's
  bool found_file_ = false;  // the field's part has begun
  int64_t overhead_ = 0;
  size_t header_bytes_ = 0;
  // Of the part whose headers are being read.
  std::string part_name_;
  std::string part_file_name_;
  std::string part_content_type_;

  std::string file_name_;
  std::string content_type_;
};

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_MULTIPART_H_
