#include "adapters/http/attribute_updates.h"

namespace fwota::http {

void AttributeUpdateHub::Notify(const AttributeNotice& notice) {
  absl::MutexLock lock(&mu_);
  auto it = waiters_.find(notice.access_token);
  if (it == waiters_.end()) return;
  for (Waiter* waiter : it->second) {
    if (!waiter->notice.has_value()) {
      waiter->notice = notice;
    } else {
      // Two notices before the request could answer (firmware and software): one answer
      // carries both.
      AttributeNotice& merged = *waiter->notice;
      merged.updated.insert(merged.updated.end(), notice.updated.begin(), notice.updated.end());
      merged.deleted.insert(merged.deleted.end(), notice.deleted.begin(), notice.deleted.end());
    }
  }
}

std::optional<AttributeNotice> AttributeUpdateHub::Wait(const std::string& access_token,
                                                        absl::Duration timeout) {
  Waiter waiter;
  absl::MutexLock lock(&mu_);
  if (shut_down_) return std::nullopt;
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

}  // namespace fwota::http
