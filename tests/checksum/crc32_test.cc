// Every CRC32 kernel this CPU supports against zlib's crc32(), at every length up to
// 5000, unaligned starts, non-zero initial CRCs, and a few MiB.
#include "lib/checksum/crc32.h"

#include <zlib.h>

#include <cstdint>
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

uint32_t Zlib(uint32_t crc, const uint8_t* data, size_t size) {
  return static_cast<uint32_t>(crc32_z(crc, data, size));
}

class Crc32KernelTest : public ::testing::TestWithParam<Crc32Kernel> {
 protected:
  void SetUp() override {
    if (!Crc32KernelSupported(GetParam())) {
      GTEST_SKIP() << Crc32KernelName(GetParam()) << " is not supported on this CPU";
    }
  }
  uint32_t Crc(uint32_t crc, const uint8_t* data, size_t size) {
    return Crc32UpdateWith(GetParam(), crc, data, size);
  }
};

TEST_P(Crc32KernelTest, CheckValue) {
  const uint8_t text[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  EXPECT_EQ(Crc(0, text, sizeof(text)), 0xcbf43926u);  // the CRC-32 "check" value
  EXPECT_EQ(Crc(0, nullptr, 0), 0u);
  EXPECT_EQ(Crc(0x12345678, nullptr, 0), 0x12345678u);
}

TEST_P(Crc32KernelTest, EveryLengthUpTo5000) {
  const std::vector<uint8_t> data = RandomBytes(5000, 1);
  std::mt19937 rng(2);
  for (size_t size = 0; size <= data.size(); ++size) {
    const uint32_t init = size % 3 == 0 ? 0 : static_cast<uint32_t>(rng());
    ASSERT_EQ(Crc(init, data.data(), size), Zlib(init, data.data(), size))
        << "size " << size << " init " << init;
  }
}

TEST_P(Crc32KernelTest, UnalignedStarts) {
  const std::vector<uint8_t> data = RandomBytes(70000, 3);
  for (size_t offset = 0; offset < 64; ++offset) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{15}, size_t{100}, size_t{511},
                        size_t{4099}, size_t{65536}}) {
      const uint8_t* p = data.data() + offset;
      ASSERT_EQ(Crc(0, p, size), Zlib(0, p, size)) << "offset " << offset << " size " << size;
    }
  }
}

TEST_P(Crc32KernelTest, SeveralMiB) {
  const std::vector<uint8_t> data = RandomBytes(5 * 1024 * 1024 + 13, 4);
  EXPECT_EQ(Crc(0, data.data(), data.size()), Zlib(0, data.data(), data.size()));
  EXPECT_EQ(Crc(0, data.data() + 1, data.size() - 1), Zlib(0, data.data() + 1, data.size() - 1));
  // All-zero and all-one buffers stress the folding differently from random data.
  const std::vector<uint8_t> zeros(3 * 1024 * 1024, 0);
  const std::vector<uint8_t> ones(3 * 1024 * 1024, 0xff);
  EXPECT_EQ(Crc(0, zeros.data(), zeros.size()), Zlib(0, zeros.data(), zeros.size()));
  EXPECT_EQ(Crc(0, ones.data(), ones.size()), Zlib(0, ones.data(), ones.size()));
}

TEST_P(Crc32KernelTest, SplitsContinueTheCrc) {
  const std::vector<uint8_t> data = RandomBytes(3000, 5);
  const uint32_t whole = Zlib(0, data.data(), data.size());
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    const uint32_t first = Crc(0, data.data(), cut);
    ASSERT_EQ(Crc(first, data.data() + cut, data.size() - cut), whole) << "cut " << cut;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllKernels, Crc32KernelTest,
    ::testing::Values(Crc32Kernel::kZlib, Crc32Kernel::kPclmul128, Crc32Kernel::kVpclmul256,
                      Crc32Kernel::kVpclmul512),
    [](const ::testing::TestParamInfo<Crc32Kernel>& info) {
      return std::string(Crc32KernelName(info.param));
    });

TEST(Crc32Test, BestKernelIsSupportedAndUsed) {
  const Crc32Kernel best = BestCrc32Kernel();
  EXPECT_TRUE(Crc32KernelSupported(best));
  std::cout << "best CRC32 kernel here: " << Crc32KernelName(best) << "\n";
  const std::vector<uint8_t> data = RandomBytes(100000, 6);
  EXPECT_EQ(Crc32Update(0, data.data(), data.size()), Zlib(0, data.data(), data.size()));
#if defined(__x86_64__)
  // A CPU with PCLMULQDQ must not fall back to zlib.
  if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1")) {
    EXPECT_NE(best, Crc32Kernel::kZlib);
  }
#endif
}

}  // namespace
}  // namespace checksum_internal
}  // namespace fwota
