// MurmurHash3_x86_32 and MurmurHash3_x64_128, written from the published algorithm: the
// block loops keep the state in registers and read whole blocks straight from the
// caller's buffer; only a block split across Update calls is copied.
#include "lib/checksum/murmur3.h"

#include <algorithm>
#include <cstring>

namespace fwota {
namespace checksum_internal {
namespace {

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  return v;
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

inline void Store64(uint64_t v, uint8_t* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline uint32_t Rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
inline uint64_t Rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

constexpr uint32_t kC1_32 = 0xcc9e2d51;
constexpr uint32_t kC2_32 = 0x1b873593;
constexpr uint64_t kC1_128 = 0x87c37b91114253d5ULL;
constexpr uint64_t kC2_128 = 0x4cf5ad432745937fULL;

inline uint32_t MixK1_32(uint32_t k1) { return Rotl32(k1 * kC1_32, 15) * kC2_32; }
inline uint64_t MixK1_128(uint64_t k1) { return Rotl64(k1 * kC1_128, 31) * kC2_128; }
inline uint64_t MixK2_128(uint64_t k2) { return Rotl64(k2 * kC2_128, 33) * kC1_128; }

inline uint32_t Fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

inline uint64_t Fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// Hashes `blocks` 4-byte blocks into h1 and returns it.
uint32_t Blocks32(uint32_t h1, const uint8_t* p, size_t blocks) {
  for (size_t i = 0; i < blocks; ++i, p += 4) {
    h1 ^= MixK1_32(Load32(p));
    h1 = Rotl32(h1, 13);
    h1 = h1 * 5 + 0xe6546b64;
  }
  return h1;
}

// Hashes `blocks` 16-byte blocks into (h1, h2).
void Blocks128(uint64_t& h1_ref, uint64_t& h2_ref, const uint8_t* p, size_t blocks) {
  uint64_t h1 = h1_ref;
  uint64_t h2 = h2_ref;
  for (size_t i = 0; i < blocks; ++i, p += 16) {
    h1 ^= MixK1_128(Load64(p));
    h1 = Rotl64(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52dce729;
    h2 ^= MixK2_128(Load64(p + 8));
    h2 = Rotl64(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495ab5;
  }
  h1_ref = h1;
  h2_ref = h2;
}

// Completes a pending partial block from the front of (data, size); true when the block
// is now whole. Advances data and size past the bytes it took.
template <size_t kBlock>
bool FillPending(uint8_t (&pending)[kBlock], size_t& pending_size, const uint8_t*& data,
                 size_t& size) {
  const size_t take = std::min(kBlock - pending_size, size);
  std::memcpy(pending + pending_size, data, take);
  pending_size += take;
  data += take;
  size -= take;
  return pending_size == kBlock;
}

}  // namespace

void Murmur3_32::Update(const uint8_t* data, size_t size) {
  if (size == 0) return;
  length_ += size;
  if (pending_size_ > 0) {
    if (!FillPending(pending_, pending_size_, data, size)) return;
    h1_ = Blocks32(h1_, pending_, 1);
    pending_size_ = 0;
  }
  const size_t blocks = size / 4;
  h1_ = Blocks32(h1_, data, blocks);
  pending_size_ = size - blocks * 4;
  std::memcpy(pending_, data + blocks * 4, pending_size_);
}

uint32_t Murmur3_32::Finish() const {
  uint32_t h1 = h1_;
  uint32_t k1 = 0;
  switch (pending_size_) {
    case 3:
      k1 ^= uint32_t{pending_[2]} << 16;
      [[fallthrough]];
    case 2:
      k1 ^= uint32_t{pending_[1]} << 8;
      [[fallthrough]];
    case 1:
      k1 ^= pending_[0];
      h1 ^= MixK1_32(k1);
  }
  h1 ^= static_cast<uint32_t>(length_);  // the reference's `int len`
  return Fmix32(h1);
}

void Murmur3_128::Update(const uint8_t* data, size_t size) {
  if (size == 0) return;
  length_ += size;
  if (pending_size_ > 0) {
    if (!FillPending(pending_, pending_size_, data, size)) return;
    Blocks128(h1_, h2_, pending_, 1);
    pending_size_ = 0;
  }
  const size_t blocks = size / 16;
  Blocks128(h1_, h2_, data, blocks);
  pending_size_ = size - blocks * 16;
  std::memcpy(pending_, data + blocks * 16, pending_size_);
}

std::array<uint8_t, 16> Murmur3_128::Finish() const {
  uint64_t h1 = h1_;
  uint64_t h2 = h2_;
  const uint8_t* tail = pending_;
  uint64_t k1 = 0;
  uint64_t k2 = 0;
  switch (pending_size_) {
    case 15: k2 ^= uint64_t{tail[14]} << 48; [[fallthrough]];
    case 14: k2 ^= uint64_t{tail[13]} << 40; [[fallthrough]];
    case 13: k2 ^= uint64_t{tail[12]} << 32; [[fallthrough]];
    case 12: k2 ^= uint64_t{tail[11]} << 24; [[fallthrough]];
    case 11: k2 ^= uint64_t{tail[10]} << 16; [[fallthrough]];
    case 10: k2 ^= uint64_t{tail[9]} << 8; [[fallthrough]];
    case 9:
      k2 ^= uint64_t{tail[8]};
      h2 ^= MixK2_128(k2);
      [[fallthrough]];
    case 8: k1 ^= uint64_t{tail[7]} << 56; [[fallthrough]];
    case 7: k1 ^= uint64_t{tail[6]} << 48; [[fallthrough]];
    case 6: k1 ^= uint64_t{tail[5]} << 40; [[fallthrough]];
    case 5: k1 ^= uint64_t{tail[4]} << 32; [[fallthrough]];
    case 4: k1 ^= uint64_t{tail[3]} << 24; [[fallthrough]];
    case 3: k1 ^= uint64_t{tail[2]} << 16; [[fallthrough]];
    case 2: k1 ^= uint64_t{tail[1]} << 8; [[fallthrough]];
    case 1:
      k1 ^= uint64_t{tail[0]};
      h1 ^= MixK1_128(k1);
  }
  // The reference's `int len` (Guava's `int length`), sign-extended to 64 bits.
  const uint64_t length = static_cast<uint64_t>(
      static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(length_))));
  h1 ^= length;
  h2 ^= length;
  h1 += h2;
  h2 += h1;
  h1 = Fmix64(h1);
  h2 = Fmix64(h2);
  h1 += h2;
  h2 += h1;
  std::array<uint8_t, 16> digest;
  Store64(h1, digest.data());
  Store64(h2, digest.data() + 8);
  return digest;
}

uint32_t Murmur3_32Hash(const uint8_t* data, size_t size, uint32_t seed) {
  Murmur3_32 hash(seed);
  hash.Update(data, size);
  return hash.Finish();
}

std::array<uint8_t, 16> Murmur3_128Hash(const uint8_t* data, size_t size, uint32_t seed) {
  Murmur3_128 hash(seed);
  hash.Update(data, size);
  return hash.Finish();
}

}  // namespace checksum_internal
}  // namespace fwota
