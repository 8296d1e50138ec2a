// Structured log lines (logfmt) on stderr: `ts=... level=info msg="..." key=value ...`.
// Thread-safe: each line is written with one write().
#ifndef FWOTA_TOOLS_FWOTAD_LOG_H_
#define FWOTA_TOOLS_FWOTAD_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace fwota::fwotad {

using LogFields = std::vector<std::pair<std::string, std::string>>;

void Log(absl::string_view level, absl::string_view message, const LogFields& fields = {});

}  // namespace fwota::fwotad

#endif  // FWOTA_TOOLS_FWOTAD_LOG_H_
