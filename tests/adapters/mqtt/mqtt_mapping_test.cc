// The MQTT mapping without a broker: ThingsBoard's chunk rules under the per-device
// prefix, the size limit, errors on the error topic, reassignment, telemetry, attribute
// requests, notices, and malformed topics.
#include "adapters/mqtt/mqtt_mapping.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/adapters/common/device_service_test.h"
#include "tests/testing/status_matchers.h"

namespace fwota::mqtt {
namespace {

using ::fwota::testing::StatusCodeIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using Code = absl::StatusCode;

using adapters::testing::RandomBytes;

class MqttMappingTest : public adapters::testing::DeviceServiceTest {
 protected:
  void SetUp() override {
    SetUpService(5000);
    fw1_ = package_;
    MqttMappingOptions mapping_options;
    mapping_options.max_chunk_size = 4096;
    mapping_ = std::make_unique<MqttMapping>(*service_, mapping_options);
  }

  // Sends a chunk request and returns what was published (one message expected).
  MqttMessage Ask(const std::string& request_id, const std::string& chunk,
                  const std::string& size) {
    MqttResult r = mapping_->Handle(
        absl::StrCat("fwota/TOK/v2/fw/request/", request_id, "/chunk/", chunk), size);
    EXPECT_EQ(r.publish.size(), 1u) << r.status;
    return r.publish.empty() ? MqttMessage() : r.publish[0];
  }

  OtaPackage fw1_;
  std::unique_ptr<MqttMapping> mapping_;
};

TEST_F(MqttMappingTest, SubscriptionFiltersUnderThePrefix) {
  EXPECT_THAT(mapping_->SubscriptionFilters(),
              ElementsAre("fwota/+/v1/devices/me/telemetry",
                          "fwota/+/v1/devices/me/attributes/request/+",
                          "fwota/+/v2/fw/request/+/chunk/+", "fwota/+/v2/sw/request/+/chunk/+"));
}

TEST_F(MqttMappingTest, ChunksAsThingsBoardIncludingPastTheEnd) {
  std::string joined;
  for (int n = 0; n < 5; ++n) {
    MqttMessage m = Ask("7", absl::StrCat(n), "1024");
    EXPECT_EQ(m.topic, absl::StrCat("fwota/TOK/v2/fw/response/7/chunk/", n));
    EXPECT_EQ(m.payload.size(), n < 4 ? 1024u : 5000u - 4096u) << n;
    joined += m.payload;
  }
  EXPECT_EQ(joined, data_);
  // Past the end: an empty payload (clients take it as the end of the file).
  EXPECT_EQ(Ask("7", "5", "1024").payload, "");
  EXPECT_EQ(Ask("7", "999999999999999999", "1024").payload, "");
}

TEST_F(MqttMappingTest, EmptyPayloadReusesTheSizeOrAsksForTheWholeFile) {
  EXPECT_EQ(Ask("9", "1", "100").payload, data_.substr(100, 100));
  EXPECT_EQ(Ask("9", "2", "").payload, data_.substr(200, 100));  // the last size of "9"
  // Another requestId has no size yet: the whole file, when it fits the limit.
  MqttMappingOptions big;
  big.max_chunk_size = 8192;
  MqttMapping roomy(*service_, big);
  MqttResult whole = roomy.Handle("fwota/TOK/v2/fw/request/10/chunk/0", "");
  ASSERT_EQ(whole.publish.size(), 1u);
  EXPECT_EQ(whole.publish[0].payload, data_);
  EXPECT_EQ(roomy.Handle("fwota/TOK/v2/fw/request/10/chunk/1", "").publish[0].payload, "");
}

TEST_F(MqttMappingTest, OverTheLimitIsAnErrorPayloadNamingIt) {
  MqttMessage m = Ask("3", "0", "");  // the whole 5000-byte file, limit 4096
  EXPECT_EQ(m.topic, "fwota/TOK/v2/fw/error");
  EXPECT_THAT(m.payload, StartsWith("PAYLOAD_TOO_LARGE: the whole file (5000 bytes) exceeds "
                                    "the limit of 4096 bytes"));
  m = Ask("3", "0", "65537");
  EXPECT_THAT(m.payload, StartsWith("PAYLOAD_TOO_LARGE: a chunk of 65537 bytes exceeds"));
  // Nothing was remembered from the refused ask: the next empty one is still "whole".
  EXPECT_THAT(Ask("3", "0", "").payload, StartsWith("PAYLOAD_TOO_LARGE"));
}

TEST_F(MqttMappingTest, BadSizesAndChunksAreErrorPayloads) {
  for (const auto& [chunk, size] : std::vector<std::pair<std::string, std::string>>{
           {"0", "abc"}, {"0", "-5"}, {"0", "1e3"}, {"x", "10"}, {"-1", "10"},
           {"0", "99999999999999999999999"}}) {
    MqttMessage m = Ask("4", chunk, size);
    EXPECT_EQ(m.topic, "fwota/TOK/v2/fw/error") << chunk << " " << size;
    EXPECT_THAT(m.payload, StartsWith("FAILURE: ")) << chunk << " " << size;
  }
}

TEST_F(MqttMappingTest, NothingAssignedIsNotFoundAndAUrlPackageIsFailure) {
  ASSERT_OK(service_->AssignDevicePackage(ctx_, device_.id(), ::fwota::v1::FIRMWARE, ""));
  EXPECT_THAT(Ask("1", "0", "10").payload, StartsWith("NOT_FOUND: "));
  PackageInfoRequest info;
  info.title = "url";
  info.version = "1";
  info.type = ::fwota::v1::FIRMWARE;
  info.device_profile_id = profile_.id();
  info.url = "https://example.com/fw.bin";
  ASSERT_OK_AND_ASSIGN(OtaPackage url, service_->SavePackageInfo(ctx_, info));
  ASSERT_OK(service_->AssignDevicePackage(ctx_, device_.id(), ::fwota::v1::FIRMWARE, url.id()));
  EXPECT_THAT(Ask("1", "0", "10").payload, StartsWith("FAILURE: "));
  // Software: nothing assigned.
  MqttResult sw = mapping_->Handle("fwota/TOK/v2/sw/request/1/chunk/0", "10");
  ASSERT_EQ(sw.publish.size(), 1u);
  EXPECT_EQ(sw.publish[0].topic, "fwota/TOK/v2/sw/error");
}

TEST_F(MqttMappingTest, ReassignedRequestIdIsAnsweredFromTheNewPackage) {
  EXPECT_EQ(Ask("5", "0", "100").payload, data_.substr(0, 100));
  const std::string next = RandomBytes(300, 2);
  OtaPackage fw2 = Package("fw", "2.0", next);
  ASSERT_OK(service_->AssignDevicePackage(ctx_, device_.id(), ::fwota::v1::FIRMWARE, fw2.id()));
  EXPECT_EQ(Ask("5", "1", "").payload, next.substr(100, 100));
}

TEST_F(MqttMappingTest, UnknownTokenPublishesNothing) {
  MqttResult r = mapping_->Handle("fwota/NOPE/v2/fw/request/1/chunk/0", "10");
  EXPECT_THAT(r.publish, IsEmpty());
  EXPECT_THAT(r.status, StatusCodeIs(Code::kUnauthenticated));
  // Not even an error payload for a malformed chunk number or size (found by fuzzing).
  for (const auto& [chunk, size] : std::vector<std::pair<std::string, std::string>>{
           {"x", "10"}, {"-1", "10"}, {"0", "abc"}, {"0", "99999999999999999999999"}}) {
    r = mapping_->Handle(absl::StrCat("fwota/NOPE/v2/fw/request/1/chunk/", chunk), size);
    EXPECT_THAT(r.publish, IsEmpty()) << chunk << " " << size;
    EXPECT_THAT(r.status, StatusCodeIs(Code::kUnauthenticated)) << chunk << " " << size;
  }
  r = mapping_->Handle("fwota/NOPE/v1/devices/me/telemetry", R"({"fw_state":"DOWNLOADING"})");
  EXPECT_THAT(r.status, StatusCodeIs(Code::kUnauthenticated));
  r = mapping_->Handle("fwota/NOPE/v1/devices/me/attributes/request/1", "");
  EXPECT_THAT(r.publish, IsEmpty());
  EXPECT_THAT(r.status, StatusCodeIs(Code::kUnauthenticated));
}

TEST_F(MqttMappingTest, TelemetryIsRecordedAndBadReportsChangeNothing) {
  MqttResult r = mapping_->Handle("fwota/TOK/v1/devices/me/telemetry",
                                  R"({"fw_state":"DOWNLOADING","temperature":3})");
  EXPECT_OK(r.status);
  EXPECT_THAT(r.publish, IsEmpty());
  ASSERT_OK_AND_ASSIGN(UpdateStatus s,
                       service_->GetUpdateStatus(ctx_, device_.id(), ::fwota::v1::FIRMWARE));
  EXPECT_EQ(s.state(), ::fwota::v1::UPDATE_STATE_DOWNLOADING);
  PageQuery q;
  q.page_size = 100;
  ASSERT_OK_AND_ASSIGN(auto before,
                       service_->ListUpdateHistory(ctx_, device_.id(), ::fwota::v1::FIRMWARE, q));
  for (const char* bad : {R"({"fw_state":"EXPLODED"})", R"({"fw_state":"DOWNLOADED",)",
                          "not json", R"(["x"])", R"({"fw_state":"DOWNLOADED","sw_state":"?"})"}) {
    EXPECT_THAT(mapping_->Handle("fwota/TOK/v1/devices/me/telemetry", bad).status,
                StatusCodeIs(Code::kInvalidArgument))
        << bad;
  }
  ASSERT_OK_AND_ASSIGN(auto after,
                       service_->ListUpdateHistory(ctx_, device_.id(), ::fwota::v1::FIRMWARE, q));
  EXPECT_EQ(after.total_elements, before.total_elements);
}

TEST_F(MqttMappingTest, AttributesRequestIsAnsweredOnTheResponseTopic) {
  MqttResult r = mapping_->Handle("fwota/TOK/v1/devices/me/attributes/request/42",
                                  R"({"sharedKeys":"fw_title,fw_size"})");
  ASSERT_EQ(r.publish.size(), 1u) << r.status;
  EXPECT_EQ(r.publish[0].topic, "fwota/TOK/v1/devices/me/attributes/response/42");
  EXPECT_EQ(r.publish[0].payload, R"({"shared":{"fw_title":"fw","fw_size":5000}})");
  r = mapping_->Handle("fwota/TOK/v1/devices/me/attributes/request/43", "");
  ASSERT_EQ(r.publish.size(), 1u);
  EXPECT_THAT(r.publish[0].payload, HasSubstr(R"("fw_checksum_algorithm":"SHA256")"));
  for (const char* bad : {"{", R"({"sharedKeys":5})"}) {
    r = mapping_->Handle("fwota/TOK/v1/devices/me/attributes/request/44", bad);
    EXPECT_THAT(r.publish, IsEmpty()) << bad;
    EXPECT_THAT(r.status, StatusCodeIs(Code::kInvalidArgument)) << bad;
  }
}

TEST_F(MqttMappingTest, MalformedTopicsPublishNothing) {
  for (const char* topic :
       {"other/TOK/v1/devices/me/telemetry", "fwota", "fwota/", "fwota/TOK",
        "fwota//v1/devices/me/telemetry", "fwota/TOK/v1/devices/me/telemetry/x",
        "fwota/TOK/v2/fw/request//chunk/1", "fwota/TOK/v2/fw/request/1/chunk/",
        "fwota/TOK/v2/xx/request/1/chunk/1", "fwota/TOK/v2/fw/request/1/chunk/1/extra",
        "fwota/TOK/v2/fw/request/+/chunk/1", "fwota/TOK/v1/devices/me/attributes/request/",
        "fwotaX/TOK/v1/devices/me/telemetry"}) {
    MqttResult r = mapping_->Handle(topic, "10");
    EXPECT_THAT(r.publish, IsEmpty()) << topic;
    EXPECT_THAT(r.status, StatusCodeIs(Code::kInvalidArgument)) << topic;
  }
}

TEST_F(MqttMappingTest, NoticeMessageAndOptions) {
  AttributeNotice n;
  n.access_token = "TOK";
  n.type = ::fwota::v1::FIRMWARE;
  n.updated = {{"fw_title", "fw", 0, false}, {"fw_size", "", 5, true}};
  n.deleted = {"fw_url"};
  MqttMessage m = mapping_->NoticeMessage(n);
  EXPECT_EQ(m.topic, "fwota/TOK/v1/devices/me/attributes");
  EXPECT_EQ(m.payload, R"({"fw_title":"fw","fw_size":5,"deleted":["fw_url"]})");
  MqttMappingOptions o;
  EXPECT_OK(MqttMapping::CheckOptions(o));
  for (const char* bad : {"", "a/b", "a+", "#", "$share"}) {
    o.prefix = bad;
    EXPECT_THAT(MqttMapping::CheckOptions(o), StatusCodeIs(Code::kInvalidArgument)) << bad;
  }
  o = MqttMappingOptions();
  o.max_chunk_size = 0;
  EXPECT_THAT(MqttMapping::CheckOptions(o), StatusCodeIs(Code::kInvalidArgument));
}

TEST_F(MqttMappingTest, RememberedSizesAreBounded) {
  MqttMappingOptions o;
  o.max_remembered_requests = 2;
  MqttMapping small(*service_, o);
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_EQ(small.Handle(absl::StrCat("fwota/TOK/v2/fw/request/", id, "/chunk/0"), "10")
                  .publish.size(),
              1u);
  }
  // "a" was forgotten: its empty ask is the whole file again (5,000 bytes fit the default
  // 1 MiB limit), while "c" still has its size.
  EXPECT_EQ(small.Handle("fwota/TOK/v2/fw/request/a/chunk/0", "").publish[0].payload, data_);
  EXPECT_EQ(small.Handle("fwota/TOK/v2/fw/request/c/chunk/1", "").publish[0].payload,
            data_.substr(10, 10));
}

}  // namespace
}  // namespace fwota::mqtt
