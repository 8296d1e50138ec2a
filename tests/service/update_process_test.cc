// The update process behind OtaService, against every store: assignment changes queue
// notices (one per device and type), DrainNotices sends them in order within a budget
// (INITIATED + attributes through the Notifier), skips stale ones, survives a restart
// without losing or repeating one; the stall detector re-notifies and then fails silent
// devices; device moves and new devices are queued; reports are group-committed into the
// report log, which a thread of the service applies, every read applies first, and a
// restart (even after a kill) applies.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "fwota/metadata_stores.h"
#include "fwota/ota_service.h"
#include "fwota/status_macros.h"
#include "fwota/update_worker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace fwota {
namespace {

using ::fwota::testing::FakeClock;
using ::fwota::testing::StatusCodeIs;
using ::fwota::testing::StatusHasSubstr;
using ::fwota::v1::FIRMWARE;
using ::fwota::v1::SOFTWARE;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

constexpr UpdateState kQueued = ::fwota::v1::UPDATE_STATE_QUEUED;
constexpr UpdateState kInitiated = ::fwota::v1::UPDATE_STATE_INITIATED;
constexpr UpdateState kDownloading = ::fwota::v1::UPDATE_STATE_DOWNLOADING;
constexpr UpdateState kFailed = ::fwota::v1::UPDATE_STATE_FAILED;
constexpr UpdateState kUpdated = ::fwota::v1::UPDATE_STATE_UPDATED;
constexpr int64_t kMinute = 60 * 1000;

std::string NewTempDir() {
  std::string templ = absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                                   "/upd.XXXXXX");
  EXPECT_NE(mkdtemp(templ.data()), nullptr);
  return templ;
}

// Keeps every notice it is given.
class RecordingNotifier : public Notifier {
 public:
  void Notify(const AttributeNotice& notice) override {
    absl::MutexLock lock(&mu_);
    notices_.push_back(notice);
  }
  std::vector<AttributeNotice> notices() {
    absl::MutexLock lock(&mu_);
    return notices_;
  }
  std::vector<std::string> devices() {
    std::vector<std::string> out;
    for (const AttributeNotice& n : notices()) out.push_back(n.device_id);
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<AttributeNotice> notices_;
};

struct StoreKind {
  std::string name;
  bool sqlite;
};

void PrintTo(const StoreKind& kind, std::ostream* os) { *os << kind.name; }
std::string StoreName(const ::testing::TestParamInfo<StoreKind>& info) { return info.param.name; }

class UpdateProcessTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    dir_ = NewTempDir();
    if (GetParam().sqlite) {
      ASSERT_OK_AND_ASSIGN(metadata_, OpenSqliteMetadataStore(dir_ + "/fwota.db"));
    } else {
      metadata_ = NewMemoryMetadataStore();
    }
    blobs_ = NewMemoryBlobStore();
    clock_.set_auto_advance(1);
    StartService();
    ASSERT_OK_AND_ASSIGN(Tenant t1, service_->CreateTenant("tenant-one"));
    a_ = {t1.id(), "alice"};
    ASSERT_OK_AND_ASSIGN(profile_, service_->CreateProfile(a_, "thermostats", ""));
    ASSERT_OK_AND_ASSIGN(other_profile_, service_->CreateProfile(a_, "gateways", ""));
    for (int i = 0; i < 5; ++i) {
      ASSERT_OK_AND_ASSIGN(Device d, service_->CreateDevice(a_, absl::StrCat("t-", i),
                                                            profile_.id(),
                                                            absl::StrCat("token-", i)));
      devices_.push_back(d);
    }
    fw1_ = MakePackage("fw", "1.0", FIRMWARE, profile_.id());
    fw2_ = MakePackage("fw", "2.0", FIRMWARE, profile_.id());
  }

  void StartService() {
    service_.reset();
    OtaServiceOptions options;
    options.metadata = metadata_.get();
    options.blobs = blobs_.get();
    options.clock = &clock_;
    options.notifier = &notifier_;
    options.upload_buffer_size = 4096;
    options.apply_reports_in_background = apply_in_background_;
    ASSERT_OK_AND_ASSIGN(service_, OtaService::Create(options));
  }

  OtaPackage MakePackage(const std::string& title, const std::string& version,
                         OtaPackageType type, const std::string& profile_id) {
    PackageInfoRequest info;
    info.title = title;
    info.version = version;
    info.type = type;
    info.device_profile_id = profile_id;
    UploadRequest upload;
    upload.file_name = "image.bin";
    // The source reads the string in place: it must outlive the upload.
    const std::string image = absl::StrCat("image of ", title, " ", version);
    auto source = NewStringSource(image);
    absl::StatusOr<OtaPackage> p = service_->CreatePackageWithData(a_, info, upload, *source);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.value_or(OtaPackage());
  }

  // The devices in the order a profile assignment queues them: by id.
  std::vector<Device> ById() {
    std::vector<Device> sorted = devices_;
    std::sort(sorted.begin(), sorted.end(),
              [](const Device& a, const Device& b) { return a.id() < b.id(); });
    return sorted;
  }

  int64_t Queued() {
    absl::StatusOr<int64_t> n = service_->CountQueuedNotices();
    EXPECT_TRUE(n.ok()) << n.status();
    return n.value_or(-1);
  }

  UpdateStatus Status(const Device& d, OtaPackageType type = FIRMWARE) {
    absl::StatusOr<UpdateStatus> s = service_->GetUpdateStatus(a_, d.id(), type);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or(UpdateStatus());
  }

  // The device's history of `type`, oldest first, as "STATE/source/note".
  std::vector<std::string> History(const Device& d, OtaPackageType type = FIRMWARE) {
    PageQuery q;
    q.page_size = 1000;
    absl::StatusOr<Page<UpdateEvent>> page = service_->ListUpdateHistory(a_, d.id(), type, q);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> out;
    if (!page.ok()) return out;
    for (auto it = page->data.rbegin(); it != page->data.rend(); ++it) {
      out.push_back(absl::StrCat(UpdateStateName(it->state()), "/", it->source()));
    }
    return out;
  }

  int CountInHistory(const Device& d, const std::string& entry) {
    int n = 0;
    for (const std::string& e : History(d)) n += e == entry;
    return n;
  }

  void Report(const Device& d, const std::string& state, const std::string& error = "") {
    DeviceReport r;
    r.type = FIRMWARE;
    r.state = state;
    r.error = error;
    ASSERT_OK(service_->RecordDeviceReport(d.access_token(), r));
  }

  // The entries of the store's report log that are not applied yet (read past the
  // service, which would apply them).
  std::vector<LoggedReport> LoggedReports() {
    int64_t mark = 0;
    EXPECT_OK(metadata_->RunInTransaction([&](MetadataTransaction& tx) -> absl::Status {
      absl::StatusOr<int64_t> applied = tx.GetReportsAppliedThrough();
      if (!applied.ok()) return applied.status();
      mark = *applied;
      return absl::OkStatus();
    }));
    absl::StatusOr<std::vector<LoggedReport>> log = metadata_->report_log().ReadAfter(mark, 1000);
    EXPECT_OK(log.status());
    return log.ok() ? *std::move(log) : std::vector<LoggedReport>();
  }

  // The entries that a version with the report log inside the database (schema 4) left.
  std::vector<LoggedReport> Schema4LoggedReports() {
    std::vector<LoggedReport> out;
    EXPECT_OK(metadata_->RunInTransaction([&](MetadataTransaction& tx) -> absl::Status {
      absl::StatusOr<std::vector<LoggedReport>> log = tx.ListReports(1000);
      if (!log.ok()) return log.status();
      out = *std::move(log);
      return absl::OkStatus();
    }));
    return out;
  }

  // Restarts the service with reports applied only by reads (and at start-up), so a
  // test can see them wait in the log.
  void StartServiceApplyingOnlyOnReads() {
    apply_in_background_ = false;
    StartService();
  }

  // The device's status as the store holds it, without the service applying the log.
  UpdateStatus StoredStatus(const Device& d) {
    UpdateStatus out;
    EXPECT_OK(metadata_->RunInTransaction([&](MetadataTransaction& tx) -> absl::Status {
      absl::StatusOr<UpdateStatus> s = tx.GetUpdateStatus(d.id(), FIRMWARE);
      if (!s.ok()) return s.status();
      out = *std::move(s);
      return absl::OkStatus();
    }));
    return out;
  }

  std::string dir_;
  FakeClock clock_;
  RecordingNotifier notifier_;
  std::unique_ptr<MetadataStore> metadata_;
  bool apply_in_background_ = true;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<OtaService> service_;
  TenantContext a_;
  DeviceProfile profile_, other_profile_;
  std::vector<Device> devices_;
  OtaPackage fw1_, fw2_;
};

TEST_P(UpdateProcessTest, ProfileAssignmentQueuesEveryMemberAndDrainSendsInOrder) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  EXPECT_EQ(Queued(), 5);
  for (const Device& d : devices_) EXPECT_EQ(Status(d).state(), kQueued);

  ASSERT_OK_AND_ASSIGN(DrainResult first, service_->DrainNotices(2));
  EXPECT_EQ(first.sent, 2);
  EXPECT_EQ(first.remaining, 3);
  const std::vector<Device> order = ById();
  EXPECT_THAT(notifier_.devices(), ElementsAre(order[0].id(), order[1].id()));
  EXPECT_EQ(Status(order[0]).state(), kInitiated);
  EXPECT_EQ(Status(order[0]).notices_sent(), 1);
  EXPECT_EQ(Status(order[2]).state(), kQueued);

  // The push carries ThingsBoard's attributes and names the keys that do not apply.
  const AttributeNotice push = notifier_.notices()[0];
  EXPECT_EQ(push.access_token, order[0].access_token());
  EXPECT_EQ(push.type, FIRMWARE);
  std::vector<std::string> keys;
  for (const SharedAttribute& a : push.updated) keys.push_back(a.key);
  EXPECT_THAT(keys, ElementsAre("fw_title", "fw_version", "fw_tag", "fw_size",
                                "fw_checksum_algorithm", "fw_checksum"));
  EXPECT_EQ(push.updated[3].number, fw1_.data_size());
  EXPECT_THAT(push.deleted, ElementsAre("fw_url"));

  ASSERT_OK_AND_ASSIGN(DrainResult zero, service_->DrainNotices(0));
  EXPECT_EQ(zero.sent, 0);
  EXPECT_EQ(zero.remaining, 3);
  ASSERT_OK_AND_ASSIGN(DrainResult rest, service_->DrainNotices(100));
  EXPECT_EQ(rest.sent, 3);
  EXPECT_EQ(rest.remaining, 0);
  for (const Device& d : devices_) {
    EXPECT_THAT(History(d), ElementsAre("QUEUED/server", "INITIATED/server"));
  }
}

TEST_P(UpdateProcessTest, DeviceOverrideWinsAndIsNotTouchedByTheProfile) {
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw2_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  // Four members follow the profile; the device with its own package keeps it.
  EXPECT_EQ(Queued(), 4);
  EXPECT_EQ(Status(devices_[0]).state(), kInitiated);
  EXPECT_EQ(Status(devices_[0]).target_package_id(), fw2_.id());
  EXPECT_EQ(Status(devices_[1]).target_package_id(), fw1_.id());
}

TEST_P(UpdateProcessTest, ReassignmentBeforeTheNoticeReplacesIt) {
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw2_.id()));
  EXPECT_EQ(Queued(), 1);
  ASSERT_OK_AND_ASSIGN(DrainResult r, service_->DrainNotices(10));
  EXPECT_EQ(r.sent, 1);
  ASSERT_EQ(notifier_.notices().size(), 1u);
  EXPECT_EQ(notifier_.notices()[0].updated[1].text, "2.0");
  EXPECT_EQ(Status(devices_[0]).target_version(), "2.0");
}

TEST_P(UpdateProcessTest, ReassignmentMidDownloadQueuesTheNewTarget) {
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(10));
  Report(devices_[0], "DOWNLOADING");
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw2_.id()));
  UpdateStatus s = Status(devices_[0]);
  EXPECT_EQ(s.state(), kQueued);
  EXPECT_EQ(s.target_version(), "2.0");
  EXPECT_EQ(s.notices_sent(), 0);
  ASSERT_OK(service_->DrainNotices(10));
  EXPECT_EQ(Status(devices_[0]).state(), kInitiated);
  EXPECT_EQ(Status(devices_[0]).notices_sent(), 1);
  // Downloads now get the new package.
  ASSERT_OK_AND_ASSIGN(DevicePackage p,
                       service_->OpenDevicePackage("token-0", FIRMWARE, "", ""));
  EXPECT_EQ(p.package.version(), "2.0");
}

TEST_P(UpdateProcessTest, UnassignSendsTheDeletionEvenWithoutBudget) {
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(10));
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, ""));
  UpdateStatus s = Status(devices_[0]);
  EXPECT_EQ(s.state(), ::fwota::v1::UPDATE_STATE_UNSPECIFIED);
  EXPECT_EQ(s.target_package_id(), "");
  ASSERT_OK_AND_ASSIGN(DrainResult r, service_->DrainNotices(0));
  EXPECT_EQ(r.deletions, 1);
  EXPECT_EQ(r.sent, 0);
  ASSERT_EQ(notifier_.notices().size(), 2u);
  const AttributeNotice deletion = notifier_.notices()[1];
  EXPECT_TRUE(deletion.updated.empty());
  EXPECT_THAT(deletion.deleted, ElementsAre("fw_title", "fw_version", "fw_tag", "fw_size",
                                            "fw_checksum_algorithm", "fw_checksum", "fw_url"));
  ASSERT_OK_AND_ASSIGN(auto attributes, service_->DeviceSharedAttributes("token-0", {}));
  EXPECT_TRUE(attributes.empty());
}

TEST_P(UpdateProcessTest, DeviceAlreadyRunningTheTargetIsNotNotified) {
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw1_.id()));
  DeviceReport r;
  r.type = FIRMWARE;
  r.current_title = "fw";
  r.current_version = "1.0";
  ASSERT_OK(service_->RecordDeviceReport("token-0", r));
  EXPECT_EQ(Status(devices_[0]).state(), kUpdated);
  ASSERT_OK_AND_ASSIGN(DrainResult d, service_->DrainNotices(10));
  EXPECT_EQ(d.sent, 0);
  EXPECT_EQ(d.skipped, 1);
  EXPECT_TRUE(notifier_.notices().empty());
  EXPECT_EQ(Status(devices_[0]).state(), kUpdated);
}

TEST_P(UpdateProcessTest, DeviceThatStartedBeforeItsNoticeIsNotSetBack) {
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[1].id(), FIRMWARE, fw1_.id()));
  // Both read their attributes on their own; one starts, the other fails at once.
  Report(devices_[0], "DOWNLOADING");
  Report(devices_[1], "FAILED", "no space left");
  ASSERT_OK_AND_ASSIGN(DrainResult d, service_->DrainNotices(10));
  EXPECT_EQ(d.sent, 0);
  EXPECT_EQ(d.skipped, 2);
  EXPECT_EQ(Status(devices_[0]).state(), kDownloading);
  EXPECT_EQ(Status(devices_[1]).state(), kFailed);
  EXPECT_EQ(Status(devices_[1]).error(), "no space left");
  EXPECT_THAT(History(devices_[0]), ElementsAre("QUEUED/server", "DOWNLOADING/device"));
}

TEST_P(UpdateProcessTest, NewDeviceInAProfileWithAPackageIsQueued) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  ASSERT_OK_AND_ASSIGN(Device late, service_->CreateDevice(a_, "late", profile_.id(), "late"));
  EXPECT_EQ(Status(late).state(), kQueued);
  EXPECT_EQ(Status(late).target_package_id(), fw1_.id());
  ASSERT_OK_AND_ASSIGN(DrainResult d, service_->DrainNotices(100));
  EXPECT_EQ(d.sent, 1);
  // No software anywhere: no software status.
  EXPECT_THAT(service_->GetUpdateStatus(a_, late.id(), SOFTWARE), StatusCodeIs(Code::kNotFound));
}

TEST_P(UpdateProcessTest, MovingADeviceToAnotherProfileQueuesItsNewPackage) {
  OtaPackage gw = MakePackage("gw", "3.0", FIRMWARE, other_profile_.id());
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->AssignProfilePackage(a_, other_profile_.id(), FIRMWARE, gw.id()));
  ASSERT_OK(service_->DrainNotices(100));
  ASSERT_OK_AND_ASSIGN(Device moved, service_->MoveDevice(a_, devices_[1].id(), "gateways"));
  EXPECT_EQ(moved.device_profile_id(), other_profile_.id());
  UpdateStatus s = Status(devices_[1]);
  EXPECT_EQ(s.state(), kQueued);
  EXPECT_EQ(s.target_package_id(), gw.id());
  // Moving to the profile it is in changes nothing.
  ASSERT_OK(service_->MoveDevice(a_, devices_[1].id(), other_profile_.id()));
  EXPECT_EQ(Queued(), 1);
  // A device whose own package belongs to its profile cannot leave it with that package.
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[2].id(), FIRMWARE, fw2_.id()));
  EXPECT_THAT(service_->MoveDevice(a_, devices_[2].id(), other_profile_.id()),
              StatusHasSubstr(Code::kFailedPrecondition, "different deviceProfile"));
  EXPECT_THAT(service_->MoveDevice(a_, devices_[2].id(), "no such profile"),
              StatusHasSubstr(Code::kInvalidArgument, "non-existent device profile"));
  ASSERT_OK_AND_ASSIGN(Device unchanged, service_->FindDevice(a_, devices_[2].id()));
  EXPECT_EQ(unchanged.device_profile_id(), profile_.id());
  // Another tenant cannot move it.
  ASSERT_OK_AND_ASSIGN(Tenant t2, service_->CreateTenant("tenant-two"));
  TenantContext b{t2.id(), "bob"};
  EXPECT_THAT(service_->MoveDevice(b, devices_[3].id(), other_profile_.id()),
              StatusCodeIs(Code::kPermissionDenied));
}

TEST_P(UpdateProcessTest, RestartLosesNoNoticeAndSendsNoneTwice) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(2));
  // The service goes away; a new one starts over the same store (SQLite: a new process
  // would open the same file, so the file is opened again).
  service_.reset();
  if (GetParam().sqlite) {
    metadata_.reset();
    ASSERT_OK_AND_ASSIGN(metadata_, OpenSqliteMetadataStore(dir_ + "/fwota.db"));
  }
  StartService();
  EXPECT_EQ(Queued(), 3);
  ASSERT_OK_AND_ASSIGN(DrainResult r, service_->DrainNotices(100));
  EXPECT_EQ(r.sent, 3);
  for (const Device& d : devices_) {
    EXPECT_EQ(CountInHistory(d, "INITIATED/server"), 1) << d.name();
    EXPECT_EQ(Status(d).state(), kInitiated);
  }
  EXPECT_EQ(notifier_.notices().size(), 5u);
}

TEST_P(UpdateProcessTest, SilentDeviceIsNotifiedAgainThenFailed) {
  StallPolicy policy;
  policy.silence_millis[kInitiated] = 10 * kMinute;
  policy.silence_millis[kDownloading] = 5 * kMinute;
  policy.renotify = 2;
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(10));
  ASSERT_OK_AND_ASSIGN(StallSweepResult early, service_->SweepStalls(policy));
  EXPECT_EQ(early.renotified + early.failed, 0);
  for (int round = 1; round <= 2; ++round) {
    clock_.Advance(10 * kMinute + 1);
    ASSERT_OK_AND_ASSIGN(StallSweepResult swept, service_->SweepStalls(policy));
    EXPECT_EQ(swept.renotified, 1) << round;
    // Sent at once, not queued.
    EXPECT_EQ(notifier_.notices().size(), 1u + round);
    EXPECT_EQ(Queued(), 0);
    UpdateStatus s = Status(devices_[0]);
    EXPECT_EQ(s.state(), kInitiated);
    EXPECT_EQ(s.notices_sent(), round + 1);
    // A sweep right after finds nothing new.
    ASSERT_OK_AND_ASSIGN(StallSweepResult again, service_->SweepStalls(policy));
    EXPECT_EQ(again.renotified + again.failed, 0) << round;
  }
  clock_.Advance(10 * kMinute + 1);
  ASSERT_OK_AND_ASSIGN(StallSweepResult last, service_->SweepStalls(policy));
  EXPECT_EQ(last.failed, 1);
  UpdateStatus s = Status(devices_[0]);
  EXPECT_EQ(s.state(), kFailed);
  EXPECT_THAT(s.error(), HasSubstr("stalled: no report or download for 10m"));
  EXPECT_THAT(s.error(), HasSubstr("in INITIATED after 2 re-notification(s)"));
  EXPECT_EQ(notifier_.notices().size(), 3u);
  EXPECT_EQ(CountInHistory(devices_[0], "INITIATED/server"), 3);
  // FAILED is final: later sweeps leave it alone.
  clock_.Advance(60 * kMinute);
  ASSERT_OK_AND_ASSIGN(StallSweepResult after, service_->SweepStalls(policy));
  EXPECT_EQ(after.renotified + after.failed, 0);
}

TEST_P(UpdateProcessTest, StalledDeviceDoesNotWaitBehindTheQueue) {
  StallPolicy policy;
  policy.silence_millis[kInitiated] = 5 * kMinute;
  policy.silence_millis[kDownloading] = 3 * kMinute;
  policy.renotify = 1;
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK_AND_ASSIGN(DrainResult first, service_->DrainNotices(1));
  ASSERT_EQ(first.sent, 1);
  const Device first_device = ById()[0];  // the first in the queue
  Report(first_device, "DOWNLOADING");
  // The other four stay queued (no budget) while it goes silent.
  clock_.Advance(3 * kMinute + 1);
  ASSERT_OK_AND_ASSIGN(StallSweepResult swept, service_->SweepStalls(policy));
  EXPECT_EQ(swept.renotified, 1);
  EXPECT_EQ(notifier_.devices().back(), first_device.id());
  EXPECT_EQ(Queued(), 4);
  // Its history says why, once.
  std::vector<std::string> history = History(first_device);
  EXPECT_THAT(history, ElementsAre("QUEUED/server", "INITIATED/server", "DOWNLOADING/device",
                                   "INITIATED/server"));
  // Still silent: FAILED after the INITIATED limit, while the queue still waits.
  clock_.Advance(5 * kMinute + 1);
  ASSERT_OK_AND_ASSIGN(StallSweepResult failed, service_->SweepStalls(policy));
  EXPECT_EQ(failed.failed, 1);
  EXPECT_EQ(Status(first_device).state(), kFailed);
  EXPECT_EQ(Queued(), 4);
}

TEST_P(UpdateProcessTest, QueuedNoticeOlderThanAReNotificationIsDropped) {
  StallPolicy policy;
  policy.silence_millis[kDownloading] = 3 * kMinute;
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw1_.id()));
  // The device starts on its own before its notice goes out, then goes silent.
  Report(devices_[0], "DOWNLOADING");
  clock_.Advance(3 * kMinute + 1);
  ASSERT_OK_AND_ASSIGN(StallSweepResult swept, service_->SweepStalls(policy));
  EXPECT_EQ(swept.renotified, 1);
  ASSERT_OK_AND_ASSIGN(DrainResult d, service_->DrainNotices(10));
  EXPECT_EQ(d.sent, 0);
  EXPECT_EQ(d.skipped, 1);
  EXPECT_EQ(notifier_.notices().size(), 1u);
  EXPECT_EQ(CountInHistory(devices_[0], "INITIATED/server"), 1);
}

TEST_P(UpdateProcessTest, DownloadActivityIsNotSilence) {
  StallPolicy policy;
  policy.silence_millis[kDownloading] = 5 * kMinute;
  policy.renotify = 0;
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[1].id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(10));
  Report(devices_[0], "DOWNLOADING");
  Report(devices_[1], "DOWNLOADING");
  // Device 0 downloads a chunk every 4 minutes for 20 minutes; device 1 goes quiet.
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(4 * kMinute);
    ASSERT_OK(service_->OpenDevicePackage("token-0", FIRMWARE, "", ""));
    ASSERT_OK(service_->SweepStalls(policy));
  }
  EXPECT_EQ(Status(devices_[0]).state(), kDownloading);
  UpdateStatus quiet = Status(devices_[1]);
  EXPECT_EQ(quiet.state(), kFailed);
  EXPECT_THAT(quiet.error(), HasSubstr("in DOWNLOADING"));
  // A device report moves the clock too: no stall while it keeps talking.
  Report(devices_[0], "DOWNLOADED");
  clock_.Advance(60 * kMinute);  // DOWNLOADED has no limit in this policy
  ASSERT_OK(service_->SweepStalls(policy));
  EXPECT_EQ(Status(devices_[0]).state(), ::fwota::v1::UPDATE_STATE_DOWNLOADED);
}

TEST_P(UpdateProcessTest, ConcurrentReportsAreAllRecorded) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  constexpr int kThreads = 10;
  constexpr int kReports = 20;
  std::atomic<int> unauthenticated{0}, other_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kReports; ++i) {
        DeviceReport r;
        r.type = FIRMWARE;
        r.state = "DOWNLOADING";
        // Every other thread of the odd ones sends a bad token in the same batches.
        const std::string token = t % 2 == 1 ? "no-such-token" : absl::StrCat("token-", t / 2);
        absl::Status s = service_->RecordDeviceReport(token, r);
        if (absl::IsUnauthenticated(s)) {
          ++unauthenticated;
        } else if (!s.ok()) {
          ++other_errors;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(unauthenticated.load(), kThreads / 2 * kReports);
  EXPECT_EQ(other_errors.load(), 0);
  for (const Device& d : devices_) {
    EXPECT_EQ(CountInHistory(d, "DOWNLOADING/device"), kReports) << d.name();
    EXPECT_EQ(Status(d).state(), kDownloading);
  }
}

TEST_P(UpdateProcessTest, AcknowledgedReportsWaitInTheLogAndEveryReadSeesThem) {
  StartServiceApplyingOnlyOnReads();
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  // Written ahead: acknowledged, the report is in the log and not yet in the status.
  Report(devices_[0], "DOWNLOADING");
  std::vector<LoggedReport> log = LoggedReports();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].device_id, devices_[0].id());
  EXPECT_EQ(log[0].tenant_id, a_.tenant_id);
  EXPECT_EQ(log[0].state, "DOWNLOADING");
  EXPECT_EQ(StoredStatus(devices_[0]).state(), kInitiated);
  // Each kind of read sees the reports acknowledged before it.
  EXPECT_EQ(Status(devices_[0]).state(), kDownloading);
  EXPECT_TRUE(LoggedReports().empty());
  Report(devices_[1], "DOWNLOADING");
  EXPECT_EQ(CountInHistory(devices_[1], "DOWNLOADING/device"), 1);
  Report(devices_[2], "DOWNLOADING");
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> counts, service_->CountUpdateStates(a_, FIRMWARE));
  EXPECT_EQ(counts[kDownloading], 3);
  EXPECT_EQ(counts[kInitiated], 2);
  Report(devices_[3], "DOWNLOADING");
  ASSERT_OK_AND_ASSIGN(Page<UpdateStatus> downloading,
                       service_->ListUpdateStatuses(a_, FIRMWARE, kDownloading, PageQuery{}));
  EXPECT_EQ(downloading.total_elements, 4);
  EXPECT_TRUE(LoggedReports().empty());
}

TEST_P(UpdateProcessTest, LoggedReportsKeepEachDevicesOrder) {
  StartServiceApplyingOnlyOnReads();
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  // Interleaved, all in the log at once; applied sorted by device, each device's in the
  // order they came.
  const Device& d0 = devices_[0];
  const Device& d1 = devices_[1];
  const Device& d2 = devices_[2];
  Report(d0, "DOWNLOADING");
  Report(d1, "DOWNLOADING");
  Report(d2, "FAILED", "flash write error");
  Report(d0, "DOWNLOADED");
  Report(d1, "DOWNLOADED");
  Report(d0, "DOWNLOADING");  // from the past: recorded, not accepted
  Report(d2, "DOWNLOADING");  // a new attempt after FAILED
  ASSERT_EQ(LoggedReports().size(), 7u);
  EXPECT_THAT(History(d0), ElementsAre("QUEUED/server", "INITIATED/server", "DOWNLOADING/device",
                                       "DOWNLOADED/device", "DOWNLOADING/device"));
  EXPECT_EQ(Status(d0).state(), ::fwota::v1::UPDATE_STATE_DOWNLOADED);
  ASSERT_OK_AND_ASSIGN(Page<UpdateEvent> newest,
                       service_->ListUpdateHistory(a_, d0.id(), FIRMWARE, PageQuery{}));
  ASSERT_FALSE(newest.data.empty());
  EXPECT_FALSE(newest.data[0].accepted());
  EXPECT_THAT(newest.data[0].note(), HasSubstr("state from the past"));
  EXPECT_EQ(Status(d1).state(), ::fwota::v1::UPDATE_STATE_DOWNLOADED);
  EXPECT_THAT(History(d2), ElementsAre("QUEUED/server", "INITIATED/server", "FAILED/device",
                                       "DOWNLOADING/device"));
  UpdateStatus s2 = Status(d2);
  EXPECT_EQ(s2.state(), kDownloading);
  EXPECT_EQ(s2.error(), "");
  EXPECT_THAT(History(devices_[3]), ElementsAre("QUEUED/server", "INITIATED/server"));
}

TEST_P(UpdateProcessTest, StallSweepSeesAReportStillInTheLog) {
  StallPolicy policy;
  policy.silence_millis[kInitiated] = 10 * kMinute;
  policy.silence_millis[kDownloading] = 5 * kMinute;
  StartServiceApplyingOnlyOnReads();
  ASSERT_OK(service_->AssignDevicePackage(a_, devices_[0].id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(10));
  clock_.Advance(9 * kMinute);
  Report(devices_[0], "DOWNLOADING");
  ASSERT_EQ(LoggedReports().size(), 1u);
  // 11 minutes after INITIATED, 2 after the report: not silent.
  clock_.Advance(2 * kMinute);
  ASSERT_OK_AND_ASSIGN(StallSweepResult swept, service_->SweepStalls(policy));
  EXPECT_EQ(swept.renotified + swept.failed, 0);
  EXPECT_EQ(Status(devices_[0]).state(), kDownloading);
  EXPECT_EQ(notifier_.notices().size(), 1u);
}

TEST_P(UpdateProcessTest, LoggedReportOfADeletedDeviceIsSkipped) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  // The device goes between its report and the log's application (through the store:
  // the service itself applies the log before it deletes a device).
  std::vector<LoggedReport> reports;
  for (const Device* d : {&devices_[0], &devices_[1]}) {
    LoggedReport& r = reports.emplace_back();
    r.tenant_id = a_.tenant_id;
    r.device_id = d->id();
    r.type = FIRMWARE;
    r.state = "DOWNLOADING";
    r.created_time = clock_.NowMillis();
  }
  ASSERT_OK(metadata_->report_log().Append(reports));
  ASSERT_OK(metadata_->RunInTransaction(
      [&](MetadataTransaction& tx) { return tx.DeleteDevice(devices_[0].id()); }));
  EXPECT_EQ(Status(devices_[1]).state(), kDownloading);
  EXPECT_TRUE(LoggedReports().empty());
  EXPECT_THAT(service_->GetUpdateStatus(a_, devices_[0].id(), FIRMWARE),
              StatusCodeIs(Code::kNotFound));
}

TEST_P(UpdateProcessTest, ReportsLeftInTheLogAreAppliedWhenTheServiceStarts) {
  StartServiceApplyingOnlyOnReads();
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  Report(devices_[0], "DOWNLOADING");
  Report(devices_[0], "DOWNLOADED");
  service_.reset();  // stopping does not apply the log
  ASSERT_EQ(LoggedReports().size(), 2u);
  StartService();
  // Applied by the start itself, before any read of the service.
  EXPECT_TRUE(LoggedReports().empty());
  EXPECT_EQ(StoredStatus(devices_[0]).state(), ::fwota::v1::UPDATE_STATE_DOWNLOADED);
  EXPECT_THAT(History(devices_[0]), ElementsAre("QUEUED/server", "INITIATED/server",
                                                "DOWNLOADING/device", "DOWNLOADED/device"));
}

// A database written by a version that kept the report log inside it (schema 4): what
// that version acknowledged and left there is applied when the service starts.
TEST_P(UpdateProcessTest, ReportsLeftInASchema4LogAreAppliedWhenTheServiceStarts) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  service_.reset();
  ASSERT_OK(metadata_->RunInTransaction([&](MetadataTransaction& tx) -> absl::Status {
    for (const char* state : {"DOWNLOADING", "DOWNLOADED"}) {
      LoggedReport r;
      r.tenant_id = a_.tenant_id;
      r.device_id = devices_[1].id();
      r.type = FIRMWARE;
      r.state = state;
      r.created_time = clock_.NowMillis();
      FWOTA_RETURN_IF_ERROR(tx.AppendReport(r));
    }
    return absl::OkStatus();
  }));
  StartService();
  EXPECT_TRUE(Schema4LoggedReports().empty());
  EXPECT_EQ(StoredStatus(devices_[1]).state(), ::fwota::v1::UPDATE_STATE_DOWNLOADED);
  EXPECT_THAT(History(devices_[1]), ElementsAre("QUEUED/server", "INITIATED/server",
                                                "DOWNLOADING/device", "DOWNLOADED/device"));
}

// By default the service applies the log on its own, without waiting for a read.
TEST_P(UpdateProcessTest, ReportsAreAppliedInTheBackground) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  for (const Device& d : devices_) Report(d, "DOWNLOADING");
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (StoredStatus(devices_.back()).state() != kDownloading && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  for (const Device& d : devices_) EXPECT_EQ(StoredStatus(d).state(), kDownloading) << d.name();
  EXPECT_TRUE(LoggedReports().empty());
}

// Cases about the SQLite file itself (the memory store has no file to lose or reopen).
class SqliteUpdateProcessTest : public UpdateProcessTest {};

// The applied mark lives in the metadata, the entries in the report log's own file. A
// log file lost (or left behind in a restore) must not make new reports look applied:
// the new log numbers its entries above the mark.
TEST_P(SqliteUpdateProcessTest, NewReportsCountAfterTheReportLogFileWasLost) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  for (const Device& d : devices_) Report(d, "DOWNLOADING");
  EXPECT_EQ(Status(devices_[0]).state(), kDownloading);  // applied: the mark moved
  service_.reset();
  metadata_.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove(absl::StrCat(dir_, "/fwota.db-reports", suffix).c_str());
  }
  ASSERT_OK_AND_ASSIGN(metadata_, OpenSqliteMetadataStore(dir_ + "/fwota.db"));
  StartService();
  Report(devices_[0], "DOWNLOADED");
  EXPECT_EQ(Status(devices_[0]).state(), ::fwota::v1::UPDATE_STATE_DOWNLOADED);
  EXPECT_THAT(History(devices_[0]), ElementsAre("QUEUED/server", "INITIATED/server",
                                                "DOWNLOADING/device", "DOWNLOADED/device"));
}

// A device that reports faster than the clock ticks: its history keeps the order of its
// reports, not an order drawn by chance among entries of one millisecond.
TEST_P(UpdateProcessTest, ReportsOfOneMillisecondKeepTheirOrderInTheHistory) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  clock_.set_auto_advance(0);
  for (const char* state : {"DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATING", "UPDATED"}) {
    Report(devices_[0], state);
  }
  EXPECT_THAT(History(devices_[0]),
              ElementsAre("QUEUED/server", "INITIATED/server", "DOWNLOADING/device",
                          "DOWNLOADED/device", "VERIFIED/device", "UPDATING/device",
                          "UPDATED/device"));
}

// What the caller was told is durable survives the process being killed right after:
// a child process reports and kills itself (no destructor, no read, no clean close);
// the file opened again has every report applied.
TEST_P(SqliteUpdateProcessTest, AcknowledgedReportsSurviveAKilledProcess) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  ASSERT_OK(service_->DrainNotices(100));
  // The child opens the file on its own; this process lets go of it meanwhile.
  service_.reset();
  metadata_.reset();
  const std::string path = dir_ + "/fwota.db";
  pid_t pid = fork();
  if (pid == 0) {
    absl::StatusOr<std::unique_ptr<MetadataStore>> store = OpenSqliteMetadataStore(path);
    if (!store.ok()) _exit(2);
    std::unique_ptr<BlobStore> blobs = NewMemoryBlobStore();
    OtaServiceOptions options;
    options.metadata = store->get();
    options.blobs = blobs.get();
    options.apply_reports_in_background = false;  // every report left in the log
    absl::StatusOr<std::unique_ptr<OtaService>> service = OtaService::Create(options);
    if (!service.ok()) _exit(3);
    for (const Device& d : devices_) {
      for (const char* state : {"DOWNLOADING", "DOWNLOADED"}) {
        DeviceReport r;
        r.type = FIRMWARE;
        r.state = state;
        if (!(*service)->RecordDeviceReport(d.access_token(), r).ok()) _exit(4);
      }
    }
    raise(SIGKILL);
    _exit(5);
  }
  ASSERT_GT(pid, 0);
  int wait_status = 0;
  ASSERT_EQ(waitpid(pid, &wait_status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL)
      << "child exit code " << (WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
  ASSERT_OK_AND_ASSIGN(metadata_, OpenSqliteMetadataStore(path));
  EXPECT_EQ(LoggedReports().size(), 2 * devices_.size());
  StartService();
  for (const Device& d : devices_) {
    EXPECT_EQ(Status(d).state(), ::fwota::v1::UPDATE_STATE_DOWNLOADED) << d.name();
    EXPECT_THAT(History(d), ElementsAre("QUEUED/server", "INITIATED/server", "DOWNLOADING/device",
                                        "DOWNLOADED/device"));
  }
}

// Counting the queue (what /healthz and /metrics ask) reads beside a writer: it answers
// while another transaction holds the write lock, and sees what was committed.
TEST_P(SqliteUpdateProcessTest, CountingQueuedNoticesDoesNotWaitForTheWriter) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  absl::Notification holding, release;
  std::atomic<bool> writer_done{false};
  std::thread writer([&] {
    EXPECT_OK(metadata_->RunInTransaction([&](MetadataTransaction&) {
      holding.Notify();
      release.WaitForNotificationWithTimeout(absl::Seconds(20));
      return absl::OkStatus();
    }));
    writer_done = true;
  });
  holding.WaitForNotification();
  absl::StatusOr<int64_t> queued = service_->CountQueuedNotices();
  const bool answered_while_held = !writer_done;
  release.Notify();
  writer.join();
  ASSERT_OK(queued.status());
  EXPECT_EQ(*queued, static_cast<int64_t>(devices_.size()));
  EXPECT_TRUE(answered_while_held);
}

TEST_P(UpdateProcessTest, WorkerPacesNoticesWithTheTokenBucket) {
  for (int i = 5; i < 20; ++i) {
    ASSERT_OK(service_->CreateDevice(a_, absl::StrCat("t-", i), profile_.id(),
                                     absl::StrCat("token-", i)));
  }
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  UpdateWorkerOptions options;
  options.notices_per_minute = 60;  // one a second after the burst
  options.notice_burst = 4;
  options.poll_millis = 20;
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<UpdateWorker> worker,
                       UpdateWorker::Start(*service_, options));
  // The burst goes out at once...
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (notifier_.notices().size() < 4 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GE(notifier_.notices().size(), 4u);
  // ...then no faster than the rate allows.
  absl::SleepFor(absl::Milliseconds(1500));
  worker.reset();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const size_t sent = notifier_.notices().size();
  EXPECT_LE(sent, 4u + static_cast<size_t>(elapsed) + 1) << elapsed;
  EXPECT_GE(sent, 5u) << "at least one token after the burst in " << elapsed << " s";
  EXPECT_EQ(Queued(), static_cast<int64_t>(20 - sent));
}

TEST_P(UpdateProcessTest, UnlimitedWorkerDrainsEverythingAndRefusesBadOptions) {
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw1_.id()));
  UpdateWorkerOptions options;
  options.notices_per_minute = 0;
  options.poll_millis = 10;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<UpdateWorker> worker,
                       UpdateWorker::Start(*service_, options));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (notifier_.notices().size() < 5 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(notifier_.notices().size(), 5u);
  worker.reset();
  UpdateWorkerOptions bad;
  bad.notice_burst = 0;
  EXPECT_THAT(UpdateWorker::Start(*service_, bad), StatusCodeIs(Code::kInvalidArgument));
  bad = UpdateWorkerOptions();
  bad.notices_per_minute = -1;
  EXPECT_THAT(UpdateWorker::Start(*service_, bad), StatusCodeIs(Code::kInvalidArgument));
  bad = UpdateWorkerOptions();
  bad.stall.silence_millis[kDownloading] = -5;
  EXPECT_THAT(UpdateWorker::Start(*service_, bad), StatusCodeIs(Code::kInvalidArgument));
}

INSTANTIATE_TEST_SUITE_P(AllStores, UpdateProcessTest,
                         ::testing::Values(StoreKind{"memory", false}, StoreKind{"sqlite", true}),
                         StoreName);
INSTANTIATE_TEST_SUITE_P(Sqlite, SqliteUpdateProcessTest,
                         ::testing::Values(StoreKind{"sqlite", true}),
                         StoreName);

}  // namespace
}  // namespace fwota
