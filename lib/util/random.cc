#include "lib/util/random.h"

#include <openssl/rand.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/base/internal/raw_logging.h"

namespace fwota::internal {
namespace {

void Fill(uint8_t* out, size_t n) {
  // RAND_bytes only fails when the OS entropy source is broken; carrying on would hand
  // out predictable tokens, so stop instead.
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    ABSL_RAW_LOG(FATAL, "RAND_bytes failed: no entropy source");
  }
}

constexpr char kHex[] = "0123456789abcdef";

// The canonical 8-4-4-4-12 lowercase text of 16 bytes.
std::string UuidText(const uint8_t (&b)[16]) {
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

}  // namespace

std::string NewUuid() {
  uint8_t b[16];
  Fill(b, sizeof(b));
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return UuidText(b);
}

std::string NewTimeOrderedUuid(int64_t unix_millis) {
  // 42 bits after the time are a process-wide counter (RFC 9562 section 6.2, method 1),
  // started at a random point below 2^40 (more than 2^41 ids before it wraps): ids made one after another in the
  // same millisecond sort in the order they were made, not by chance. The last 32 bits
  // stay random, which keeps ids of different processes apart.
  static std::atomic<uint64_t> counter = [] {
    uint8_t seed[8];
    Fill(seed, sizeof(seed));
    uint64_t v = 0;
    for (uint8_t byte : seed) v = (v << 8) | byte;
    return v & ((uint64_t{1} << 40) - 1);
  }();
  const uint64_t count = counter.fetch_add(1, std::memory_order_relaxed) &
                         ((uint64_t{1} << 42) - 1);
  uint8_t b[16];
  Fill(b, sizeof(b));
  const uint64_t ms = static_cast<uint64_t>(unix_millis < 0 ? 0 : unix_millis);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  // rand_a (12 bits): the counter's top 12 bits, under the version nibble.
  b[6] = static_cast<uint8_t>(0x70 | ((count >> 38) & 0x0f));
  b[7] = static_cast<uint8_t>(count >> 30);
  // rand_b: the variant, then the counter's low 30 bits, then 32 random bits.
  b[8] = static_cast<uint8_t>(0x80 | ((count >> 24) & 0x3f));
  b[9] = static_cast<uint8_t>(count >> 16);
  b[10] = static_cast<uint8_t>(count >> 8);
  b[11] = static_cast<uint8_t>(count);
  return UuidText(b);
}

std::string RandomAlphanumeric(int length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  constexpr int kSize = sizeof(kAlphabet) - 1;  // 62
  constexpr int kLimit = 256 - 256 % kSize;     // 248: rejects the biased tail
  std::string out;
  out.reserve(length);
  uint8_t buf[64];
  while (static_cast<int>(out.size()) < length) {
    Fill(buf, sizeof(buf));
    for (uint8_t v : buf) {
      if (v >= kLimit) continue;
      out.push_back(kAlphabet[v % kSize]);
      if (static_cast<int>(out.size()) == length) break;
    }
  }
  return out;
}

std::string RandomHex(int bytes) {
  std::vector<uint8_t> b(bytes);
  Fill(b.data(), b.size());
  std::string out;
  out.reserve(2 * bytes);
  for (uint8_t v : b) {
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 0xf]);
  }
  return out;
}

}  // namespace fwota::internal
