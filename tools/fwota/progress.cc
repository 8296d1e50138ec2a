#include "tools/fwota/progress.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fwota::cli {
namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr int kBarWidth = 20;

void WriteAll(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) return;  // a progress bar is not worth failing for
    off += static_cast<size_t>(n);
  }
}

}  // namespace

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1000) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(bytes) / 1000.0;
  int unit = 0;
  while (value >= 1000.0 && unit + 1 < static_cast<int>(std::size(kUnits))) {
    value /= 1000.0;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string ProgressBar::Frame(const std::string& label, int64_t done, int64_t total,
                               double elapsed_seconds) {
  std::string out = label;
  if (total > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const int filled = static_cast<int>(fraction * kBarWidth);
    absl::StrAppend(&out, " [", std::string(filled, '#'), std::string(kBarWidth - filled, '.'),
                    "] ", absl::StrFormat("%3d%%", static_cast<int>(fraction * 100.0)), "  ",
                    FormatBytes(done), " / ", FormatBytes(total));
  } else {
    absl::StrAppend(&out, "  ", FormatBytes(done));
  }
  if (elapsed_seconds > 0) {
    absl::StrAppend(&out, absl::StrFormat("  %.1f MB/s", done / elapsed_seconds / 1e6));
  }
  return out;
}

ProgressBar::ProgressBar(std::string label, bool enabled, int fd)
    : label_(std::move(label)),
      enabled_(enabled),
      fd_(fd),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - kRedrawInterval) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(int64_t done, int64_t total) {
  if (!enabled_) return;
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  done_ = done;
  total_ = total;
  reported_ = true;
  if (std::chrono::steady_clock::now() - last_draw_ >= kRedrawInterval) DrawLocked(false);
}

void ProgressBar::Finish() {
  if (!enabled_) return;
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  finished_ = true;
  if (reported_) DrawLocked(true);
}

void ProgressBar::DrawLocked(bool final_frame) {
  const auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  // \r back to the start of the line, \x1b[K clears what a longer frame left.
  std::string text = absl::StrCat("\r", Frame(label_, done_, total_, elapsed), "\x1b[K");
  if (final_frame) text.push_back('\n');
  WriteAll(fd_, text);
}

}  // namespace fwota::cli
