// Internal: zlib's CRC-32 (polynomial 0x04C11DB7, reflected 0xEDB88320, pre- and
// post-inverted) with carry-less-multiply folding kernels chosen at run time. Not part of
// the public API (see fwota/checksum.h); tests and benchmarks use it to check and time
// every kernel.
#ifndef FWOTA_LIB_CHECKSUM_CRC32_H_
#define FWOTA_LIB_CHECKSUM_CRC32_H_

#include <cstddef>
#include <cstdint>

namespace fwota {
namespace checksum_internal {

// The implementations of Crc32Update. Each takes and returns the CRC in zlib's form
// (zlib's crc32(crc, buf, len) contract), so they may be mixed across one stream.
enum class Crc32Kernel {
  kZlib,         // zlib's crc32(): portable, and the fallback.
  kPclmul128,    // PCLMULQDQ + SSE4.1: folds 4 x 128 bits (Intel's method).
  kVpclmul256,   // VPCLMULQDQ + AVX2: folds 4 x 256 bits.
  kVpclmul512,   // VPCLMULQDQ + AVX-512F: folds 4 x 512 bits.
};

// "zlib", "pclmul128", "vpclmul256", "vpclmul512".
const char* Crc32KernelName(Crc32Kernel kernel);

// True when this CPU (and OS) can run `kernel`. kZlib is always supported.
bool Crc32KernelSupported(Crc32Kernel kernel);

// The fastest supported kernel; decided once per process.
Crc32Kernel BestCrc32Kernel();

// Continues the CRC `crc` (0 for a new stream) over `size` bytes at `data` (any
// alignment; `data` may be null when `size` is 0) with the best kernel. Same result as
// zlib's crc32(crc, data, size). Thread-safe (pure function).
uint32_t Crc32Update(uint32_t crc, const uint8_t* data, size_t size);

// Same with a chosen kernel. REQUIRES: Crc32KernelSupported(kernel).
uint32_t Crc32UpdateWith(Crc32Kernel kernel, uint32_t crc, const uint8_t* data,
                         size_t size);

}  // namespace checksum_internal
}  // namespace fwota

#endif  // FWOTA_LIB_CHECKSUM_CRC32_H_
