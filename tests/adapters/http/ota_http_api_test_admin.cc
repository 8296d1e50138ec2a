// The admin REST API through the handler: ThingsBoard's whole OTA flow, authentication
// and tenant isolation, uploads (multipart and plain), paging, and bad input.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fwota/checksum.h"
#include "gtest/gtest.h"
#include "tests/adapters/http/ota_http_api_test_util.h"

namespace fwota::http::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class AdminApiTest : public OtaHttpApiTest {};

std::string IdJson(absl::string_view type, absl::string_view id) {
  return absl::StrCat(R"({"entityType":")", type, R"(","id":")", id, R"("})");
}

TEST_F(AdminApiTest, ThingsBoardFlowFromProfileToDelete) {
  const std::string profile = CreateProfile("thermostats");
  ASSERT_EQ(profile.size(), 36u);
  const std::string device = CreateDevice("t-1", profile, "TOKEN_1");
  ASSERT_EQ(device.size(), 36u);

  // Package info, then its data (no checksum given: SHA-256 computed).
  const std::string fw1 = CreatePackageInfo("fw", "1.0", profile);
  HttpResponse info = Call("GET", "/api/otaPackage/info/" + fw1);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(JsonText(info.body, "hasData"), "false");
  EXPECT_EQ(JsonText(info.body, "title"), "fw");
  EXPECT_EQ(JsonText(info.body, "tag"), "fw 1.0");
  EXPECT_EQ(JsonText(info.body, "additionalInfo.description"), "test package");
  EXPECT_EQ(JsonText(info.body, "deviceProfileId.id"), profile);

  const std::string data1 = RandomBytes(100000, 1);
  HttpResponse up = UploadMultipart(fw1, data1, "checksumAlgorithm=SHA256", "fw-1.0.bin");
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(HeaderOf(up, "Content-Type"), "application/json");
  EXPECT_EQ(JsonText(up.body, "hasData"), "true");
  EXPECT_EQ(JsonText(up.body, "fileName"), "fw-1.0.bin");
  EXPECT_EQ(JsonText(up.body, "contentType"), "application/octet-stream");
  EXPECT_EQ(JsonInt(up.body, "dataSize"), 100000);
  EXPECT_EQ(JsonText(up.body, "checksumAlgorithm"), "SHA256");
  EXPECT_EQ(JsonText(up.body, "checksum"), ChecksumText(::fwota::v1::SHA256, data1));

  // Second package: checksum given (ThingsBoard's little-endian CRC32 text).
  const std::string fw2 = CreatePackageInfo("fw", "2.0", profile);
  HttpResponse wrong = UploadMultipart(fw2, "123456789", "checksumAlgorithm=CRC32&checksum=deadbeef");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(JsonText(wrong.body, "message"), "Wrong otaPackage file!");
  EXPECT_EQ(JsonInt(wrong.body, "errorCode"), 31);
  EXPECT_EQ(JsonText(Call("GET", "/api/otaPackage/info/" + fw2).body, "hasData"), "false");
  HttpResponse right =
      UploadMultipart(fw2, "123456789", "checksumAlgorithm=CRC32&checksum=2639f4cb");
  ASSERT_EQ(right.status, 200) << right.body;
  EXPECT_EQ(JsonText(right.body, "checksum"), "2639f4cb");
  EXPECT_EQ(JsonText(right.body, "checksumAlgorithm"), "CRC32");

  // A third, info only, for listing.
  const std::string sw = CreatePackageInfo("agent", "0.1", profile, "SOFTWARE");

  // List, search, page.
  HttpResponse all = Call("GET", "/api/otaPackages?pageSize=10&page=0");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(JsonInt(all.body, "totalElements"), 3);
  EXPECT_EQ(JsonText(all.body, "hasNext"), "false");
  HttpResponse search = Call("GET", "/api/otaPackages?pageSize=10&page=0&textSearch=FW");
  EXPECT_EQ(JsonInt(search.body, "totalElements"), 2);
  HttpResponse paged =
      Call("GET", "/api/otaPackages?pageSize=2&page=0&sortProperty=version&sortOrder=DESC");
  ASSERT_EQ(paged.status, 200) << paged.body;
  EXPECT_EQ(JsonInt(paged.body, "totalPages"), 2);
  EXPECT_EQ(JsonText(paged.body, "hasNext"), "true");
  EXPECT_EQ(JsonText(paged.body, "data.0.version"), "2.0");
  HttpResponse last = Call("GET", "/api/otaPackages?pageSize=2&page=1&sortProperty=version");
  EXPECT_EQ(JsonText(last.body, "data.0.version"), "2.0");  // ascending: 0.1, 1.0 | 2.0
  EXPECT_EQ(JsonText(last.body, "hasNext"), "false");

  // The profile's packages with data, per type.
  HttpResponse firmware = Call("GET", "/api/otaPackages/" + profile + "/FIRMWARE?pageSize=10&page=0");
  ASSERT_EQ(firmware.status, 200) << firmware.body;
  EXPECT_EQ(JsonInt(firmware.body, "totalElements"), 2);
  HttpResponse software = Call("GET", "/api/otaPackages/" + profile + "/SOFTWARE?pageSize=10&page=0");
  EXPECT_EQ(JsonInt(software.body, "totalElements"), 0);  // sw has no data
  EXPECT_EQ(Call("GET", "/api/otaPackages/" + profile + "/BOTH?pageSize=10&page=0").status, 400);

  // Assign through the device (ThingsBoard's UI posts the whole device back).
  HttpResponse got = Call("GET", "/api/device/" + device);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(JsonText(got.body, "firmwareId"), "<null>");
  HttpResponse assigned = Call(
      "POST", "/api/device",
      absl::StrCat(R"({"id":)", IdJson("DEVICE", device), R"(,"name":"t-1","deviceProfileId":)",
                   IdJson("DEVICE_PROFILE", profile), R"(,"firmwareId":)",
                   IdJson("OTA_PACKAGE", fw1), R"(,"softwareId":null,"label":null})"));
  ASSERT_EQ(assigned.status, 200) << assigned.body;
  EXPECT_EQ(JsonText(assigned.body, "firmwareId.id"), fw1);
  EXPECT_EQ(JsonText(Call("GET", "/api/device/" + device).body, "firmwareId.id"), fw1);

  // And through the profile.
  HttpResponse profile_assigned = Call(
      "POST", "/api/deviceProfile",
      absl::StrCat(R"({"id":)", IdJson("DEVICE_PROFILE", profile),
                   R"(,"name":"thermostats","firmwareId":")", fw2, R"("})"));
  ASSERT_EQ(profile_assigned.status, 200) << profile_assigned.body;
  EXPECT_EQ(JsonText(profile_assigned.body, "firmwareId.id"), fw2);
  EXPECT_EQ(JsonText(Call("GET", "/api/deviceProfile/" + profile).body, "firmwareId.id"), fw2);

  // Download: the bytes, ThingsBoard's headers.
  HttpResponse download = Call("GET", "/api/otaPackage/" + fw1 + "/download");
  ASSERT_EQ(download.status, 200) << download.body;
  EXPECT_EQ(BodyOf(download), data1);
  EXPECT_EQ(HeaderOf(download, "Content-Disposition"), "attachment;filename=\"fw-1.0.bin\"");
  EXPECT_EQ(HeaderOf(download, "x-filename"), "fw-1.0.bin");
  EXPECT_EQ(HeaderOf(download, "Content-Type"), "application/octet-stream");
  EXPECT_EQ(HeaderOf(download, "ETag"), "\"" + ChecksumText(::fwota::v1::SHA256, data1) + "\"");
  // The ThingsBoard OtaPackage path answers like the info path.
  EXPECT_EQ(JsonText(Call("GET", "/api/otaPackage/" + fw1).body, "checksum"),
            ChecksumText(::fwota::v1::SHA256, data1));

  // Deletion guards, with ThingsBoard's messages.
  HttpResponse guarded = Call("DELETE", "/api/otaPackage/" + fw1);
  EXPECT_EQ(guarded.status, 400);
  EXPECT_EQ(JsonText(guarded.body, "message"),
            "The otaPackage referenced by the devices cannot be deleted!");
  HttpResponse guarded2 = Call("DELETE", "/api/otaPackage/" + fw2);
  EXPECT_EQ(guarded2.status, 400);
  EXPECT_EQ(JsonText(guarded2.body, "message"),
            "The otaPackage referenced by the device profile cannot be deleted!");

  // Unassign (null) through both, then delete.
  HttpResponse unassigned = Call(
      "POST", "/api/device",
      absl::StrCat(R"({"id":)", IdJson("DEVICE", device), R"(,"firmwareId":null})"));
  ASSERT_EQ(unassigned.status, 200) << unassigned.body;
  EXPECT_EQ(JsonText(unassigned.body, "firmwareId"), "<null>");
  HttpResponse profile_unassigned = Call(
      "POST", "/api/deviceProfile",
      absl::StrCat(R"({"id":")", profile, R"(","firmwareId":null})"));
  ASSERT_EQ(profile_unassigned.status, 200) << profile_unassigned.body;
  HttpResponse deleted = Call("DELETE", "/api/otaPackage/" + fw1);
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.body, "");
  HttpResponse gone = Call("GET", "/api/otaPackage/info/" + fw1);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(JsonText(gone.body, "message"), "Requested item wasn't found!");
  EXPECT_EQ(JsonInt(gone.body, "errorCode"), 32);
  EXPECT_EQ(Call("DELETE", "/api/otaPackage/" + fw2).status, 200);
  EXPECT_EQ(Call("DELETE", "/api/otaPackage/" + sw).status, 200);

  // Devices and profiles: list, credentials, delete.
  HttpResponse devices = Call("GET", "/api/tenant/devices?pageSize=10&page=0&textSearch=T-");
  ASSERT_EQ(devices.status, 200) << devices.body;
  EXPECT_EQ(JsonInt(devices.body, "totalElements"), 1);
  EXPECT_EQ(JsonText(devices.body, "data.0.name"), "t-1");
  HttpResponse credentials = Call("GET", "/api/device/" + device + "/credentials");
  EXPECT_EQ(JsonText(credentials.body, "credentialsId"), "TOKEN_1");
  EXPECT_EQ(JsonText(credentials.body, "credentialsType"), "ACCESS_TOKEN");
  HttpResponse profile_guard = Call("DELETE", "/api/deviceProfile/" + profile);
  EXPECT_EQ(profile_guard.status, 400);
  EXPECT_EQ(Call("DELETE", "/api/device/" + device).status, 200);
  EXPECT_EQ(Call("GET", "/api/device/" + device).status, 404);
  HttpResponse profiles = Call("GET", "/api/deviceProfiles?pageSize=10&page=0");
  EXPECT_EQ(JsonInt(profiles.body, "totalElements"), 1);
  EXPECT_EQ(Call("DELETE", "/api/deviceProfile/" + profile).status, 200);
  EXPECT_EQ(JsonInt(Call("GET", "/api/deviceProfiles?pageSize=10&page=0").body, "totalElements"), 0);

  // The audit log saw it all.
  HttpResponse audit = Call("GET", "/api/audit/logs?pageSize=100&page=0");
  ASSERT_EQ(audit.status, 200) << audit.body;
  EXPECT_GT(JsonInt(audit.body, "totalElements"), 10);
  EXPECT_EQ(JsonText(audit.body, "data.0.actionType"), "DELETED");
}

TEST_F(AdminApiTest, PackageInfoUpdateChangesOnlyAdditionalInfo) {
  const std::string profile = CreateProfile("p");
  const std::string id = CreatePackageInfo("fw", "1.0", profile);
  HttpResponse updated = Call(
      "POST", "/api/otaPackage",
      absl::StrCat(R"({"id":)", IdJson("OTA_PACKAGE", id),
                   R"(,"title":"fw","version":"1.0","type":"FIRMWARE","deviceProfileId":)",
                   IdJson("DEVICE_PROFILE", profile),
                   R"(,"additionalInfo":{"description":"second"},"hasData":false})"));
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(JsonText(updated.body, "additionalInfo.description"), "second");
  HttpResponse renamed = Call(
      "POST", "/api/otaPackage",
      absl::StrCat(R"({"id":")", id, R"(","title":"other","version":"1.0","type":"FIRMWARE",)",
                   R"("deviceProfileId":")", profile, R"("})"));
  EXPECT_EQ(renamed.status, 400);
  EXPECT_EQ(JsonText(renamed.body, "message"), "Updating otaPackage title is prohibited!");
  HttpResponse duplicate = Call(
      "POST", "/api/otaPackage",
      absl::StrCat(R"({"title":"fw","version":"1.0","type":"FIRMWARE","deviceProfileId":")",
                   profile, R"("})"));
  EXPECT_EQ(duplicate.status, 400);
  EXPECT_EQ(JsonText(duplicate.body, "message"),
            "OtaPackage with such title and version already exists!");
  HttpResponse no_title = Call(
      "POST", "/api/otaPackage",
      absl::StrCat(R"({"version":"1.0","type":"FIRMWARE","deviceProfileId":")", profile, R"("})"));
  EXPECT_EQ(no_title.status, 400);
  EXPECT_EQ(JsonText(no_title.body, "message"), "OtaPackage title should be specified!");
  HttpResponse bad_type = Call(
      "POST", "/api/otaPackage",
      absl::StrCat(R"({"title":"x","version":"1","type":"BIOS","deviceProfileId":")", profile,
                   R"("})"));
  EXPECT_EQ(bad_type.status, 400);
  HttpResponse bad_info = Call(
      "POST", "/api/otaPackage",
      absl::StrCat(R"({"title":"x","version":"1","type":"FIRMWARE","additionalInfo":"text",)",
                   R"("deviceProfileId":")", profile, R"("})"));
  EXPECT_EQ(bad_info.status, 400);
  EXPECT_EQ(JsonText(bad_info.body, "message"), "additionalInfo must be a JSON object");
}

TEST_F(AdminApiTest, AuthenticationIsRequiredAndChecked) {
  const std::string none;
  HttpResponse missing = Call("GET", "/api/otaPackages?pageSize=10&page=0", "", {}, &none);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(JsonText(missing.body, "message"), "Authentication failed");
  EXPECT_EQ(JsonInt(missing.body, "errorCode"), 10);
  EXPECT_EQ(JsonInt(missing.body, "status"), 401);
  EXPECT_GT(JsonInt(missing.body, "timestamp"), 1600000000000);

  const std::string wrong = "fwota_wrongwrongwrongwrongwrongwrongwrongwrong";
  HttpResponse bad = Call("GET", "/api/otaPackages?pageSize=10&page=0", "", {}, &wrong);
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(JsonInt(bad.body, "errorCode"), 10);

  // Not a bearer token.
  HttpResponse basic = Call("GET", "/api/otaPackages?pageSize=10&page=0", "",
                            {{"Authorization", "Basic " + key_a_}}, &none);
  EXPECT_EQ(basic.status, 401);

  // Plain Authorization works as well as X-Authorization.
  HttpResponse plain = Call("GET", "/api/otaPackages?pageSize=10&page=0", "",
                            {{"Authorization", "Bearer " + key_a_}}, &none);
  EXPECT_EQ(plain.status, 200) << plain.body;

  // Even with a bad id the answer is 401 first.
  EXPECT_EQ(Call("GET", "/api/otaPackage/info/nope", "", {}, &none).status, 401);
}

TEST_F(AdminApiTest, OtherTenantsIdsAreForbidden) {
  const std::string profile = CreateProfile("p");
  const std::string device = CreateDevice("d", profile, "TOK");
  const std::string package = CreatePackageInfo("fw", "1", profile);
  ASSERT_EQ(UploadMultipart(package, "data").status, 200);
  for (const std::string& target :
       {"/api/otaPackage/info/" + package, "/api/otaPackage/" + package + "/download",
        "/api/device/" + device, "/api/device/" + device + "/credentials",
        "/api/deviceProfile/" + profile}) {
    HttpResponse r = Call("GET", target, "", {}, &key_b_);
    EXPECT_EQ(r.status, 403) << target << " " << r.body;
    EXPECT_EQ(JsonText(r.body, "message"),
              "You don't have permission to perform this operation!");
    EXPECT_EQ(JsonInt(r.body, "errorCode"), 20);
  }
  EXPECT_EQ(Call("DELETE", "/api/otaPackage/" + package, "", {}, &key_b_).status, 403);
  EXPECT_EQ(Call("DELETE", "/api/device/" + device, "", {}, &key_b_).status, 403);
  EXPECT_EQ(Call("POST", "/api/otaPackage/" + package + "?checksumAlgorithm=SHA256", "x",
                 {{"Content-Type", "application/octet-stream"}}, &key_b_)
                .status,
            403);
  // Tenant B sees none of A's entities in its lists.
  EXPECT_EQ(JsonInt(Call("GET", "/api/otaPackages?pageSize=10&page=0", "", {}, &key_b_).body,
                    "totalElements"),
            0);
  EXPECT_EQ(JsonInt(Call("GET", "/api/tenant/devices?pageSize=10&page=0", "", {}, &key_b_).body,
                    "totalElements"),
            0);
  // Still there for A.
  EXPECT_EQ(Call("GET", "/api/device/" + device).status, 200);
}

TEST_F(AdminApiTest, RoutingErrors) {
  HttpResponse unknown = Call("GET", "/api/nothing/here");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(JsonInt(unknown.body, "status"), 404);
  EXPECT_EQ(Call("GET", "/index.html").status, 404);
  EXPECT_EQ(Call("GET", "/api/otaPackage/").status, 404);

  HttpResponse method = Call("PUT", "/api/otaPackage/123e4567-e89b-12d3-a456-426614174000");
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(HeaderOf(method, "Allow"), "GET, POST, DELETE");
  EXPECT_EQ(JsonInt(method.body, "status"), 405);
  EXPECT_EQ(HeaderOf(Call("GET", "/api/otaPackage"), "Allow"), "POST");
  EXPECT_EQ(Call("DELETE", "/api/otaPackages").status, 405);
  EXPECT_EQ(Call("POST", "/api/v1/TOKEN/firmware").status, 405);
}

TEST_F(AdminApiTest, InvalidUuidsAnswer400) {
  for (const std::string& target :
       {std::string("/api/otaPackage/info/not-a-uuid"), std::string("/api/otaPackage/123"),
        std::string("/api/device/123e4567-e89b-12d3-a456-42661417400g"),
        std::string("/api/device/123e4567e89b12d3a456426614174000abcd/credentials"),
        std::string("/api/deviceProfile/.."),
        std::string("/api/otaPackage/123e4567-e89b-12d3-a456-4266141740001/download")}) {
    HttpResponse r = Call("GET", target);
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_THAT(JsonText(r.body, "message"), StartsWith("Invalid UUID string: ")) << target;
  }
  HttpResponse r = Call("GET", "/api/otaPackage/info/xyz");
  EXPECT_EQ(JsonText(r.body, "message"), "Invalid UUID string: xyz");
  // Upper case is a UUID too (and finds the lowercase id).
  const std::string profile = CreateProfile("p");
  EXPECT_EQ(Call("GET", "/api/deviceProfile/" + absl::AsciiStrToUpper(profile)).status, 200);
  // Ids in bodies are checked the same way.
  HttpResponse body = Call("POST", "/api/device", R"({"name":"d","deviceProfileId":"p-1"})");
  EXPECT_EQ(body.status, 400);
  EXPECT_EQ(JsonText(body.body, "message"), "Invalid UUID string: p-1");
  HttpResponse explain = Call("GET", "/api/explain?deviceId=abc");
  EXPECT_EQ(explain.status, 400);
  EXPECT_EQ(JsonText(explain.body, "message"), "Invalid UUID string: abc");
  // Unknown (well-formed) ids are 404.
  EXPECT_EQ(Call("GET", "/api/otaPackage/info/123e4567-e89b-12d3-a456-426614174000").status, 404);
}

TEST_F(AdminApiTest, BadJsonAndOversizedBodies) {
  HttpResponse bad = Call("POST", "/api/deviceProfile", R"({"name":)");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(JsonText(bad.body, "message"), StartsWith("Invalid JSON"));
  EXPECT_EQ(Call("POST", "/api/deviceProfile", "").status, 400);
  EXPECT_EQ(Call("POST", "/api/deviceProfile", "[1,2]").status, 400);
  EXPECT_EQ(Call("POST", "/api/deviceProfile", R"({"name":5})").status, 400);
  EXPECT_EQ(Call("POST", "/api/device", R"({"name":"d","firmwareId":{"id":7}})").status, 400);

  const std::string big = absl::StrCat(R"({"name":"p","description":")",
                                       std::string(api_options_.max_json_body, 'x'), R"("})");
  HttpResponse too_big = Call("POST", "/api/deviceProfile", big);
  EXPECT_EQ(too_big.status, 413);
  EXPECT_THAT(JsonText(too_big.body, "message"), HasSubstr("4096"));
  // Without a Content-Length (chunked) the limit holds while reading.
  std::unique_ptr<ByteSource> source = NewStringSource(big);
  HttpResponse chunked = CallWith("POST", "/api/deviceProfile", *source, {}, -1);
  EXPECT_EQ(chunked.status, 413);
  // The profile was not created.
  EXPECT_EQ(JsonInt(Call("GET", "/api/deviceProfiles?pageSize=10&page=0").body, "totalElements"), 0);
}

TEST_F(AdminApiTest, PagingParametersAreRequiredAndChecked) {
  for (const std::string query :
       {"", "?pageSize=10", "?page=0", "?pageSize=abc&page=0", "?pageSize=10&page=x",
        "?pageSize=-1&page=0", "?pageSize=0&page=0", "?pageSize=10&page=-1",
        "?pageSize=99999999999&page=0", "?pageSize=10&page=0&sortProperty=color",
        "?pageSize=10&page=0&sortOrder=UP"}) {
    HttpResponse r = Call("GET", "/api/otaPackages" + query);
    EXPECT_EQ(r.status, 400) << query << " " << r.body;
    EXPECT_EQ(JsonInt(r.body, "errorCode"), 31) << query;
  }
  EXPECT_EQ(JsonText(Call("GET", "/api/otaPackages?page=0").body, "message"),
            "Required request parameter 'pageSize' is not present");
  EXPECT_EQ(JsonText(Call("GET", "/api/otaPackages?pageSize=0&page=0").body, "message"),
            "Page size must be greater than zero!");
  EXPECT_EQ(Call("GET", "/api/tenant/devices?pageSize=10").status, 400);
  EXPECT_EQ(Call("GET", "/api/deviceProfiles?page=1").status, 400);
  EXPECT_EQ(Call("GET", "/api/audit/logs").status, 400);
  // A page far past the end is empty, not an error.
  HttpResponse far = Call("GET", "/api/deviceProfiles?pageSize=2147483647&page=2147483647");
  EXPECT_EQ(far.status, 200) << far.body;
  EXPECT_EQ(JsonText(far.body, "data.0"), "<null>");
}

TEST_F(AdminApiTest, ProfilesAndDevicesPageInTheHandler) {
  const std::string p1 = CreateProfile("alpha");
  CreateProfile("beta");
  CreateProfile("gamma");
  HttpResponse page = Call("GET", "/api/deviceProfiles?pageSize=2&page=1");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(JsonInt(page.body, "totalElements"), 3);
  EXPECT_EQ(JsonInt(page.body, "totalPages"), 2);
  EXPECT_EQ(JsonText(page.body, "hasNext"), "false");
  EXPECT_EQ(JsonText(page.body, "data.0.name"), "gamma");
  EXPECT_EQ(JsonInt(Call("GET", "/api/deviceProfiles?pageSize=10&page=0&textSearch=A").body,
                    "totalElements"),
            3);
  EXPECT_EQ(JsonInt(Call("GET", "/api/deviceProfiles?pageSize=10&page=0&textSearch=mm").body,
                    "totalElements"),
            1);
  for (int i = 0; i < 5; ++i) CreateDevice(absl::StrCat("dev-", i), p1, absl::StrCat("T", i));
  HttpResponse devices = Call("GET", "/api/tenant/devices?pageSize=2&page=0");
  EXPECT_EQ(JsonInt(devices.body, "totalPages"), 3);
  EXPECT_EQ(JsonText(devices.body, "hasNext"), "true");
  EXPECT_EQ(JsonText(devices.body, "data.1.name"), "dev-1");
}

TEST_F(AdminApiTest, DeviceCreateUsesTypeAsProfileNameAndRollsBackFailedAssignment) {
  const std::string profile = CreateProfile("sensors");
  const std::string other = CreateProfile("gateways");
  // ThingsBoard's "type" is the profile name.
  HttpResponse by_type = Call("POST", "/api/device", R"({"name":"s-1","type":"sensors"})");
  ASSERT_EQ(by_type.status, 200) << by_type.body;
  EXPECT_EQ(JsonText(by_type.body, "deviceProfileId.id"), profile);
  EXPECT_EQ(JsonText(by_type.body, "type"), "default");

  // A package of another profile: refused, and the new device is not left behind.
  const std::string package = CreatePackageInfo("gw", "1", other);
  ASSERT_EQ(UploadMultipart(package, "bytes").status, 200);
  HttpResponse refused = Call(
      "POST", "/api/device",
      absl::StrCat(R"({"name":"s-2","deviceProfileId":")", profile, R"(","firmwareId":")",
                   package, R"("})"));
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(JsonText(refused.body, "message"),
            "Can't assign firmware with different deviceProfile!");
  EXPECT_EQ(JsonInt(Call("GET", "/api/tenant/devices?pageSize=10&page=0&textSearch=s-2").body,
                    "totalElements"),
            0);
  // A device of the right profile with the assignment in one request.
  HttpResponse ok = Call(
      "POST", "/api/device?accessToken=GW_TOKEN",
      absl::StrCat(R"({"name":"g-1","deviceProfileId":")", other, R"(","firmwareId":")",
                   package, R"("})"));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(JsonText(ok.body, "firmwareId.id"), package);
  EXPECT_EQ(JsonText(Call("GET", "/api/device/" + JsonText(ok.body, "id.id") + "/credentials").body,
                     "credentialsId"),
            "GW_TOKEN");
  // Duplicate token and name.
  EXPECT_EQ(Call("POST", "/api/device?accessToken=GW_TOKEN",
                 absl::StrCat(R"({"name":"g-2","deviceProfileId":")", other, R"("})"))
                .status,
            400);
  EXPECT_EQ(JsonText(Call("POST", "/api/device",
                          absl::StrCat(R"({"name":"g-1","deviceProfileId":")", other, R"("})"))
                         .body,
                     "message"),
            "Device with such name already exists!");
  // What the service cannot change is refused, not dropped.
  EXPECT_EQ(Call("POST", "/api/device",
                 absl::StrCat(R"({"id":")", JsonText(ok.body, "id.id"), R"(","name":"renamed"})"))
                .status,
            400);
}

TEST_F(AdminApiTest, PlainBodyUploads) {
  const std::string profile = CreateProfile("p");
  const std::string a = CreatePackageInfo("a", "1", profile);
  const std::string data = RandomBytes(5000, 7);
  HttpResponse by_query = Call("POST", "/api/otaPackage/" + a + "?checksumAlgorithm=MD5&fileName=a.img",
                               data, {{"Content-Type", "application/x-binary"}});
  ASSERT_EQ(by_query.status, 200) << by_query.body;
  EXPECT_EQ(JsonText(by_query.body, "fileName"), "a.img");
  EXPECT_EQ(JsonText(by_query.body, "contentType"), "application/x-binary");
  EXPECT_EQ(JsonText(by_query.body, "checksum"), ChecksumText(::fwota::v1::MD5, data));

  const std::string b = CreatePackageInfo("b", "1", profile);
  HttpResponse by_header = Call("POST", "/api/otaPackage/" + b + "?checksumAlgorithm=SHA256",
                                data, {{"x-filename", "b.bin"}});
  ASSERT_EQ(by_header.status, 200) << by_header.body;
  EXPECT_EQ(JsonText(by_header.body, "fileName"), "b.bin");
  EXPECT_EQ(JsonText(by_header.body, "contentType"), "application/octet-stream");

  const std::string c = CreatePackageInfo("c", "1", profile);
  HttpResponse by_default = Call("POST", "/api/otaPackage/" + c, data,
                                 {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(by_default.status, 200) << by_default.body;
  EXPECT_EQ(JsonText(by_default.body, "fileName"), "firmware.bin");
  EXPECT_EQ(JsonText(by_default.body, "checksumAlgorithm"), "SHA256");
  EXPECT_EQ(JsonText(by_default.body, "contentType"), "application/octet-stream");

  // Data once only; unknown algorithm; empty body.
  HttpResponse again = Call("POST", "/api/otaPackage/" + c, data);
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(JsonText(again.body, "message"), "Updating otaPackage data is prohibited!");
  const std::string d = CreatePackageInfo("d", "1", profile);
  EXPECT_EQ(Call("POST", "/api/otaPackage/" + d + "?checksumAlgorithm=SHA1", data).status, 400);
  HttpResponse empty = Call("POST", "/api/otaPackage/" + d, "");
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(JsonText(empty.body, "message"), "OtaPackage data should be specified!");
  // A client that goes away mid-body: its error, nothing stored.
  FailingSource failing(RandomBytes(10000, 3));
  HttpResponse dropped = CallWith("POST", "/api/otaPackage/" + d, failing, {}, 20000);
  EXPECT_EQ(dropped.status, 503);
  EXPECT_EQ(JsonText(Call("GET", "/api/otaPackage/info/" + d).body, "hasData"), "false");
}

TEST_F(AdminApiTest, UploadsOverTheServiceLimitAre413AndStoreNothing) {
  const std::string profile = CreateProfile("p");
  const std::string id = CreatePackageInfo("big", "1", profile);
  const std::string data(kMaxPackageSize + 1, 'x');
  // Plain: refused by Content-Length before reading.
  HttpResponse plain = Call("POST", "/api/otaPackage/" + id, data);
  EXPECT_EQ(plain.status, 413);
  EXPECT_THAT(JsonText(plain.body, "message"), HasSubstr("exceeds the limit"));
  // Plain without a Content-Length: refused while streaming.
  std::unique_ptr<ByteSource> source = NewStringSource(data);
  HttpResponse chunked = CallWith("POST", "/api/otaPackage/" + id, *source, {}, -1);
  EXPECT_EQ(chunked.status, 413);
  // Multipart.
  HttpResponse multipart = UploadMultipart(id, data);
  EXPECT_EQ(multipart.status, 413);
  EXPECT_EQ(JsonInt(multipart.body, "errorCode"), 31);
  EXPECT_EQ(JsonText(Call("GET", "/api/otaPackage/info/" + id).body, "hasData"), "false");
  // Exactly the limit is fine.
  HttpResponse at_limit = UploadMultipart(id, std::string(kMaxPackageSize, 'y'));
  EXPECT_EQ(at_limit.status, 200) << at_limit.body;
}

TEST_F(AdminApiTest, MalformedMultipartUploadsAre400AndStoreNothing) {
  const std::string profile = CreateProfile("p");
  const std::string id = CreatePackageInfo("fw", "1", profile);
  const std::string boundary = "XyZ";
  const Headers multipart = {{"Content-Type", "multipart/form-data; boundary=XyZ"}};
  const std::string target = "/api/otaPackage/" + id + "?checksumAlgorithm=SHA256";
  const std::string good = MultipartBody(boundary, "f.bin", "payload");

  // Truncated: the final boundary is missing.
  HttpResponse truncated = Call("POST", target, good.substr(0, good.size() - 9), multipart);
  EXPECT_EQ(truncated.status, 400);
  EXPECT_THAT(JsonText(truncated.body, "message"), StartsWith("Malformed multipart body"));
  // Cut inside the content.
  EXPECT_EQ(Call("POST", target, good.substr(0, good.size() - 20), multipart).status, 400);
  // No boundary at all.
  HttpResponse garbage = Call("POST", target, "just some bytes", multipart);
  EXPECT_EQ(garbage.status, 400);
  EXPECT_THAT(JsonText(garbage.body, "message"), StartsWith("Malformed multipart body"));
  // No boundary parameter.
  HttpResponse no_param =
      Call("POST", target, good, {{"Content-Type", "multipart/form-data"}});
  EXPECT_EQ(no_param.status, 400);
  EXPECT_THAT(JsonText(no_param.body, "message"), StartsWith("Malformed multipart body"));
  // No `file` part.
  HttpResponse no_file = Call(
      "POST", target,
      "--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nvalue\r\n--XyZ--\r\n",
      multipart);
  EXPECT_EQ(no_file.status, 400);
  EXPECT_EQ(JsonText(no_file.body, "message"), "Required request part 'file' is not present");
  // Too much besides the file.
  HttpResponse envelope = Call(
      "POST", target,
      absl::StrCat("--XyZ\r\nContent-Disposition: form-data; name=\"junk\"\r\n\r\n",
                   std::string(api_options_.max_multipart_overhead, 'j'), "\r\n", good),
      multipart);
  EXPECT_EQ(envelope.status, 413);
  EXPECT_EQ(JsonText(Call("GET", "/api/otaPackage/info/" + id).body, "hasData"), "false");

  // The same body, complete and arriving a few bytes at a time, works (quoted boundary,
  // preamble, an extra part on each side).
  TrickleSource trickle(absl::StrCat(
      "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n",
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.bin\"\r\n",
      "Content-Type: application/x-firmware\r\n\r\n", "payload\r\n",
      "--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n--XyZ--\r\nepilogue"),
      {1, 2, 3, 4, 5, 6, 7});
  HttpResponse slow = CallWith("POST", target, trickle,
                               {{"Content-Type", "multipart/form-data; boundary=\"XyZ\""}}, -1);
  ASSERT_EQ(slow.status, 200) << slow.body;
  EXPECT_EQ(JsonText(slow.body, "fileName"), "slow.bin");
  EXPECT_EQ(JsonText(slow.body, "contentType"), "application/x-firmware");
  EXPECT_EQ(JsonInt(slow.body, "dataSize"), 7);
  EXPECT_EQ(JsonText(slow.body, "checksum"), ChecksumText(::fwota::v1::SHA256, "payload"));
}

TEST_F(AdminApiTest, AnExceptionBecomes500) {
  class ThrowingSource : public ByteSource {
   public:
    absl::StatusOr<size_t> Read(absl::Span<char>) override {
      throw std::runtime_error("boom");
    }
  };
  ThrowingSource throwing;
  HttpResponse r = CallWith("POST", "/api/deviceProfile", throwing, {}, 10);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(JsonText(r.body, "message"), "Internal server error");
  EXPECT_EQ(JsonInt(r.body, "errorCode"), 2);
}

TEST_F(AdminApiTest, StatsAndDevicesInAState) {
  SetUpAssignedFirmware("firmware bytes");
  HttpResponse stats = Call("GET", "/api/ota/stats?type=FIRMWARE");
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_EQ(JsonInt(stats.body, "QUEUED"), 1);
  EXPECT_EQ(JsonInt(stats.body, "waiting"), 1);
  EXPECT_EQ(JsonInt(stats.body, "updating"), 0);
  ASSERT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry", R"({"fw_state":"DOWNLOADING"})").status,
            200);
  stats = Call("GET", "/api/ota/stats");
  EXPECT_EQ(JsonInt(stats.body, "waiting"), 0);
  EXPECT_EQ(JsonInt(stats.body, "updating"), 1);
  EXPECT_EQ(JsonInt(stats.body, "DOWNLOADING"), 1);
  EXPECT_EQ(JsonInt(Call("GET", "/api/ota/stats?type=SOFTWARE").body, "updating"), 0);

  HttpResponse devices =
      Call("GET", "/api/ota/devices?type=FIRMWARE&state=DOWNLOADING&pageSize=10&page=0");
  ASSERT_EQ(devices.status, 200) << devices.body;
  EXPECT_EQ(JsonInt(devices.body, "totalElements"), 1);
  EXPECT_EQ(JsonText(devices.body, "data.0.deviceId.id"), device_id_);
  EXPECT_EQ(JsonText(devices.body, "data.0.deviceName"), "t-1");
  EXPECT_EQ(JsonInt(Call("GET", "/api/ota/devices?state=FAILED&pageSize=10&page=0").body,
                    "totalElements"),
            0);
  EXPECT_EQ(Call("GET", "/api/ota/devices?state=BOGUS&pageSize=10&page=0").status, 400);
  EXPECT_EQ(Call("GET", "/api/ota/devices?pageSize=-1&page=0").status, 400);
  EXPECT_EQ(Call("GET", "/api/ota/stats?type=BIOS").status, 400);
}

TEST_F(AdminApiTest, ExplainStatusAndHistoryRoutes) {
  SetUpAssignedFirmware("firmware bytes");
  HttpResponse explain = Call("GET", "/api/explain?deviceId=" + device_id_);
  ASSERT_EQ(explain.status, 200) << explain.body;
  EXPECT_EQ(JsonText(explain.body, "source"), "device_override");
  EXPECT_EQ(JsonText(explain.body, "package.id.id"), package_id_);
  HttpResponse sw = Call("GET", "/api/explain?deviceId=" + device_id_ + "&type=SOFTWARE");
  EXPECT_EQ(JsonText(sw.body, "source"), "none");
  EXPECT_EQ(Call("GET", "/api/explain").status, 400);
  EXPECT_EQ(Call("GET", "/api/explain?deviceId=" + device_id_ + "&type=BIOS").status, 400);

  // The assignment queued the device; no report yet.
  HttpResponse queued = Call("GET", "/api/device/" + device_id_ + "/otaStatus");
  ASSERT_EQ(queued.status, 200) << queued.body;
  EXPECT_EQ(JsonText(queued.body, "state"), "QUEUED");
  EXPECT_EQ(Call("GET", "/api/device/" + device_id_ + "/otaStatus?type=SOFTWARE").status, 404);
  SetFirmwareTarget();
  ASSERT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry",
                   R"({"fw_state":"DOWNLOADING","current_fw_title":"fw","current_fw_version":"0.9"})")
                .status,
            200);
  HttpResponse status = Call("GET", "/api/device/" + device_id_ + "/otaStatus?type=FIRMWARE");
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(JsonText(status.body, "state"), "DOWNLOADING");
  EXPECT_EQ(JsonInt(status.body, "progress"), 10);
  EXPECT_EQ(JsonText(status.body, "currentVersion"), "0.9");
  EXPECT_EQ(JsonText(status.body, "deviceId.id"), device_id_);
  EXPECT_GT(JsonInt(status.body, "stateSince"), 0);
  HttpResponse history =
      Call("GET", "/api/device/" + device_id_ + "/otaHistory?type=FIRMWARE&pageSize=10&page=0");
  ASSERT_EQ(history.status, 200) << history.body;
  EXPECT_EQ(JsonInt(history.body, "totalElements"), 2);  // QUEUED by the assignment
  EXPECT_EQ(JsonText(history.body, "data.0.state"), "DOWNLOADING");
  EXPECT_EQ(JsonText(history.body, "data.0.source"), "device");
  EXPECT_EQ(JsonText(history.body, "data.1.state"), "QUEUED");
  EXPECT_EQ(JsonText(history.body, "data.1.source"), "server");
  EXPECT_EQ(Call("GET", "/api/device/" + device_id_ + "/otaHistory").status, 400);
  EXPECT_EQ(Call("GET", "/api/device/" + device_id_ + "/otaStatus", "", {}, &key_b_).status, 403);
}

}  // namespace
}  // namespace fwota::http::testing
