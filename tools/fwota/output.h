// Human-readable output of the fwota command line: aligned tables and timestamps.
// (Machine-readable output is ThingsBoard JSON from adapters/common/tb_json.h.)
#ifndef FWOTA_TOOLS_FWOTA_OUTPUT_H_
#define FWOTA_TOOLS_FWOTA_OUTPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace fwota::cli {

// Columns padded to their widest cell, two spaces apart, no trailing spaces. Not
// thread-safe.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t rows() const { return rows_.size(); }
  // The header line and every row, each ending in a newline.
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Milliseconds since the epoch as "2024-05-01 12:34:56" in local time.
std::string FormatMillis(int64_t millis);

// `text` cut to `max` characters with "..." at the end when longer.
std::string Abbreviate(absl::string_view text, size_t max);

// `value`, or "-" when it is empty (empty table cells are hard to read).
std::string OrDash(absl::string_view value);

}  // namespace fwota::cli

#endif  // FWOTA_TOOLS_FWOTA_OUTPUT_H_
