// Streaming checksums for the seven ThingsBoard algorithms, several in one pass, and
// their ThingsBoard text form.
//
// Text form (protocol-reference.md): lowercase hex of the digest bytes. ThingsBoard takes
// it from Guava's HashCode.toString(), so CRC32 and MURMUR3_32 come out little-endian:
// CRC32("123456789") is "2639f4cb", not the usual "cbf43926". MURMUR3_128 is Guava's
// murmur3_128 (MurmurHash3_x64_128, seed 0): h1 then h2, each little-endian.
#ifndef FWOTA_CHECKSUM_H_
#define FWOTA_CHECKSUM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "fwota/v1/fwota.pb.h"

namespace fwota {

using ::fwota::v1::ChecksumAlgorithm;

// All seven algorithms, in the order of the enum.
const std::vector<ChecksumAlgorithm>& AllChecksumAlgorithms();

// "SHA256" -> SHA256; case-insensitive; kInvalidArgument naming the accepted values.
absl::StatusOr<ChecksumAlgorithm> ParseChecksumAlgorithm(absl::string_view name);

// SHA256 -> "SHA256".
absl::string_view ChecksumAlgorithmName(ChecksumAlgorithm algorithm);

// Digest length in bytes (MD5 16, SHA256 32, SHA384 48, SHA512 64, CRC32 4, MURMUR3_32 4,
// MURMUR3_128 16).
size_t DigestSize(ChecksumAlgorithm algorithm);

// One streaming hash. Not thread-safe: one thread feeds one Hasher.
class Hasher {
 public:
  virtual ~Hasher() = default;
  virtual ChecksumAlgorithm algorithm() const = 0;
  // Adds bytes; any split of the input gives the same result.
  virtual void Update(absl::Span<const uint8_t> data) = 0;
  // The digest bytes in ThingsBoard's order (see the file comment). Call once; the
  // Hasher may not be updated afterwards.
  virtual std::vector<uint8_t> Finish() = 0;
};

// A new Hasher for `algorithm` (never null for the seven algorithms; kInvalidArgument for
// UNSPECIFIED).
absl::StatusOr<std::unique_ptr<Hasher>> NewHasher(ChecksumAlgorithm algorithm);

// Lowercase hex of `digest`.
std::string ToHex(absl::Span<const uint8_t> digest);

// Several hashers fed the same bytes in one pass. With two or more algorithms and
// `threads` > 1 the hashers run on worker threads (each hasher on one thread, each Update
// waits for all of them), so several algorithms use more than one core. Not thread-safe:
// one caller thread feeds it.
class MultiHasher {
 public:
  // `threads` = 0 picks min(number of algorithms, hardware threads).
  // Duplicate algorithms are ignored.
  static absl::StatusOr<std::unique_ptr<MultiHasher>> Create(
      std::vector<ChecksumAlgorithm> algorithms, int threads = 0);
  virtual ~MultiHasher() = default;

  virtual void Update(absl::Span<const uint8_t> data) = 0;
  // Text checksums in ThingsBoard form, one per algorithm, in the order given to
  // Create (without duplicates). Call once.
  virtual std::vector<std::pair<ChecksumAlgorithm, std::string>> Finish() = 0;
};

// Checksum text of `data` in ThingsBoard form (convenience for small inputs and tests).
std::string ChecksumText(ChecksumAlgorithm algorithm, absl::Span<const uint8_t> data);
std::string ChecksumText(ChecksumAlgorithm algorithm, absl::string_view data);

// Normalizes an administrator's checksum text: trims spaces, lowercases, strips an
// optional "0x". kInvalidArgument when it is not hex.
absl::StatusOr<std::string> NormalizeChecksumText(absl::string_view text);

// True when `given` (an administrator's text, either case) names the same digest as
// `computed` (ThingsBoard form). For CRC32 and MURMUR3_32 both byte orders are accepted,
// and the big-endian form may lack leading zeros, as zlib/Java tools print it.
bool ChecksumMatches(ChecksumAlgorithm algorithm, absl::string_view given,
                     absl::string_view computed);

}  // namespace fwota

#endif  // FWOTA_CHECKSUM_H_
