// MurmurHash3 against SMHasher's verification values and ThingsBoard's vectors, with
// seeds and streaming.
#include "lib/checksum/murmur3.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace fwota {
namespace checksum_internal {
namespace {

std::vector<uint8_t> RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(size);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

// SMHasher's VerificationTest: hash {0, 1, ..., i-1} with seed 256-i for i in 0..255,
// hash the concatenated digests with seed 0, read the first 4 bytes little-endian.
template <typename HashFunction>
uint32_t Verification(size_t digest_size, HashFunction hash) {
  uint8_t key[256];
  std::vector<uint8_t> digests(digest_size * 256);
  for (int i = 0; i < 256; ++i) {
    key[i] = static_cast<uint8_t>(i);
    hash(key, i, 256 - i, &digests[i * digest_size]);
  }
  std::vector<uint8_t> final_digest(digest_size);
  hash(digests.data(), digests.size(), 0, final_digest.data());
  return uint32_t{final_digest[0]} | uint32_t{final_digest[1]} << 8 |
         uint32_t{final_digest[2]} << 16 | uint32_t{final_digest[3]} << 24;
}

void Hash32(const uint8_t* data, size_t size, uint32_t seed, uint8_t* out) {
  const uint32_t h = Murmur3_32Hash(data, size, seed);
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(h >> (8 * i));
}

void Hash128(const uint8_t* data, size_t size, uint32_t seed, uint8_t* out) {
  const std::array<uint8_t, 16> h = Murmur3_128Hash(data, size, seed);
  std::memcpy(out, h.data(), h.size());
}

TEST(Murmur3Test, SmhasherVerificationValues) {
  EXPECT_EQ(Verification(4, Hash32), 0xB0F57EE3u);
  EXPECT_EQ(Verification(16, Hash128), 0x6384BA69u);
}

TEST(Murmur3Test, ThingsBoardVectors) {
  const uint8_t text[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  EXPECT_EQ(Murmur3_32Hash(text, sizeof(text), 0), 0xb4fef382u);  // "82f3feb4" little-endian
  const std::array<uint8_t, 16> expected = {0xa4, 0xcc, 0x66, 0xdb, 0x5e, 0x64, 0x84, 0x3c,
                                            0x05, 0xa1, 0x1e, 0x3a, 0xc7, 0xfa, 0xf8, 0x99};
  EXPECT_EQ(Murmur3_128Hash(text, sizeof(text), 0), expected);
}

TEST(Murmur3Test, SeedMatters) {
  const std::vector<uint8_t> data = RandomBytes(33, 1);
  EXPECT_NE(Murmur3_32Hash(data.data(), data.size(), 0),
            Murmur3_32Hash(data.data(), data.size(), 1));
  EXPECT_NE(Murmur3_128Hash(data.data(), data.size(), 0),
            Murmur3_128Hash(data.data(), data.size(), 1));
}

TEST(Murmur3Test, StreamingWithSeedsMatchesOneShot) {
  const std::vector<uint8_t> data = RandomBytes(200, 2);
  for (uint32_t seed : {0u, 1u, 0x9747b28cu}) {
    for (size_t size = 0; size <= data.size(); size += 7) {
      const uint32_t whole32 = Murmur3_32Hash(data.data(), size, seed);
      const std::array<uint8_t, 16> whole128 = Murmur3_128Hash(data.data(), size, seed);
      for (size_t cut1 = 0; cut1 <= size; ++cut1) {
        const size_t cut2 = cut1 + (size - cut1) / 2;
        Murmur3_32 h32(seed);
        Murmur3_128 h128(seed);
        for (auto [from, to] : {std::pair<size_t, size_t>{0, cut1}, {cut1, cut2}, {cut2, size}}) {
          h32.Update(data.data() + from, to - from);
          h128.Update(data.data() + from, to - from);
        }
        ASSERT_EQ(h32.Finish(), whole32) << "seed " << seed << " size " << size << " cut " << cut1;
        ASSERT_EQ(h128.Finish(), whole128) << "seed " << seed << " size " << size << " cut " << cut1;
      }
    }
  }
}

TEST(Murmur3Test, ByteAtATime) {
  const std::vector<uint8_t> data = RandomBytes(1000, 3);
  Murmur3_32 h32;
  Murmur3_128 h128;
  for (uint8_t byte : data) {
    h32.Update(&byte, 1);
    h128.Update(&byte, 1);
  }
  EXPECT_EQ(h32.Finish(), Murmur3_32Hash(data.data(), data.size(), 0));
  EXPECT_EQ(h128.Finish(), Murmur3_128Hash(data.data(), data.size(), 0));
}

}  // namespace
}  // namespace checksum_internal
}  // namespace fwota
