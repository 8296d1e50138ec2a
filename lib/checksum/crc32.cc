// CRC-32 by carry-less-multiply folding (Gopal et al., "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ Instruction", Intel, 2009), in the bit-reflected form that
// zlib's CRC uses.
//
// Representation. A 128-bit lane loaded from the message holds its first byte in bits
// 0..7, and bit k of the lane is the coefficient of x^(127-k) (bit 0 of the first byte is
// the highest power, as in every reflected CRC). A 32-bit CRC register holds x^31 in
// bit 0. Multiplying a 64-bit reflected value by a constant c whose bit j is the
// coefficient of x^(32-j) with PCLMULQDQ gives, read as a 128-bit reflected value, the
// product times x^32. Hence the constant that moves a 64-bit half forward by n bits is
// "x^(n-32) mod P" in that 33-bit form, which FoldConstant() computes at compile time.
//
// Folding. The low half L (earlier bytes, higher powers) of a lane that must move D bits
// forward is worth L * x^(D+64), its high half H is worth H * x^D, so
//   lane' = clmul(L, x^(D+32) mod P) ^ clmul(H, x^(D-32) mod P)
// is congruent to the lane moved D bits forward and is itself a 128-bit lane.
//
// Reduction of the last lane V to the 32-bit CRC (V * x^32 mod P): fold L over H into 96
// bits (constant x^96), fold the top 32 of those over the rest into 64 bits (constant
// x^64), then Barrett-reduce the 64 bits with mu = floor(x^64 / P).
//
// The initial CRC register is XORed into the first four message bytes; the tail shorter
// than 16 bytes goes through zlib's crc32().
#include "lib/checksum/crc32.h"

#include <zlib.h>

#include <initializer_list>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FWOTA_CRC32_X86 1
#include <immintrin.h>
#else
#define FWOTA_CRC32_X86 0
#endif

namespace fwota {
namespace checksum_internal {
namespace {

constexpr uint32_t kReflectedPoly = 0xEDB88320u;

// x^n mod P as a reflected 32-bit CRC register (bit 0 = x^31).
constexpr uint32_t XPowModP(uint32_t n) {
  uint32_t v = 0x80000000u;  // x^0
  for (uint32_t i = 0; i < n; ++i) v = (v >> 1) ^ ((v & 1) ? kReflectedPoly : 0);
  return v;
}

// x^(n-32) mod P in the 33-bit form PCLMULQDQ multiplies with (bit j = x^(32-j)): the
// constant that moves a 64-bit half n bits forward (see the file comment).
constexpr uint64_t FoldConstant(uint32_t n) { return uint64_t{XPowModP(n - 32)} << 1; }

// mu = floor(x^64 / P), 33 bits, reflected (bit j = x^(32-j)).
constexpr uint64_t BarrettMu() {
  constexpr unsigned __int128 kPoly = 0x104C11DB7u;  // normal form, x^32 included
  unsigned __int128 dividend = static_cast<unsigned __int128>(1) << 64;
  uint64_t quotient = 0;
  for (int degree = 64; degree >= 32; --degree) {
    if ((dividend >> degree) & 1) {
      quotient |= uint64_t{1} << (degree - 32);
      dividend ^= kPoly << (degree - 32);
    }
  }
  uint64_t reflected = 0;
  for (int degree = 0; degree <= 32; ++degree) {
    if ((quotient >> degree) & 1) reflected |= uint64_t{1} << (32 - degree);
  }
  return reflected;
}

// P itself in the 33-bit reflected form.
constexpr uint64_t kPolyConstant = (uint64_t{kReflectedPoly} << 1) | 1;
constexpr uint64_t kMu = BarrettMu();

// The constants published with Intel's paper and used by Linux and zlib-ng; checking them
// here checks the derivation above.
static_assert(FoldConstant(4 * 128 + 64) == 0x154442bd4, "fold-by-4 low constant");
static_assert(FoldConstant(4 * 128) == 0x1c6e41596, "fold-by-4 high constant");
static_assert(FoldConstant(128 + 64) == 0x1751997d0, "fold-by-1 low constant");
static_assert(FoldConstant(128) == 0x0ccaa009e, "fold-by-1 high constant");
static_assert(FoldConstant(96) == 0x163cd6124, "64-bit fold constant");
static_assert(kPolyConstant == 0x1db710641, "polynomial");
static_assert(kMu == 0x1f7011641, "Barrett mu");

// The pair of constants that moves a whole 128-bit lane D bits forward: low qword for
// L (x^(D+32)), high qword for H (x^(D-32)).
constexpr uint64_t FoldLow(uint32_t distance_bits) { return FoldConstant(distance_bits + 64); }
constexpr uint64_t FoldHigh(uint32_t distance_bits) { return FoldConstant(distance_bits); }

uint32_t ZlibCrc32(uint32_t crc, const uint8_t* data, size_t size) {
  // zlib answers 0 for a null buffer (its "initial value" idiom), which would reset a
  // running CRC on an empty span.
  if (size == 0) return crc;
  return static_cast<uint32_t>(crc32_z(crc, data, size));
}

#if FWOTA_CRC32_X86

#define FWOTA_TARGET_PCLMUL __attribute__((target("pclmul,sse4.1")))
#define FWOTA_TARGET_VPCLMUL256 __attribute__((target("pclmul,sse4.1,avx2,vpclmulqdq")))
#define FWOTA_TARGET_VPCLMUL512 \
  __attribute__((target("pclmul,sse4.1,avx2,avx512f,vpclmulqdq")))

FWOTA_TARGET_PCLMUL inline __m128i Load128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// Moves `x` forward by the distance whose constants `k` holds and adds `data`.
FWOTA_TARGET_PCLMUL inline __m128i Fold128(__m128i x, __m128i k, __m128i data) {
  return _mm_xor_si128(
      _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)),
      data);
}

// The constants are template arguments so that they are computed at compile time (a
// constexpr function called with a run-time argument is evaluated at run time).
template <uint64_t kLow, uint64_t kHigh>
FWOTA_TARGET_PCLMUL inline __m128i Constants128() {
  return _mm_set_epi64x(static_cast<long long>(kHigh), static_cast<long long>(kLow));
}

// Moves a 128-bit lane D bits forward: see FoldLow / FoldHigh.
template <uint32_t kDistanceBits>
FWOTA_TARGET_PCLMUL inline __m128i FoldConstants128() {
  return Constants128<FoldLow(kDistanceBits), FoldHigh(kDistanceBits)>();
}

// The CRC register of the message whose last 16 bytes (already folded) are `x`: x * x^32
// mod P. See the file comment.
FWOTA_TARGET_PCLMUL inline uint32_t Reduce128(__m128i x) {
  const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
  // 128 -> 96 bits: L * (x^96 mod P) + H, now in bits 0..95.
  const __m128i k96 = Constants128<FoldConstant(96 + 32), 0>();
  x = _mm_xor_si128(_mm_srli_si128(x, 8), _mm_clmulepi64_si128(x, k96, 0x00));
  // 96 -> 64 bits: the top 32 (bits 0..31) times (x^64 mod P) plus bits 32..95.
  const __m128i k64 = Constants128<FoldConstant(64 + 32), 0>();
  x = _mm_xor_si128(_mm_srli_si128(x, 4),
                    _mm_clmulepi64_si128(_mm_and_si128(x, low32), k64, 0x00));
  // Barrett: q = top 32 bits of (Q_high * mu); crc = Q ^ q * P, in bits 32..63.
  const __m128i barrett = Constants128<kPolyConstant, kMu>();
  __m128i q = _mm_clmulepi64_si128(_mm_and_si128(x, low32), barrett, 0x10);
  q = _mm_clmulepi64_si128(_mm_and_si128(q, low32), barrett, 0x00);
  return static_cast<uint32_t>(_mm_extract_epi32(_mm_xor_si128(x, q), 1));
}

// Folds 16-byte blocks into `x`, reduces, and finishes the tail with zlib.
FWOTA_TARGET_PCLMUL uint32_t Finish128(__m128i x, const uint8_t* p, size_t n) {
  const __m128i k128 = FoldConstants128<128>();
  for (; n >= 16; p += 16, n -= 16) x = Fold128(x, k128, Load128(p));
  return ZlibCrc32(~Reduce128(x), p, n);
}

FWOTA_TARGET_PCLMUL uint32_t Crc32Pclmul128(uint32_t crc, const uint8_t* p, size_t n) {
  if (n < 64) return ZlibCrc32(crc, p, n);
  __m128i x0 = _mm_xor_si128(Load128(p), _mm_cvtsi32_si128(static_cast<int>(~crc)));
  __m128i x1 = Load128(p + 16);
  __m128i x2 = Load128(p + 32);
  __m128i x3 = Load128(p + 48);
  p += 64;
  n -= 64;
  const __m128i k512 = FoldConstants128<512>();
  for (; n >= 64; p += 64, n -= 64) {
    x0 = Fold128(x0, k512, Load128(p));
    x1 = Fold128(x1, k512, Load128(p + 16));
    x2 = Fold128(x2, k512, Load128(p + 32));
    x3 = Fold128(x3, k512, Load128(p + 48));
  }
  const __m128i k128 = FoldConstants128<128>();
  __m128i x = Fold128(x0, k128, x1);
  x = Fold128(x, k128, x2);
  x = Fold128(x, k128, x3);
  return Finish128(x, p, n);
}

FWOTA_TARGET_VPCLMUL256 inline __m256i Load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

FWOTA_TARGET_VPCLMUL256 inline __m256i Fold256(__m256i x, __m256i k, __m256i data) {
  return _mm256_xor_si256(_mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00),
                                           _mm256_clmulepi64_epi128(x, k, 0x11)),
                          data);
}

template <uint32_t kDistanceBits>
FWOTA_TARGET_VPCLMUL256 inline __m256i FoldConstants256() {
  return _mm256_broadcastsi128_si256(FoldConstants128<kDistanceBits>());
}

FWOTA_TARGET_VPCLMUL256 uint32_t Crc32Vpclmul256(uint32_t crc, const uint8_t* p,
                                                 size_t n) {
  if (n < 256) return Crc32Pclmul128(crc, p, n);
  __m256i x0 = _mm256_xor_si256(
      Load256(p), _mm256_zextsi128_si256(_mm_cvtsi32_si128(static_cast<int>(~crc))));
  __m256i x1 = Load256(p + 32);
  __m256i x2 = Load256(p + 64);
  __m256i x3 = Load256(p + 96);
  p += 128;
  n -= 128;
  const __m256i k1024 = FoldConstants256<1024>();
  for (; n >= 128; p += 128, n -= 128) {
    x0 = Fold256(x0, k1024, Load256(p));
    x1 = Fold256(x1, k1024, Load256(p + 32));
    x2 = Fold256(x2, k1024, Load256(p + 64));
    x3 = Fold256(x3, k1024, Load256(p + 96));
  }
  const __m256i k256 = FoldConstants256<256>();
  __m256i x = Fold256(x0, k256, x1);
  x = Fold256(x, k256, x2);
  x = Fold256(x, k256, x3);
  // 256 -> 128 bits: the first lane moves 128 bits forward onto the second.
  const __m128i folded = Fold128(_mm256_castsi256_si128(x), FoldConstants128<128>(),
                                 _mm256_extracti128_si256(x, 1));
  return Finish128(folded, p, n);
}

FWOTA_TARGET_VPCLMUL512 inline __m512i Load512(const uint8_t* p) {
  return _mm512_loadu_si512(p);
}

FWOTA_TARGET_VPCLMUL512 inline __m512i Fold512(__m512i x, __m512i k, __m512i data) {
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                   _mm512_clmulepi64_epi128(x, k, 0x11), data,
                                   0x96);  // a ^ b ^ c
}

template <uint32_t kDistanceBits>
FWOTA_TARGET_VPCLMUL512 inline __m512i FoldConstants512() {
  constexpr auto low = static_cast<long long>(FoldLow(kDistanceBits));
  constexpr auto high = static_cast<long long>(FoldHigh(kDistanceBits));
  return _mm512_set_epi64(high, low, high, low, high, low, high, low);
}

FWOTA_TARGET_VPCLMUL512 uint32_t Crc32Vpclmul512(uint32_t crc, const uint8_t* p,
                                                 size_t n) {
  if (n < 512) return Crc32Pclmul128(crc, p, n);
  __m512i x0 = _mm512_xor_si512(
      Load512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128(static_cast<int>(~crc))));
  __m512i x1 = Load512(p + 64);
  __m512i x2 = Load512(p + 128);
  __m512i x3 = Load512(p + 192);
  p += 256;
  n -= 256;
  const __m512i k2048 = FoldConstants512<2048>();
  for (; n >= 256; p += 256, n -= 256) {
    x0 = Fold512(x0, k2048, Load512(p));
    x1 = Fold512(x1, k2048, Load512(p + 64));
    x2 = Fold512(x2, k2048, Load512(p + 128));
    x3 = Fold512(x3, k2048, Load512(p + 192));
  }
  const __m512i k512 = FoldConstants512<512>();
  __m512i x = Fold512(x0, k512, x1);
  x = Fold512(x, k512, x2);
  x = Fold512(x, k512, x3);
  for (; n >= 64; p += 64, n -= 64) x = Fold512(x, k512, Load512(p));
  // 512 -> 128 bits: lanes 0, 1, 2 move 384, 256, 128 bits forward onto lane 3.
  constexpr auto k128_low = static_cast<long long>(FoldLow(128));
  constexpr auto k128_high = static_cast<long long>(FoldHigh(128));
  constexpr auto k256_low = static_cast<long long>(FoldLow(256));
  constexpr auto k256_high = static_cast<long long>(FoldHigh(256));
  constexpr auto k384_low = static_cast<long long>(FoldLow(384));
  constexpr auto k384_high = static_cast<long long>(FoldHigh(384));
  const __m512i k_lanes = _mm512_set_epi64(0, 0, k128_high, k128_low, k256_high, k256_low,
                                           k384_high, k384_low);
  const __m512i moved = _mm512_ternarylogic_epi64(
      _mm512_clmulepi64_epi128(x, k_lanes, 0x00), _mm512_clmulepi64_epi128(x, k_lanes, 0x11),
      _mm512_maskz_mov_epi64(0xC0, x),  // lane 3 as is, lanes 0..2 zero
      0x96);
  // (The maskz_ extracts avoid GCC 12's false -Wmaybe-uninitialized on the plain ones.)
  const __m128i folded =
      _mm_xor_si128(_mm_xor_si128(_mm512_maskz_extracti32x4_epi32(0xF, moved, 0),
                                  _mm512_maskz_extracti32x4_epi32(0xF, moved, 1)),
                    _mm_xor_si128(_mm512_maskz_extracti32x4_epi32(0xF, moved, 2),
                                  _mm512_maskz_extracti32x4_epi32(0xF, moved, 3)));
  return Finish128(folded, p, n);
}

#endif  // FWOTA_CRC32_X86

using KernelFunction = uint32_t (*)(uint32_t, const uint8_t*, size_t);

KernelFunction FunctionFor(Crc32Kernel kernel) {
  switch (kernel) {
#if FWOTA_CRC32_X86
    case Crc32Kernel::kPclmul128:
      return &Crc32Pclmul128;
    case Crc32Kernel::kVpclmul256:
      return &Crc32Vpclmul256;
    case Crc32Kernel::kVpclmul512:
      return &Crc32Vpclmul512;
#endif
    default:
      return &ZlibCrc32;
  }
}

}  // namespace

const char* Crc32KernelName(Crc32Kernel kernel) {
  switch (kernel) {
    case Crc32Kernel::kZlib:
      return "zlib";
    case Crc32Kernel::kPclmul128:
      return "pclmul128";
    case Crc32Kernel::kVpclmul256:
      return "vpclmul256";
    case Crc32Kernel::kVpclmul512:
      return "vpclmul512";
  }
  return "unknown";
}

bool Crc32KernelSupported(Crc32Kernel kernel) {
#if FWOTA_CRC32_X86
  __builtin_cpu_init();
  const bool pclmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  switch (kernel) {
    case Crc32Kernel::kZlib:
      return true;
    case Crc32Kernel::kPclmul128:
      return pclmul;
    case Crc32Kernel::kVpclmul256:
      return pclmul && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("vpclmulqdq");
    case Crc32Kernel::kVpclmul512:
      // __builtin_cpu_supports also checks that the OS saves the AVX-512 state.
      return pclmul && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq");
  }
  return false;
#else
  return kernel == Crc32Kernel::kZlib;
#endif
}

Crc32Kernel BestCrc32Kernel() {
  static const Crc32Kernel best = [] {
    for (Crc32Kernel k : {Crc32Kernel::kVpclmul512, Crc32Kernel::kVpclmul256,
                          Crc32Kernel::kPclmul128}) {
      if (Crc32KernelSupported(k)) return k;
    }
    return Crc32Kernel::kZlib;
  }();
  return best;
}

uint32_t Crc32Update(uint32_t crc, const uint8_t* data, size_t size) {
  static const KernelFunction best = FunctionFor(BestCrc32Kernel());
  return best(crc, data, size);
}

uint32_t Crc32UpdateWith(Crc32Kernel kernel, uint32_t crc, const uint8_t* data,
                         size_t size) {
  return FunctionFor(kernel)(crc, data, size);
}

}  // namespace checksum_internal
}  // namespace fwota
