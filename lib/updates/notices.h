// The pure parts of the notification queue (internal): which shared attributes a package
// gives a device, which keys a notice deletes, the token bucket that paces the queue, and
// the stall detector's defaults. No store, no clock reads; thread-compatible.
#ifndef FWOTA_LIB_UPDATES_NOTICES_H_
#define FWOTA_LIB_UPDATES_NOTICES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "fwota/metadata_store.h"
#include "fwota/notifier.h"

namespace fwota::internal {

// The "fw_" or "sw_" attributes of `package` as ThingsBoard sets them: title, version,
// tag, then size, checksum_algorithm, checksum for uploaded data, or url for a URL
// package.
std::vector<SharedAttribute> PackageAttributes(OtaPackageType type, const OtaPackage& package);

// Every attribute key of `type` the update process manages ("fw_title" ... "fw_url").
const std::vector<std::string>& AttributeKeys(OtaPackageType type);

// The keys of `type` that are not in `updated` (all of them when it is empty): what a
// notice tells devices to delete.
std::vector<std::string> DeletedKeys(OtaPackageType type,
                                     const std::vector<SharedAttribute>& updated);

// A token bucket: `per_minute` tokens a minute, at most `burst` saved up, starting full.
// per_minute <= 0: unlimited. Time is passed in, in milliseconds.
class TokenBucket {
 public:
  TokenBucket(int64_t per_minute, int64_t burst, int64_t now_millis);
  // The whole tokens available at `now_millis` (a large number when unlimited).
  int64_t Available(int64_t now_millis);
  // Spends `n` tokens (n <= Available()).
  void Take(int64_t n);
  // Milliseconds from `now_millis` until the next whole token (0 if one is there).
  int64_t MillisUntilNext(int64_t now_millis);
  bool unlimited() const { return per_minute_ <= 0; }

 private:
  void Refill(int64_t now_millis);
  int64_t per_minute_;
  int64_t burst_;
  int64_t units_;  // 60,000 per token
  int64_t last_millis_;
};

// "12m30s" style text of a duration, for history notes and fw_error.
std::string DurationText(int64_t millis);

}  // namespace fwota::internal

#endif  // FWOTA_LIB_UPDATES_NOTICES_H_
