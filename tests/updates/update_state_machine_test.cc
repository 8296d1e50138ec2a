// The device-report state machine, table-driven: every rule with its accepted and its
// refused paths.
#include "lib/updates/update_state_machine.h"

#include <ostream>
#include <string>

#include "gtest/gtest.h"

namespace fwota::internal {
namespace {

using ::fwota::v1::FIRMWARE;
using ::fwota::v1::UPDATE_STATE_DOWNLOADED;
using ::fwota::v1::UPDATE_STATE_DOWNLOADING;
using ::fwota::v1::UPDATE_STATE_FAILED;
using ::fwota::v1::UPDATE_STATE_INITIATED;
using ::fwota::v1::UPDATE_STATE_QUEUED;
using ::fwota::v1::UPDATE_STATE_UNSPECIFIED;
using ::fwota::v1::UPDATE_STATE_UPDATED;
using ::fwota::v1::UPDATE_STATE_UPDATING;
using ::fwota::v1::UPDATE_STATE_VERIFIED;

constexpr int64_t kSince = 1000;
constexpr int64_t kNow = 5000;

struct Case {
  std::string name;
  // Current status.
  UpdateState from;
  bool has_target = true;
  std::string from_error;
  // Report.
  std::string state;
  std::string error;
  std::string current_title;
  std::string current_version;
  // Expected.
  UpdateState event_state;
  bool accepted;
  std::string note;        // exact; "" means none
  UpdateState new_state;   // the status's state afterwards
  std::string new_error;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

UpdateStatus Current(const Case& c) {
  UpdateStatus s;
  s.set_tenant_id("t1");
  s.set_device_id("d1");
  s.set_type(FIRMWARE);
  s.set_state(c.from);
  s.set_error(c.from_error);
  s.set_state_since(kSince);
  s.set_last_activity(kSince);
  s.set_current_title("fw");
  s.set_current_version("1.0");
  if (c.has_target) {
    s.set_target_package_id("p2");
    s.set_target_title("fw");
    s.set_target_version("2.0");
    s.set_target_tag("fw 2.0");
    s.set_target_ts(900);
  }
  return s;
}

class ApplyDeviceReportTest : public ::testing::TestWithParam<Case> {};

TEST_P(ApplyDeviceReportTest, Rule) {
  const Case& c = GetParam();
  const UpdateStatus current = Current(c);
  DeviceReport report;
  report.type = FIRMWARE;
  report.state = c.state;
  report.error = c.error;
  report.current_title = c.current_title;
  report.current_version = c.current_version;
  ReportOutcome out = ApplyDeviceReport(current, report, kNow);

  EXPECT_EQ(out.state, c.event_state);
  EXPECT_EQ(out.accepted, c.accepted);
  EXPECT_EQ(out.note, c.note);
  EXPECT_EQ(out.status.state(), c.new_state);
  EXPECT_EQ(out.status.error(), c.new_error);
  // state_since changes exactly when the state does; last_activity always moves.
  EXPECT_EQ(out.status.state_since(), c.new_state == c.from ? kSince : kNow);
  EXPECT_EQ(out.status.last_activity(), kNow);
  // The device's versions always follow the report; the target never changes.
  EXPECT_EQ(out.status.current_title(), c.current_title.empty() ? "fw" : c.current_title);
  EXPECT_EQ(out.status.current_version(),
            c.current_version.empty() ? "1.0" : c.current_version);
  EXPECT_EQ(out.status.target_package_id(), current.target_package_id());
  EXPECT_EQ(out.status.target_version(), current.target_version());
  EXPECT_EQ(out.status.target_ts(), current.target_ts());
  EXPECT_EQ(out.status.device_id(), "d1");
  // A refused report changes nothing but the versions and the activity.
  if (!c.accepted) {
    EXPECT_EQ(out.status.state(), c.from);
    EXPECT_EQ(out.status.error(), c.from_error);
  }
}

// Shorthands: accepted / refused, ending in `to`.
Case Ok(std::string name, UpdateState from, std::string state, UpdateState to) {
  Case c;
  c.name = std::move(name);
  c.from = from;
  c.state = std::move(state);
  c.event_state = to;
  c.accepted = true;
  c.new_state = to;
  return c;
}

Case Refused(std::string name, UpdateState from, std::string state, UpdateState reported,
             std::string note) {
  Case c;
  c.name = std::move(name);
  c.from = from;
  c.state = std::move(state);
  c.event_state = reported;
  c.accepted = false;
  c.note = std::move(note);
  c.new_state = from;
  return c;
}

template <typename F>
Case With(Case c, F f) {
  f(c);
  return c;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ApplyDeviceReportTest,
    ::testing::Values(
        // Forward, one step at a time, and skipping steps.
        Ok("QueuedToInitiated", UPDATE_STATE_QUEUED, "INITIATED", UPDATE_STATE_INITIATED),
        Ok("InitiatedToDownloading", UPDATE_STATE_INITIATED, "DOWNLOADING",
           UPDATE_STATE_DOWNLOADING),
        Ok("DownloadingToDownloaded", UPDATE_STATE_DOWNLOADING, "DOWNLOADED",
           UPDATE_STATE_DOWNLOADED),
        Ok("DownloadedToVerified", UPDATE_STATE_DOWNLOADED, "VERIFIED", UPDATE_STATE_VERIFIED),
        Ok("VerifiedToUpdating", UPDATE_STATE_VERIFIED, "UPDATING", UPDATE_STATE_UPDATING),
        Ok("UpdatingToUpdated", UPDATE_STATE_UPDATING, "UPDATED", UPDATE_STATE_UPDATED),
        Ok("QueuedSkipsToDownloading", UPDATE_STATE_QUEUED, "DOWNLOADING",
           UPDATE_STATE_DOWNLOADING),
        Ok("InitiatedSkipsToUpdated", UPDATE_STATE_INITIATED, "UPDATED", UPDATE_STATE_UPDATED),
        Ok("NoStatusYetWithTarget", UPDATE_STATE_UNSPECIFIED, "DOWNLOADING",
           UPDATE_STATE_DOWNLOADING),
        Ok("NameIsCaseInsensitive", UPDATE_STATE_DOWNLOADING, "downloaded",
           UPDATE_STATE_DOWNLOADED),
        // Repeats: accepted, state_since kept.
        Ok("DownloadingProgress", UPDATE_STATE_DOWNLOADING, "DOWNLOADING",
           UPDATE_STATE_DOWNLOADING),
        Ok("QueuedRepeated", UPDATE_STATE_QUEUED, "QUEUED", UPDATE_STATE_QUEUED),
        Ok("UpdatedRepeated", UPDATE_STATE_UPDATED, "UPDATED", UPDATE_STATE_UPDATED),
        With(Ok("FailedRepeatedWithNewError", UPDATE_STATE_FAILED, "FAILED", UPDATE_STATE_FAILED),
             [](Case& c) {
               c.from_error = "old";
               c.error = "new";
               c.new_error = "new";
             }),
        // FAILED from any non-final state, carrying fw_error.
        With(Ok("QueuedToFailed", UPDATE_STATE_QUEUED, "FAILED", UPDATE_STATE_FAILED),
             [](Case& c) { c.error = c.new_error = "no space"; }),
        With(Ok("DownloadingToFailed", UPDATE_STATE_DOWNLOADING, "FAILED", UPDATE_STATE_FAILED),
             [](Case& c) { c.error = c.new_error = "checksum mismatch"; }),
        With(Ok("UpdatingToFailed", UPDATE_STATE_UPDATING, "FAILED", UPDATE_STATE_FAILED),
             [](Case& c) { c.error = c.new_error = "flash write error"; }),
        Ok("FailedWithoutError", UPDATE_STATE_VERIFIED, "FAILED", UPDATE_STATE_FAILED),
        // An error on a non-FAILED state is not kept.
        With(Ok("ErrorIgnoredOutsideFailed", UPDATE_STATE_DOWNLOADING, "DOWNLOADED",
                UPDATE_STATE_DOWNLOADED),
             [](Case& c) { c.error = "ignored"; }),
        // Backwards: recorded, refused, state kept; the note names both states.
        Refused("DownloadingAfterVerified", UPDATE_STATE_VERIFIED, "DOWNLOADING",
                UPDATE_STATE_DOWNLOADING, "state from the past: DOWNLOADING after VERIFIED"),
        Refused("InitiatedAfterDownloaded", UPDATE_STATE_DOWNLOADED, "INITIATED",
                UPDATE_STATE_INITIATED, "state from the past: INITIATED after DOWNLOADED"),
        Refused("QueuedAfterInitiated", UPDATE_STATE_INITIATED, "QUEUED", UPDATE_STATE_QUEUED,
                "state from the past: QUEUED after INITIATED"),
        Refused("VerifiedAfterUpdated", UPDATE_STATE_UPDATED, "VERIFIED", UPDATE_STATE_VERIFIED,
                "state from the past: VERIFIED after UPDATED"),
        Refused("UpdatingAfterUpdated", UPDATE_STATE_UPDATED, "UPDATING", UPDATE_STATE_UPDATING,
                "state from the past: UPDATING after UPDATED"),
        Refused("FailedAfterUpdated", UPDATE_STATE_UPDATED, "FAILED", UPDATE_STATE_FAILED,
                "state from the past: FAILED after UPDATED"),
        Refused("QueuedAfterUpdated", UPDATE_STATE_UPDATED, "QUEUED", UPDATE_STATE_QUEUED,
                "state from the past: QUEUED after UPDATED"),
        With(Refused("DownloadedAfterFailed", UPDATE_STATE_FAILED, "DOWNLOADED",
                     UPDATE_STATE_DOWNLOADED, "state from the past: DOWNLOADED after FAILED"),
             [](Case& c) { c.from_error = c.new_error = "boom"; }),
        With(Refused("UpdatedAfterFailed", UPDATE_STATE_FAILED, "UPDATED", UPDATE_STATE_UPDATED,
                     "state from the past: UPDATED after FAILED"),
             [](Case& c) { c.from_error = c.new_error = "boom"; }),
        // Refused, but the versions the device reports are still taken.
        With(Refused("BackwardsStillTakesVersions", UPDATE_STATE_UPDATING, "DOWNLOADED",
                     UPDATE_STATE_DOWNLOADED, "state from the past: DOWNLOADED after UPDATING"),
             [](Case& c) {
               c.current_title = "fw";
               c.current_version = "1.5";
             }),
        // A new attempt after FAILED or UPDATED restarts the cycle; leaving FAILED clears
        // the error.
        With(Ok("RestartAfterFailedInitiated", UPDATE_STATE_FAILED, "INITIATED",
                UPDATE_STATE_INITIATED),
             [](Case& c) {
               c.from_error = "boom";
               c.note = "new attempt after FAILED";
             }),
        With(Ok("RestartAfterFailedDownloading", UPDATE_STATE_FAILED, "DOWNLOADING",
                UPDATE_STATE_DOWNLOADING),
             [](Case& c) {
               c.from_error = "boom";
               c.note = "new attempt after FAILED";
             }),
        With(Ok("RestartAfterUpdated", UPDATE_STATE_UPDATED, "DOWNLOADING",
                UPDATE_STATE_DOWNLOADING),
             [](Case& c) { c.note = "new attempt after UPDATED"; }),
        With(Ok("RestartAfterUpdatedInitiated", UPDATE_STATE_UPDATED, "INITIATED",
                UPDATE_STATE_INITIATED),
             [](Case& c) { c.note = "new attempt after UPDATED"; }),
        // No target ever set: progress (and FAILED, UPDATED) recorded, not accepted.
        With(Refused("UpdatedWithoutTarget", UPDATE_STATE_UNSPECIFIED, "UPDATED",
                     UPDATE_STATE_UPDATED, "no package assigned"),
             [](Case& c) { c.has_target = false; }),
        With(Refused("DownloadingWithoutTarget", UPDATE_STATE_UNSPECIFIED, "DOWNLOADING",
                     UPDATE_STATE_DOWNLOADING, "no package assigned"),
             [](Case& c) { c.has_target = false; }),
        With(Refused("FailedWithoutTarget", UPDATE_STATE_UNSPECIFIED, "FAILED",
                     UPDATE_STATE_FAILED, "no package assigned"),
             [](Case& c) {
               c.has_target = false;
               c.error = "boom";
             }),
        With(Refused("RestartWithoutTarget", UPDATE_STATE_UPDATED, "DOWNLOADING",
                     UPDATE_STATE_DOWNLOADING, "no package assigned"),
             [](Case& c) { c.has_target = false; }),
        // The target version reported as the current one: UPDATED, with or without a state.
        With(Ok("RebootWithTargetVersion", UPDATE_STATE_UPDATING, "", UPDATE_STATE_UPDATED),
             [](Case& c) {
               c.current_title = "fw";
               c.current_version = "2.0";
               c.note = "device reports the target version";
             }),
        With(Ok("TargetVersionWithState", UPDATE_STATE_DOWNLOADING, "UPDATING",
                UPDATE_STATE_UPDATED),
             [](Case& c) {
               c.current_title = "fw";
               c.current_version = "2.0";
               c.note = "device reports the target version";
             }),
        With(Ok("TargetVersionAfterFailed", UPDATE_STATE_FAILED, "", UPDATE_STATE_UPDATED),
             [](Case& c) {
               c.from_error = "reboot timeout";
               c.current_title = "fw";
               c.current_version = "2.0";
               c.note = "device reports the target version";
             }),
        With(Ok("TargetVersionFromQueued", UPDATE_STATE_QUEUED, "", UPDATE_STATE_UPDATED),
             [](Case& c) {
               c.current_title = "fw";
               c.current_version = "2.0";
               c.note = "device reports the target version";
             }),
        // ... unless already UPDATED: then an ordinary report.
        With(Ok("TargetVersionWhenUpdated", UPDATE_STATE_UPDATED, "", UPDATE_STATE_UPDATED),
             [](Case& c) {
               c.current_title = "fw";
               c.current_version = "2.0";
             }),
        // Another version, or only half of the pair, is not the target.
        With(Ok("OtherVersionNoState", UPDATE_STATE_DOWNLOADING, "", UPDATE_STATE_DOWNLOADING),
             [](Case& c) {
               c.current_title = "fw";
               c.current_version = "1.9";
             }),
        With(Ok("VersionWithoutTitle", UPDATE_STATE_DOWNLOADING, "", UPDATE_STATE_DOWNLOADING),
             [](Case& c) { c.current_version = "2.0"; }),
        With(Ok("OtherTitleSameVersion", UPDATE_STATE_DOWNLOADING, "", UPDATE_STATE_DOWNLOADING),
             [](Case& c) {
               c.current_title = "other";
               c.current_version = "2.0";
             }),
        // Without a target, a matching pair means nothing.
        With(Ok("VersionsWithoutTarget", UPDATE_STATE_UNSPECIFIED, "", UPDATE_STATE_UNSPECIFIED),
             [](Case& c) {
               c.has_target = false;
               c.current_title = "fw";
               c.current_version = "2.0";
             }),
        // No state at all: activity only, accepted, nothing else moves.
        Ok("ActivityOnly", UPDATE_STATE_DOWNLOADING, "", UPDATE_STATE_DOWNLOADING),
        With(Ok("ActivityOnlyKeepsFailedError", UPDATE_STATE_FAILED, "", UPDATE_STATE_FAILED),
             [](Case& c) { c.from_error = c.new_error = "boom"; }),
        // An unknown state name: refused with ParseUpdateState's message.
        Refused("UnknownState", UPDATE_STATE_DOWNLOADING, "EXPLODED", UPDATE_STATE_UNSPECIFIED,
                "unknown OTA state \"EXPLODED\""),
        With(Refused("UnknownStateWithoutTarget", UPDATE_STATE_UNSPECIFIED, "EXPLODED",
                     UPDATE_STATE_UNSPECIFIED, "unknown OTA state \"EXPLODED\""),
             [](Case& c) { c.has_target = false; })),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(ApplyDeviceReportTest, WalksAWholeCycleAndRestarts) {
  UpdateStatus s;
  s.set_target_package_id("p");
  s.set_target_title("fw");
  s.set_target_version("2.0");
  s.set_state(UPDATE_STATE_QUEUED);
  int64_t now = 10;
  auto report = [&](const std::string& state, const std::string& error = "") {
    DeviceReport r;
    r.type = FIRMWARE;
    r.state = state;
    r.error = error;
    ReportOutcome out = ApplyDeviceReport(s, r, ++now);
    s = out.status;
    return out.accepted;
  };
  for (const char* state :
       {"INITIATED", "DOWNLOADING", "DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATING"}) {
    EXPECT_TRUE(report(state)) << state;
  }
  EXPECT_FALSE(report("DOWNLOADING"));
  EXPECT_EQ(s.state(), UPDATE_STATE_UPDATING);
  EXPECT_TRUE(report("FAILED", "flash write error"));
  EXPECT_EQ(s.error(), "flash write error");
  EXPECT_EQ(s.state_since(), now);
  EXPECT_TRUE(report("DOWNLOADING"));
  EXPECT_EQ(s.error(), "");
  EXPECT_TRUE(report("UPDATED"));
  EXPECT_EQ(s.state(), UPDATE_STATE_UPDATED);
  EXPECT_EQ(s.last_activity(), now);
}

TEST(UpdateStateNamesTest, RoundTrip) {
  for (int i = UPDATE_STATE_QUEUED; i <= UPDATE_STATE_FAILED; ++i) {
    UpdateState state = static_cast<UpdateState>(i);
    absl::StatusOr<UpdateState> parsed = ParseUpdateState(UpdateStateName(state));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, state);
  }
  EXPECT_FALSE(ParseUpdateState("").ok());
  EXPECT_FALSE(ParseUpdateState("UNSPECIFIED").ok());
  EXPECT_EQ(UpdateStateName(static_cast<UpdateState>(42)), "UNSPECIFIED");
}

}  // namespace
}  // namespace fwota::internal
