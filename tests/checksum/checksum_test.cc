// The public checksum API: published vectors, streaming equivalence, names, and the
// tolerant comparison of administrators' checksums.
#include "fwota/checksum.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"

namespace fwota {
namespace {

using ::fwota::v1::CHECKSUM_ALGORITHM_UNSPECIFIED;
using ::fwota::v1::CRC32;
using ::fwota::v1::MD5;
using ::fwota::v1::MURMUR3_128;
using ::fwota::v1::MURMUR3_32;
using ::fwota::v1::SHA256;
using ::fwota::v1::SHA384;
using ::fwota::v1::SHA512;

std::vector<uint8_t> RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(size);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

std::string Hash(ChecksumAlgorithm algorithm, absl::Span<const uint8_t> data) {
  return ChecksumText(algorithm, data);
}

// Streams `data` in the pieces [0, cut1), [cut1, cut2), [cut2, end).
std::string HashInPieces(ChecksumAlgorithm algorithm, absl::Span<const uint8_t> data,
                         size_t cut1, size_t cut2) {
  auto hasher = NewHasher(algorithm);
  EXPECT_TRUE(hasher.ok()) << hasher.status();
  (*hasher)->Update(data.subspan(0, cut1));
  (*hasher)->Update(data.subspan(cut1, cut2 - cut1));
  (*hasher)->Update(data.subspan(cut2));
  return ToHex((*hasher)->Finish());
}

TEST(ChecksumTest, ThingsBoardVectors) {
  EXPECT_EQ(ChecksumText(CRC32, "123456789"), "2639f4cb");
  EXPECT_EQ(ChecksumText(MURMUR3_32, "123456789"), "82f3feb4");
  EXPECT_EQ(ChecksumText(MURMUR3_128, "123456789"), "a4cc66db5e64843c05a11e3ac7faf899");
  const std::vector<uint8_t> one = {0x01};
  EXPECT_EQ(Hash(SHA256, one),
            "4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a");
  const std::vector<uint8_t> odd = {1, 3, 5};
  EXPECT_EQ(Hash(SHA256, odd),
            "62467691cf583d4fa78b18fafaf9801f505e0ef03baf0603fd4b0cd004cd1e75");
}

TEST(ChecksumTest, PublishedVectorsForAbc) {  // RFC 1321, FIPS 180-2
  EXPECT_EQ(ChecksumText(MD5, "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(ChecksumText(SHA256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ChecksumText(SHA384, "abc"),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"
            "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
  EXPECT_EQ(ChecksumText(SHA512, "abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(ChecksumTest, EmptyInput) {
  EXPECT_EQ(ChecksumText(MD5, ""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(ChecksumText(SHA256, ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ChecksumText(SHA384, ""),
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be0743"
            "4c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b");
  EXPECT_EQ(ChecksumText(SHA512, ""),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
  EXPECT_EQ(ChecksumText(CRC32, ""), "00000000");
  EXPECT_EQ(ChecksumText(MURMUR3_32, ""), "00000000");
  EXPECT_EQ(ChecksumText(MURMUR3_128, ""), "00000000000000000000000000000000");
  // An empty span with a null pointer, and no Update at all.
  for (ChecksumAlgorithm algorithm : AllChecksumAlgorithms()) {
    auto fed = NewHasher(algorithm);
    auto unfed = NewHasher(algorithm);
    ASSERT_TRUE(fed.ok() && unfed.ok());
    (*fed)->Update(absl::Span<const uint8_t>());
    EXPECT_EQ((*fed)->Finish(), (*unfed)->Finish()) << ChecksumAlgorithmName(algorithm);
  }
}

// Empty spans (null data) between real updates change nothing.
TEST(ChecksumTest, EmptyUpdatesInTheMiddle) {
  const std::vector<uint8_t> data = RandomBytes(1000, 11);
  for (ChecksumAlgorithm algorithm : AllChecksumAlgorithms()) {
    auto hasher = NewHasher(algorithm);
    ASSERT_TRUE(hasher.ok());
    (*hasher)->Update(absl::MakeConstSpan(data).subspan(0, 301));
    (*hasher)->Update(absl::Span<const uint8_t>());
    (*hasher)->Update(absl::MakeConstSpan(data).subspan(301, 0));
    (*hasher)->Update(absl::MakeConstSpan(data).subspan(301));
    (*hasher)->Update(absl::Span<const uint8_t>());
    EXPECT_EQ(ToHex((*hasher)->Finish()), Hash(algorithm, data))
        << ChecksumAlgorithmName(algorithm);
  }
}

TEST(ChecksumTest, DigestSizesAndLowercaseHex) {
  const std::vector<uint8_t> data = RandomBytes(100, 1);
  for (ChecksumAlgorithm algorithm : AllChecksumAlgorithms()) {
    auto hasher = NewHasher(algorithm);
    ASSERT_TRUE(hasher.ok());
    EXPECT_EQ((*hasher)->algorithm(), algorithm);
    (*hasher)->Update(data);
    const std::vector<uint8_t> digest = (*hasher)->Finish();
    EXPECT_EQ(digest.size(), DigestSize(algorithm)) << ChecksumAlgorithmName(algorithm);
    const std::string text = ToHex(digest);
    EXPECT_EQ(text, absl::AsciiStrToLower(text));
    EXPECT_EQ(text.size(), 2 * DigestSize(algorithm));
  }
  EXPECT_EQ(ToHex(std::vector<uint8_t>{0x00, 0x0f, 0xa0, 0xff}), "000fa0ff");
}

// Every two-way split of several sizes (around the 4- and 16-byte Murmur blocks, the
// 64/256/512-byte CRC folding strides and the 64/128-byte SHA blocks), and three-way
// splits of a smaller one, give the one-shot digest.
TEST(ChecksumTest, AnySplitGivesTheSameDigest) {
  for (size_t size : {1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511,
                      512, 513, 1023, 1024, 1300}) {
    const std::vector<uint8_t> data = RandomBytes(size, static_cast<uint32_t>(size));
    for (ChecksumAlgorithm algorithm : AllChecksumAlgorithms()) {
      const std::string whole = Hash(algorithm, data);
      for (size_t cut = 0; cut <= size; ++cut) {
        ASSERT_EQ(HashInPieces(algorithm, data, cut, cut), whole)
            << ChecksumAlgorithmName(algorithm) << " size " << size << " cut " << cut;
      }
    }
  }
  const std::vector<uint8_t> data = RandomBytes(70, 70);
  for (ChecksumAlgorithm algorithm : AllChecksumAlgorithms()) {
    const std::string whole = Hash(algorithm, data);
    for (size_t cut1 = 0; cut1 <= data.size(); ++cut1) {
      for (size_t cut2 = cut1; cut2 <= data.size(); ++cut2) {
        ASSERT_EQ(HashInPieces(algorithm, data, cut1, cut2), whole)
            << ChecksumAlgorithmName(algorithm) << " cuts " << cut1 << "," << cut2;
      }
    }
  }
}

TEST(ChecksumTest, RandomChunksOfALargeInput) {
  const std::vector<uint8_t> data = RandomBytes(3 * 1024 * 1024 + 7, 42);
  std::mt19937 rng(7);
  for (ChecksumAlgorithm algorithm : AllChecksumAlgorithms()) {
    const std::string whole = Hash(algorithm, data);
    auto hasher = NewHasher(algorithm);
    ASSERT_TRUE(hasher.ok());
    for (size_t pos = 0; pos < data.size();) {
      // Mostly small odd chunks, sometimes a big one.
      size_t chunk = (rng() % 8 == 0) ? rng() % 300000 : rng() % 5000;
      chunk = std::min(chunk, data.size() - pos);
      (*hasher)->Update(absl::MakeConstSpan(data).subspan(pos, chunk));
      pos += chunk;
    }
    EXPECT_EQ(ToHex((*hasher)->Finish()), whole) << ChecksumAlgorithmName(algorithm);
  }
}

TEST(ChecksumTest, DifferentInputsDiffer) {
  std::vector<uint8_t> data = RandomBytes(1000, 3);
  for (ChecksumAlgorithm algorithm : AllChecksumAlgorithms()) {
    const std::string before = Hash(algorithm, data);
    data[500] ^= 1;
    EXPECT_NE(Hash(algorithm, data), before) << ChecksumAlgorithmName(algorithm);
    data[500] ^= 1;
  }
}

TEST(ChecksumTest, NamesRoundTrip) {
  const std::vector<ChecksumAlgorithm>& all = AllChecksumAlgorithms();
  ASSERT_EQ(all.size(), 7u);
  const std::vector<std::string> expected = {"MD5",   "SHA256",     "SHA384",     "SHA512",
                                             "CRC32", "MURMUR3_32", "MURMUR3_128"};
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(ChecksumAlgorithmName(all[i]), expected[i]);
    EXPECT_EQ(static_cast<int>(all[i]), static_cast<int>(i) + 1);  // enum order
    auto parsed = ParseChecksumAlgorithm(expected[i]);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, all[i]);
    auto lower = ParseChecksumAlgorithm(absl::AsciiStrToLower(expected[i]));
    ASSERT_TRUE(lower.ok());
    EXPECT_EQ(*lower, all[i]);
  }
  auto mixed = ParseChecksumAlgorithm("Murmur3_128");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(*mixed, MURMUR3_128);
}

TEST(ChecksumTest, UnknownAlgorithms) {
  for (const char* name : {"", "SHA-256", "SHA1", "CRC32C", "MURMUR3", " MD5",
                           "CHECKSUM_ALGORITHM_UNSPECIFIED"}) {
    auto parsed = ParseChecksumAlgorithm(name);
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("MURMUR3_128"), absl::string_view::npos)
        << parsed.status();
  }
  auto hasher = NewHasher(CHECKSUM_ALGORITHM_UNSPECIFIED);
  ASSERT_FALSE(hasher.ok());
  EXPECT_EQ(hasher.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DigestSize(CHECKSUM_ALGORITHM_UNSPECIFIED), 0u);
  EXPECT_EQ(ChecksumAlgorithmName(CHECKSUM_ALGORITHM_UNSPECIFIED), "");
  EXPECT_EQ(ChecksumText(CHECKSUM_ALGORITHM_UNSPECIFIED, "abc"), "");
}

TEST(ChecksumTest, NormalizeChecksumText) {
  EXPECT_EQ(*NormalizeChecksumText("  0xABCdef01\n"), "abcdef01");
  EXPECT_EQ(*NormalizeChecksumText("0XFF"), "ff");
  EXPECT_EQ(*NormalizeChecksumText("2639f4cb"), "2639f4cb");
  for (const char* bad : {"", "  ", "0x", "xyz", "12 34", "-1", "0x0x12", "g0"}) {
    auto normalized = NormalizeChecksumText(bad);
    EXPECT_FALSE(normalized.ok()) << bad;
    if (!normalized.ok()) {
      EXPECT_EQ(normalized.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(ChecksumMatchesTest, Crc32BothByteOrdersAndCase) {
  const std::string computed = ChecksumText(CRC32, "123456789");
  EXPECT_TRUE(ChecksumMatches(CRC32, "2639f4cb", computed));
  EXPECT_TRUE(ChecksumMatches(CRC32, "2639F4CB", computed));
  EXPECT_TRUE(ChecksumMatches(CRC32, "cbf43926", computed));  // zlib / Java order
  EXPECT_TRUE(ChecksumMatches(CRC32, "CBF43926", computed));
  EXPECT_TRUE(ChecksumMatches(CRC32, " 0xcbf43926 ", computed));
  EXPECT_FALSE(ChecksumMatches(CRC32, "cbf43927", computed));
  EXPECT_FALSE(ChecksumMatches(CRC32, "2639f4cc", computed));
  EXPECT_FALSE(ChecksumMatches(CRC32, "0cbf43926", computed));  // too long
  EXPECT_FALSE(ChecksumMatches(CRC32, "639f4cb", computed));    // LE lacking a digit
  EXPECT_FALSE(ChecksumMatches(CRC32, "", computed));
  EXPECT_FALSE(ChecksumMatches(CRC32, "not hex!", computed));
}

TEST(ChecksumMatchesTest, Murmur3_32BothByteOrders) {
  const std::string computed = ChecksumText(MURMUR3_32, "123456789");
  EXPECT_TRUE(ChecksumMatches(MURMUR3_32, "82f3feb4", computed));
  EXPECT_TRUE(ChecksumMatches(MURMUR3_32, "B4FEF382", computed));
  EXPECT_FALSE(ChecksumMatches(MURMUR3_32, "b4fef383", computed));
}

// Big-endian text without its leading zeros, as zlib tools and Long.toHexString print
// it: find inputs whose CRC32 / MURMUR3_32 value is below 0x10000000.
TEST(ChecksumMatchesTest, MissingLeadingZeros) {
  for (ChecksumAlgorithm algorithm : {CRC32, MURMUR3_32}) {
    int found = 0;
    for (uint32_t i = 0; found < 3 && i < 100000; ++i) {
      const std::string data = "firmware-" + std::to_string(i);
      const std::string computed = ChecksumText(algorithm, data);
      // ThingsBoard's form is little-endian: the big-endian text reverses the bytes.
      std::string big_endian;
      for (int byte = 3; byte >= 0; --byte) big_endian += computed.substr(2 * byte, 2);
      if (big_endian[0] != '0') continue;
      ++found;
      const size_t zeros = big_endian.find_first_not_of('0');
      const std::string stripped =
          zeros == std::string::npos ? "0" : big_endian.substr(zeros);
      EXPECT_TRUE(ChecksumMatches(algorithm, big_endian, computed));
      EXPECT_TRUE(ChecksumMatches(algorithm, stripped, computed)) << stripped;
      EXPECT_TRUE(ChecksumMatches(algorithm, absl::AsciiStrToUpper(stripped), computed));
      // The same digits with the first one changed are another value.
      std::string wrong = stripped;
      wrong[0] = wrong[0] == '1' ? '2' : '1';
      EXPECT_FALSE(ChecksumMatches(algorithm, wrong, computed)) << wrong;
    }
    EXPECT_EQ(found, 3) << ChecksumAlgorithmName(algorithm);
  }
}

TEST(ChecksumMatchesTest, OtherAlgorithmsExactButCaseInsensitive) {
  for (ChecksumAlgorithm algorithm : {MD5, SHA256, SHA384, SHA512, MURMUR3_128}) {
    const std::string computed = ChecksumText(algorithm, "123456789");
    EXPECT_TRUE(ChecksumMatches(algorithm, computed, computed));
    EXPECT_TRUE(ChecksumMatches(algorithm, absl::AsciiStrToUpper(computed), computed));
    EXPECT_FALSE(ChecksumMatches(algorithm, computed.substr(1), computed));
    EXPECT_FALSE(ChecksumMatches(algorithm, computed + "0", computed));
    std::string wrong = computed;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    EXPECT_FALSE(ChecksumMatches(algorithm, wrong, computed));
    // Reversed bytes are only accepted for the 32-bit checksums.
    std::string reversed;
    for (size_t i = computed.size(); i >= 2; i -= 2) reversed += computed.substr(i - 2, 2);
    EXPECT_FALSE(ChecksumMatches(algorithm, reversed, computed));
  }
}

}  // namespace
}  // namespace fwota
