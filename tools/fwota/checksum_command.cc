// `fwota checksum`: ThingsBoard-form checksums of a file, several algorithms in one pass.
// Needs no data directory.
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "fwota/byte_source.h"
#include "fwota/checksum.h"
#include "fwota/json_writer.h"
#include "fwota/status_macros.h"
#include "tools/fwota/cli.h"
#include "tools/fwota/flags.h"

namespace fwota::cli {
namespace {

constexpr size_t kBufferSize = 1 << 20;

absl::StatusOr<std::vector<ChecksumAlgorithm>> AlgorithmsFromFlag() {
  std::vector<ChecksumAlgorithm> algorithms;
  for (const std::string& name : absl::GetFlag(FLAGS_algorithm)) {
    const absl::string_view trimmed = absl::StripAsciiWhitespace(name);
    if (trimmed.empty()) continue;
    if (absl::AsciiStrToUpper(trimmed) == "ALL") {
      for (ChecksumAlgorithm a : AllChecksumAlgorithms()) algorithms.push_back(a);
      continue;
    }
    FWOTA_ASSIGN_OR_RETURN(ChecksumAlgorithm a, ParseChecksumAlgorithm(trimmed));
    algorithms.push_back(a);
  }
  if (algorithms.empty()) algorithms.push_back(::fwota::v1::SHA256);
  // Duplicates are asked for once.
  std::vector<ChecksumAlgorithm> unique;
  for (ChecksumAlgorithm a : algorithms) {
    if (std::find(unique.begin(), unique.end(), a) == unique.end()) unique.push_back(a);
  }
  return unique;
}

}  // namespace

absl::Status Checksum(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "checksum [--algorithm=ALG[,ALG...]]... FILE|-"));
  FWOTA_ASSIGN_OR_RETURN(std::vector<ChecksumAlgorithm> algorithms, AlgorithmsFromFlag());
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, OpenFileSource(args[0]));
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<MultiHasher> hasher, MultiHasher::Create(algorithms));
  std::unique_ptr<char[]> buffer(new char[kBufferSize]);
  int64_t size = 0;
  while (true) {
    FWOTA_ASSIGN_OR_RETURN(size_t n, source->Read(absl::MakeSpan(buffer.get(), kBufferSize)));
    if (n == 0) break;
    hasher->Update(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(buffer.get()), n));
    size += static_cast<int64_t>(n);
  }
  const std::vector<std::pair<ChecksumAlgorithm, std::string>> sums = hasher->Finish();
  if (ctx.json()) {
    JsonWriter w;
    w.BeginObject().Field("fileName", args[0]).Field("dataSize", size).Key("checksums");
    w.BeginObject();
    for (const auto& [algorithm, text] : sums) w.Field(ChecksumAlgorithmName(algorithm), text);
    w.EndObject().EndObject();
    Print(absl::StrCat(w.str(), "\n"));
  } else if (sums.size() == 1) {
    Print(absl::StrCat(sums[0].second, "\n"));
  } else {
    std::string text;
    for (const auto& [algorithm, hex] : sums) {
      absl::StrAppend(&text, ChecksumAlgorithmName(algorithm), "  ", hex, "\n");
    }
    Print(text);
  }
  return absl::OkStatus();
}

}  // namespace fwota::cli
