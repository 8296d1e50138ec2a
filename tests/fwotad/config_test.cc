#include "tools/fwotad/config.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace fwota::fwotad {
namespace {

using ::fwota::testing::StatusCodeIs;

std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
  std::ofstream(path) << text;
  return path;
}

TEST(ConfigTest, DefaultsAreTheDocumentedOnes) {
  ASSERT_OK_AND_ASSIGN(auto c, LoadConfig(""));
  EXPECT_EQ(c.data_dir(), "./var");
  EXPECT_EQ(c.http().address(), "127.0.0.1");
  EXPECT_EQ(c.http().port(), 8080);
  EXPECT_EQ(c.max_package_size(), int64_t{2} << 30);
  EXPECT_EQ(c.http().max_connections(), 1024);
  EXPECT_OK(ValidateConfig(c));
}

TEST(ConfigTest, FileOverridesOnlyWhatItSets) {
  std::string path = WriteFile("a.textproto",
                               "data_dir: \"/srv/ota\"\n"
                               "http { address: \"0.0.0.0\" port: 0 }\n");
  ASSERT_OK_AND_ASSIGN(auto c, LoadConfig(path));
  EXPECT_EQ(c.data_dir(), "/srv/ota");
  EXPECT_EQ(c.http().address(), "0.0.0.0");
  EXPECT_EQ(c.http().port(), 0);  // an explicit 0 is kept
  EXPECT_EQ(c.http().max_connections(), 1024);
  EXPECT_EQ(c.max_package_size(), int64_t{2} << 30);
}

TEST(ConfigTest, PortKeepsItsDefaultWhenTheFileOmitsIt) {
  std::string path = WriteFile("b.textproto", "http { address: \"::\" }\n");
  ASSERT_OK_AND_ASSIGN(auto c, LoadConfig(path));
  EXPECT_EQ(c.http().port(), 8080);
}

TEST(ConfigTest, BadFilesAreClearErrors) {
  EXPECT_THAT(LoadConfig("/nonexistent/fwotad.conf"), StatusCodeIs(absl::StatusCode::kNotFound));
  std::string path = WriteFile("c.textproto", "data_dir: \"x\"\nhttp { prot: 1 }\n");
  auto c = LoadConfig(path);
  ASSERT_THAT(c, StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(c.status().message().find("line 2"), std::string::npos) << c.status();
}

TEST(ConfigTest, ValidationNamesTheField) {
  auto c = DefaultConfig();
  c.mutable_http()->set_port(70000);
  EXPECT_THAT(ValidateConfig(c), StatusCodeIs(absl::StatusCode::kInvalidArgument));
  c = DefaultConfig();
  c.mutable_http()->set_tls_certificate_file("cert.pem");
  auto s = ValidateConfig(c);
  EXPECT_NE(s.message().find("private key"), std::string::npos) << s;
  c = DefaultConfig();
  c.set_max_package_size(0);
  EXPECT_THAT(ValidateConfig(c), StatusCodeIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fwota::fwotad
