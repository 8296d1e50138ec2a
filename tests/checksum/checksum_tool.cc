// checksum_tool FILE ALG [ALG...] [--chunk=BYTES]
//
// Prints the ThingsBoard checksum text of FILE for each algorithm, one per line, in the
// order given. One algorithm goes through NewHasher, several through MultiHasher. The
// file is read in chunks of --chunk bytes (default 1 MiB) so that odd chunk sizes
// exercise streaming. For compare_tools_test; the fwota CLI will have its own command.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fwota/checksum.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "checksum_tool: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  size_t chunk = 1 << 20;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--chunk=", 8) == 0) {
      chunk = std::strtoull(argv[i] + 8, nullptr, 10);
      if (chunk == 0) return Fail("--chunk must be positive");
    } else {
      positional.push_back(argv[i]);
    }
  }
  if (positional.size() < 2) {
    return Fail("usage: checksum_tool FILE ALG [ALG...] [--chunk=BYTES]");
  }
  std::vector<fwota::ChecksumAlgorithm> algorithms;
  for (size_t i = 1; i < positional.size(); ++i) {
    auto algorithm = fwota::ParseChecksumAlgorithm(positional[i]);
    if (!algorithm.ok()) return Fail(algorithm.status().ToString());
    algorithms.push_back(*algorithm);
  }

  std::FILE* file = std::fopen(positional[0].c_str(), "rb");
  if (file == nullptr) return Fail("cannot open " + positional[0]);
  std::vector<uint8_t> buffer(chunk);

  std::vector<std::string> texts;
  if (algorithms.size() == 1) {
    auto hasher = fwota::NewHasher(algorithms[0]);
    if (!hasher.ok()) return Fail(hasher.status().ToString());
    size_t got;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
      (*hasher)->Update(absl::MakeConstSpan(buffer.data(), got));
    }
    texts.push_back(fwota::ToHex((*hasher)->Finish()));
  } else {
    auto multi = fwota::MultiHasher::Create(algorithms);
    if (!multi.ok()) return Fail(multi.status().ToString());
    size_t got;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
      (*multi)->Update(absl::MakeConstSpan(buffer.data(), got));
    }
    for (const auto& [algorithm, text] : (*multi)->Finish()) texts.push_back(text);
  }
  const bool read_error = std::ferror(file) != 0;
  std::fclose(file);
  if (read_error) return Fail("read error on " + positional[0]);
  for (const std::string& text : texts) std::printf("%s\n", text.c_str());
  return 0;
}
