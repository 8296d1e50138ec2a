// Work handed from a transport's I/O thread to a few threads of its own, so that a
// device message that waits (a report waiting for its group commit, an answer waiting
// for room) never holds up the I/O thread. The items of one key (a device) always go to
// the same thread and are handled in the order they were added, so one device's
// messages keep their order while several devices' run side by side.
#ifndef FWOTA_ADAPTERS_COMMON_KEYED_WORKERS_H_
#define FWOTA_ADAPTERS_COMMON_KEYED_WORKERS_H_

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace fwota::adapters {

// Thread-safe. Destroying it handles what is still queued, then joins the threads.
template <typename Item>
class KeyedWorkers {
 public:
  // Starts max(threads, 1) threads that call `handle` for each item; at most
  // `max_pending` items (at least one per thread) wait in all.
  KeyedWorkers(int threads, size_t max_pending, std::function<void(Item&)> handle)
      : handle_(std::move(handle)),
        shards_(static_cast<size_t>(std::max(threads, 1))),
        max_per_shard_(std::max<size_t>(max_pending / shards_.size(), 1)) {
    for (Shard& shard : shards_) threads_.emplace_back([this, &shard] { Work(shard); });
  }

  ~KeyedWorkers() {
    for (Shard& shard : shards_) {
      absl::MutexLock lock(&shard.mu);
      shard.stop = true;
    }
    for (std::thread& t : threads_) t.join();
  }

  KeyedWorkers(const KeyedWorkers&) = delete;
  KeyedWorkers& operator=(const KeyedWorkers&) = delete;

  // Items of `key` waiting now (the length of its thread's queue, which other keys
  // share).
  size_t Pending(absl::string_view key) {
    Shard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    return shard.queue.size();
  }

  // Whether an item of `key` would be refused now.
  bool Full(absl::string_view key) { return Pending(key) >= max_per_shard_; }

  // Queues `item` for the thread of `key`; false, and nothing queued, when that thread
  // already has its share of `max_pending` waiting.
  bool Add(absl::string_view key, Item item) {
    Shard& shard = ShardOf(key);
    absl::MutexLock lock(&shard.mu);
    if (shard.queue.size() >= max_per_shard_) return false;
    shard.queue.push_back(std::move(item));
    return true;
  }

 private:
  struct Shard {
    absl::Mutex mu;
    std::deque<Item> queue ABSL_GUARDED_BY(mu);
    bool stop ABSL_GUARDED_BY(mu) = false;
  };

  Shard& ShardOf(absl::string_view key) {
    return shards_[absl::Hash<absl::string_view>()(key) % shards_.size()];
  }

  void Work(Shard& shard) {
    for (;;) {
      Item item;
      {
        absl::MutexLock lock(&shard.mu);
        shard.mu.Await(absl::Condition(
            +[](Shard* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
              return s->stop || !s->queue.empty();
            },
            &shard));
        if (shard.queue.empty()) return;  // stopping, and nothing left
        item = std::move(shard.queue.front());
        shard.queue.pop_front();
      }
      handle_(item);
    }
  }

  const std::function<void(Item&)> handle_;
  std::vector<Shard> shards_;  // never resized: the threads hold references
  const size_t max_per_shard_;
  std::vector<std::thread> threads_;
};

}  // namespace fwota::adapters

#endif  // FWOTA_ADAPTERS_COMMON_KEYED_WORKERS_H_
