// Ids and secrets: canonical UUID text, version bits, time order of version 7, token
// alphabet.
#include "lib/util/random.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace fwota::internal {
namespace {

bool IsCanonical(const std::string& uuid) {
  if (uuid.size() != 36) return false;
  for (size_t i = 0; i < uuid.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (uuid[i] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(uuid[i]))) return false;
    if (!dash && std::isupper(static_cast<unsigned char>(uuid[i]))) return false;
  }
  return true;
}

TEST(RandomTest, Version4Uuids) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = NewUuid();
    EXPECT_TRUE(IsCanonical(u)) << u;
    EXPECT_EQ(u[14], '4') << u;
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RandomTest, Version7UuidsCarryTheTimeAndSortByIt) {
  // 0x0123456789ab ms: the first 48 bits, in order.
  std::string u = NewTimeOrderedUuid(0x0123456789ab);
  EXPECT_TRUE(IsCanonical(u)) << u;
  EXPECT_EQ(u.substr(0, 13), "01234567-89ab") << u;
  EXPECT_EQ(u[14], '7') << u;
  EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
  std::string previous = NewTimeOrderedUuid(1700000000000);
  for (int64_t ms = 1700000000001; ms < 1700000001000; ++ms) {
    std::string next = NewTimeOrderedUuid(ms);
    EXPECT_LT(previous, next) << ms;
    previous = next;
  }
  // Same millisecond: unique, and in the order they were made (history entries of one
  // millisecond keep their order when sorted by time, then id).
  previous = NewTimeOrderedUuid(5);
  for (int i = 0; i < 10000; ++i) {
    std::string next = NewTimeOrderedUuid(5);
    ASSERT_TRUE(IsCanonical(next)) << next;
    ASSERT_EQ(next[14], '7') << next;
    ASSERT_NE(std::string("89ab").find(next[19]), std::string::npos) << next;
    ASSERT_LT(previous, next) << i;
    previous = next;
  }
  EXPECT_EQ(NewTimeOrderedUuid(-1).substr(0, 13), "00000000-0000");
}

TEST(RandomTest, AlphanumericTokens) {
  std::string t = RandomAlphanumeric(2000);
  ASSERT_EQ(t.size(), 2000u);
  std::set<char> chars(t.begin(), t.end());
  for (char c : chars) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << c;
  EXPECT_GT(chars.size(), 50u);  // 62 possible; 2000 draws see nearly all
  EXPECT_EQ(RandomHex(4).size(), 8u);
}

}  // namespace
}  // namespace fwota::internal
