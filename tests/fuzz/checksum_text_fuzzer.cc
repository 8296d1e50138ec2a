// Fuzzes the checksum text an administrator gives with an upload (lib/checksum:
// ParseChecksumAlgorithm, NormalizeChecksumText, ChecksumMatches) and the streaming
// hashers over uploaded bytes.
//
// Input: the first line is the checksum text and algorithm name, the rest the bytes to
// hash; byte 0 also picks where the bytes are split between Update calls.
//
// Invariants: no crash or sanitizer report; a normalized checksum is non-empty lowercase
// hex and normalizing it again changes nothing; a checksum matches itself in either case
// and with "0x" and blanks around it; text that does not normalize never matches; every
// algorithm gives the same digest however the bytes are split, and the text has twice the
// digest's size in hex digits.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "fwota/checksum.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fwota;
  if (size == 0 || size > 64 * 1024) return 0;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const absl::string_view text = input.substr(0, newline);
  const absl::string_view bytes =
      newline == absl::string_view::npos ? absl::string_view() : input.substr(newline + 1);

  ParseChecksumAlgorithm(text).IgnoreError();
  absl::StatusOr<std::string> normalized = NormalizeChecksumText(text);
  if (normalized.ok()) {
    FUZZ_CHECK(!normalized->empty());
    for (char c : *normalized) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    absl::StatusOr<std::string> again = NormalizeChecksumText(*normalized);
    FUZZ_CHECK(again.ok() && *again == *normalized);
  }

  const size_t split = bytes.empty() ? 0 : data[0] % (bytes.size() + 1);
  for (ChecksumAlgorithm algorithm : AllChecksumAlgorithms()) {
    const std::string whole = ChecksumText(algorithm, bytes);
    FUZZ_CHECK(whole.size() == 2 * DigestSize(algorithm));
    absl::StatusOr<std::unique_ptr<Hasher>> hasher = NewHasher(algorithm);
    FUZZ_CHECK(hasher.ok());
    const auto* u = reinterpret_cast<const uint8_t*>(bytes.data());
    (*hasher)->Update(absl::MakeConstSpan(u, split));
    (*hasher)->Update(absl::MakeConstSpan(u + split, bytes.size() - split));
    FUZZ_CHECK(ToHex((*hasher)->Finish()) == whole);

    FUZZ_CHECK(ChecksumMatches(algorithm, whole, whole));
    FUZZ_CHECK(ChecksumMatches(algorithm, absl::StrCat(" 0x", absl::AsciiStrToUpper(whole), " "),
                               whole));
    const bool matches = ChecksumMatches(algorithm, text, whole);
    if (!normalized.ok()) FUZZ_CHECK(!matches);
    if (normalized.ok() && *normalized == whole) FUZZ_CHECK(matches);
  }
  return 0;
}
