// The pure parts of the notification queue: attributes of a package, deleted keys, the
// token bucket's pacing, duration text.
#include "lib/updates/notices.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fwota::internal {
namespace {

using ::fwota::v1::FIRMWARE;
using ::fwota::v1::SOFTWARE;
using ::testing::ElementsAre;

std::vector<std::string> Keys(const std::vector<SharedAttribute>& attributes) {
  std::vector<std::string> keys;
  for (const SharedAttribute& a : attributes) keys.push_back(a.key);
  return keys;
}

TEST(PackageAttributesTest, DataPackageAsThingsBoardSetsThem) {
  OtaPackage p;
  p.set_title("fw");
  p.set_version("1.2");
  p.set_tag("fw 1.2");
  p.set_has_data(true);
  p.set_data_size(1234);
  p.set_checksum_algorithm(::fwota::v1::CRC32);
  p.set_checksum("cbf43926");
  std::vector<SharedAttribute> a = PackageAttributes(SOFTWARE, p);
  EXPECT_THAT(Keys(a), ElementsAre("sw_title", "sw_version", "sw_tag", "sw_size",
                                   "sw_checksum_algorithm", "sw_checksum"));
  EXPECT_EQ(a[1].text, "1.2");
  EXPECT_TRUE(a[3].is_number);
  EXPECT_EQ(a[3].number, 1234);
  EXPECT_EQ(a[4].text, "CRC32");
  EXPECT_EQ(a[5].text, "cbf43926");
  EXPECT_THAT(DeletedKeys(SOFTWARE, a), ElementsAre("sw_url"));
}

TEST(PackageAttributesTest, UrlPackageHasUrlInsteadOfData) {
  OtaPackage p;
  p.set_title("fw");
  p.set_version("2");
  p.set_tag("t");
  p.set_url("https://example.com/fw.bin");
  std::vector<SharedAttribute> a = PackageAttributes(FIRMWARE, p);
  EXPECT_THAT(Keys(a), ElementsAre("fw_title", "fw_version", "fw_tag", "fw_url"));
  EXPECT_THAT(DeletedKeys(FIRMWARE, a),
              ElementsAre("fw_size", "fw_checksum_algorithm", "fw_checksum"));
  EXPECT_EQ(DeletedKeys(FIRMWARE, {}), AttributeKeys(FIRMWARE));
  EXPECT_EQ(AttributeKeys(FIRMWARE).size(), 7u);
}

TEST(TokenBucketTest, StartsFullThenRefillsAtTheRate) {
  TokenBucket b(/*per_minute=*/100, /*burst=*/100, /*now=*/0);
  EXPECT_EQ(b.Available(0), 100);
  b.Take(100);
  EXPECT_EQ(b.Available(0), 0);
  EXPECT_EQ(b.MillisUntilNext(0), 600);  // 100 a minute: one per 600 ms
  EXPECT_EQ(b.Available(599), 0);
  EXPECT_EQ(b.Available(600), 1);
  EXPECT_EQ(b.Available(60000), 100);
  EXPECT_EQ(b.Available(600000), 100);  // never more than the burst
}

TEST(TokenBucketTest, SteadyRateAddsUpExactlyOverManySmallSteps) {
  TokenBucket b(/*per_minute=*/7, /*burst=*/1, /*now=*/0);
  b.Take(1);
  int64_t sent = 0;
  // Ten minutes in 12 ms steps, taking every token as it comes.
  for (int64_t t = 12; t <= 600000; t += 12) {
    const int64_t n = b.Available(t);
    b.Take(n);
    sent += n;
  }
  EXPECT_EQ(sent, 70);
}

TEST(TokenBucketTest, BurstIsBoundedAndUnlimitedIsUnlimited) {
  TokenBucket b(/*per_minute=*/6000, /*burst=*/5, /*now=*/0);
  EXPECT_EQ(b.Available(10000), 5);
  TokenBucket unlimited(0, 1, 0);
  EXPECT_TRUE(unlimited.unlimited());
  EXPECT_GT(unlimited.Available(0), 1000000000);
  unlimited.Take(1000000);
  EXPECT_GT(unlimited.Available(0), 1000000000);
  EXPECT_EQ(unlimited.MillisUntilNext(0), 0);
  // Time going backwards adds nothing.
  TokenBucket back(60, 1, 1000);
  back.Take(1);
  EXPECT_EQ(back.Available(0), 0);
  EXPECT_EQ(back.Available(2000), 1);
}

TEST(DurationTextTest, Readable) {
  EXPECT_EQ(DurationText(0), "0s");
  EXPECT_EQ(DurationText(59999), "59s");
  EXPECT_EQ(DurationText(15 * 60000), "15m");
  EXPECT_EQ(DurationText(90061000), "25h1m1s");
}

}  // namespace
}  // namespace fwota::internal
