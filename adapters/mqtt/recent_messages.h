// The messages a backend handled lately, to recognise a broker's redelivery (QoS 1: a
// message whose acknowledgement was lost comes again with its duplicate flag set) and not
// answer it twice. Remembers hashes of (topic, payload), the oldest forgotten first.
#ifndef FWOTA_ADAPTERS_MQTT_RECENT_MESSAGES_H_
#define FWOTA_ADAPTERS_MQTT_RECENT_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <deque>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace fwota::mqtt {

// Thread-safe.
class RecentMessages {
 public:
  explicit RecentMessages(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // True when (topic, payload) is not among the last `capacity` remembered; remembers it.
  bool Add(absl::string_view topic, absl::string_view payload);

 private:
  const size_t capacity_;
  absl::Mutex mu_;
  absl::flat_hash_set<uint64_t> set_ ABSL_GUARDED_BY(mu_);
  std::deque<uint64_t> order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fwota::mqtt

#endif  // FWOTA_ADAPTERS_MQTT_RECENT_MESSAGES_H_
