// KeyedWorkers: one key's items in order on one thread, several keys side by side, the
// limit on waiting items, and what is queued handled before destruction returns.
#include "adapters/common/keyed_workers.h"

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fwota::adapters {
namespace {

struct Item {
  std::string key;
  int n = 0;
};

TEST(KeyedWorkersTest, EachKeysItemsInOrderOnOneThread) {
  absl::Mutex mu;
  std::map<std::string, std::vector<int>> seen;
  std::map<std::string, std::thread::id> thread_of;
  bool one_thread_per_key = true;
  {
    KeyedWorkers<Item> workers(4, 100000, [&](Item& item) {
      absl::MutexLock lock(&mu);
      seen[item.key].push_back(item.n);
      auto [it, added] = thread_of.emplace(item.key, std::this_thread::get_id());
      if (!added && it->second != std::this_thread::get_id()) one_thread_per_key = false;
    });
    for (int n = 0; n < 1000; ++n) {
      for (const char* key : {"a", "b", "c", "d", "e", "f", "g", "h"}) {
        ASSERT_TRUE(workers.Add(key, {key, n}));
      }
    }
  }  // destruction handles every queued item first
  ASSERT_EQ(seen.size(), 8u);
  for (const auto& [key, ns] : seen) {
    ASSERT_EQ(ns.size(), 1000u) << key;
    for (int n = 0; n < 1000; ++n) ASSERT_EQ(ns[n], n) << key;
  }
  EXPECT_TRUE(one_thread_per_key);
}

TEST(KeyedWorkersTest, KeysRunSideBySide) {
  // Two threads; find two keys on different ones. The first key's item blocks until the
  // second key's item has run: with one thread for both this would never finish.
  absl::Notification second_ran;
  std::atomic<bool> first_saw_second{false};
  // Pick the keys by running them: a key always lands on the same thread.
  absl::Mutex mu;
  std::map<std::string, std::thread::id> thread_of;
  {
    KeyedWorkers<Item> mapper(2, 1000, [&](Item& item) {
      absl::MutexLock lock(&mu);
      thread_of[item.key] = std::this_thread::get_id();
    });
    for (int i = 0; i < 64; ++i) mapper.Add(std::to_string(i), {std::to_string(i), 0});
  }
  std::string first = "0", second;
  for (const auto& [key, id] : thread_of) {
    if (id != thread_of["0"]) second = key;
  }
  ASSERT_FALSE(second.empty()) << "64 keys all hashed to one of two threads";
  {
    KeyedWorkers<Item> workers(2, 100, [&](Item& item) {
      if (item.key == first) {
        first_saw_second = second_ran.WaitForNotificationWithTimeout(absl::Seconds(10));
      } else {
        second_ran.Notify();
      }
    });
    ASSERT_TRUE(workers.Add(first, {first, 0}));
    ASSERT_TRUE(workers.Add(second, {second, 0}));
  }
  EXPECT_TRUE(first_saw_second);
}

TEST(KeyedWorkersTest, RefusesBeyondTheLimitAndTakesMoreOnceHandled) {
  absl::Notification release;
  std::atomic<int> handled{0};
  KeyedWorkers<Item> workers(1, 3, [&](Item&) {
    release.WaitForNotification();
    handled.fetch_add(1);
  });
  // The first item may already be taken by the thread (and wait there); fill the queue.
  int added = 0;
  while (workers.Add("k", {"k", added})) ++added;
  EXPECT_TRUE(added == 3 || added == 4) << added;
  EXPECT_TRUE(workers.Full("k"));
  EXPECT_EQ(workers.Pending("k"), 3u);
  release.Notify();
  while (handled.load() < added) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_FALSE(workers.Full("k"));
  EXPECT_TRUE(workers.Add("k", {"k", 99}));
}

}  // namespace
}  // namespace fwota::adapters
