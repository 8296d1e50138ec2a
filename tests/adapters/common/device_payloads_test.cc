// RecordOtaTelemetry, the telemetry path every transport shares: an unknown token is
// told first, a payload is recorded all or nothing.
#include "adapters/common/device_payloads.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/adapters/common/device_service_test.h"
#include "tests/testing/status_matchers.h"

namespace fwota::adapters {
namespace {

using ::fwota::testing::StatusCodeIs;

class RecordOtaTelemetryTest : public testing::DeviceServiceTest {
 protected:
  void SetUp() override { SetUpService(1000); }

  int64_t HistoryLength() {
    PageQuery query;
    query.page_size = 100;
    absl::StatusOr<Page<UpdateEvent>> page =
        service_->ListUpdateHistory(ctx_, device_.id(), ::fwota::v1::FIRMWARE, query);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->total_elements : -1;
  }
};

TEST_F(RecordOtaTelemetryTest, UnknownTokenIsToldBeforeWhatIsWrongWithThePayload) {
  for (const char* payload : {R"({"fw_state":"DOWNLOADING"})", R"({"fw_state":"NO_SUCH"})",
                              "{not json", R"({"temperature":21})", ""}) {
    EXPECT_THAT(RecordOtaTelemetry(*service_, "NOPE", payload),
                StatusCodeIs(absl::StatusCode::kUnauthenticated))
        << payload;
  }
}

TEST_F(RecordOtaTelemetryTest, RecordsAllOrNothing) {
  const int64_t before = HistoryLength();
  // One bad state among good ones: nothing of the payload is recorded.
  EXPECT_THAT(RecordOtaTelemetry(*service_, "TOK",
                                 R"([{"fw_state":"DOWNLOADING"},{"fw_state":"NO_SUCH"}])"),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RecordOtaTelemetry(*service_, "TOK", "{not json"),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(HistoryLength(), before);
  // No update keys: accepted, nothing recorded.
  EXPECT_OK(RecordOtaTelemetry(*service_, "TOK", R"({"temperature":21})"));
  EXPECT_EQ(HistoryLength(), before);
  // Good reports are recorded and move the state.
  EXPECT_OK(RecordOtaTelemetry(*service_, "TOK",
                               R"([{"fw_state":"DOWNLOADING"},{"fw_state":"DOWNLOADED"}])"));
  EXPECT_EQ(HistoryLength(), before + 2);
  ASSERT_OK_AND_ASSIGN(UpdateStatus status,
                       service_->GetUpdateStatus(ctx_, device_.id(), ::fwota::v1::FIRMWARE));
  EXPECT_EQ(status.state(), ::fwota::v1::UPDATE_STATE_DOWNLOADED);
}

}  // namespace
}  // namespace fwota::adapters
