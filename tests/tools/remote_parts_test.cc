// Unit tests of remote mode's pieces that need no server: the JSON reader, reading
// ThingsBoard JSON back into entities (round trip through tb_json.h), the HTTP error
// table and the server URL parser.
#include <string>

#include "adapters/common/tb_json.h"
#include "gtest/gtest.h"
#include "tools/fwota/remote/http_client.h"
#include "tools/fwota/remote/http_status.h"
#include "tools/fwota/remote/json_value.h"
#include "tools/fwota/remote/tb_json_reader.h"

namespace fwota::cli::remote {
namespace {

TEST(JsonValueTest, ParsesEveryKindAndKeepsRawText) {
  absl::StatusOr<JsonValue> v = JsonValue::Parse(
      R"( {"a": 1, "b": [true, false, null], "c": {"z": 2, "y": "x\u00e9\ud83d\ude00\n"},
           "d": -1.5e3, "big": 1795789128381} )");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_TRUE(v->is_object());
  EXPECT_EQ(v->Find("a")->Int(), 1);
  ASSERT_EQ(v->Find("b")->items().size(), 3u);
  EXPECT_TRUE(v->Find("b")->items()[0].boolean());
  EXPECT_FALSE(v->Find("b")->items()[1].boolean());
  EXPECT_TRUE(v->Find("b")->items()[2].is_null());
  EXPECT_EQ(v->Find("c")->raw(), R"({"z": 2, "y": "x\u00e9\ud83d\ude00\n"})");
  EXPECT_EQ(v->Find("c")->Find("y")->string(), "x\xc3\xa9\xf0\x9f\x98\x80\n");
  EXPECT_EQ(v->Find("d")->raw(), "-1.5e3");
  EXPECT_EQ(v->Find("d")->Int(7), 7);  // not an integer
  EXPECT_EQ(v->Find("big")->Int(), 1795789128381);
  EXPECT_EQ(v->Find("missing"), nullptr);
}

TEST(JsonValueTest, RefusesMalformedText) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "\"unterminated", "01", "1.", "tru",
                          "{} x", "\"\x01\"", "\"\\q\""}) {
    EXPECT_FALSE(JsonValue::Parse(bad).ok()) << bad;
  }
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(JsonValue::Parse(deep).ok());
}

TEST(TbJsonReaderTest, PackageRoundTripsThroughTbJson) {
  OtaPackage p;
  p.set_id("5c6537d0-eac6-468d-800c-559b543cf8db");
  p.set_tenant_id("196825e2-7197-4f75-a54f-f875a4d87115");
  p.set_device_profile_id("09672525-5972-4dfa-9f9b-8652bbd3ee7a");
  p.set_type(::fwota::v1::SOFTWARE);
  p.set_title("fw \"quoted\"");
  p.set_version("1.0");
  p.set_tag("fw 1.0");
  p.set_has_data(true);
  p.set_file_name("f.bin");
  p.set_content_type("application/octet-stream");
  p.set_checksum_algorithm(::fwota::v1::MD5);
  p.set_checksum("00112233445566778899aabbccddeeff");
  p.set_data_size(3000000);
  p.set_additional_info_json(R"({"description":"x","n":[1,2]})");
  p.set_created_time(1795789128381);
  const std::string json = adapters::PackageJson(p);
  absl::StatusOr<JsonValue> parsed = JsonValue::Parse(json);
  ASSERT_TRUE(parsed.ok());
  absl::StatusOr<OtaPackage> back = ReadPackage(*parsed);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(adapters::PackageJson(*back), json);

  OtaPackage url_only;
  url_only.set_id("5c6537d0-eac6-468d-800c-559b543cf8db");
  url_only.set_type(::fwota::v1::FIRMWARE);
  url_only.set_url("https://example.com/x");
  const std::string url_json = adapters::PackageJson(url_only);
  back = ReadPackage(*JsonValue::Parse(url_json));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(adapters::PackageJson(*back), url_json);
}

TEST(TbJsonReaderTest, DeviceProfileAuditAndPageRoundTrip) {
  Device d;
  d.set_id("c601beef-dfe7-4de2-8f00-d257491140cc");
  d.set_name("d");
  d.set_type("default");
  d.set_device_profile_id("09672525-5972-4dfa-9f9b-8652bbd3ee7a");
  d.set_firmware_id("5c6537d0-eac6-468d-800c-559b543cf8db");
  d.set_created_time(5);
  absl::StatusOr<Device> device = ReadDevice(*JsonValue::Parse(adapters::DeviceJson(d)));
  ASSERT_TRUE(device.ok());
  EXPECT_EQ(adapters::DeviceJson(*device), adapters::DeviceJson(d));

  DeviceProfile p;
  p.set_id("09672525-5972-4dfa-9f9b-8652bbd3ee7a");
  p.set_name("p");
  p.set_description("desc");
  p.set_software_id("5c6537d0-eac6-468d-800c-559b543cf8db");
  absl::StatusOr<DeviceProfile> profile =
      ReadDeviceProfile(*JsonValue::Parse(adapters::DeviceProfileJson(p)));
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(adapters::DeviceProfileJson(*profile), adapters::DeviceProfileJson(p));

  AuditEvent e;
  e.set_id("11111111-2222-3333-4444-555555555555");
  e.set_entity_type("DEVICE");
  e.set_entity_id(d.id());
  e.set_entity_name("d");
  e.set_user_name("apikey:admin");
  e.set_action_type(::fwota::v1::ASSIGNED);
  e.set_action_status(::fwota::v1::FAILURE);
  e.set_action_data_json(R"({"type":"FIRMWARE","otaPackageId":null})");
  e.set_failure_details("Can't assign non-existent firmware!");
  Page<AuditEvent> page;
  page.data = {e, AuditEvent()};
  page.total_elements = 7;
  page.total_pages = 4;
  page.has_next = true;
  JsonWriter w;
  adapters::WritePage<AuditEvent>(w, page, adapters::WriteAuditEvent);
  absl::StatusOr<Page<AuditEvent>> back =
      ReadPage<AuditEvent>(*JsonValue::Parse(w.str()), ReadAuditEvent);
  ASSERT_TRUE(back.ok()) << back.status();
  JsonWriter again;
  adapters::WritePage<AuditEvent>(again, *back, adapters::WriteAuditEvent);
  EXPECT_EQ(again.str(), w.str());

  EXPECT_FALSE(ReadDevice(*JsonValue::Parse("[]")).ok());
  EXPECT_FALSE(ReadPage<Device>(*JsonValue::Parse("{}"), ReadDevice).ok());
}

TEST(TbJsonReaderTest, ExplanationRoundTrips) {
  Explanation x;
  x.source = Explanation::Source::kProfileDefault;
  x.type = ::fwota::v1::FIRMWARE;
  x.device.set_id("c601beef-dfe7-4de2-8f00-d257491140cc");
  x.device.set_name("d");
  OtaPackage p;
  p.set_id("5c6537d0-eac6-468d-800c-559b543cf8db");
  p.set_title("fw");
  x.package = p;
  x.reason = "because";
  const std::string json = adapters::ExplanationJson(x);
  absl::StatusOr<Explanation> back = ReadExplanation(*JsonValue::Parse(json));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(adapters::ExplanationJson(*back), json);
}

absl::Status Error(int http_status, absl::string_view message) {
  return StatusFromHttp(http_status,
                        adapters::HttpErrorJson(http_status, message,
                                                adapters::TbErrorCode::kBadRequestParams, 1));
}

TEST(HttpStatusTest, InvertsTheStatusMapping) {
  EXPECT_TRUE(absl::IsInvalidArgument(Error(400, "Wrong otaPackage file!")));
  EXPECT_TRUE(absl::IsAlreadyExists(Error(400, "Device with such name already exists!")));
  EXPECT_TRUE(absl::IsAlreadyExists(
      Error(400, "Device credentials are already assigned to another device!")));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      Error(400, "The otaPackage referenced by the devices cannot be deleted!")));
  EXPECT_TRUE(absl::IsFailedPrecondition(Error(400, "Can't assign firmware with empty data!")));
  EXPECT_TRUE(absl::IsFailedPrecondition(Error(400, "Updating otaPackage data is prohibited!")));
  EXPECT_TRUE(absl::IsUnauthenticated(Error(401, "Authentication failed")));
  EXPECT_TRUE(absl::IsPermissionDenied(Error(403, "no")));
  EXPECT_TRUE(absl::IsNotFound(Error(404, "Requested item wasn't found!")));
  EXPECT_TRUE(absl::IsResourceExhausted(Error(413, "too large")));
  EXPECT_TRUE(absl::IsDataLoss(Error(500, "the stored file is damaged")));
  EXPECT_TRUE(absl::IsInternal(Error(500, "Internal server error")));
  EXPECT_TRUE(absl::IsUnavailable(Error(503, "too many connections")));
  // Each status maps back to the HTTP status and errorCode it came from.
  for (absl::string_view message : {"x already exists!", "x cannot be deleted!", "bad"}) {
    const absl::Status s = Error(400, message);
    EXPECT_EQ(adapters::HttpStatusFor(s), 400);
    EXPECT_EQ(adapters::TbErrorCodeFor(s), adapters::TbErrorCode::kBadRequestParams);
    EXPECT_EQ(s.message(), message);
  }
  EXPECT_EQ(StatusFromHttp(502, "<html>Bad Gateway</html>").message(),
            "HTTP 502: <html>Bad Gateway</html>");
  EXPECT_EQ(StatusFromHttp(500, "").message(), "HTTP 500");
}

TEST(ServerUrlTest, ParsesHostsPortsAndSchemes) {
  absl::StatusOr<ServerUrl> u = ParseServerUrl("http://127.0.0.1:8080/");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->text, "http://127.0.0.1:8080");
  u = ParseServerUrl("https://ota.example.com");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->host_header, "ota.example.com");
  u = ParseServerUrl("http://[::1]:9000");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9000");
  EXPECT_EQ(u->host_header, "[::1]:9000");
  for (const char* bad : {"localhost:8080", "ftp://x", "http://", "http://h:0",
                          "http://h:99999", "http://h/api", "http://u@h", "http://[::1"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseServerUrl(bad).status())) << bad;
  }
}

}  // namespace
}  // namespace fwota::cli::remote
