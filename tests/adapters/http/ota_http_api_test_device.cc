// The device HTTP API through the handler: ThingsBoard's firmware download (whole file,
// chunks), fwota's Range / ETag additions, shared attributes and telemetry.
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "fwota/data_dir.h"
#include "gtest/gtest.h"
#include "tests/adapters/http/ota_http_api_test_util.h"

namespace fwota::http::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr size_t kFileSize = 1000;

class DeviceApiTest : public OtaHttpApiTest {
 protected:
  void SetUp() override {
    OtaHttpApiTest::SetUp();
    data_ = RandomBytes(kFileSize, 42);
    SetUpAssignedFirmware(data_);
  }

  HttpResponse Firmware(const std::string& query, Headers headers = {}) {
    return Device("GET", "/api/v1/DEVICE_TOKEN/firmware?title=fw&version=1.0" + query, "",
                  std::move(headers));
  }

  std::string etag() const { return "\"" + sha256_ + "\""; }

  std::string data_;
};

TEST_F(DeviceApiTest, WholeFileWithThingsBoardHeaders) {
  HttpResponse r = Firmware("");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(BodyOf(r), data_);
  EXPECT_EQ(r.blob.offset, 0);
  EXPECT_EQ(r.blob.length, static_cast<int64_t>(kFileSize));
  EXPECT_EQ(HeaderOf(r, "Content-Disposition"), "attachment;filename=\"fw.bin\"");
  EXPECT_EQ(HeaderOf(r, "x-filename"), "fw.bin");
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/octet-stream");
  EXPECT_EQ(HeaderOf(r, "ETag"), etag());
  EXPECT_EQ(HeaderOf(r, "Accept-Ranges"), "bytes");
  EXPECT_EQ(HeaderOf(r, "Content-Range"), "<none>");
  // size=0 means the whole file, whatever the chunk.
  EXPECT_EQ(BodyOf(Firmware("&size=0&chunk=3")), data_);
}

TEST_F(DeviceApiTest, ChunksIncludingTheLastPartialAndPastTheEnd) {
  std::string joined;
  for (int chunk = 0; chunk < 4; ++chunk) {
    HttpResponse r = Firmware(absl::StrCat("&size=300&chunk=", chunk));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(HeaderOf(r, "ETag"), etag());
    EXPECT_EQ(HeaderOf(r, "Accept-Ranges"), "bytes");
    EXPECT_EQ(HeaderOf(r, "x-filename"), "fw.bin");
    const std::string body = BodyOf(r);
    EXPECT_EQ(body.size(), chunk < 3 ? 300u : 100u) << chunk;
    joined += body;
  }
  EXPECT_EQ(joined, data_);
  for (const std::string& past :
       {std::string("&size=300&chunk=4"), std::string("&size=1000&chunk=1"),
        std::string("&size=1&chunk=1000"),
        std::string("&size=65536&chunk=9223372036854775807"),
        std::string("&size=2&chunk=4611686018427387904"),
        std::string("&size=65536&chunk=140737488355328")}) {
    HttpResponse r = Firmware(past);
    EXPECT_EQ(r.status, 200) << past;
    EXPECT_EQ(r.blob.reader, nullptr) << past;
    EXPECT_EQ(BodyOf(r), "") << past;
  }
  EXPECT_EQ(BodyOf(Firmware("&size=1&chunk=999")), data_.substr(999));
}

TEST_F(DeviceApiTest, BadSizeAndChunkParameters) {
  for (const std::string query :
       {"&size=-1", "&chunk=-1", "&size=abc", "&size=10&chunk=1x", "&size=1.5",
        "&size=99999999999999999999", "&chunk=-9223372036854775808", "&size=+"}) {
    HttpResponse r = Firmware(query);
    EXPECT_EQ(r.status, 400) << query << " " << r.body;
    EXPECT_EQ(JsonInt(r.body, "errorCode"), 31) << query;
  }
  HttpResponse big = Firmware("&size=65537");
  EXPECT_EQ(big.status, 400);
  EXPECT_THAT(JsonText(big.body, "message"), HasSubstr("65536"));
  EXPECT_EQ(Firmware("&size=65536").status, 200);
  EXPECT_EQ(Firmware("&size=%2B10").status, 200);  // "+10" is a number
}

TEST_F(DeviceApiTest, TitleAndVersionAreRequiredAndChecked) {
  HttpResponse no_title = Device("GET", "/api/v1/DEVICE_TOKEN/firmware?version=1.0");
  EXPECT_EQ(no_title.status, 400);
  EXPECT_EQ(JsonText(no_title.body, "message"),
            "Required request parameter 'title' is not present");
  EXPECT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/firmware?title=fw").status, 400);
  HttpResponse mismatch = Device("GET", "/api/v1/DEVICE_TOKEN/firmware?title=fw&version=2.0");
  EXPECT_EQ(mismatch.status, 400);
  EXPECT_THAT(JsonText(mismatch.body, "message"), HasSubstr("does not match"));
  EXPECT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/firmware?title=other&version=1.0").status, 400);
}

TEST_F(DeviceApiTest, UnknownTokenNothingAssignedAndUrlPackages) {
  HttpResponse unknown = Device("GET", "/api/v1/NOPE/firmware?title=fw&version=1.0");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(JsonInt(unknown.body, "errorCode"), 10);
  // Nothing of type SOFTWARE assigned.
  EXPECT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/software?title=fw&version=1.0").status, 404);
  // A device of the same profile without an override gets the profile's (none): 404.
  CreateDevice("t-2", profile_id_, "TOKEN_2");
  EXPECT_EQ(Device("GET", "/api/v1/TOKEN_2/firmware?title=fw&version=1.0").status, 404);
  // A URL package: 404.
  HttpResponse url = Call(
      "POST", "/api/otaPackage",
      absl::StrCat(R"({"title":"remote","version":"1","type":"SOFTWARE","url":"http://x/y",)",
                   R"("deviceProfileId":")", profile_id_, R"("})"));
  ASSERT_EQ(url.status, 200) << url.body;
  ASSERT_EQ(Call("POST", "/api/device",
                 absl::StrCat(R"({"id":")", device_id_, R"(","softwareId":")",
                              JsonText(url.body, "id.id"), R"("})"))
                .status,
            200);
  EXPECT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/software?title=remote&version=1").status, 404);
  // Software downloads work like firmware.
  const std::string sw = CreatePackageInfo("agent", "2", profile_id_, "SOFTWARE");
  ASSERT_EQ(UploadMultipart(sw, "software bytes", "", "agent.tar").status, 200);
  ASSERT_EQ(Call("POST", "/api/deviceProfile",
                 absl::StrCat(R"({"id":")", profile_id_, R"(","softwareId":")", sw, R"("})"))
                .status,
            200);
  HttpResponse software = Device("GET", "/api/v1/TOKEN_2/software?title=agent&version=2");
  ASSERT_EQ(software.status, 200) << software.body;
  EXPECT_EQ(BodyOf(software), "software bytes");
  EXPECT_EQ(HeaderOf(software, "x-filename"), "agent.tar");
}

TEST_F(DeviceApiTest, RangeRequests) {
  struct Case {
    std::string range;
    int64_t first, last;
  };
  for (const Case& c : std::vector<Case>{{"bytes=0-9", 0, 9},
                                         {"bytes=10-", 10, 999},
                                         {"bytes=-5", 995, 999},
                                         {"bytes=990-5000", 990, 999},
                                         {"bytes=-5000", 0, 999},
                                         {"BYTES = 999-999", 999, 999},
                                         {"bytes=0-99999999999999999999", 0, 999}}) {
    HttpResponse r = Firmware("", {{"Range", c.range}});
    ASSERT_EQ(r.status, 206) << c.range;
    EXPECT_EQ(HeaderOf(r, "Content-Range"), absl::StrCat("bytes ", c.first, "-", c.last, "/1000"))
        << c.range;
    EXPECT_EQ(BodyOf(r), data_.substr(c.first, c.last - c.first + 1)) << c.range;
    EXPECT_EQ(HeaderOf(r, "ETag"), etag());
    EXPECT_EQ(HeaderOf(r, "x-filename"), "fw.bin");
  }
  for (const std::string unsatisfiable :
       {"bytes=1000-", "bytes=1000-2000", "bytes=-0", "bytes=99999999999999999999-"}) {
    HttpResponse r = Firmware("", {{"Range", unsatisfiable}});
    EXPECT_EQ(r.status, 416) << unsatisfiable;
    EXPECT_EQ(HeaderOf(r, "Content-Range"), "bytes */1000") << unsatisfiable;
    EXPECT_EQ(r.blob.reader, nullptr);
  }
  // Malformed or several ranges: ignored, the whole file with 200.
  for (const std::string ignored :
       {"bytes=5-2", "items=0-1", "bytes=a-b", "bytes 0-1", "bytes=0-1,5-6", "bytes=", "bytes=-",
        "bytes=--1", "bytes=1-2-3"}) {
    HttpResponse r = Firmware("", {{"Range", ignored}});
    EXPECT_EQ(r.status, 200) << ignored;
    EXPECT_EQ(BodyOf(r), data_) << ignored;
    EXPECT_EQ(HeaderOf(r, "Content-Range"), "<none>") << ignored;
  }
  // ThingsBoard's size/chunk wins over Range.
  HttpResponse both = Firmware("&size=100&chunk=1", {{"Range", "bytes=0-9"}});
  EXPECT_EQ(both.status, 200);
  EXPECT_EQ(BodyOf(both), data_.substr(100, 100));
  // The admin download honours Range too.
  HttpResponse admin = Call("GET", "/api/otaPackage/" + package_id_ + "/download", "",
                            {{"Range", "bytes=-10"}});
  EXPECT_EQ(admin.status, 206);
  EXPECT_EQ(BodyOf(admin), data_.substr(990));
}

TEST_F(DeviceApiTest, ConditionalRequests) {
  HttpResponse resumed = Firmware("", {{"Range", "bytes=500-"}, {"If-Range", etag()}});
  EXPECT_EQ(resumed.status, 206);
  EXPECT_EQ(BodyOf(resumed), data_.substr(500));
  // A changed file (another ETag), a weak tag or a date: the whole file.
  for (const std::string& if_range :
       {std::string("\"0000\""), "W/" + etag(), std::string("Wed, 21 Oct 2015 07:28:00 GMT")}) {
    HttpResponse r = Firmware("", {{"Range", "bytes=500-"}, {"If-Range", if_range}});
    EXPECT_EQ(r.status, 200) << if_range;
    EXPECT_EQ(BodyOf(r), data_) << if_range;
  }
  for (const std::string& none_match :
       {etag(), "W/" + etag(), "\"other\", " + etag(), std::string("*")}) {
    HttpResponse r = Firmware("", {{"If-None-Match", none_match}});
    EXPECT_EQ(r.status, 304) << none_match;
    EXPECT_EQ(r.blob.reader, nullptr);
    EXPECT_EQ(r.body, "");
    EXPECT_EQ(HeaderOf(r, "ETag"), etag());
  }
  EXPECT_EQ(Firmware("", {{"If-None-Match", "\"other\""}}).status, 200);
}

TEST_F(DeviceApiTest, SharedAttributes) {
  HttpResponse all = Device("GET", "/api/v1/DEVICE_TOKEN/attributes");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(HeaderOf(all, "Content-Type"), "application/json");
  EXPECT_EQ(JsonText(all.body, "shared.fw_title"), "fw");
  EXPECT_EQ(JsonText(all.body, "shared.fw_version"), "1.0");
  EXPECT_EQ(JsonText(all.body, "shared.fw_checksum"), sha256_);
  EXPECT_EQ(JsonText(all.body, "shared.fw_checksum_algorithm"), "SHA256");
  EXPECT_EQ(JsonAt(ParseJson(all.body), "shared.fw_size").kind_case(),
            google::protobuf::Value::kNumberValue);
  EXPECT_EQ(JsonInt(all.body, "shared.fw_size"), static_cast<int64_t>(kFileSize));

  HttpResponse some =
      Device("GET", "/api/v1/DEVICE_TOKEN/attributes?sharedKeys=fw_version,%20fw_size,unknown");
  ASSERT_EQ(some.status, 200) << some.body;
  EXPECT_EQ(some.body, R"({"shared":{"fw_version":"1.0","fw_size":1000}})");
  EXPECT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/attributes?sharedKeys=").body, all.body);
  EXPECT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/attributes?clientKeys=a").body, "{}");
  EXPECT_EQ(Device("GET", "/api/v1/DEVICE_TOKEN/attributes?sharedKeys=sw_title").body, "{}");
  EXPECT_EQ(Device("GET", "/api/v1/NOPE/attributes").status, 401);
  EXPECT_EQ(Device("GET", "/api/v1/NOPE/attributes?clientKeys=a").status, 401);
}

TEST_F(DeviceApiTest, TelemetryReportsShowUpInTheHistory) {
  const std::string history_target =
      "/api/device/" + device_id_ + "/otaHistory?type=FIRMWARE&pageSize=20&page=0";
  SetFirmwareTarget();  // no SOFTWARE target: its report is recorded, not accepted
  // Plain key-values, ts/values, and an array of both.
  ASSERT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry",
                   R"({"fw_state":"DOWNLOADING","temperature":21.5})")
                .status,
            200);
  ASSERT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry",
                   R"({"ts":1700000000000,"values":{"fw_state":"DOWNLOADED"}})")
                .status,
            200);
  ASSERT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry",
                   R"([{"fw_state":"VERIFIED"},{"ts":1,"values":{"fw_state":"FAILED",)"
                   R"("fw_error":"flash write failed","sw_state":"UPDATED"}}])")
                .status,
            200);
  HttpResponse history = Call("GET", history_target);
  ASSERT_EQ(history.status, 200) << history.body;
  // Four reports after the QUEUED that the assignment wrote.
  EXPECT_EQ(JsonInt(history.body, "totalElements"), 5);
  EXPECT_EQ(JsonText(history.body, "data.4.state"), "QUEUED");
  EXPECT_EQ(JsonText(history.body, "data.0.state"), "FAILED");
  EXPECT_EQ(JsonText(history.body, "data.0.error"), "flash write failed");
  EXPECT_EQ(JsonText(history.body, "data.3.state"), "DOWNLOADING");
  HttpResponse status = Call("GET", "/api/device/" + device_id_ + "/otaStatus");
  EXPECT_EQ(JsonText(status.body, "state"), "FAILED");
  EXPECT_EQ(JsonText(status.body, "error"), "flash write failed");
  EXPECT_EQ(JsonInt(status.body, "progress"), 99);
  HttpResponse software = Call("GET", "/api/device/" + device_id_ + "/otaStatus?type=SOFTWARE");
  EXPECT_EQ(JsonText(software.body, "state"), "<null>");
  HttpResponse software_history =
      Call("GET", "/api/device/" + device_id_ + "/otaHistory?type=SOFTWARE&pageSize=20&page=0");
  EXPECT_EQ(JsonText(software_history.body, "data.0.state"), "UPDATED");
  EXPECT_EQ(JsonText(software_history.body, "data.0.note"), "no package assigned");

  // Ordinary telemetry only: accepted, nothing recorded.
  EXPECT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry", R"({"temperature":20})").status, 200);
  EXPECT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry", "[]").status, 200);
  EXPECT_EQ(JsonInt(Call("GET", history_target).body, "totalElements"), 5);

  // Malformed, unknown token, too large.
  HttpResponse malformed = Device("POST", "/api/v1/DEVICE_TOKEN/telemetry", R"({"fw_state":)");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_THAT(JsonText(malformed.body, "message"), StartsWith("Malformed telemetry JSON"));
  EXPECT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry", "42").status, 400);
  EXPECT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry", "[1]").status, 400);
  EXPECT_EQ(Device("POST", "/api/v1/DEVICE_TOKEN/telemetry", "").status, 400);
  EXPECT_EQ(Device("POST", "/api/v1/NOPE/telemetry", R"({"fw_state":"UPDATED"})").status, 401);
  HttpResponse big = Device("POST", "/api/v1/DEVICE_TOKEN/telemetry",
                            absl::StrCat(R"({"x":")", std::string(5000, 'x'), R"("})"));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(JsonInt(Call("GET", history_target).body, "totalElements"), 5);
}

// The same mapping over the embedded default: SQLite and blob files in a data directory.
TEST(OtaHttpApiDataDirTest, UploadsAndServesFromFiles) {
  const std::string path =
      absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp", "/ota_http_data_dir");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DataDir> dir, DataDir::Open(path));
  OtaService& service = dir->service();
  ASSERT_OK_AND_ASSIGN(Tenant tenant, service.CreateTenant("t"));
  ASSERT_OK_AND_ASSIGN(NewApiKey key, service.CreateApiKey({tenant.id(), "admin"}, "k"));
  HttpHandler handler = NewOtaHttpApi(service);
  auto call = [&](const std::string& method, const std::string& target, const std::string& body,
                  Headers headers) {
    headers.emplace_back("x-authorization", "Bearer " + key.secret);
    HttpRequest request = MakeRequest(method, target, headers,
                                                      static_cast<int64_t>(body.size()));
    std::unique_ptr<ByteSource> source = NewStringSource(body);
    return handler(request, *source);
  };
  HttpResponse profile = call("POST", "/api/deviceProfile", R"({"name":"p"})", {});
  ASSERT_EQ(profile.status, 200) << profile.body;
  const std::string profile_id = JsonText(profile.body, "id.id");
  HttpResponse package = call(
      "POST", "/api/otaPackage",
      absl::StrCat(R"({"title":"big","version":"1","type":"FIRMWARE","deviceProfileId":")",
                   profile_id, R"("})"),
      {});
  ASSERT_EQ(package.status, 200) << package.body;
  const std::string package_id = JsonText(package.body, "id.id");
  const std::string data = RandomBytes(3 << 20, 11);
  HttpResponse up = call("POST", "/api/otaPackage/" + package_id + "?checksumAlgorithm=CRC32",
                         MultipartBody("b0undary", "big.bin", data),
                         {{"content-type", "multipart/form-data; boundary=b0undary"}});
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(JsonInt(up.body, "dataSize"), 3 << 20);
  HttpResponse device = call(
      "POST", "/api/device?accessToken=FILE_TOKEN",
      absl::StrCat(R"({"name":"d","deviceProfileId":")", profile_id, R"(","firmwareId":")",
                   package_id, R"("})"),
      {});
  ASSERT_EQ(device.status, 200) << device.body;

  HttpRequest request = MakeRequest(
      "GET", "/api/v1/FILE_TOKEN/firmware?title=big&version=1&size=65536&chunk=47",
      {}, -1);
  std::unique_ptr<ByteSource> empty = NewStringSource("");
  HttpResponse chunk = handler(request, *empty);
  ASSERT_EQ(chunk.status, 200) << chunk.body;
  EXPECT_EQ(BodyOf(chunk), data.substr(47 * 65536, 65536));
  // A file-backed reader: the backend may sendfile() it.
  ASSERT_NE(chunk.blob.reader, nullptr);
  EXPECT_TRUE(chunk.blob.reader->PrepareSendFile(chunk.blob.offset, chunk.blob.length).ok());

  request.query.clear();
  ASSERT_TRUE(ParseQuery("title=big&version=1", request.query));
  request.headers["range"] = "bytes=3000000-";
  HttpResponse range = handler(request, *empty);
  ASSERT_EQ(range.status, 206);
  EXPECT_EQ(BodyOf(range), data.substr(3000000));
}

}  // namespace
}  // namespace fwota::http::testing
