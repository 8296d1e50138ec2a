// Checks the command line before Abseil parses it, so that the fwota command line
// answers usage mistakes its own way (exit code 2 and a short usage text) where
// absl::ParseCommandLine would print its own message and exit 1. Also lets
// `--algorithm` repeat: every occurrence is gathered into one comma-separated value.
#ifndef FWOTA_TOOLS_FWOTA_ARGS_H_
#define FWOTA_TOOLS_FWOTA_ARGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fwota::cli {

// Owns the rewritten argument strings; argv() points into them. Not thread-safe.
class PreparedArgs {
 public:
  int argc() const { return static_cast<int>(pointers_.size()) - 1; }
  char** argv() { return pointers_.data(); }

 private:
  friend absl::Status PrepareArgs(int argc, char** argv, PreparedArgs& out);
  std::vector<std::string> args_;
  std::vector<char*> pointers_;  // into args_, null-terminated
};

// Rejects unknown flags, flags without their value and values that do not parse
// (kInvalidArgument with a one-line message); merges repeated `--algorithm` flags.
// Arguments after "--" are passed on untouched.
absl::Status PrepareArgs(int argc, char** argv, PreparedArgs& out);

// True when the arguments ask for JSON output (`--json`, `--json=true`), judged without
// parsing: for reporting errors found before parsing.
bool WantsJson(int argc, char** argv);

}  // namespace fwota::cli

#endif  // FWOTA_TOOLS_FWOTA_ARGS_H_
