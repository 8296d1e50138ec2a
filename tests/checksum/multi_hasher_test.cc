// MultiHasher against the single hashers, with and without worker threads.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fwota/checksum.h"
#include "gtest/gtest.h"

namespace fwota {
namespace {

using ::fwota::v1::CHECKSUM_ALGORITHM_UNSPECIFIED;
using ::fwota::v1::CRC32;
using ::fwota::v1::MD5;
using ::fwota::v1::MURMUR3_128;
using ::fwota::v1::SHA256;

std::vector<uint8_t> RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(size);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

using Results = std::vector<std::pair<ChecksumAlgorithm, std::string>>;

Results Expected(const std::vector<ChecksumAlgorithm>& algorithms,
                 const std::vector<uint8_t>& data) {
  Results results;
  for (ChecksumAlgorithm algorithm : algorithms) {
    results.emplace_back(algorithm, ChecksumText(algorithm, data));
  }
  return results;
}

// Feeds `data` in chunks drawn from `rng`: small ones (gathered into batches) mixed with
// large ones (dispatched directly).
Results FeedInChunks(MultiHasher& multi, const std::vector<uint8_t>& data, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t pos = 0; pos < data.size();) {
    size_t chunk = (rng() % 4 == 0) ? 200000 + rng() % 900000 : rng() % 70000;
    chunk = std::min(chunk, data.size() - pos);
    multi.Update(absl::MakeConstSpan(data).subspan(pos, chunk));
    pos += chunk;
  }
  return multi.Finish();
}

TEST(MultiHasherTest, EqualsSingleHashersForEveryThreadCount) {
  const std::vector<uint8_t> data = RandomBytes(6 * 1024 * 1024 + 5, 1);
  const std::vector<ChecksumAlgorithm>& all = AllChecksumAlgorithms();
  const Results expected = Expected(all, data);
  for (int threads : {0, 1, 2, 3, 7, 16}) {
    auto multi = MultiHasher::Create(all, threads);
    ASSERT_TRUE(multi.ok()) << multi.status();
    EXPECT_EQ(FeedInChunks(**multi, data, threads), expected) << "threads " << threads;
  }
}

TEST(MultiHasherTest, PairsAndSingles) {
  const std::vector<uint8_t> data = RandomBytes(3 * 1024 * 1024, 2);
  for (const std::vector<ChecksumAlgorithm>& algorithms :
       std::vector<std::vector<ChecksumAlgorithm>>{
           {SHA256, MD5}, {SHA256, CRC32}, {MURMUR3_128}, {CRC32}, {MD5, MURMUR3_128, CRC32}}) {
    auto multi = MultiHasher::Create(algorithms, 2);
    ASSERT_TRUE(multi.ok()) << multi.status();
    EXPECT_EQ(FeedInChunks(**multi, data, 9), Expected(algorithms, data));
  }
}

TEST(MultiHasherTest, OneSmallUpdateAndNoUpdate) {
  const std::vector<ChecksumAlgorithm> algorithms = {SHA256, MD5, CRC32};
  const std::vector<uint8_t> small = {1, 3, 5};
  auto multi = MultiHasher::Create(algorithms, 2);
  ASSERT_TRUE(multi.ok());
  (*multi)->Update(small);
  EXPECT_EQ((*multi)->Finish(), Expected(algorithms, small));

  auto empty = MultiHasher::Create(algorithms, 2);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ((*empty)->Finish(), Expected(algorithms, {}));
}

TEST(MultiHasherTest, DuplicatesIgnoredOrderKept) {
  const std::vector<uint8_t> data = RandomBytes(1000, 3);
  auto multi = MultiHasher::Create({CRC32, SHA256, CRC32, MD5, SHA256}, 0);
  ASSERT_TRUE(multi.ok());
  (*multi)->Update(data);
  const Results results = (*multi)->Finish();
  EXPECT_EQ(results, Expected({CRC32, SHA256, MD5}, data));
  EXPECT_EQ((*multi)->Finish(), results);  // a second Finish repeats the answer
}

TEST(MultiHasherTest, RejectsBadArguments) {
  auto none = MultiHasher::Create({}, 0);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  auto unspecified = MultiHasher::Create({SHA256, CHECKSUM_ALGORITHM_UNSPECIFIED}, 2);
  ASSERT_FALSE(unspecified.ok());
  EXPECT_EQ(unspecified.status().code(), absl::StatusCode::kInvalidArgument);
  auto negative = MultiHasher::Create({SHA256}, -1);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MultiHasherTest, DestroyWithoutFinish) {
  auto multi = MultiHasher::Create({SHA256, MD5}, 2);
  ASSERT_TRUE(multi.ok());
  const std::vector<uint8_t> data = RandomBytes(500000, 4);
  (*multi)->Update(data);
  multi->reset();  // joins the worker without hanging
}

}  // namespace
}  // namespace fwota
