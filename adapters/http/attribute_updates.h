// AttributeUpdateHub: the HTTP adapter's Notifier. Devices long-poll
// `GET /api/v1/{token}/attributes/updates?timeout=MS` (ThingsBoard's HTTP subscription);
// each waiting request is parked here until a notice for its device arrives, the timeout
// passes, or the server shuts down. Notices for devices that are not waiting are dropped:
// a device reads its attributes with GET .../attributes after each poll, as ThingsBoard
// clients do.
#ifndef FWOTA_ADAPTERS_HTTP_ATTRIBUTE_UPDATES_H_
#define FWOTA_ADAPTERS_HTTP_ATTRIBUTE_UPDATES_H_

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
  // Hands `notice` to every request waiting for its device.
  void Notify(const AttributeNotice& notice) override;

  // Waits up to `timeout` for a notice for the device with `access_token`. nullopt on
  // timeout or shutdown.
  std::optional<AttributeNotice> Wait(const std::string& access_token, absl::Duration timeout);

  // Wakes every waiting request (they answer as on timeout) and makes later waits return
  // at once. Idempotent.
  void Shutdown();

  // Requests waiting now.
  int waiting();

 private:
  struct Waiter {
    std::optional<AttributeNotice> notice;
  };
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::list<Waiter*>> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fwota::http

#endif  // FWOTA_ADAPTERS_HTTP_ATTRIBUTE_UPDATES_H_
