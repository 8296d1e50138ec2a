// JSON request parsing: the admin bodies (internal/json_request.h) and the device
// payloads shared with MQTT and CoAP (adapters/common/device_payloads.h).
#include "adapters/http/internal/json_request.h"

#include <string>

#include "adapters/common/device_payloads.h"
#include "adapters/common/tb_json.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace fwota::http::internal {
namespace {

using ::fwota::testing::StatusCodeIs;
using ::fwota::testing::StatusIs;
using Code = absl::StatusCode;

constexpr char kProfile[] = "22222222-2222-2222-2222-222222222222";
constexpr char kPackage[] = "44444444-4444-4444-4444-444444444444";

TEST(JsonRequestTest, PackageInfoAsThingsBoardSendsIt) {
  absl::StatusOr<PackageInfoRequest> r = ParsePackageInfoJson(
      R"({"title":"fw","version":"1.0","type":"FIRMWARE","tag":"t",)"
      R"("deviceProfileId":{"entityType":"DEVICE_PROFILE","id":"22222222-2222-2222-2222-222222222222"},)"
      R"("url":null,"additionalInfo":{"n":3,"description":"d","nested":{"z":null,"a":[1,true,2.5]}},)"
      R"("hasData":false,"unknownField":[1,2]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "");
  EXPECT_EQ(r->title, "fw");
  EXPECT_EQ(r->version, "1.0");
  EXPECT_EQ(r->type, ::fwota::v1::FIRMWARE);
  EXPECT_EQ(r->tag, "t");
  EXPECT_EQ(r->url, "");
  EXPECT_EQ(r->device_profile_id, kProfile);
  // Keys sorted (protobuf's map order is not stable), integers without a fraction.
  EXPECT_EQ(r->additional_info_json,
            R"({"description":"d","n":3,"nested":{"a":[1,true,2.5],"z":null}})");

  // Bare string ids, an update id, upper-case UUIDs (lowercased), software.
  r = ParsePackageInfoJson(
      R"({"id":"44444444-4444-4444-4444-444444444444","type":"software",)"
      R"("deviceProfileId":"22222222-2222-2222-2222-22222222222A"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, kPackage);
  EXPECT_EQ(r->type, ::fwota::v1::SOFTWARE);
  EXPECT_EQ(r->device_profile_id, "22222222-2222-2222-2222-22222222222a");
  EXPECT_EQ(r->additional_info_json, "");
}

TEST(JsonRequestTest, PackageInfoErrors) {
  EXPECT_THAT(ParsePackageInfoJson("{"), StatusCodeIs(Code::kInvalidArgument));
  EXPECT_THAT(ParsePackageInfoJson(""), StatusCodeIs(Code::kInvalidArgument));
  EXPECT_THAT(ParsePackageInfoJson("[]"),
              StatusIs(Code::kInvalidArgument, "The request body must be a JSON object"));
  EXPECT_THAT(ParsePackageInfoJson("\"text\""), StatusCodeIs(Code::kInvalidArgument));
  EXPECT_THAT(ParsePackageInfoJson(R"({"title":1})"),
              StatusIs(Code::kInvalidArgument, "Invalid value of 'title': expected a string"));
  EXPECT_THAT(ParsePackageInfoJson(R"({"type":"BIOS"})"), StatusCodeIs(Code::kInvalidArgument));
  EXPECT_THAT(ParsePackageInfoJson(R"({"deviceProfileId":{"id":"x"}})"),
              StatusIs(Code::kInvalidArgument, "Invalid UUID string: x"));
  EXPECT_THAT(ParsePackageInfoJson(R"({"deviceProfileId":{"id":5}})"),
              StatusCodeIs(Code::kInvalidArgument));
  EXPECT_THAT(ParsePackageInfoJson(R"({"deviceProfileId":[]})"),
              StatusCodeIs(Code::kInvalidArgument));
  EXPECT_THAT(ParsePackageInfoJson(R"({"additionalInfo":[1]})"),
              StatusIs(Code::kInvalidArgument, "additionalInfo must be a JSON object"));
}

TEST(JsonRequestTest, ProfileIdsAbsentNullAndSet) {
  absl::StatusOr<ProfileRequest> r = ParseProfileJson(R"({"name":"p"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name, "p");
  EXPECT_FALSE(r->description.has_value());
  EXPECT_EQ(r->firmware_id.state, IdField::kAbsent);
  EXPECT_EQ(r->software_id.state, IdField::kAbsent);

  r = ParseProfileJson(
      R"({"id":{"entityType":"DEVICE_PROFILE","id":"22222222-2222-2222-2222-222222222222"},)"
      R"("description":"d","firmwareId":null,"softwareId":{"entityType":"OTA_PACKAGE",)"
      R"("id":"44444444-4444-4444-4444-444444444444"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, kProfile);
  EXPECT_EQ(r->description.value_or("<none>"), "d");
  EXPECT_EQ(r->firmware_id.state, IdField::kNull);
  EXPECT_EQ(r->software_id.state, IdField::kSet);
  EXPECT_EQ(r->software_id.id, kPackage);

  // An id object without an id, or an empty string, reads as null.
  r = ParseProfileJson(R"({"firmwareId":{"entityType":"OTA_PACKAGE"},"softwareId":""})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->firmware_id.state, IdField::kNull);
  EXPECT_EQ(r->software_id.state, IdField::kNull);
  EXPECT_THAT(ParseProfileJson(R"({"description":false})"), StatusCodeIs(Code::kInvalidArgument));
}

TEST(JsonRequestTest, Device) {
  absl::StatusOr<DeviceRequest> r = ParseDeviceJson(
      R"({"name":"d","type":"sensors","label":null,"deviceProfileId":)"
      R"({"entityType":"DEVICE_PROFILE","id":"22222222-2222-2222-2222-222222222222"},)"
      R"("firmwareId":"44444444-4444-4444-4444-444444444444","additionalInfo":{"gateway":false}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "");
  EXPECT_EQ(r->name, "d");
  EXPECT_EQ(r->profile_name, "sensors");
  EXPECT_EQ(r->profile_id, kProfile);
  EXPECT_EQ(r->firmware_id.state, IdField::kSet);
  EXPECT_EQ(r->software_id.state, IdField::kAbsent);
  EXPECT_THAT(ParseDeviceJson(R"({"id":"not-a-uuid"})"),
              StatusIs(Code::kInvalidArgument, "Invalid UUID string: not-a-uuid"));
}

// ---- adapters/common/device_payloads ----

using adapters::ParseAttributeKeys;
using adapters::ParseOtaTelemetry;
using adapters::SharedAttributesResponseJson;

TEST(DevicePayloadsTest, TelemetryShapes) {
  absl::StatusOr<std::vector<DeviceReport>> r = ParseOtaTelemetry(
      R"({"fw_state":"DOWNLOADING","current_fw_title":"fw","current_fw_version":"1.0",)"
      R"("temperature":42})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].type, ::fwota::v1::FIRMWARE);
  EXPECT_EQ((*r)[0].state, "DOWNLOADING");
  EXPECT_EQ((*r)[0].current_title, "fw");
  EXPECT_EQ((*r)[0].current_version, "1.0");
  EXPECT_EQ((*r)[0].error, "");

  r = ParseOtaTelemetry(R"({"ts":1700000000000,"values":{"sw_state":"FAILED","sw_error":"e",)"
                        R"("fw_state":"UPDATED"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].type, ::fwota::v1::FIRMWARE);
  EXPECT_EQ((*r)[0].state, "UPDATED");
  EXPECT_EQ((*r)[1].type, ::fwota::v1::SOFTWARE);
  EXPECT_EQ((*r)[1].state, "FAILED");
  EXPECT_EQ((*r)[1].error, "e");

  r = ParseOtaTelemetry(
      R"([{"fw_state":"QUEUED"},{"x":1},{"ts":5,"values":{"current_sw_version":2}},)"
      R"({"fw_state":null,"current_fw_title":true}])");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].state, "QUEUED");
  EXPECT_EQ((*r)[1].type, ::fwota::v1::SOFTWARE);
  EXPECT_EQ((*r)[1].current_version, "2");
  EXPECT_EQ((*r)[2].state, "");  // null: absent
  EXPECT_EQ((*r)[2].current_title, "true");

  // "values" without "ts" is an ordinary key.
  r = ParseOtaTelemetry(R"({"values":{"fw_state":"UPDATED"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  r = ParseOtaTelemetry("[]");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  r = ParseOtaTelemetry(R"({"fw_state":1.5})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].state, "1.5");
}

TEST(DevicePayloadsTest, TelemetryErrors) {
  for (const char* bad : {"", "{", "42", "\"fw_state\"", "[1]", "[{}, 2]", "null",
                          R"({"ts":1,"values":3})", "{\"fw_state\":\"A\"} trailing"}) {
    EXPECT_THAT(ParseOtaTelemetry(bad), StatusCodeIs(Code::kInvalidArgument)) << bad;
  }
}

TEST(DevicePayloadsTest, AttributeKeysAndResponse) {
  EXPECT_EQ(ParseAttributeKeys(" fw_title, fw_version,,x ,"),
            (std::vector<std::string>{"fw_title", "fw_version", "x"}));
  EXPECT_TRUE(ParseAttributeKeys("").empty());
  std::vector<SharedAttribute> attributes = {{"fw_title", "a\"b", 0, false},
                                             {"fw_size", "", 123, true}};
  EXPECT_EQ(SharedAttributesResponseJson(attributes),
            R"({"shared":{"fw_title":"a\"b","fw_size":123}})");
  EXPECT_EQ(SharedAttributesResponseJson({}), "{}");
  JsonWriter w;
  adapters::WriteSharedAttributeValues(w, attributes);
  EXPECT_EQ(w.str(), R"({"fw_title":"a\"b","fw_size":123})");
}

// ---- adapters/common/tb_json additions ----

TEST(TbJsonAdditionsTest, UpdateStatusAndEvent) {
  UpdateStatus s;
  s.set_device_id("33333333-3333-3333-3333-333333333333");
  s.set_type(::fwota::v1::FIRMWARE);
  s.set_state(::fwota::v1::UPDATE_STATE_DOWNLOADING);
  s.set_state_since(17);
  s.set_target_title("fw");
  s.set_current_version("0.9");
  s.set_notices_sent(2);
  EXPECT_EQ(adapters::UpdateStatusJson(s),
            R"({"deviceId":{"entityType":"DEVICE","id":"33333333-3333-3333-3333-333333333333"},)"
            R"("type":"FIRMWARE","state":"DOWNLOADING","stateSince":17,"progress":10,)"
            R"("targetPackageId":null,"targetTitle":"fw","targetVersion":null,"targetTag":null,)"
            R"("targetTs":0,"currentTitle":null,"currentVersion":"0.9","error":null,)"
            R"("lastActivity":0,"noticesSent":2})");
  JsonWriter named;
  adapters::WriteUpdateStatus(named, s, "kitchen \"1\"");
  const std::string prefix =
      R"({"deviceId":{"entityType":"DEVICE","id":"33333333-3333-3333-3333-333333333333"},)"
      R"("deviceName":"kitchen \"1\"","type":"FIRMWARE",)";
  EXPECT_EQ(named.str().substr(0, prefix.size()), prefix);
  UpdateEvent e;
  e.set_id("e1");
  e.set_state(::fwota::v1::UPDATE_STATE_UNSPECIFIED);
  e.set_accepted(false);
  e.set_note("unknown OTA state \"X\"");
  EXPECT_EQ(adapters::UpdateEventJson(e),
            R"({"id":"e1","createdTime":0,"deviceId":null,"type":null,"state":null,)"
            R"("packageId":null,"title":null,"version":null,"error":null,"source":null,)"
            R"("accepted":false,"note":"unknown OTA state \"X\""})");
  EXPECT_EQ(adapters::UpdateProgressPercent(::fwota::v1::UPDATE_STATE_UPDATED), 100);
  EXPECT_EQ(adapters::UpdateProgressPercent(::fwota::v1::UPDATE_STATE_QUEUED), 0);
  EXPECT_EQ(adapters::HttpErrorJson(405, "no", adapters::TbErrorCode::kGeneral, 9),
            R"({"status":405,"message":"no","errorCode":2,"timestamp":9})");
}

}  // namespace
}  // namespace fwota::http::internal
