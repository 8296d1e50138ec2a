// The update process through the HTTP mapping: ThingsBoard's long poll
// (GET /api/v1/{token}/attributes/updates) receiving notices and deletions, its timeouts
// and errors; bad telemetry refused with nothing recorded; a device moved to another
// profile with POST /api/device.
#include <future>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/adapters/http/ota_http_api_test_util.h"

namespace fwota::http::testing {
namespace {

using ::testing::HasSubstr;

class UpdatesApiTest : public OtaHttpApiTest {
 protected:
  void SetUp() override {
    OtaHttpApiTest::SetUp();
    SetUpAssignedFirmware(RandomBytes(1000, 7));
  }

  // Starts a long poll on another thread and returns once it is parked in the hub.
  std::future<HttpResponse> StartLongPoll(const std::string& query) {
    const int before = hub_.waiting();
    std::future<HttpResponse> poll = std::async(std::launch::async, [this, query] {
      return Device("GET", "/api/v1/DEVICE_TOKEN/attributes/updates" + query);
    });
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (hub_.waiting() == before && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    EXPECT_EQ(hub_.waiting(), before + 1);
    return poll;
  }

  int64_t HistorySize() {
    HttpResponse r = Call("GET", absl::StrCat("/api/device/", device_id_,
                                              "/otaHistory?type=FIRMWARE&pageSize=100&page=0"));
    EXPECT_EQ(r.status, 200) << r.body;
    return JsonInt(r.body, "totalElements");
  }
};

TEST_F(UpdatesApiTest, LongPollGetsTheNoticeWhenItIsSent) {
  std::future<HttpResponse> poll = StartLongPoll("?timeout=10000");
  ASSERT_OK_AND_ASSIGN(DrainResult drained, service_->DrainNotices(10));
  EXPECT_EQ(drained.sent, 1);
  HttpResponse r = poll.get();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonText(r.body, "fw_title"), "fw");
  EXPECT_EQ(JsonText(r.body, "fw_version"), "1.0");
  EXPECT_EQ(JsonInt(r.body, "fw_size"), 1000);
  EXPECT_EQ(JsonText(r.body, "fw_checksum_algorithm"), "SHA256");
  EXPECT_EQ(JsonText(r.body, "fw_checksum"), sha256_);
  EXPECT_EQ(JsonText(r.body, "deleted.0"), "fw_url");
  // The status moved to INITIATED.
  HttpResponse status =
      Call("GET", absl::StrCat("/api/device/", device_id_, "/otaStatus?type=FIRMWARE"));
  EXPECT_EQ(JsonText(status.body, "state"), "INITIATED") << status.body;
}

TEST_F(UpdatesApiTest, NoticeSentBetweenPollsAnswersTheNextPollAtOnce) {
  ASSERT_OK_AND_ASSIGN(DrainResult drained, service_->DrainNotices(10));
  ASSERT_EQ(drained.sent, 1);  // nobody was polling
  EXPECT_EQ(hub_.held(), 1u);
  const absl::Time start = absl::Now();
  HttpResponse r = Device("GET", "/api/v1/DEVICE_TOKEN/attributes/updates?timeout=10000");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(JsonText(r.body, "fw_version"), "1.0");
  // Delivered once: the poll after it waits.
  EXPECT_EQ(hub_.held(), 0u);
  EXPECT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/attributes/updates?timeout=50").status, 408);
}

TEST_F(UpdatesApiTest, LongPollGetsTheDeletionOfAnUnassignedPackage) {
  ASSERT_OK(service_->DrainNotices(10));
  // The assignment's notice, held for the device, is its first poll's answer.
  ASSERT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/attributes/updates?timeout=50").status, 200);
  std::future<HttpResponse> poll = StartLongPoll("?timeout=10000");
  HttpResponse unassigned =
      Call("POST", "/api/device",
           absl::StrCat(R"({"id":{"entityType":"DEVICE","id":")", device_id_,
                        R"("},"firmwareId":null})"));
  ASSERT_EQ(unassigned.status, 200) << unassigned.body;
  ASSERT_OK(service_->DrainNotices(0));  // deletions need no budget
  HttpResponse r = poll.get();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(JsonText(r.body, "fw_title"), "<null>");
  EXPECT_EQ(JsonText(r.body, "deleted.0"), "fw_title");
  EXPECT_EQ(JsonText(r.body, "deleted.6"), "fw_url");
}

TEST_F(UpdatesApiTest, LongPollTimesOutWith408AndOnlyItsDeviceIsWoken) {
  std::string other_profile = CreateProfile("gateways");
  CreateDevice("g-1", other_profile, "OTHER_TOKEN");
  const absl::Time start = absl::Now();
  std::future<HttpResponse> poll = StartLongPoll("?timeout=300");
  // A notice for another device does not answer this poll.
  AttributeNotice other;
  other.access_token = "OTHER_TOKEN";
  other.deleted = {"fw_title"};
  hub_.Notify(other);
  HttpResponse r = poll.get();
  EXPECT_EQ(r.status, 408) << r.body;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  EXPECT_EQ(hub_.waiting(), 0);
}

TEST_F(UpdatesApiTest, LongPollErrors) {
  EXPECT_EQ(Device("GET", "/api/v1/NO_SUCH_TOKEN/attributes/updates?timeout=10").status, 401);
  for (const char* bad : {"?timeout=-1", "?timeout=abc", "?timeout=600001", "?timeout=1e3",
                          "?timeout=99999999999999999999999"}) {
    HttpResponse r = Device("GET", std::string("/api/v1/DEVICE_TOKEN/attributes/updates") + bad);
    EXPECT_EQ(r.status, 400) << bad << " " << r.body;
  }
  EXPECT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/attributes/updates").status, 405);
  // After shutdown, polls answer at once.
  hub_.Shutdown();
  const absl::Time start = absl::Now();
  EXPECT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/attributes/updates?timeout=60000").status, 408);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(UpdatesApiTest, BadTelemetryIsRefusedAndRecordsNothing) {
  const int64_t before = HistorySize();
  struct Case {
    std::string body;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"fw_state":"EXPLODED"})", 400},
           {R"({"fw_state":5})", 400},
           {R"({"fw_state":"DOWNLOADING","sw_state":"NOPE"})", 400},
           {R"({"fw_state":"DOWNLOADING")", 400},
           {R"(["fw_state"])", 400},
           {"not json at all", 400},
           {std::string(5000, '['), 413},
       }) {
    HttpResponse r = Device("POST", "/api/v1/DEVICE_TOKEN/telemetry", c.body,
                            {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 60) << " -> " << r.body;
  }
  EXPECT_EQ(HistorySize(), before);
  // An unknown token is 401 whatever the payload.
  EXPECT_EQ(Device("POST", "/api/v1/NO_SUCH_TOKEN/telemetry", R"({"fw_state":"DOWNLOADING"})")
                .status,
            401);
  EXPECT_EQ(Device("POST", "/api/v1/NO_SUCH_TOKEN/telemetry", "not json").status, 401);
  EXPECT_EQ(Device("POST", "/api/v1/NO_SUCH_TOKEN/telemetry", R"({"temperature":3})").status,
            401);
  EXPECT_EQ(HistorySize(), before);
  // A good report is recorded.
  HttpResponse ok = Device("POST", "/api/v1/DEVICE_TOKEN/telemetry",
                           R"({"fw_state":"DOWNLOADING","temperature":21.5})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(HistorySize(), before + 1);
}

TEST_F(UpdatesApiTest, SaveDeviceMovesItToAnotherProfile) {
  const std::string gateways = CreateProfile("gateways");
  const std::string gw = CreatePackageInfo("gw", "3.0", gateways);
  ASSERT_EQ(UploadMultipart(gw, "gateway image").status, 200);
  HttpResponse assigned = Call("POST", "/api/deviceProfile",
                               absl::StrCat(R"({"id":{"entityType":"DEVICE_PROFILE","id":")",
                                            gateways, R"("},"name":"gateways","firmwareId":{)",
                                            R"("entityType":"OTA_PACKAGE","id":")", gw, R"("}})"));
  ASSERT_EQ(assigned.status, 200) << assigned.body;
  const std::string move_keeping_override =
      absl::StrCat(R"({"id":{"entityType":"DEVICE","id":")", device_id_,
                   R"("},"deviceProfileId":{"entityType":"DEVICE_PROFILE","id":")", gateways,
                   R"("}})");
  // Its own firmware belongs to the old profile: refused, nothing changes.
  HttpResponse refused = Call("POST", "/api/device", move_keeping_override);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_THAT(refused.body, HasSubstr("different deviceProfile"));
  // Removing the override in the same request lets it move; it then gets the profile's.
  HttpResponse moved =
      Call("POST", "/api/device",
           absl::StrCat(R"({"id":{"entityType":"DEVICE","id":")", device_id_,
                        R"("},"deviceProfileId":{"entityType":"DEVICE_PROFILE","id":")",
                        gateways, R"("},"firmwareId":null})"));
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(JsonText(moved.body, "deviceProfileId.id"), gateways);
  EXPECT_EQ(JsonText(moved.body, "firmwareId"), "<null>");
  HttpResponse status =
      Call("GET", absl::StrCat("/api/device/", device_id_, "/otaStatus?type=FIRMWARE"));
  EXPECT_EQ(JsonText(status.body, "state"), "QUEUED") << status.body;
  EXPECT_EQ(JsonText(status.body, "targetTitle"), "gw") << status.body;
}

AttributeNotice Notice(const std::string& token, OtaPackageType type, const std::string& version) {
  AttributeNotice n;
  n.access_token = token;
  n.type = type;
  n.updated = {{"fw_version", version, 0, false}};
  return n;
}

TEST(AttributeUpdateHubTest, HeldNoticesAreNewestPerTypeExpireAndAreBounded) {
  AttributeUpdateHub hub(absl::Milliseconds(300), /*max_held=*/2);
  hub.Notify(Notice("a", ::fwota::v1::FIRMWARE, "1"));
  hub.Notify(Notice("a", ::fwota::v1::FIRMWARE, "2"));  // replaces "1"
  hub.Notify(Notice("a", ::fwota::v1::SOFTWARE, "s"));  // kept beside it
  std::optional<AttributeNotice> got = hub.Wait("a", absl::Milliseconds(10));
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->updated.size(), 2u);
  EXPECT_EQ(got->updated[0].text, "2");
  EXPECT_EQ(got->updated[1].text, "s");
  EXPECT_FALSE(hub.Wait("a", absl::Milliseconds(10)).has_value());
  // Bounded: a third device pushes out the oldest held one.
  hub.Notify(Notice("b", ::fwota::v1::FIRMWARE, "b"));
  absl::SleepFor(absl::Milliseconds(5));
  hub.Notify(Notice("c", ::fwota::v1::FIRMWARE, "c"));
  absl::SleepFor(absl::Milliseconds(5));
  hub.Notify(Notice("d", ::fwota::v1::FIRMWARE, "d"));
  EXPECT_EQ(hub.held(), 2u);
  EXPECT_FALSE(hub.Wait("b", absl::Milliseconds(10)).has_value());
  EXPECT_TRUE(hub.Wait("c", absl::Milliseconds(10)).has_value());
  // Expired: not delivered.
  hub.Notify(Notice("e", ::fwota::v1::FIRMWARE, "e"));
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_FALSE(hub.Wait("e", absl::Milliseconds(10)).has_value());
}

}  // namespace
}  // namespace fwota::http::testing
