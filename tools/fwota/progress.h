// A one-line progress bar for long uploads and downloads, drawn on a terminal:
//   upload [#########...........]  45%  47.2 MB / 104.9 MB  61.3 MB/s
// It redraws at most ten times a second and draws nothing at all when disabled (the
// command line enables it only when stderr is a terminal, so logs and pipes stay clean).
#ifndef FWOTA_TOOLS_FWOTA_PROGRESS_H_
#define FWOTA_TOOLS_FWOTA_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace fwota::cli {

// Thread-safe: Update may come from a worker thread while Finish comes from the caller.
class ProgressBar {
 public:
  // Draws on file descriptor `fd` (not owned; must stay open) when `enabled`.
  ProgressBar(std::string label, bool enabled, int fd = 2);
  ~ProgressBar();  // calls Finish()

  // `total` < 0: unknown. Throttled to one redraw per 100 ms.
  void Update(int64_t done, int64_t total);
  // Draws the last state (if anything was reported) and ends the line. Idempotent.
  void Finish();

  // The text of one frame (no carriage return): label, bar and percent when `total` is
  // known, bytes done (/ total), and the rate over `elapsed_seconds`.
  static std::string Frame(const std::string& label, int64_t done, int64_t total,
                           double elapsed_seconds);

 private:
  void DrawLocked(bool final_frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string label_;
  const bool enabled_;
  const int fd_;
  const std::chrono::steady_clock::time_point start_;
  absl::Mutex mu_;
  std::chrono::steady_clock::time_point last_draw_ ABSL_GUARDED_BY(mu_);
  int64_t done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t total_ ABSL_GUARDED_BY(mu_) = -1;
  bool reported_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// "1.5 MB", "512 B", "3.2 GB" (decimal units, as the MB/s rate).
std::string FormatBytes(int64_t bytes);

}  // namespace fwota::cli

#endif  // FWOTA_TOOLS_FWOTA_PROGRESS_H_
