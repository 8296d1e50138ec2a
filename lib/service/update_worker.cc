#include "fwota/update_worker.h"

#include <algorithm>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/updates/notices.h"

namespace fwota {
namespace {

// Wall-clock milliseconds for pacing (the bucket ignores time going backwards).
int64_t NowMillis() { return absl::ToUnixMillis(absl::Now()); }

class UpdateWorkerImpl final : public UpdateWorker {
 public:
  UpdateWorkerImpl(OtaService& service, UpdateWorkerOptions options)
      : service_(service),
        options_(std::move(options)),
        bucket_(options_.notices_per_minute, options_.notice_burst, NowMillis()),
        thread_([this] { Run(); }) {}

  ~UpdateWorkerImpl() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  void Wake() override {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  }

 private:
  void Run() {
    int64_t next_sweep = NowMillis() + options_.sweep_interval_millis;
    while (true) {
      int64_t wait = options_.poll_millis;
      const int64_t now = NowMillis();
      const int64_t tokens = bucket_.Available(now);
      if (tokens > 0) {
        absl::StatusOr<DrainResult> drained = service_.DrainNotices(tokens);
        if (drained.ok()) {
          bucket_.Take(drained->sent);
          if (drained->sent + drained->deletions + drained->skipped > 0 && options_.on_drain) {
            options_.on_drain(*drained);
          }
          // Work left and tokens coming: come back when the next token is there.
          if (drained->remaining > 0) {
            wait = std::clamp<int64_t>(bucket_.MillisUntilNext(NowMillis()), 1,
                                       options_.poll_millis);
          }
        } else if (options_.on_error) {
          options_.on_error(drained.status());
        }
      }
      if (NowMillis() >= next_sweep) {
        absl::StatusOr<StallSweepResult> swept = service_.SweepStalls(options_.stall);
        if (!swept.ok()) {
          if (options_.on_error) options_.on_error(swept.status());
        } else if ((swept->renotified > 0 || swept->failed > 0) && options_.on_sweep) {
          options_.on_sweep(*swept);
        }
        next_sweep = NowMillis() + options_.sweep_interval_millis;
      }
      wait = std::min(wait, std::max<int64_t>(next_sweep - NowMillis(), 1));
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || woken_; };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(wait));
      if (stopping_) return;
      woken_ = false;
    }
  }

  OtaService& service_;
  const UpdateWorkerOptions options_;
  internal::TokenBucket bucket_;  // only the worker thread uses it
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after everything above is ready
};

}  // namespace

absl::StatusOr<std::unique_ptr<UpdateWorker>> UpdateWorker::Start(OtaService& service,
                                                                  UpdateWorkerOptions options) {
  if (options.notices_per_minute < 0) {
    return absl::InvalidArgumentError("notices_per_minute must not be negative");
  }
  if (options.notice_burst < 1) return absl::InvalidArgumentError("notice_burst must be >= 1");
  if (options.poll_millis < 1 || options.sweep_interval_millis < 1) {
    return absl::InvalidArgumentError("poll and sweep intervals must be positive");
  }
  for (int64_t silence : options.stall.silence_millis) {
    if (silence < 0) return absl::InvalidArgumentError("stall timeouts must not be negative");
  }
  if (options.stall.renotify < 0) {
    return absl::InvalidArgumentError("stall re-notifications must not be negative");
  }
  return std::unique_ptr<UpdateWorker>(new UpdateWorkerImpl(service, std::move(options)));
}

}  // namespace fwota
