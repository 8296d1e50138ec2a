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

TEST(ConfigTest, UpdateProcessDefaultsAndFile) {
  ASSERT_OK_AND_ASSIGN(auto c, LoadConfig(""));
  EXPECT_EQ(c.updates().notices_per_minute(), 100);
  EXPECT_EQ(c.updates().notice_burst(), 100);
  EXPECT_EQ(c.updates().stall_renotify(), 2);
  EXPECT_EQ(c.updates().stall_sweep_interval_ms(), 5000);
  // 0 (unlimited) and 0 re-notifications are kept when the file says so.
  std::string path = WriteFile("u.textproto",
                               "updates { notices_per_minute: 0 stall_renotify: 0 "
                               "stall_timeouts: \"DOWNLOADING=2m\" }\n");
  ASSERT_OK_AND_ASSIGN(c, LoadConfig(path));
  EXPECT_EQ(c.updates().notices_per_minute(), 0);
  EXPECT_EQ(c.updates().stall_renotify(), 0);
  EXPECT_EQ(c.updates().notice_burst(), 100);
  EXPECT_OK(ValidateConfig(c));
}

TEST(ConfigTest, StallTimeoutsParseOverTheDefaults) {
  ASSERT_OK_AND_ASSIGN(StallPolicy p, ParseStallTimeouts(""));
  EXPECT_EQ(p.silence_millis[::fwota::v1::UPDATE_STATE_INITIATED], 24 * 3600 * 1000);
  EXPECT_EQ(p.silence_millis[::fwota::v1::UPDATE_STATE_UPDATING], 30 * 60 * 1000);
  ASSERT_OK_AND_ASSIGN(p, ParseStallTimeouts(" DOWNLOADING=90s, UPDATING = 1h ,INITIATED=0"));
  EXPECT_EQ(p.silence_millis[::fwota::v1::UPDATE_STATE_DOWNLOADING], 90 * 1000);
  EXPECT_EQ(p.silence_millis[::fwota::v1::UPDATE_STATE_UPDATING], 3600 * 1000);
  EXPECT_EQ(p.silence_millis[::fwota::v1::UPDATE_STATE_INITIATED], 0);
  EXPECT_EQ(p.silence_millis[::fwota::v1::UPDATE_STATE_VERIFIED], 15 * 60 * 1000);
  for (const char* bad : {"DOWNLOADING", "DOWNLOADING=", "DOWNLOADING=15", "DOWNLOADING=-1m",
                          "QUEUED=1m", "UPDATED=1m", "FAILED=1m", "SLEEPING=1m", "=1m"}) {
    EXPECT_THAT(ParseStallTimeouts(bad), StatusCodeIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  auto c = DefaultConfig();
  c.mutable_updates()->set_stall_timeouts("DOWNLOADING=soon");
  auto s = ValidateConfig(c);
  EXPECT_NE(s.message().find("soon"), std::string::npos) << s;
  c = DefaultConfig();
  c.mutable_updates()->set_notices_per_minute(-1);
  EXPECT_THAT(ValidateConfig(c), StatusCodeIs(absl::StatusCode::kInvalidArgument));
  c = DefaultConfig();
  c.mutable_updates()->set_notice_burst(0);
  EXPECT_THAT(ValidateConfig(c), StatusCodeIs(absl::StatusCode::kInvalidArgument));
}

TEST(ConfigTest, MqttIsOffByDefaultAndChecked) {
  ASSERT_OK_AND_ASSIGN(auto c, LoadConfig(""));
  EXPECT_EQ(c.mqtt().broker(), "");
  EXPECT_EQ(c.mqtt().prefix(), "fwota");
  EXPECT_EQ(c.mqtt().share_group(), "fwota");
  EXPECT_EQ(c.mqtt().max_chunk_size(), 1 << 20);
  c.mutable_mqtt()->set_broker("tcp://127.0.0.1:1883");
  EXPECT_OK(ValidateConfig(c));
  for (const char* bad : {"127.0.0.1:1883", "http://x:1"}) {
    auto d = c;
    d.mutable_mqtt()->set_broker(bad);
    EXPECT_THAT(ValidateConfig(d), StatusCodeIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  auto d = c;
  d.mutable_mqtt()->set_prefix("a/b");
  EXPECT_THAT(ValidateConfig(d), StatusCodeIs(absl::StatusCode::kInvalidArgument));
  d = c;
  d.mutable_mqtt()->set_share_group("x/y");
  EXPECT_THAT(ValidateConfig(d), StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(c.mqtt().persistent_session());
  EXPECT_EQ(c.mqtt().workers(), 2);
  EXPECT_EQ(c.mqtt().max_unacked_bytes(), 8 << 20);
  for (int workers : {0, 65}) {
    d = c;
    d.mutable_mqtt()->set_workers(workers);
    EXPECT_THAT(ValidateConfig(d), StatusCodeIs(absl::StatusCode::kInvalidArgument)) << workers;
  }
  d = c;
  d.mutable_mqtt()->set_max_unacked_bytes(0);
  EXPECT_THAT(ValidateConfig(d), StatusCodeIs(absl::StatusCode::kInvalidArgument));
  d = c;
  d.mutable_mqtt()->set_key_file("client.key");
  EXPECT_THAT(ValidateConfig(d), StatusCodeIs(absl::StatusCode::kInvalidArgument));
}

TEST(ConfigTest, CoapReportThreadsDefaultToFourAndZeroStays) {
  ASSERT_OK_AND_ASSIGN(auto c, LoadConfig(""));
  EXPECT_EQ(c.coap().report_threads(), 4);
  // 0 (answered in line) is a value of its own, not "unset".
  ASSERT_OK_AND_ASSIGN(auto zero,
                       LoadConfig(WriteFile("coap.textproto", "coap { report_threads: 0 }\n")));
  EXPECT_EQ(zero.coap().report_threads(), 0);
  EXPECT_OK(ValidateConfig(zero));
  for (int threads : {-1, 65}) {
    auto d = c;
    d.mutable_coap()->set_report_threads(threads);
    EXPECT_THAT(ValidateConfig(d), StatusCodeIs(absl::StatusCode::kInvalidArgument)) << threads;
  }
}

TEST(ConfigTest, DefaultMqttClientIdIsStablePerDataDirectory) {
  const std::string id = DefaultMqttClientId("/srv/fwota/var", "gw1");
  EXPECT_EQ(id.rfind("fwotad-gw1-", 0), 0u) << id;
  EXPECT_EQ(id.size(), std::string("fwotad-gw1-").size() + 8);
  // The same directory however it is written: the same id (a restart finds its session).
  EXPECT_EQ(DefaultMqttClientId("/srv/fwota/var/", "gw1"), id);
  EXPECT_EQ(DefaultMqttClientId("/srv/fwota/./var", "gw1"), id);
  // Another directory or host: another id (two instances do not take each other's session).
  EXPECT_NE(DefaultMqttClientId("/srv/fwota/var2", "gw1"), id);
  EXPECT_NE(DefaultMqttClientId("/srv/fwota/var", "gw2"), id);
}

}  // namespace
}  // namespace fwota::fwotad
