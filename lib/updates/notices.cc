#include "lib/updates/notices.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "fwota/checksum.h"
#include "fwota/ota_service.h"

namespace fwota::internal {

std::vector<SharedAttribute> PackageAttributes(OtaPackageType type, const OtaPackage& package) {
  const std::string prefix = type == ::fwota::v1::SOFTWARE ? "sw_" : "fw_";
  std::vector<SharedAttribute> out;
  auto text = [&](absl::string_view key, std::string value) {
    out.push_back({absl::StrCat(prefix, key), std::move(value), 0, false});
  };
  text("title", package.title());
  text("version", package.version());
  text("tag", package.tag());
  if (package.has_data()) {
    out.push_back({prefix + "size", "", package.data_size(), true});
    text("checksum_algorithm", std::string(ChecksumAlgorithmName(package.checksum_algorithm())));
    text("checksum", package.checksum());
  } else if (!package.url().empty()) {
    text("url", package.url());
  }
  return out;
}

const std::vector<std::string>& AttributeKeys(OtaPackageType type) {
  static const auto* fw = new std::vector<std::string>{
      "fw_title", "fw_version", "fw_tag", "fw_size", "fw_checksum_algorithm", "fw_checksum",
      "fw_url"};
  static const auto* sw = new std::vector<std::string>{
      "sw_title", "sw_version", "sw_tag", "sw_size", "sw_checksum_algorithm", "sw_checksum",
      "sw_url"};
  return type == ::fwota::v1::SOFTWARE ? *sw : *fw;
}

std::vector<std::string> DeletedKeys(OtaPackageType type,
                                     const std::vector<SharedAttribute>& updated) {
  std::vector<std::string> out;
  for (const std::string& key : AttributeKeys(type)) {
    const bool kept = std::any_of(updated.begin(), updated.end(),
                                  [&](const SharedAttribute& a) { return a.key == key; });
    if (!kept) out.push_back(key);
  }
  return out;
}

// A token is kUnits units; a millisecond adds per_minute units (60,000 ms a minute), so
// every rate adds up exactly.
constexpr int64_t kUnits = 60000;

TokenBucket::TokenBucket(int64_t per_minute, int64_t burst, int64_t now_millis)
    : per_minute_(per_minute),
      burst_(std::max<int64_t>(burst, 1)),
      units_(std::max<int64_t>(burst, 1) * kUnits),
      last_millis_(now_millis) {}

void TokenBucket::Refill(int64_t now_millis) {
  if (now_millis <= last_millis_) return;
  const int64_t elapsed = std::min<int64_t>(now_millis - last_millis_, int64_t{1} << 32);
  // Whole tokens stop at the burst; the part of the next token keeps growing, so a
  // caller that takes every token as it comes gets exactly the rate.
  units_ = std::min(burst_ * kUnits + kUnits - 1, units_ + elapsed * per_minute_);
  last_millis_ = now_millis;
}

int64_t TokenBucket::Available(int64_t now_millis) {
  if (unlimited()) return std::numeric_limits<int64_t>::max() / 2;
  Refill(now_millis);
  return std::min(units_ / kUnits, burst_);
}

void TokenBucket::Take(int64_t n) {
  if (unlimited()) return;
  units_ = std::max<int64_t>(0, std::min(units_, burst_ * kUnits + kUnits - 1) - n * kUnits);
}

int64_t TokenBucket::MillisUntilNext(int64_t now_millis) {
  if (unlimited()) return 0;
  Refill(now_millis);
  if (units_ >= kUnits) return 0;
  return (kUnits - units_ + per_minute_ - 1) / per_minute_;
}

std::string DurationText(int64_t millis) {
  int64_t seconds = millis / 1000;
  const int64_t hours = seconds / 3600;
  const int64_t minutes = (seconds % 3600) / 60;
  seconds %= 60;
  std::string out;
  if (hours > 0) absl::StrAppend(&out, hours, "h");
  if (minutes > 0) absl::StrAppend(&out, minutes, "m");
  if (seconds > 0 || out.empty()) absl::StrAppend(&out, seconds, "s");
  return out;
}

}  // namespace fwota::internal

namespace fwota {

StallPolicy StallPolicy::Default() {
  StallPolicy p;
  constexpr int64_t kMinute = 60 * 1000;
  p.silence_millis[::fwota::v1::UPDATE_STATE_INITIATED] = 24 * 60 * kMinute;
  p.silence_millis[::fwota::v1::UPDATE_STATE_DOWNLOADING] = 15 * kMinute;
  p.silence_millis[::fwota::v1::UPDATE_STATE_DOWNLOADED] = 15 * kMinute;
  p.silence_millis[::fwota::v1::UPDATE_STATE_VERIFIED] = 15 * kMinute;
  p.silence_millis[::fwota::v1::UPDATE_STATE_UPDATING] = 30 * kMinute;
  p.renotify = 2;
  return p;
}

}  // namespace fwota
