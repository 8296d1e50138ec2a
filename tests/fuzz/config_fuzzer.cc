// Fuzzes fwotad's config file (tools/fwotad/config.h): LoadConfig over the input as the
// file's text, then ValidateConfig, and ParseStallTimeouts over the same text.
//
// Invariants: no crash or sanitizer report; a file that does not parse is
// kInvalidArgument naming a line and column; a config that validates has positive sizes
// and ports in range; a stall policy that parses has no negative timeout.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "tests/fuzz/fuzz_check.h"
#include "tools/fwotad/config.h"

namespace {

// One file per process, rewritten for every input.
const std::string& ConfigPath() {
  static const std::string* path = [] {
    const char* dir = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(dir != nullptr ? dir : "/tmp") + "/fwotad-config-XXXXXX";
    const int fd = mkstemp(pattern.data());
    FUZZ_CHECK(fd >= 0);
    close(fd);
    return new std::string(pattern);
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fwota::fwotad;
  if (size > 64 * 1024) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  {
    std::FILE* f = std::fopen(ConfigPath().c_str(), "wb");
    FUZZ_CHECK(f != nullptr);
    FUZZ_CHECK(std::fwrite(text.data(), 1, text.size(), f) == text.size());
    FUZZ_CHECK(std::fclose(f) == 0);
  }
  absl::StatusOr<::fwota::v1::FwotadConfig> config = LoadConfig(ConfigPath());
  if (!config.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(config.status()));
    FUZZ_CHECK(absl::StrContains(config.status().message(), "line "));
  } else if (ValidateConfig(*config).ok()) {
    FUZZ_CHECK(config->max_package_size() > 0);
    FUZZ_CHECK(config->http().port() >= 0 && config->http().port() <= 65535);
    FUZZ_CHECK(config->http().max_chunk_size() > 0);
    FUZZ_CHECK(config->mqtt().workers() >= 1 && config->mqtt().workers() <= 64);
    FUZZ_CHECK(ParseStallTimeouts(config->updates().stall_timeouts()).ok());
  }
  absl::StatusOr<fwota::StallPolicy> policy = ParseStallTimeouts(text);
  if (policy.ok()) {
    for (int64_t millis : policy->silence_millis) FUZZ_CHECK(millis >= 0);
  }
  return 0;
}
