// The pure helpers of the HTTP mapping: chunk and Range arithmetic, entity tags, header
// sanitizing, UUIDs and integer parameters.
#include <limits>
#include <string>

#include "adapters/http/internal/ota_http_util.h"
#include "adapters/http/internal/ota_range.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace fwota::http::internal {
namespace {

using ::fwota::testing::StatusCodeIs;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

void ExpectSpan(ByteSpan span, int64_t offset, int64_t length) {
  EXPECT_EQ(span.offset, offset);
  EXPECT_EQ(span.length, length);
}

TEST(ChunkSpanTest, ThingsBoardChunks) {
  ExpectSpan(ChunkSpan(0, 0, 1000), 0, 1000);
  ExpectSpan(ChunkSpan(0, 7, 1000), 0, 1000);
  ExpectSpan(ChunkSpan(300, 0, 1000), 0, 300);
  ExpectSpan(ChunkSpan(300, 3, 1000), 900, 100);
  EXPECT_EQ(ChunkSpan(300, 4, 1000).length, 0);
  EXPECT_EQ(ChunkSpan(1000, 1, 1000).length, 0);
  EXPECT_EQ(ChunkSpan(2, kMax, 1000).length, 0);
  EXPECT_EQ(ChunkSpan(kMax, kMax, 1000).length, 0);
  EXPECT_EQ(ChunkSpan(kMax, 1, 1000).length, 0);
  ExpectSpan(ChunkSpan(kMax, 0, 1000), 0, 1000);
  EXPECT_EQ(ChunkSpan(65536, kMax / 65536 + 1, kMax).length, 0);
  ExpectSpan(ChunkSpan(65536, 2, int64_t{1} << 40), 131072, 65536);
}

void ExpectRange(absl::string_view header, int64_t total, RangeDecision::Kind kind,
                 int64_t offset = 0, int64_t length = 0) {
  RangeDecision d = EvaluateRange(header, total);
  EXPECT_EQ(d.kind, kind) << header;
  if (kind == RangeDecision::kPartial) {
    EXPECT_EQ(d.span.offset, offset) << header;
    EXPECT_EQ(d.span.length, length) << header;
  }
}

TEST(EvaluateRangeTest, Rfc7233) {
  ExpectRange("bytes=0-0", 10, RangeDecision::kPartial, 0, 1);
  ExpectRange("bytes=0-9", 10, RangeDecision::kPartial, 0, 10);
  ExpectRange("bytes=0-10", 10, RangeDecision::kPartial, 0, 10);
  ExpectRange("bytes=9-", 10, RangeDecision::kPartial, 9, 1);
  ExpectRange("bytes=-1", 10, RangeDecision::kPartial, 9, 1);
  ExpectRange("bytes=-10", 10, RangeDecision::kPartial, 0, 10);
  ExpectRange("bytes=-11", 10, RangeDecision::kPartial, 0, 10);
  ExpectRange("bytes=-99999999999999999999999", 10, RangeDecision::kPartial, 0, 10);
  ExpectRange("Bytes=2-3", 10, RangeDecision::kPartial, 2, 2);
  ExpectRange("bytes=0-", int64_t{5} << 32, RangeDecision::kPartial, 0, int64_t{5} << 32);
  ExpectRange("bytes=4294967296-4294967297", int64_t{5} << 32, RangeDecision::kPartial,
              int64_t{1} << 32, 2);

  ExpectRange("bytes=10-", 10, RangeDecision::kUnsatisfiable);
  ExpectRange("bytes=10-20", 10, RangeDecision::kUnsatisfiable);
  ExpectRange("bytes=-0", 10, RangeDecision::kUnsatisfiable);
  ExpectRange("bytes=99999999999999999999999-", 10, RangeDecision::kUnsatisfiable);

  for (absl::string_view ignored :
       {"", "bytes", "bytes=", "bytes=-", "bytes=a-", "bytes=1-a", "bytes=3-2", "bits=0-1",
        "bytes=0-1,3-4", "bytes=0-1,", "bytes 0-1", "bytesx=0-1", "bytes=+1-2", "bytes=1--2",
        "bytes=0x10-"}) {
    ExpectRange(ignored, 10, RangeDecision::kIgnore);
  }
}

TEST(EntityTagTest, StrongAndWeakComparison) {
  const std::string etag = "\"abc\"";
  EXPECT_TRUE(EntityTagListMatches("\"abc\"", etag, false));
  EXPECT_TRUE(EntityTagListMatches(" \"x\" , \"abc\" ", etag, false));
  EXPECT_FALSE(EntityTagListMatches("W/\"abc\"", etag, false));
  EXPECT_TRUE(EntityTagListMatches("W/\"abc\"", etag, true));
  EXPECT_TRUE(EntityTagListMatches("*", etag, true));
  EXPECT_FALSE(EntityTagListMatches("abc", etag, true));
  EXPECT_FALSE(EntityTagListMatches("\"abcd\"", etag, true));
  EXPECT_FALSE(EntityTagListMatches("", etag, true));
}

TEST(HeaderSafeTest, NoHeaderInjection) {
  EXPECT_EQ(HeaderSafe("fw.bin", true), "fw.bin");
  EXPECT_EQ(HeaderSafe("a\"b\\c", true), "a\\\"b\\\\c");
  EXPECT_EQ(HeaderSafe("a\"b", false), "a\"b");
  EXPECT_EQ(HeaderSafe("x\r\nSet-Cookie: y\x7f", false), "x__Set-Cookie: y_");
  EXPECT_EQ(HeaderSafe("\xc3\xa9t\xc3\xa9.bin", true), "\xc3\xa9t\xc3\xa9.bin");
}

TEST(OtaHttpUtilTest, Uuids) {
  EXPECT_TRUE(IsUuid("123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_TRUE(IsUuid("123E4567-E89B-12D3-A456-426614174000"));
  EXPECT_FALSE(IsUuid("123e4567e89b12d3a456426614174000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-4266141740000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456_426614174000"));
  EXPECT_FALSE(IsUuid("g23e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(IsUuid(""));
  EXPECT_EQ(*CheckUuid("123E4567-E89B-12D3-A456-426614174000"),
            "123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(CheckUuid("nope").status().message(), "Invalid UUID string: nope");
  EXPECT_EQ(CheckUuid(std::string(500, 'a')).status().message().size(),
            std::string("Invalid UUID string: ").size() + 100 + 3);
}

TEST(OtaHttpUtilTest, Integers) {
  EXPECT_EQ(*ParseInteger("n", "0"), 0);
  EXPECT_EQ(*ParseInteger("n", "+12"), 12);
  EXPECT_EQ(*ParseInteger("n", "-12"), -12);
  EXPECT_EQ(*ParseInteger("n", "9223372036854775807"), kMax);
  EXPECT_EQ(*ParseInteger("n", "-9223372036854775808"), std::numeric_limits<int64_t>::min());
  for (absl::string_view bad :
       {"", "+", "-", "9223372036854775808", "-9223372036854775809", "1e3", " 1", "1 ", "0x10",
        "1.0", "١"}) {
    EXPECT_THAT(ParseInteger("n", bad), StatusCodeIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

}  // namespace
}  // namespace fwota::http::internal
