#include "tools/fwota/output.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace fwota::cli {

std::string Table::Render() const {
  std::vector<size_t> widths(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  std::string out;
  auto render = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      if (i > 0) line += "  ";
      line += cell;
      if (i + 1 < widths.size()) line.append(widths[i] - cell.size(), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  };
  render(header_);
  for (const auto& row : rows_) render(row);
  return out;
}

std::string FormatMillis(int64_t millis) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(millis),
                          absl::LocalTimeZone());
}

std::string Abbreviate(absl::string_view text, size_t max) {
  if (text.size() <= max || max < 4) return std::string(text);
  return absl::StrCat(text.substr(0, max - 3), "...");
}

std::string OrDash(absl::string_view value) {
  return value.empty() ? std::string("-") : std::string(value);
}

}  // namespace fwota::cli
