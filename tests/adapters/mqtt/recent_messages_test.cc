#include "adapters/mqtt/recent_messages.h"

#include <string>

#include "gtest/gtest.h"

namespace fwota::mqtt {
namespace {

TEST(RecentMessagesTest, RecognisesWhatItSawLately) {
  RecentMessages recent(3);
  EXPECT_TRUE(recent.Add("fwota/T/v2/fw/request/1/chunk/0", "4096"));
  EXPECT_FALSE(recent.Add("fwota/T/v2/fw/request/1/chunk/0", "4096"));
  // Another payload or topic is another message.
  EXPECT_TRUE(recent.Add("fwota/T/v2/fw/request/1/chunk/0", "1024"));
  EXPECT_TRUE(recent.Add("fwota/T/v2/fw/request/1/chunk/1", "4096"));
  // The topic/payload boundary counts: "ab"+"c" is not "a"+"bc".
  EXPECT_TRUE(recent.Add("ab", "c"));
  EXPECT_TRUE(recent.Add("a", "bc"));
}

TEST(RecentMessagesTest, ForgetsTheOldestBeyondItsCapacity) {
  RecentMessages recent(2);
  EXPECT_TRUE(recent.Add("t", "1"));
  EXPECT_TRUE(recent.Add("t", "2"));
  EXPECT_TRUE(recent.Add("t", "3"));  // "1" is forgotten
  EXPECT_FALSE(recent.Add("t", "3"));
  EXPECT_FALSE(recent.Add("t", "2"));
  EXPECT_TRUE(recent.Add("t", "1"));
}

}  // namespace
}  // namespace fwota::mqtt
