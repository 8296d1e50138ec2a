// The time source of libfwota. Core code never reads the wall clock itself: the host
// passes a Clock in (tests pass a fake one).
#ifndef FWOTA_CLOCK_H_
#define FWOTA_CLOCK_H_

#include <cstdint>

namespace fwota {

// Thread-safe implementations only.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch, as ThingsBoard's createdTime.
  virtual int64_t NowMillis() = 0;
};

// The system's real-time clock. Never null; lives for the whole program.
Clock* RealClock();

}  // namespace fwota

#endif  // FWOTA_CLOCK_H_
