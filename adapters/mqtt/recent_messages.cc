#include "adapters/mqtt/recent_messages.h"

#include "absl/hash/hash.h"

namespace fwota::mqtt {

bool RecentMessages::Add(absl::string_view topic, absl::string_view payload) {
  const uint64_t h = absl::HashOf(topic, payload);
  absl::MutexLock lock(&mu_);
  if (!set_.insert(h).second) return false;
  order_.push_back(h);
  if (order_.size() > capacity_) {
    set_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace fwota::mqtt
