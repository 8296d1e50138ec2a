// The HTTP backend with TLS: a self-signed certificate made by the openssl tool, curl -k
// as the client.
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/http/http_server.h"
#include "fwota/blob_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/adapters/http/http_server_test_util.h"
#include "tests/testing/status_matchers.h"

namespace fwota::http {
namespace {

using ::fwota::http::testing::AccessLog;
using ::fwota::http::testing::CountingReader;
using ::fwota::http::testing::Curl;
using ::fwota::http::testing::RawClient;
using ::fwota::http::testing::ReadFile;
using ::fwota::http::testing::Sha256Hex;
using ::fwota::http::testing::TempPath;
using ::fwota::http::testing::TestHandler;
using ::fwota::testing::StatusCodeIs;
using ::testing::HasSubstr;

constexpr size_t kBlobSize = (3 << 20) + 17;
constexpr size_t kUploadSize = 20 << 20;

bool MakeCertificate(const std::string& cert, const std::string& key) {
  const std::string command =
      absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 -keyout ",
                   key, " -out ", cert, " >/dev/null 2>&1");
  return std::system(command.c_str()) == 0;
}

class HttpServerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(MakeCertificate(TempPath("cert.pem"), TempPath("key.pem")));
    blob_bytes_ = new std::string(testing::RandomBytes(kBlobSize, 9));
    blob_key_ = new std::string(Sha256Hex(*blob_bytes_));
    file_store_ = std::move(OpenFileBlobStore(TempPath("tls-blobs"))).value().release();
    auto writer = std::move(file_store_->NewWriter()).value();
    ASSERT_OK(writer->Append(*blob_bytes_));
    ASSERT_OK(writer->Commit(*blob_key_));
    upload_path_ = new std::string(TempPath("tls-upload.bin"));
    upload_bytes_ = new std::string(testing::RandomBytes(kUploadSize, 10));
    ASSERT_TRUE(testing::WriteFile(*upload_path_, *upload_bytes_));
  }

  void StartServer(HttpServerOptions options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    options.tls_certificate_file = TempPath("cert.pem");
    options.tls_private_key_file = TempPath("key.pem");
    options.access_log = log_.Callback();
    handler_.file_blob = std::make_shared<CountingReader>(
        std::shared_ptr<BlobReader>(std::move(file_store_->Open(*blob_key_)).value()));
    auto server = HttpServer::Start(options, handler_.AsHandler());
    ASSERT_OK(server.status());
    server_ = std::move(server).value();
  }

  std::string Url(const std::string& path, const char* scheme = "https") {
    return absl::StrCat(scheme, "://127.0.0.1:", server_->port(), path);
  }

  static std::string* blob_bytes_;
  static std::string* blob_key_;
  static BlobStore* file_store_;
  static std::string* upload_path_;
  static std::string* upload_bytes_;

  TestHandler handler_;
  AccessLog log_;
  std::unique_ptr<HttpServer> server_;
};

std::string* HttpServerTlsTest::blob_bytes_;
std::string* HttpServerTlsTest::blob_key_;
BlobStore* HttpServerTlsTest::file_store_;
std::string* HttpServerTlsTest::upload_path_;
std::string* HttpServerTlsTest::upload_bytes_;

TEST_F(HttpServerTlsTest, ServesHttpsWithKeepAlive) {
  StartServer();
  // Two URLs in one curl run share the connection.
  testing::CurlResult r =
      Curl(absl::StrCat("-k '", Url("/echo/one?q=1"), "' '", Url("/echo/two"), "'"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("path=/echo/one\nquery q=1\n"));
  EXPECT_THAT(r.out, HasSubstr("path=/echo/two\n"));
  ASSERT_TRUE(testing::WaitFor([&] { return log_.Entries().size() >= 2; }, absl::Seconds(10)));
  const auto entries = log_.Entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].remote_address, entries[1].remote_address);
  EXPECT_EQ(entries[1].status, 200);
  // Without -k the self-signed certificate is refused by the client: TLS is real.
  EXPECT_NE(Curl(Url("/echo")).exit_code, 0);
}

TEST_F(HttpServerTlsTest, UploadsAndBlobDownloads) {
  StartServer();
  const std::string want = absl::StrCat(kUploadSize, " ", Sha256Hex(*upload_bytes_));
  testing::CurlResult r =
      Curl(absl::StrCat("-k --data-binary @", *upload_path_, " ", Url("/upload")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, want);
  r = Curl(absl::StrCat("-k -T - ", Url("/upload"), " < ", *upload_path_));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, want);

  const std::string out = TempPath("tls-download.bin");
  r = Curl(absl::StrCat("-k -o ", out, " -w '%{http_code}' ", Url("/blob/file")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "200");
  EXPECT_TRUE(ReadFile(out) == *blob_bytes_);
  r = Curl(absl::StrCat("-k -o ", out, " '", Url("/blob/file?offset=65537&length=300001"), "'"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(ReadFile(out) == blob_bytes_->substr(65537, 300001));
  // No sendfile under TLS: the bytes must pass through OpenSSL.
  EXPECT_EQ(handler_.file_blob->prepare_send_file_calls.load(), 0);
  EXPECT_GT(handler_.file_blob->read_at_calls.load(), 0);
}

TEST_F(HttpServerTlsTest, PlainHttpToTheTlsPortFailsCleanly) {
  StartServer();
  testing::CurlResult plain = Curl(Url("/echo", "http"));
  EXPECT_NE(plain.exit_code, 0) << plain.out;
  EXPECT_TRUE(log_.WaitForEntry(
      [](const AccessLogEntry& e) { return absl::StrContains(e.error, "TLS handshake failed"); }));
  RawClient garbage(server_->port());
  ASSERT_TRUE(garbage.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_TRUE(garbage.ClosedByServer(absl::Seconds(10)));
  testing::CurlResult tls = Curl(absl::StrCat("-k ", Url("/echo")));
  EXPECT_EQ(tls.exit_code, 0) << tls.out;
  EXPECT_THAT(tls.out, HasSubstr("method=GET"));
}

TEST_F(HttpServerTlsTest, AStalledHandshakeTimesOutAndShutdownIsPrompt) {
  HttpServerOptions options;
  options.io_timeout = absl::Seconds(1);
  StartServer(options);
  RawClient silent(server_->port());
  ASSERT_TRUE(silent.connected());
  EXPECT_TRUE(silent.ClosedByServer(absl::Seconds(10)));
  RawClient another(server_->port());  // stalled when Shutdown comes
  ASSERT_TRUE(another.connected());
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(1));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
}

TEST_F(HttpServerTlsTest, BadCertificateFilesAreInvalidArgument) {
  HttpServerOptions options;
  options.port = 0;
  options.tls_certificate_file = TempPath("cert.pem");
  options.tls_private_key_file = TempPath("garbage.pem");
  ASSERT_TRUE(testing::WriteFile(TempPath("garbage.pem"), "not a key\n"));
  EXPECT_THAT(HttpServer::Start(options, handler_.AsHandler()),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  ASSERT_TRUE(MakeCertificate(TempPath("other-cert.pem"), TempPath("other-key.pem")));
  options.tls_private_key_file = TempPath("other-key.pem");  // does not match cert.pem
  auto mismatched = HttpServer::Start(options, handler_.AsHandler());
  EXPECT_THAT(mismatched, StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(mismatched.status().message()),
              ::testing::AnyOf(HasSubstr("does not match"), HasSubstr("mismatch")));
  options.tls_certificate_file = TempPath("garbage.pem");
  EXPECT_THAT(HttpServer::Start(options, handler_.AsHandler()),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fwota::http
