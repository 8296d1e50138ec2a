// The Hasher adapters over our own CRC32 and MurmurHash3 code.
#include <memory>
#include <vector>

#include "lib/checksum/crc32.h"
#include "lib/checksum/hashers.h"
#include "lib/checksum/murmur3.h"

namespace fwota {
namespace checksum_internal {
namespace {

std::vector<uint8_t> LittleEndian32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8),
          static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 24)};
}

class Crc32Hasher final : public Hasher {
 public:
  ChecksumAlgorithm algorithm() const override { return ::fwota::v1::CRC32; }
  void Update(absl::Span<const uint8_t> data) override {
    crc_ = Crc32Update(crc_, data.data(), data.size());
  }
  // Guava's HashCode.fromInt(crc): the CRC's bytes little-endian.
  std::vector<uint8_t> Finish() override { return LittleEndian32(crc_); }

 private:
  uint32_t crc_ = 0;
};

class Murmur3_32Hasher final : public Hasher {
 public:
  ChecksumAlgorithm algorithm() const override { return ::fwota::v1::MURMUR3_32; }
  void Update(absl::Span<const uint8_t> data) override {
    hash_.Update(data.data(), data.size());
  }
  std::vector<uint8_t> Finish() override { return LittleEndian32(hash_.Finish()); }

 private:
  Murmur3_32 hash_;
};

class Murmur3_128Hasher final : public Hasher {
 public:
  ChecksumAlgorithm algorithm() const override { return ::fwota::v1::MURMUR3_128; }
  void Update(absl::Span<const uint8_t> data) override {
    hash_.Update(data.data(), data.size());
  }
  std::vector<uint8_t> Finish() override {
    const std::array<uint8_t, 16> digest = hash_.Finish();
    return std::vector<uint8_t>(digest.begin(), digest.end());
  }

 private:
  Murmur3_128 hash_;
};

}  // namespace

std::unique_ptr<Hasher> NewCrc32Hasher() { return std::make_unique<Crc32Hasher>(); }
std::unique_ptr<Hasher> NewMurmur3_32Hasher() {
  return std::make_unique<Murmur3_32Hasher>();
}
std::unique_ptr<Hasher> NewMurmur3_128Hasher() {
  return std::make_unique<Murmur3_128Hasher>();
}

}  // namespace checksum_internal
}  // namespace fwota
