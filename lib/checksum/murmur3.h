// Internal: streaming MurmurHash3 (Austin Appleby, public domain algorithm; SMHasher's
// MurmurHash3_x86_32 and MurmurHash3_x64_128) with a seed, so tests can check SMHasher's
// verification values. The public API (fwota/checksum.h) uses seed 0, as Guava's
// Hashing.murmur3_32 / murmur3_128 do.
//
// Length: both reference functions take the length as a C `int` and XOR it into the
// state, and Guava keeps it in a Java `int`; so for inputs of 2 GiB and more the length
// mixed in is the low 32 bits, sign-extended for the 64-bit variant. These classes do the
// same, so they agree with ThingsBoard on every input size.
#ifndef FWOTA_LIB_CHECKSUM_MURMUR3_H_
#define FWOTA_LIB_CHECKSUM_MURMUR3_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace fwota {
namespace checksum_internal {

// MurmurHash3_x86_32, streaming. Any split of the input across Update calls gives the
// same hash. Not thread-safe: one thread feeds one object.
class Murmur3_32 {
 public:
  explicit Murmur3_32(uint32_t seed = 0) : h1_(seed) {}

  // Adds `size` bytes at `data` (any alignment; null allowed when `size` is 0).
  void Update(const uint8_t* data, size_t size);

  // The 32-bit hash; its digest bytes (SMHasher's output, Guava's HashCode) are this
  // value little-endian. Does not change the state, so it may be called again, but
  // Update after Finish is not meaningful.
  uint32_t Finish() const;

 private:
  uint32_t h1_;
  uint64_t length_ = 0;
  uint8_t pending_[4] = {};  // the bytes of an incomplete block
  size_t pending_size_ = 0;
};

// MurmurHash3_x64_128, streaming; same contract as Murmur3_32.
class Murmur3_128 {
 public:
  explicit Murmur3_128(uint32_t seed = 0) : h1_(seed), h2_(seed) {}

  void Update(const uint8_t* data, size_t size);

  // The 16 digest bytes: h1 then h2, each little-endian (SMHasher's output byte order and
  // Guava's HashCode bytes).
  std::array<uint8_t, 16> Finish() const;

 private:
  uint64_t h1_;
  uint64_t h2_;
  uint64_t length_ = 0;
  uint8_t pending_[16] = {};
  size_t pending_size_ = 0;
};

// One-shot helpers. Thread-safe.
uint32_t Murmur3_32Hash(const uint8_t* data, size_t size, uint32_t seed);
std::array<uint8_t, 16> Murmur3_128Hash(const uint8_t* data, size_t size, uint32_t seed);

}  // namespace checksum_internal
}  // namespace fwota

#endif  // FWOTA_LIB_CHECKSUM_MURMUR3_H_
