// ByteSource over a string: reads of every size, including empty ones.
#include "fwota/byte_source.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace fwota {
namespace {

TEST(StringSourceTest, ReadsInPiecesAndEmptyReadsAreHarmless) {
  const std::string data = "abcdef";
  auto source = NewStringSource(data);
  EXPECT_EQ(source->SizeHint(), 6);
  // An empty span (null data) reads nothing; UBSan checks the memcpy it must not do.
  ASSERT_OK_AND_ASSIGN(size_t n, source->Read(absl::Span<char>()));
  EXPECT_EQ(n, 0u);
  char buffer[4];
  ASSERT_OK_AND_ASSIGN(n, source->Read(absl::MakeSpan(buffer, 4)));
  EXPECT_EQ(std::string(buffer, n), "abcd");
  ASSERT_OK_AND_ASSIGN(n, source->Read(absl::MakeSpan(buffer, 4)));
  EXPECT_EQ(std::string(buffer, n), "ef");
  ASSERT_OK_AND_ASSIGN(n, source->Read(absl::MakeSpan(buffer, 4)));
  EXPECT_EQ(n, 0u);
  ASSERT_OK_AND_ASSIGN(n, source->Read(absl::Span<char>()));
  EXPECT_EQ(n, 0u);
}

TEST(StringSourceTest, EmptyString) {
  auto source = NewStringSource("");
  char buffer[1];
  ASSERT_OK_AND_ASSIGN(size_t n, source->Read(absl::MakeSpan(buffer, 1)));
  EXPECT_EQ(n, 0u);
}

}  // namespace
}  // namespace fwota
