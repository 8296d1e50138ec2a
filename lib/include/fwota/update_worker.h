// UpdateWorker: the update process's background thread. It drains the notice queue at a
// paced rate (a token bucket: `notices_per_minute` on average, bursts up to
// `notice_burst`; ThingsBoard's default is 100 devices a minute) and runs the stall
// detector every `sweep_interval_millis`. fwotad runs one; a platform that embeds
// libfwota may run one or call OtaService::DrainNotices / SweepStalls itself.
#ifndef FWOTA_UPDATE_WORKER_H_
#define FWOTA_UPDATE_WORKER_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fwota/ota_service.h"

namespace fwota {

struct UpdateWorkerOptions {
  // Average notices a minute; 0: as fast as the store goes.
  int64_t notices_per_minute = 100;
  // Notices that may go out at once after a quiet time (the bucket's size). >= 1.
  int64_t notice_burst = 100;
  // How often the queue is looked at when it is not woken (Wake()), in milliseconds.
  int64_t poll_millis = 500;
  // How often the stall detector runs, in milliseconds.
  int64_t sweep_interval_millis = 5000;
  StallPolicy stall = StallPolicy::Default();
  // Called with each pass's results and errors (for logs). Default: none.
  std::function<void(const DrainResult&)> on_drain;
  std::function<void(const StallSweepResult&)> on_sweep;
  std::function<void(const absl::Status&)> on_error;
};

// Thread-safe.
class UpdateWorker {
 public:
  // Starts the thread. `service` must outlive the worker.
  static absl::StatusOr<std::unique_ptr<UpdateWorker>> Start(OtaService& service,
                                                             UpdateWorkerOptions options);
  // Stops the thread (after the pass in progress).
  virtual ~UpdateWorker() = default;
  // Looks at the queue now instead of at the next poll (after an assignment change).
  virtual void Wake() = 0;
};

}  // namespace fwota

#endif  // FWOTA_UPDATE_WORKER_H_
