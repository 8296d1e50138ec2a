// The plain HTTP values: query and path decoding, header look-ups.
#include "adapters/http/http_message.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fwota::http {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;
using ::testing::ElementsAre;
using ::testing::Pair;

Pairs Parse(absl::string_view query) {
  Pairs out;
  EXPECT_TRUE(ParseQuery(query, out)) << query;
  return out;
}

TEST(ParseQueryTest, SplitsAndDecodes) {
  EXPECT_THAT(Parse("a=1&b=%20x&c"), ElementsAre(Pair("a", "1"), Pair("b", " x"), Pair("c", "")));
  EXPECT_THAT(Parse("title=My+Firmware&version=1.0%2B2"),
              ElementsAre(Pair("title", "My Firmware"), Pair("version", "1.0+2")));
  EXPECT_THAT(Parse("k%3Dx=v%26y"), ElementsAre(Pair("k=x", "v&y")));
  EXPECT_THAT(Parse("x=a=b"), ElementsAre(Pair("x", "a=b")));
  EXPECT_THAT(Parse("%C3%A9=%e2%82%ac"), ElementsAre(Pair("\xC3\xA9", "\xE2\x82\xAC")));
}

TEST(ParseQueryTest, EmptyPiecesAndValues) {
  EXPECT_THAT(Parse(""), ElementsAre());
  EXPECT_THAT(Parse("&&"), ElementsAre());
  EXPECT_THAT(Parse("a=&=b&&c="), ElementsAre(Pair("a", ""), Pair("", "b"), Pair("c", "")));
}

TEST(ParseQueryTest, RepeatedKeysKeepTheirOrder) {
  EXPECT_THAT(Parse("k=1&j=2&k=3"), ElementsAre(Pair("k", "1"), Pair("j", "2"), Pair("k", "3")));
  HttpRequest request;
  ASSERT_TRUE(ParseQuery("k=1&j=2&k=3", request.query));
  ASSERT_NE(request.Query("k"), nullptr);
  EXPECT_EQ(*request.Query("k"), "1");
  EXPECT_EQ(request.Query("missing"), nullptr);
}

TEST(ParseQueryTest, MalformedEscapesStayLiteral) {
  EXPECT_THAT(Parse("a=%zz&b=%4&c=%&d=100%"),
              ElementsAre(Pair("a", "%zz"), Pair("b", "%4"), Pair("c", "%"), Pair("d", "100%")));
  EXPECT_THAT(Parse("a=%4g1"), ElementsAre(Pair("a", "%4g1")));
  // A NUL in a query value is data, not a path separator: the mapping validates values.
  EXPECT_THAT(Parse("a=%00"), ElementsAre(Pair("a", std::string(1, '\0'))));
}

TEST(ParseQueryTest, CapsThePairs) {
  std::string query;
  for (int i = 0; i < 256; ++i) absl::StrAppend(&query, i == 0 ? "" : "&", "k", i, "=v");
  Pairs out;
  EXPECT_TRUE(ParseQuery(query, out));
  EXPECT_EQ(out.size(), 256u);
  EXPECT_FALSE(ParseQuery(query + "&one=more", out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(ParseQuery("a&b&c", out, 2));
  EXPECT_TRUE(ParseQuery("a&&b", out, 2));  // empty pieces do not count
}

TEST(ParseQueryTest, ClearsTheOutput) {
  Pairs out = {{"stale", "x"}};
  EXPECT_TRUE(ParseQuery("a=1", out));
  EXPECT_THAT(out, ElementsAre(Pair("a", "1")));
}

bool Decode(absl::string_view raw, std::string* out) { return DecodePath(raw, *out); }

TEST(DecodePathTest, DecodesEscapes) {
  std::string out;
  ASSERT_TRUE(Decode("/api/otaPackage/abc", &out));
  EXPECT_EQ(out, "/api/otaPackage/abc");
  ASSERT_TRUE(Decode("/a%20b/%41%62%2e", &out));
  EXPECT_EQ(out, "/a b/Ab.");
  ASSERT_TRUE(Decode("/a+b", &out));  // "+" is only a space in queries
  EXPECT_EQ(out, "/a+b");
  ASSERT_TRUE(Decode("/%e2%82%AC", &out));
  EXPECT_EQ(out, "/\xE2\x82\xAC");
  ASSERT_TRUE(Decode("", &out));
  EXPECT_EQ(out, "");
}

TEST(DecodePathTest, RejectsHiddenSeparatorsAndNul) {
  std::string out = "stale";
  EXPECT_FALSE(Decode("/api/v1/a%2Fb", &out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(Decode("/api/v1/a%2fb", &out));
  EXPECT_FALSE(Decode("/..%2F..%2Fetc", &out));
  EXPECT_FALSE(Decode("/a%00b", &out));
  EXPECT_FALSE(Decode(absl::string_view("/a\0b", 4), &out));
}

TEST(DecodePathTest, RejectsMalformedEscapes) {
  std::string out;
  for (absl::string_view raw : {"/%", "/a%4", "/%zz", "/%4g", "/%g4", "/x%", "/%%41"}) {
    EXPECT_FALSE(Decode(raw, &out)) << raw;
  }
}

TEST(HttpRequestTest, HeaderLookupIsByLowercaseName) {
  HttpRequest request;
  request.headers["content-type"] = "text/plain";
  ASSERT_NE(request.Header("content-type"), nullptr);
  EXPECT_EQ(*request.Header("content-type"), "text/plain");
  ASSERT_NE(request.Header("Content-Type"), nullptr);
  EXPECT_EQ(request.Header("accept"), nullptr);
}

TEST(HttpResponseTest, SetHeaderReplacesCaseInsensitively) {
  HttpResponse response;
  response.SetHeader("Content-Type", "text/plain");
  response.SetHeader("ETag", "\"x\"");
  response.SetHeader("content-type", "application/json");
  ASSERT_EQ(response.headers.size(), 2u);
  ASSERT_NE(response.Header("CONTENT-TYPE"), nullptr);
  EXPECT_EQ(*response.Header("Content-Type"), "application/json");
  EXPECT_EQ(*response.Header("etag"), "\"x\"");
  EXPECT_EQ(response.Header("Date"), nullptr);
}

}  // namespace
}  // namespace fwota::http
