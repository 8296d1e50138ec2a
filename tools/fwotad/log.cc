#include "tools/fwotad/log.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fwota::fwotad {
namespace {

// Appends a logfmt value: bare when it is a plain token, else quoted with escapes.
void AppendValue(std::string& out, absl::string_view v) {
  bool bare = !v.empty();
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) >= 0x7f) {
      bare = false;
      break;
    }
  }
  if (bare) {
    out.append(v.data(), v.size());
    return;
  }
  out.push_back('"');
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
}

// Appends "ts=2024-01-02T03:04:05.678Z": the part up to the seconds is formatted once a
// second per thread, the milliseconds every time.
void AppendTimestamp(std::string& out) {
  thread_local time_t cached_second = -1;
  thread_local std::string cached;  // "ts=2024-01-02T03:04:05."
  timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec != cached_second) {
    cached_second = now.tv_sec;
    cached = absl::StrCat(
        "ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromTimeT(now.tv_sec),
                                absl::UTCTimeZone()),
        ".");
  }
  out += cached;
  char millis[8];
  std::snprintf(millis, sizeof(millis), "%03dZ", static_cast<int>(now.tv_nsec / 1000000));
  out += millis;
}

}  // namespace

void Log(absl::string_view level, absl::string_view message, const LogFields& fields) {
  std::string line;
  line.reserve(256);
  AppendTimestamp(line);
  absl::StrAppend(&line, " level=", level, " msg=");
  AppendValue(line, message);
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, " ", key, "=");
    AppendValue(line, value);
  }
  line.push_back('\n');
  (void)!::write(2, line.data(), line.size());
}

}  // namespace fwota::fwotad
