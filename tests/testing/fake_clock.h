// A Clock that only moves when a test moves it. Thread-safe.
#ifndef FWOTA_TESTS_TESTING_FAKE_CLOCK_H_
#define FWOTA_TESTS_TESTING_FAKE_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "fwota/clock.h"

namespace fwota::testing {

class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_millis = 1700000000000) : now_(start_millis) {}
  int64_t NowMillis() override { return now_.fetch_add(auto_advance_); }
  void Advance(int64_t millis) { now_ += millis; }
  // Each NowMillis() call moves the clock on by `millis` afterwards (distinct times).
  void set_auto_advance(int64_t millis) { auto_advance_ = millis; }

 private:
  std::atomic<int64_t> now_;
  std::atomic<int64_t> auto_advance_{0};
};

}  // namespace fwota::testing

#endif  // FWOTA_TESTS_TESTING_FAKE_CLOCK_H_
