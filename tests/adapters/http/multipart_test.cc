// The streaming multipart parser on its own: every split of the body across reads, the
// RFC 2046 delimiter rules, and broken envelopes.
#include "adapters/http/internal/multipart.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/adapters/http/ota_http_api_test_util.h"
#include "tests/testing/status_matchers.h"

namespace fwota::http::internal {
namespace {

using ::fwota::http::testing::FailingSource;
using ::fwota::http::testing::RandomBytes;
using ::fwota::http::testing::TrickleSource;
using ::fwota::testing::StatusCodeIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Serves `data` in two reads split at `at` (the second possibly split again by the
// caller's buffer), then EOF.
class SplitSource : public ByteSource {
 public:
  SplitSource(std::string data, size_t at) : data_(std::move(data)), at_(at) {}
  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    const size_t end = pos_ < at_ ? at_ : data_.size();
    const size_t n = std::min(out.size(), end - pos_);
    std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  const std::string data_;
  const size_t at_;
  size_t pos_ = 0;
};

struct Parsed {
  absl::Status status;
  std::string file_name;
  std::string content_type;
  std::string content;
};

// Opens the `file` field and reads it to the end with reads of `read_size` bytes.
Parsed ParseAll(ByteSource& source, absl::string_view boundary, size_t read_size = 4096,
                const MultipartLimits& limits = {}) {
  Parsed out;
  absl::StatusOr<std::unique_ptr<MultipartFileSource>> file =
      MultipartFileSource::Open(source, boundary, "file", limits);
  if (!file.ok()) {
    out.status = file.status();
    return out;
  }
  out.file_name = (*file)->file_name();
  out.content_type = (*file)->content_type();
  std::string buffer(read_size, '\0');
  for (;;) {
    absl::StatusOr<size_t> n = (*file)->Read(absl::MakeSpan(buffer));
    if (!n.ok()) {
      out.status = n.status();
      return out;
    }
    if (*n == 0) break;
    out.content.append(buffer.data(), *n);
  }
  return out;
}

Parsed ParseString(const std::string& body, absl::string_view boundary, size_t read_size = 4096,
                   const MultipartLimits& limits = {}) {
  std::unique_ptr<ByteSource> source = NewStringSource(body);
  return ParseAll(*source, boundary, read_size, limits);
}

std::string FilePart(const std::string& boundary, const std::string& content,
                     const std::string& name = "file", const std::string& file_name = "fw.bin") {
  return absl::StrCat("--", boundary, "\r\nContent-Disposition: form-data; name=\"", name,
                      "\"; filename=\"", file_name,
                      "\"\r\nContent-Type: application/octet-stream\r\n\r\n", content, "\r\n");
}

// Content that looks like delimiters without being one.
// (None holds CRLF "--B", which would be a delimiter.)
const std::string kTrickyContent = absl::StrCat(
    "x--B", "\r\n-B", "\r\n--", "\r--B", "\n--B", "\r\n--b", "--B--", "\r\n\r\n", "\r\n--A",
    std::string(5, '\0'), "\r\n-");

TEST(MultipartTest, EverySplitOfTheBodyAcrossTwoReads) {
  ASSERT_FALSE(absl::StrContains(kTrickyContent, "\r\n--B"));
  const std::string boundary = "B";
  const std::string body = absl::StrCat(
      "preamble\r\n", "--B\r\nContent-Disposition: form-data; name=\"before\"\r\n\r\nx\r\n",
      FilePart(boundary, kTrickyContent),
      "--B\r\nContent-Disposition: form-data; name=\"after\"\r\n\r\ny\r\n--B--\r\nepilogue");
  for (size_t at = 0; at <= body.size(); ++at) {
    for (size_t read_size : {1, 3, 4096}) {
      SplitSource source(body, at);
      Parsed p = ParseAll(source, boundary, read_size);
      ASSERT_TRUE(p.status.ok()) << "split at " << at << ": " << p.status;
      EXPECT_EQ(p.content, kTrickyContent) << "split at " << at;
      EXPECT_EQ(p.file_name, "fw.bin");
      EXPECT_EQ(p.content_type, "application/octet-stream");
    }
  }
}

TEST(MultipartTest, ReadsOfOneToSevenBytes) {
  const std::string boundary = "----WebKitFormBoundaryq7mRj4Z1";
  const std::string content = RandomBytes(20000, 5) + "\r\n--" + boundary.substr(0, 10);
  const std::string body = absl::StrCat(FilePart(boundary, content), "--", boundary, "--");
  for (const std::vector<size_t>& steps :
       {std::vector<size_t>{1}, std::vector<size_t>{7}, std::vector<size_t>{1, 2, 3, 4, 5, 6, 7},
        std::vector<size_t>{5, 1, 7, 2}}) {
    TrickleSource source(body, steps);
    Parsed p = ParseAll(source, boundary, 4096);
    ASSERT_TRUE(p.status.ok()) << p.status;
    EXPECT_EQ(p.content, content);
  }
}

TEST(MultipartTest, LargeContentThroughSmallBuffers) {
  const std::string content = RandomBytes(1 << 20, 9);
  const std::string body = absl::StrCat(FilePart("zz", content), "--zz--\r\n");
  MultipartLimits limits;
  limits.read_size = 1000;
  Parsed p = ParseString(body, "zz", 777, limits);
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.content, content);
}

TEST(MultipartTest, EmptyContentNoPreambleAndTransportPadding) {
  Parsed empty = ParseString("--B\r\nContent-Disposition: form-data; name=file\r\n\r\n\r\n--B--",
                             "B");
  ASSERT_TRUE(empty.status.ok()) << empty.status;
  EXPECT_EQ(empty.content, "");
  EXPECT_EQ(empty.file_name, "");
  // Spaces and tabs after a delimiter, before its CRLF, are transport padding.
  Parsed padded = ParseString(
      "--B \t\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--B  \r\n"
      "Content-Disposition: form-data; name=\"x\"\r\n\r\n\r\n--B--",
      "B");
  ASSERT_TRUE(padded.status.ok()) << padded.status;
  EXPECT_EQ(padded.content, "abc");
}

TEST(MultipartTest, TheFirstFilePartWinsAndOthersAreSkipped) {
  const std::string body = absl::StrCat(
      FilePart("B", "skipped", "notes"), FilePart("B", "first", "file", "one.bin"),
      FilePart("B", "second", "file", "two.bin"), "--B--");
  Parsed p = ParseString(body, "B");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.content, "first");
  EXPECT_EQ(p.file_name, "one.bin");
}

TEST(MultipartTest, HeaderParameters) {
  // Header names are case-insensitive; filename* wins over filename.
  Parsed p = ParseString(
      "--B\r\ncontent-disposition: form-data; name=\"file\"; filename=\"plain.bin\"; "
      "filename*=UTF-8''%E2%82%AC%20rates.bin\r\nCONTENT-TYPE: application/zip\r\n\r\nz\r\n--B--",
      "B");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.file_name, "\xe2\x82\xac rates.bin");
  EXPECT_EQ(p.content_type, "application/zip");

  HeaderValue v = ParseHeaderValue(
      R"(form-data; name="a;b"; filename="C:\dir\q\"x\".bin"; empty=; flag)");
  EXPECT_EQ(v.value, "form-data");
  EXPECT_EQ(v.params["name"], "a;b");
  EXPECT_EQ(v.params["filename"], R"(C:\dir\q"x".bin)");
  EXPECT_EQ(v.params["empty"], "");
  EXPECT_EQ(v.params.count("flag"), 1u);
}

TEST(MultipartTest, Boundaries) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; charset=utf-8; BOUNDARY=\"a b:c\""), "a b:c");
  EXPECT_EQ(*MultipartBoundary("multipart/form-data;boundary=----x"), "----x");
  EXPECT_THAT(MultipartBoundary("multipart/form-data"),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MultipartBoundary("multipart/form-data; boundary="),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'a')),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MultipartBoundary("multipart/form-data; boundary=\"a\rb\""),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(IsMultipartContentType(" Multipart/Form-Data; boundary=x"));
  EXPECT_FALSE(IsMultipartContentType("application/octet-stream"));

  // A quoted boundary with a space works end to end.
  Parsed p = ParseString(absl::StrCat(FilePart("a b", "spaced"), "--a b--"), "a b");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.content, "spaced");
}

void ExpectMalformed(const std::string& body, const std::string& why) {
  for (size_t read_size : {1, 4096}) {
    Parsed p = ParseString(body, "B", read_size);
    EXPECT_THAT(p.status, StatusCodeIs(absl::StatusCode::kInvalidArgument)) << why;
    EXPECT_THAT(std::string(p.status.message()), StartsWith("Malformed multipart body")) << why;
  }
}

TEST(MultipartTest, BrokenEnvelopesAreErrorsNeverAShortFile) {
  const std::string good = absl::StrCat(FilePart("B", "content"), "--B--\r\n");
  ASSERT_TRUE(ParseString(good, "B").status.ok());
  // Every truncation of a good body fails: no prefix looks complete.
  for (size_t cut = 0; cut < good.size() - 2; ++cut) {
    Parsed p = ParseString(good.substr(0, cut), "B");
    EXPECT_FALSE(p.status.ok()) << "cut at " << cut << " gave " << p.content;
  }
  ExpectMalformed(absl::StrCat(FilePart("B", "content")), "missing final boundary");
  ExpectMalformed("no boundary anywhere in here", "no boundary");
  ExpectMalformed("", "empty body");
  ExpectMalformed("--Bgarbage\r\n\r\nx\r\n--B--", "CRLF-less garbage after a boundary");
  ExpectMalformed("--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--Bx\r\n",
                  "garbage after a closing part");
  ExpectMalformed("--B\r\nno colon here\r\n\r\nx\r\n--B--", "header without a colon");
  ExpectMalformed("--B\r\n folded: header\r\n\r\nx\r\n--B--", "folded header");
  ExpectMalformed("--B\r\nContent-Disposition: form-data; name=\"file\"", "cut in the headers");
  ExpectMalformed(absl::StrCat("--B", std::string(300, ' '), "\r\n\r\nx\r\n--B--"),
                  "endless padding");
  ExpectMalformed(absl::StrCat("--B\r\nX-Long: ", std::string(9000, 'h'), "\r\n\r\nx\r\n--B--"),
                  "headers too long");
}

TEST(MultipartTest, NoFilePart) {
  Parsed p = ParseString(absl::StrCat(FilePart("B", "v", "other"), "--B--"), "B");
  EXPECT_THAT(p.status, ::fwota::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                                   "Required request part 'file' is not present"));
  Parsed none = ParseString("--B--\r\n", "B");
  EXPECT_THAT(none.status, StatusCodeIs(absl::StatusCode::kInvalidArgument));
}

TEST(MultipartTest, OverheadLimit) {
  MultipartLimits limits;
  limits.max_overhead = 200;
  const std::string content(10000, 'c');
  // The file's own bytes do not count.
  ASSERT_TRUE(ParseString(absl::StrCat(FilePart("B", content), "--B--"), "B", 4096, limits)
                  .status.ok());
  // A long preamble, a big other part before or after: too much.
  for (const std::string& body :
       {absl::StrCat(std::string(300, 'p'), "\r\n", FilePart("B", content), "--B--"),
        absl::StrCat(FilePart("B", std::string(300, 'o'), "other"), FilePart("B", content),
                     "--B--"),
        absl::StrCat(FilePart("B", content), FilePart("B", std::string(300, 'o'), "other"),
                     "--B--")}) {
    Parsed p = ParseString(body, "B", 4096, limits);
    EXPECT_THAT(p.status, StatusCodeIs(absl::StatusCode::kResourceExhausted));
  }
}

TEST(MultipartTest, ErrorsOfTheUnderlyingSourcePassThrough) {
  const std::string good = absl::StrCat(FilePart("B", "content"), "--B--\r\n");
  FailingSource early(good.substr(0, 10));
  EXPECT_THAT(ParseAll(early, "B").status, StatusCodeIs(absl::StatusCode::kUnavailable));
  FailingSource late(good.substr(0, good.size() - 4));
  EXPECT_THAT(ParseAll(late, "B").status, StatusCodeIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace fwota::http::internal
