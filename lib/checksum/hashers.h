// Internal: the Hasher implementations behind fwota::NewHasher, one factory per family.
// The factories are thread-safe; each Hasher they return is not (see fwota::Hasher).
#ifndef FWOTA_LIB_CHECKSUM_HASHERS_H_
#define FWOTA_LIB_CHECKSUM_HASHERS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "fwota/checksum.h"

namespace fwota {
namespace checksum_internal {

// MD5, SHA256, SHA384 or SHA512 through OpenSSL's EVP interface; the EVP_MD is fetched
// once per process. kFailedPrecondition when OpenSSL's providers lack the digest (MD5
// under a FIPS-only configuration), kInvalidArgument for any other algorithm.
absl::StatusOr<std::unique_ptr<Hasher>> NewEvpHasher(ChecksumAlgorithm algorithm);

// CRC32 with the fastest kernel of crc32.h.
std::unique_ptr<Hasher> NewCrc32Hasher();

// MURMUR3_32 / MURMUR3_128 with seed 0 (Guava's murmur3_32 / murmur3_128).
std::unique_ptr<Hasher> NewMurmur3_32Hasher();
std::unique_ptr<Hasher> NewMurmur3_128Hasher();

}  // namespace checksum_internal
}  // namespace fwota

#endif  // FWOTA_LIB_CHECKSUM_HASHERS_H_
