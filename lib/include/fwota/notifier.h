// Notifier: the port through which the update process tells connected devices that
// their shared attributes changed (ThingsBoard's attribute-update push). The host wires
// one into OtaServiceOptions; each transport adapter (HTTP long polls, MQTT, CoAP
// observe) implements it for the devices connected to it, and NotifierFanout hands every
// notice to all of them.
//
// Delivery is best effort and at most once: the update process records a notice as sent
// (state INITIATED) before it calls Notify, so a crash between the two loses only the
// push to a device that was connected at that moment; the device still finds its
// attributes when it asks for them (ThingsBoard clients ask on every connect).
#ifndef FWOTA_NOTIFIER_H_
#define FWOTA_NOTIFIER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "fwota/v1/fwota.pb.h"

namespace fwota {

// One shared attribute as ThingsBoard sends it: fw_size is a number, the rest strings.
struct SharedAttribute {
  std::string key;
  std::string text;       // when !is_number
  int64_t number = 0;     // when is_number
  bool is_number = false;
};

// "Device X: these attributes of `type` now have these values, those keys are gone."
struct AttributeNotice {
  std::string tenant_id;
  std::string device_id;
  std::string access_token;
  ::fwota::v1::OtaPackageType type = ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED;
  std::vector<SharedAttribute> updated;
  std::vector<std::string> deleted;
};

// Implementations must be thread-safe and must not block: Notify is called from the
// update process's thread, which sends the next notices only when it returns.
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void Notify(const AttributeNotice& notice) = 0;
};

// Hands each notice to every registered notifier, in registration order.
class NotifierFanout final : public Notifier {
 public:
  // `notifier` must stay valid until it is removed or the fanout is destroyed.
  void Add(Notifier* notifier) {
    absl::MutexLock lock(&mu_);
    notifiers_.push_back(notifier);
  }
  void Remove(Notifier* notifier) {
    absl::MutexLock lock(&mu_);
    for (auto it = notifiers_.begin(); it != notifiers_.end(); ++it) {
      if (*it == notifier) {
        notifiers_.erase(it);
        return;
      }
    }
  }
  void Notify(const AttributeNotice& notice) override {
    absl::ReaderMutexLock lock(&mu_);
    for (Notifier* n : notifiers_) n->Notify(notice);
  }

 private:
  absl::Mutex mu_;
  std::vector<Notifier*> notifiers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fwota

#endif  // FWOTA_NOTIFIER_H_
