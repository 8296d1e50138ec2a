// The device-report state machine. See update_state_machine.h.
#include "lib/updates/update_state_machine.h"

#include <iterator>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fwota {
namespace {

constexpr absl::string_view kUpdateStateNames[] = {
    "UNSPECIFIED", "QUEUED",   "INITIATED", "DOWNLOADING", "DOWNLOADED",
    "VERIFIED",    "UPDATING", "UPDATED",   "FAILED"};

}  // namespace

absl::StatusOr<UpdateState> ParseUpdateState(absl::string_view name) {
  for (int i = 1; i < static_cast<int>(std::size(kUpdateStateNames)); ++i) {
    if (absl::EqualsIgnoreCase(name, kUpdateStateNames[i])) return static_cast<UpdateState>(i);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown OTA state \"", name, "\""));
}

absl::string_view UpdateStateName(UpdateState state) {
  int i = static_cast<int>(state);
  if (i < 0 || i >= static_cast<int>(std::size(kUpdateStateNames))) return "UNSPECIFIED";
  return kUpdateStateNames[i];
}

namespace internal {
namespace {

using ::fwota::v1::UPDATE_STATE_DOWNLOADING;
using ::fwota::v1::UPDATE_STATE_FAILED;
using ::fwota::v1::UPDATE_STATE_INITIATED;
using ::fwota::v1::UPDATE_STATE_UPDATED;

bool IsFinal(UpdateState state) {
  return state == UPDATE_STATE_UPDATED || state == UPDATE_STATE_FAILED;
}

// Moves `status` to `state` at `now`: state_since only on a change; FAILED carries
// `error`, any other state clears it.
void Enter(UpdateStatus& status, UpdateState state, const std::string& error, int64_t now) {
  if (status.state() != state) status.set_state_since(now);
  status.set_state(state);
  status.set_error(state == UPDATE_STATE_FAILED ? error : "");
}

}  // namespace

ReportOutcome ApplyDeviceReport(const UpdateStatus& current, const DeviceReport& report,
                                int64_t now_millis) {
  ReportOutcome out;
  out.status = current;
  UpdateStatus& status = out.status;
  if (!report.current_title.empty()) status.set_current_title(report.current_title);
  if (!report.current_version.empty()) status.set_current_version(report.current_version);
  status.set_last_activity(now_millis);
  const UpdateState old_state = current.state();
  out.state = old_state;

  UpdateState reported = ::fwota::v1::UPDATE_STATE_UNSPECIFIED;
  if (!report.state.empty()) {
    absl::StatusOr<UpdateState> parsed = ParseUpdateState(report.state);
    if (!parsed.ok()) {
      out.state = ::fwota::v1::UPDATE_STATE_UNSPECIFIED;
      out.accepted = false;
      out.note = std::string(parsed.status().message());
      return out;
    }
    reported = *parsed;
  }
  const bool has_target = !current.target_package_id().empty();

  // Back after a reboot (or simply reporting) with the target as its current version.
  if (has_target && !report.current_title.empty() && !report.current_version.empty() &&
      report.current_title == current.target_title() &&
      report.current_version == current.target_version() && old_state != UPDATE_STATE_UPDATED) {
    Enter(status, UPDATE_STATE_UPDATED, "", now_millis);
    out.state = UPDATE_STATE_UPDATED;
    out.note = "device reports the target version";
    return out;
  }
  if (report.state.empty()) return out;  // versions or activity only
  out.state = reported;

  if (!has_target) {
    out.accepted = false;
    out.note = "no package assigned";
    return out;
  }
  if (reported == old_state) {  // a repeat (e.g. DOWNLOADING progress, a new fw_error)
    Enter(status, reported, report.error, now_millis);
    return out;
  }
  if (IsFinal(old_state)) {
    if (reported == UPDATE_STATE_INITIATED || reported == UPDATE_STATE_DOWNLOADING) {
      Enter(status, reported, report.error, now_millis);
      out.note = absl::StrCat("new attempt after ", UpdateStateName(old_state));
      return out;
    }
  } else if (reported == UPDATE_STATE_FAILED || reported > old_state) {
    Enter(status, reported, report.error, now_millis);
    return out;
  }
  out.accepted = false;
  out.note = absl::StrCat("state from the past: ", UpdateStateName(reported), " after ",
                          UpdateStateName(old_state));
  return out;
}

}  // namespace internal
}  // namespace fwota
