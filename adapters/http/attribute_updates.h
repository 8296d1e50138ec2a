// AttributeUpdateHub: the HTTP adapter's Notifier. Devices long-poll
// `GET /api/v1/{token}/attributes/updates?timeout=MS` (ThingsBoard's HTTP subscription);
// each waiting request is parked here until a notice for its device arrives, the timeout
// passes, or the server shuts down.
//
// Better than ThingsBoard, which drops a push for a device that is between two polls: a
// notice that finds no waiting request is kept (the newest per device and type, for
// `hold_for`, at most `max_held` devices) and answers the device's next poll at once.
#ifndef FWOTA_ADAPTERS_HTTP_ATTRIBUTE_UPDATES_H_
#define FWOTA_ADAPTERS_HTTP_ATTRIBUTE_UPDATES_H_

#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fwota/notifier.h"

namespace fwota::http {

// Thread-safe.
class AttributeUpdateHub final : public Notifier {
 public:
  explicit AttributeUpdateHub(absl::Duration hold_for = absl::Seconds(60),
                              size_t max_held = 10000)
      : hold_for_(hold_for), max_held_(max_held) {}

  // Hands `notice` to every request waiting for its device, or keeps it for the next.
  void Notify(const AttributeNotice& notice) override;

  // Waits up to `timeout` for a notice for the device with `access_token` (at once when
  // one is held for it). nullopt on timeout or shutdown.
  std::optional<AttributeNotice> Wait(const std::string& access_token, absl::Duration timeout);

  // Wakes every waiting request (they answer as on timeout) and makes later waits return
  // at once. Idempotent.
  void Shutdown();

  // Requests waiting now; devices with a held notice.
  int waiting();
  size_t held();

 private:
  struct Waiter {
    std::optional<AttributeNotice> notice;
  };
  struct Held {
    // By package type: the newest notice of each (a newer one says all there is to say).
    std::map<int, AttributeNotice> by_type;
    absl::Time since;
  };
  // Adds `notice` to what `into` carries (firmware and software in one answer).
  static void Merge(std::optional<AttributeNotice>& into, const AttributeNotice& notice);
  void DropExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration hold_for_;
  const size_t max_held_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::list<Waiter*>> waiters_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Held> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fwota::http

#endif  // FWOTA_ADAPTERS_HTTP_ATTRIBUTE_UPDATES_H_
