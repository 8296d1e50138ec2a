#include "adapters/http/attribute_updates.h"

#include "absl/time/clock.h"

namespace fwota::http {

void AttributeUpdateHub::Merge(std::optional<AttributeNotice>& into,
                               const AttributeNotice& notice) {
  if (!into.has_value()) {
    into = notice;
    return;
  }
  into->updated.insert(into->updated.end(), notice.updated.begin(), notice.updated.end());
  into->deleted.insert(into->deleted.end(), notice.deleted.begin(), notice.deleted.end());
}

void AttributeUpdateHub::DropExpiredLocked(absl::Time now) {
  for (auto it = held_.begin(); it != held_.end();) {
    it = now - it->second.since > hold_for_ ? held_.erase(it) : std::next(it);
  }
}

void AttributeUpdateHub::Notify(const AttributeNotice& notice) {
  absl::MutexLock lock(&mu_);
  auto it = waiters_.find(notice.access_token);
  if (it != waiters_.end() && !it->second.empty()) {
    for (Waiter* waiter : it->second) Merge(waiter->notice, notice);
    return;
  }
  // Nobody is polling for it right now: keep it for the device's next poll.
  const absl::Time now = absl::Now();
  if (held_.size() >= max_held_ && held_.count(notice.access_token) == 0) {
    DropExpiredLocked(now);
    if (held_.size() >= max_held_) {
      // Still full: the oldest goes.
      auto oldest = held_.begin();
      for (auto h = held_.begin(); h != held_.end(); ++h) {
        if (h->second.since < oldest->second.since) oldest = h;
      }
      held_.erase(oldest);
    }
  }
  Held& held = held_[notice.access_token];
  held.by_type[static_cast<int>(notice.type)] = notice;
  held.since = now;
}

std::optional<AttributeNotice> AttributeUpdateHub::Wait(const std::string& access_token,
                                                        absl::Duration timeout) {
  Waiter waiter;
  absl::MutexLock lock(&mu_);
  if (shut_down_) return std::nullopt;
  if (auto h = held_.find(access_token); h != held_.end()) {
    const bool fresh = absl::Now() - h->second.since <= hold_for_;
    std::optional<AttributeNotice> out;
    if (fresh) {
      for (const auto& [type, notice] : h->second.by_type) Merge(out, notice);
    }
    held_.erase(h);
    if (out.has_value()) return out;
  }
  std::list<Waiter*>& list = waiters_[access_token];
  auto self = list.insert(list.end(), &waiter);
  ++waiting_;
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return waiter.notice.has_value() || shut_down_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  --waiting_;
  list.erase(self);
  if (list.empty()) waiters_.erase(access_token);
  return std::move(waiter.notice);
}

void AttributeUpdateHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

int AttributeUpdateHub::waiting() {
  absl::MutexLock lock(&mu_);
  return waiting_;
}

size_t AttributeUpdateHub::held() {
  absl::MutexLock lock(&mu_);
  return held_.size();
}

}  // namespace fwota::http
