#include "adapters/common/tb_json.h"

#include <string>

#include "gtest/gtest.h"

namespace fwota::adapters {
namespace {

constexpr char kTenantId[] = "11111111-1111-1111-1111-111111111111";
constexpr char kProfileId[] = "22222222-2222-2222-2222-222222222222";
constexpr char kDeviceId[] = "33333333-3333-3333-3333-333333333333";
constexpr char kPackageId[] = "44444444-4444-4444-4444-444444444444";

OtaPackage UploadedPackage() {
  OtaPackage p;
  p.set_id(kPackageId);
  p.set_tenant_id(kTenantId);
  p.set_device_profile_id(kProfileId);
  p.set_type(::fwota::v1::FIRMWARE);
  p.set_title("fw");
  p.set_version("1.0");
  p.set_tag("fw 1.0");
  p.set_has_data(true);
  p.set_file_name("fw.bin");
  p.set_content_type("application/octet-stream");
  p.set_checksum_algorithm(::fwota::v1::SHA256);
  p.set_checksum("4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a");
  p.set_data_size(1);
  p.set_sha256(p.checksum());
  p.set_additional_info_json(R"({"description":"first"})");
  p.set_created_time(1700000000000);
  return p;
}

Device TestDevice() {
  Device d;
  d.set_id(kDeviceId);
  d.set_tenant_id(kTenantId);
  d.set_device_profile_id(kProfileId);
  d.set_name("dev-1");
  d.set_type("default");
  d.set_access_token("A1_TEST_TOKEN");
  d.set_created_time(1700000000001);
  return d;
}

TEST(TbJsonTest, PackageWithData) {
  EXPECT_EQ(
      PackageJson(UploadedPackage()),
      R"({"id":{"entityType":"OTA_PACKAGE","id":"44444444-4444-4444-4444-444444444444"},)"
      R"("createdTime":1700000000000,)"
      R"("tenantId":{"entityType":"TENANT","id":"11111111-1111-1111-1111-111111111111"},)"
      R"("deviceProfileId":{"entityType":"DEVICE_PROFILE","id":"22222222-2222-2222-2222-222222222222"},)"
      R"("type":"FIRMWARE","title":"fw","version":"1.0","tag":"fw 1.0","url":null,)"
      R"("hasData":true,"fileName":"fw.bin","contentType":"application/octet-stream",)"
      R"("checksumAlgorithm":"SHA256",)"
      R"("checksum":"4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a",)"
      R"("dataSize":1,"additionalInfo":{"description":"first"},"name":"fw 1.0"})");
}

TEST(TbJsonTest, UrlPackageHasNullDataFields) {
  OtaPackage p;
  p.set_id(kPackageId);
  p.set_tenant_id(kTenantId);
  p.set_device_profile_id(kProfileId);
  p.set_type(::fwota::v1::SOFTWARE);
  p.set_title("app");
  p.set_version("2");
  p.set_tag("app 2");
  p.set_url("https://example.com/app.bin");
  p.set_additional_info_json("{}");
  p.set_created_time(5);
  EXPECT_EQ(
      PackageJson(p),
      R"({"id":{"entityType":"OTA_PACKAGE","id":"44444444-4444-4444-4444-444444444444"},)"
      R"("createdTime":5,)"
      R"("tenantId":{"entityType":"TENANT","id":"11111111-1111-1111-1111-111111111111"},)"
      R"("deviceProfileId":{"entityType":"DEVICE_PROFILE","id":"22222222-2222-2222-2222-222222222222"},)"
      R"("type":"SOFTWARE","title":"app","version":"2","tag":"app 2",)"
      R"("url":"https://example.com/app.bin","hasData":false,"fileName":null,)"
      R"("contentType":null,"checksumAlgorithm":null,"checksum":null,"dataSize":null,)"
      R"("additionalInfo":{},"name":"app 2"})");
}

TEST(TbJsonTest, PackageWithoutAdditionalInfoWritesNull) {
  OtaPackage p = UploadedPackage();
  p.clear_additional_info_json();
  EXPECT_NE(PackageJson(p).find(R"("additionalInfo":null,)"), std::string::npos);
}

TEST(TbJsonTest, Device) {
  Device d = TestDevice();
  EXPECT_EQ(
      DeviceJson(d),
      R"({"id":{"entityType":"DEVICE","id":"33333333-3333-3333-3333-333333333333"},)"
      R"("createdTime":1700000000001,)"
      R"("tenantId":{"entityType":"TENANT","id":"11111111-1111-1111-1111-111111111111"},)"
      R"("name":"dev-1","type":"default","label":null,)"
      R"("deviceProfileId":{"entityType":"DEVICE_PROFILE","id":"22222222-2222-2222-2222-222222222222"},)"
      R"("firmwareId":null,"softwareId":null,"additionalInfo":null})");
  d.set_firmware_id(kPackageId);
  EXPECT_NE(
      DeviceJson(d).find(
          R"("firmwareId":{"entityType":"OTA_PACKAGE","id":"44444444-4444-4444-4444-444444444444"},"softwareId":null)"),
      std::string::npos);
}

TEST(TbJsonTest, DeviceProfile) {
  DeviceProfile p;
  p.set_id(kProfileId);
  p.set_tenant_id(kTenantId);
  p.set_name("thermostats");
  p.set_created_time(7);
  p.set_software_id(kPackageId);
  EXPECT_EQ(
      DeviceProfileJson(p),
      R"({"id":{"entityType":"DEVICE_PROFILE","id":"22222222-2222-2222-2222-222222222222"},)"
      R"("createdTime":7,)"
      R"("tenantId":{"entityType":"TENANT","id":"11111111-1111-1111-1111-111111111111"},)"
      R"("name":"thermostats","description":null,"default":false,"type":"DEFAULT",)"
      R"("transportType":"DEFAULT","provisionType":"DISABLED","firmwareId":null,)"
      R"("softwareId":{"entityType":"OTA_PACKAGE","id":"44444444-4444-4444-4444-444444444444"}})");
  p.set_description("living room");
  EXPECT_NE(DeviceProfileJson(p).find(R"("description":"living room")"), std::string::npos);
}

TEST(TbJsonTest, DeviceCredentials) {
  const std::string credentials_id = CredentialsIdFor(kDeviceId);
  EXPECT_EQ(DeviceCredentialsJson(TestDevice()),
            R"({"id":{"entityType":"DEVICE_CREDENTIALS","id":")" + credentials_id +
                R"("},"createdTime":1700000000001,)"
                R"("deviceId":{"entityType":"DEVICE","id":"33333333-3333-3333-3333-333333333333"},)"
                R"("credentialsType":"ACCESS_TOKEN","credentialsId":"A1_TEST_TOKEN",)"
                R"("credentialsValue":null})");
}

TEST(TbJsonTest, CredentialsIdIsAStableUuid) {
  const std::string id = CredentialsIdFor(kDeviceId);
  EXPECT_EQ(id, CredentialsIdFor(kDeviceId));
  EXPECT_NE(id, CredentialsIdFor(kPackageId));
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[8], '-');
  EXPECT_EQ(id[13], '-');
  EXPECT_EQ(id[14], '5');
  EXPECT_EQ(id[18], '-');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
  EXPECT_EQ(id[23], '-');
  EXPECT_NE(id, kDeviceId);
}

TEST(TbJsonTest, Tenant) {
  Tenant t;
  t.set_id(kTenantId);
  t.set_name("default");
  t.set_created_time(3);
  EXPECT_EQ(TenantJson(t),
            R"({"id":{"entityType":"TENANT","id":"11111111-1111-1111-1111-111111111111"},)"
            R"("createdTime":3,"title":"default","name":"default"})");
}

TEST(TbJsonTest, AuditEvent) {
  AuditEvent e;
  e.set_id("55555555-5555-5555-5555-555555555555");
  e.set_tenant_id(kTenantId);
  e.set_entity_type("OTA_PACKAGE");
  e.set_entity_id(kPackageId);
  e.set_entity_name("fw 1.0");
  e.set_user_name("alice");
  e.set_action_type(::fwota::v1::DELETED);
  e.set_action_status(::fwota::v1::FAILURE);
  e.set_action_data_json("{}");
  e.set_failure_details("The otaPackage referenced by the devices cannot be deleted!");
  e.set_created_time(9);
  EXPECT_EQ(
      AuditEventJson(e),
      R"({"id":{"entityType":"AUDIT_LOG","id":"55555555-5555-5555-5555-555555555555"},)"
      R"("createdTime":9,)"
      R"("tenantId":{"entityType":"TENANT","id":"11111111-1111-1111-1111-111111111111"},)"
      R"("entityId":{"entityType":"OTA_PACKAGE","id":"44444444-4444-4444-4444-444444444444"},)"
      R"("entityName":"fw 1.0","userName":"alice","actionType":"DELETED","actionData":{},)"
      R"("actionStatus":"FAILURE",)"
      R"("actionFailureDetails":"The otaPackage referenced by the devices cannot be deleted!"})");

  e.set_action_type(::fwota::v1::ASSIGNED);
  e.set_action_status(::fwota::v1::SUCCESS);
  e.clear_failure_details();
  e.set_action_data_json(R"({"type":"FIRMWARE","otaPackageId":null})");
  const std::string json = AuditEventJson(e);
  EXPECT_NE(json.find(R"("actionType":"ASSIGNED","actionData":{"type":"FIRMWARE","otaPackageId":null},"actionStatus":"SUCCESS","actionFailureDetails":null})"),
            std::string::npos)
      << json;
  e.clear_action_data_json();
  EXPECT_NE(AuditEventJson(e).find(R"("actionData":{},)"), std::string::npos);
}

TEST(TbJsonTest, PageData) {
  Page<Tenant> page;
  Tenant t;
  t.set_id("a");
  t.set_name("x");
  page.data = {t, t};
  page.total_elements = 5;
  page.total_pages = 3;
  page.has_next = true;
  JsonWriter w;
  WritePage<Tenant>(w, page, WriteTenant);
  EXPECT_EQ(w.str(),
            R"({"data":[{"id":{"entityType":"TENANT","id":"a"},"createdTime":0,"title":"x","name":"x"},)"
            R"({"id":{"entityType":"TENANT","id":"a"},"createdTime":0,"title":"x","name":"x"}],)"
            R"("totalPages":3,"totalElements":5,"hasNext":true})");
}

TEST(TbJsonTest, EmptySinglePage) {
  JsonWriter w;
  WritePage<Device>(w, SinglePage<Device>({}), WriteDevice);
  EXPECT_EQ(w.str(), R"({"data":[],"totalPages":0,"totalElements":0,"hasNext":false})");
  Page<Device> one = SinglePage<Device>({TestDevice()});
  EXPECT_EQ(one.total_pages, 1);
  EXPECT_EQ(one.total_elements, 1);
  EXPECT_FALSE(one.has_next);
}

TEST(TbJsonTest, ExplanationWithAndWithoutPackage) {
  Explanation x;
  x.device = TestDevice();
  x.type = ::fwota::v1::FIRMWARE;
  x.source = Explanation::Source::kNone;
  x.reason = "nothing assigned";
  EXPECT_EQ(
      ExplanationJson(x),
      R"({"deviceId":{"entityType":"DEVICE","id":"33333333-3333-3333-3333-333333333333"},)"
      R"("deviceName":"dev-1","type":"FIRMWARE","source":"none","package":null,)"
      R"("reason":"nothing assigned"})");
  x.source = Explanation::Source::kProfileDefault;
  x.package = UploadedPackage();
  x.reason = "profile";
  const std::string json = ExplanationJson(x);
  EXPECT_EQ(json, R"({"deviceId":{"entityType":"DEVICE","id":"33333333-3333-3333-3333-333333333333"},)"
                  R"("deviceName":"dev-1","type":"FIRMWARE","source":"profile_default","package":)" +
                      PackageJson(UploadedPackage()) + R"(,"reason":"profile"})");
  x.source = Explanation::Source::kDeviceOverride;
  EXPECT_NE(ExplanationJson(x).find(R"("source":"device_override")"), std::string::npos);
}

TEST(TbJsonTest, ErrorBodies) {
  EXPECT_EQ(ErrorJson(absl::NotFoundError("Requested item wasn't found!"), 1234),
            R"({"status":404,"message":"Requested item wasn't found!","errorCode":32,"timestamp":1234})");
  EXPECT_EQ(ErrorJson(absl::InvalidArgumentError("Wrong otaPackage file!"), 1),
            R"({"status":400,"message":"Wrong otaPackage file!","errorCode":31,"timestamp":1})");
  EXPECT_EQ(ErrorJson(absl::AlreadyExistsError("dup"), 1),
            R"({"status":400,"message":"dup","errorCode":31,"timestamp":1})");
  EXPECT_EQ(ErrorJson(absl::FailedPreconditionError("guard"), 1),
            R"({"status":400,"message":"guard","errorCode":31,"timestamp":1})");
  EXPECT_EQ(ErrorJson(absl::PermissionDeniedError(
                          "You don't have permission to perform this operation!"),
                      1),
            R"({"status":403,"message":"You don't have permission to perform this operation!","errorCode":20,"timestamp":1})");
  EXPECT_EQ(ErrorJson(absl::UnauthenticatedError("bad token"), 1),
            R"({"status":401,"message":"bad token","errorCode":10,"timestamp":1})");
  EXPECT_EQ(ErrorJson(absl::ResourceExhaustedError("too big"), 1),
            R"({"status":413,"message":"too big","errorCode":31,"timestamp":1})");
  EXPECT_EQ(ErrorJson(absl::DataLossError("damaged"), 1),
            R"({"status":500,"message":"damaged","errorCode":2,"timestamp":1})");
  EXPECT_EQ(ErrorJson(absl::UnavailableError("down"), 1),
            R"({"status":503,"message":"down","errorCode":2,"timestamp":1})");
  EXPECT_EQ(ErrorJson(absl::InternalError("oops"), 1),
            R"({"status":500,"message":"oops","errorCode":2,"timestamp":1})");
}

TEST(TbJsonTest, EscapesQuotesBackslashesAndControlCharacters) {
  OtaPackage p = UploadedPackage();
  p.set_title("say \"hi\"\\ \n\t\x01");
  p.set_version("1");
  const std::string json = PackageJson(p);
  EXPECT_NE(json.find(R"("title":"say \"hi\"\\ \n\t\u0001")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("name":"say \"hi\"\\ \n\t\u0001 1")"), std::string::npos) << json;
  EXPECT_EQ(ErrorJson(absl::InvalidArgumentError("a\"b\rc\x1f"), 0),
            R"({"status":400,"message":"a\"b\rc\u001f","errorCode":31,"timestamp":0})");
}

TEST(TbJsonTest, InvalidUtf8BecomesReplacementCharacter) {
  Device d = TestDevice();
  d.set_name(std::string("ok\xff\xc3(") + "\xc3\xa9");  // bad, truncated, then a valid é
  const std::string json = DeviceJson(d);
  EXPECT_NE(json.find("\"name\":\"ok\xef\xbf\xbd\xef\xbf\xbd(\xc3\xa9\""), std::string::npos)
      << json;
}

TEST(TbJsonTest, PackageTypeNames) {
  EXPECT_EQ(PackageTypeName(::fwota::v1::FIRMWARE), "FIRMWARE");
  EXPECT_EQ(PackageTypeName(::fwota::v1::SOFTWARE), "SOFTWARE");
  EXPECT_EQ(PackageTypeName(::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED), "");
  EXPECT_EQ(*ParsePackageType("firmware"), ::fwota::v1::FIRMWARE);
  EXPECT_EQ(*ParsePackageType("SOFTWARE"), ::fwota::v1::SOFTWARE);
  EXPECT_EQ(ParsePackageType("BOOTLOADER").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fwota::adapters
