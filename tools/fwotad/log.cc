#include "tools/fwotad/log.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fwota::fwotad {
namespace {

// A logfmt value: bare when it is a plain token, else quoted with escapes.
std::string Value(absl::string_view v) {
  bool bare = !v.empty();
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) >= 0x7f) {
      bare = false;
      break;
    }
  }
  if (bare) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < ' ') {
      out += "?";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace

void Log(absl::string_view level, absl::string_view message, const LogFields& fields) {
  std::string line = absl::StrCat(
      "ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " level=", level, " msg=", Value(message));
  for (const auto& [key, value] : fields) absl::StrAppend(&line, " ", key, "=", Value(value));
  line.push_back('\n');
  (void)!::write(2, line.data(), line.size());
}

}  // namespace fwota::fwotad
