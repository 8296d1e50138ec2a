// Algorithm names, hex text, and the tolerant comparison of administrators' checksums.
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fwota/checksum.h"
#include "lib/checksum/hashers.h"

namespace fwota {
namespace {

bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Value of lowercase hex text of at most 8 digits.
uint32_t HexValue(absl::string_view text) {
  uint32_t value = 0;
  for (char c : text) value = (value << 4) | static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  return value;
}

// The names of the enum, in order; AllChecksumAlgorithms() matches it.
struct NamedAlgorithm {
  ChecksumAlgorithm algorithm;
  absl::string_view name;
  size_t digest_size;
};

constexpr NamedAlgorithm kAlgorithms[] = {
    {::fwota::v1::MD5, "MD5", 16},
    {::fwota::v1::SHA256, "SHA256", 32},
    {::fwota::v1::SHA384, "SHA384", 48},
    {::fwota::v1::SHA512, "SHA512", 64},
    {::fwota::v1::CRC32, "CRC32", 4},
    {::fwota::v1::MURMUR3_32, "MURMUR3_32", 4},
    {::fwota::v1::MURMUR3_128, "MURMUR3_128", 16},
};

const NamedAlgorithm* Find(ChecksumAlgorithm algorithm) {
  for (const NamedAlgorithm& named : kAlgorithms) {
    if (named.algorithm == algorithm) return &named;
  }
  return nullptr;
}

}  // namespace

const std::vector<ChecksumAlgorithm>& AllChecksumAlgorithms() {
  static const std::vector<ChecksumAlgorithm>* const all = [] {
    auto* v = new std::vector<ChecksumAlgorithm>;
    for (const NamedAlgorithm& named : kAlgorithms) v->push_back(named.algorithm);
    return v;
  }();
  return *all;
}

absl::StatusOr<ChecksumAlgorithm> ParseChecksumAlgorithm(absl::string_view name) {
  for (const NamedAlgorithm& named : kAlgorithms) {
    if (absl::EqualsIgnoreCase(name, named.name)) return named.algorithm;
  }
  std::vector<absl::string_view> names;
  for (const NamedAlgorithm& named : kAlgorithms) names.push_back(named.name);
  return absl::InvalidArgumentError(absl::StrCat("unknown checksum algorithm \"", name,
                                                 "\"; expected one of ",
                                                 absl::StrJoin(names, ", ")));
}

absl::string_view ChecksumAlgorithmName(ChecksumAlgorithm algorithm) {
  const NamedAlgorithm* named = Find(algorithm);
  return named == nullptr ? absl::string_view() : named->name;
}

size_t DigestSize(ChecksumAlgorithm algorithm) {
  const NamedAlgorithm* named = Find(algorithm);
  return named == nullptr ? 0 : named->digest_size;
}

absl::StatusOr<std::unique_ptr<Hasher>> NewHasher(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ::fwota::v1::MD5:
    case ::fwota::v1::SHA256:
    case ::fwota::v1::SHA384:
    case ::fwota::v1::SHA512:
      return checksum_internal::NewEvpHasher(algorithm);
    case ::fwota::v1::CRC32:
      return checksum_internal::NewCrc32Hasher();
    case ::fwota::v1::MURMUR3_32:
      return checksum_internal::NewMurmur3_32Hasher();
    case ::fwota::v1::MURMUR3_128:
      return checksum_internal::NewMurmur3_128Hasher();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("no checksum algorithm given (", static_cast<int>(algorithm), ")"));
  }
}

std::string ToHex(absl::Span<const uint8_t> digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(digest.size() * 2, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    text[2 * i] = kDigits[digest[i] >> 4];
    text[2 * i + 1] = kDigits[digest[i] & 0xf];
  }
  return text;
}

std::string ChecksumText(ChecksumAlgorithm algorithm, absl::Span<const uint8_t> data) {
  absl::StatusOr<std::unique_ptr<Hasher>> hasher = NewHasher(algorithm);
  if (!hasher.ok()) return std::string();
  (*hasher)->Update(data);
  return ToHex((*hasher)->Finish());
}

std::string ChecksumText(ChecksumAlgorithm algorithm, absl::string_view data) {
  return ChecksumText(algorithm, absl::Span<const uint8_t>(
                                     reinterpret_cast<const uint8_t*>(data.data()),
                                     data.size()));
}

absl::StatusOr<std::string> NormalizeChecksumText(absl::string_view text) {
  std::string normalized = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (absl::StartsWith(normalized, "0x")) normalized.erase(0, 2);
  if (normalized.empty()) return absl::InvalidArgumentError("empty checksum");
  if (!IsLowerHex(normalized)) {
    return absl::InvalidArgumentError(
        absl::StrCat("checksum is not hexadecimal: \"", text, "\""));
  }
  return normalized;
}

bool ChecksumMatches(ChecksumAlgorithm algorithm, absl::string_view given,
                     absl::string_view computed) {
  absl::StatusOr<std::string> given_text = NormalizeChecksumText(given);
  absl::StatusOr<std::string> computed_text = NormalizeChecksumText(computed);
  if (!given_text.ok() || !computed_text.ok()) return false;
  if (*given_text == *computed_text) return true;
  if (algorithm != ::fwota::v1::CRC32 && algorithm != ::fwota::v1::MURMUR3_32) return false;
  // `computed` is the value's bytes little-endian; `given` may be the value itself as a
  // big-endian number, possibly without leading zeros (zlib, Java's Long.toHexString).
  if (computed_text->size() != 8 || given_text->size() > 8) return false;
  const uint32_t little_endian = HexValue(*computed_text);
  const uint32_t value = __builtin_bswap32(little_endian);
  return HexValue(*given_text) == value;
}

}  // namespace fwota
