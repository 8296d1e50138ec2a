#include "adapters/common/status_mapping.h"

#include "gtest/gtest.h"

namespace fwota::adapters {
namespace {

using absl::StatusCode;

struct Expected {
  StatusCode code;
  int http;
  TbErrorCode tb;
  CoapCode coap;
  const char* coap_text;
  const char* mqtt;
  int exit_code;
};

// Every row of the table, and every code that falls through to the default row.
const Expected kRows[] = {
    {StatusCode::kOk, 200, TbErrorCode::kGeneral, CoapCode::kContent, "2.05", "", 0},
    {StatusCode::kInvalidArgument, 400, TbErrorCode::kBadRequestParams, CoapCode::kBadRequest,
     "4.00", "FAILURE", 2},
    {StatusCode::kNotFound, 404, TbErrorCode::kItemNotFound, CoapCode::kNotFound, "4.04",
     "NOT_FOUND", 3},
    {StatusCode::kPermissionDenied, 403, TbErrorCode::kPermissionDenied, CoapCode::kForbidden,
     "4.03", "FAILURE", 4},
    {StatusCode::kUnauthenticated, 401, TbErrorCode::kAuthentication, CoapCode::kUnauthorized,
     "4.01", "FAILURE", 4},
    {StatusCode::kAlreadyExists, 400, TbErrorCode::kBadRequestParams, CoapCode::kBadRequest,
     "4.00", "FAILURE", 5},
    {StatusCode::kFailedPrecondition, 400, TbErrorCode::kBadRequestParams,
     CoapCode::kBadRequest, "4.00", "FAILURE", 5},
    {StatusCode::kResourceExhausted, 413, TbErrorCode::kBadRequestParams,
     CoapCode::kRequestEntityTooLarge, "4.13", "PAYLOAD_TOO_LARGE", 6},
    {StatusCode::kDataLoss, 500, TbErrorCode::kGeneral, CoapCode::kInternalServerError, "5.00",
     "FAILURE", 7},
    {StatusCode::kUnavailable, 503, TbErrorCode::kGeneral, CoapCode::kServiceUnavailable,
     "5.03", "FAILURE", 1},
    {StatusCode::kInternal, 500, TbErrorCode::kGeneral, CoapCode::kInternalServerError, "5.00",
     "FAILURE", 1},
    {StatusCode::kUnknown, 500, TbErrorCode::kGeneral, CoapCode::kInternalServerError, "5.00",
     "FAILURE", 1},
    {StatusCode::kCancelled, 500, TbErrorCode::kGeneral, CoapCode::kInternalServerError, "5.00",
     "FAILURE", 1},
    {StatusCode::kDeadlineExceeded, 500, TbErrorCode::kGeneral,
     CoapCode::kInternalServerError, "5.00", "FAILURE", 1},
    {StatusCode::kAborted, 500, TbErrorCode::kGeneral, CoapCode::kInternalServerError, "5.00",
     "FAILURE", 1},
    {StatusCode::kOutOfRange, 500, TbErrorCode::kGeneral, CoapCode::kInternalServerError,
     "5.00", "FAILURE", 1},
    {StatusCode::kUnimplemented, 500, TbErrorCode::kGeneral, CoapCode::kInternalServerError,
     "5.00", "FAILURE", 1},
};

class StatusMappingTest : public ::testing::TestWithParam<Expected> {};

TEST_P(StatusMappingTest, EveryColumnOfTheRow) {
  const Expected& e = GetParam();
  SCOPED_TRACE(absl::StatusCodeToString(e.code));
  EXPECT_EQ(HttpStatusFor(e.code), e.http);
  EXPECT_EQ(TbErrorCodeFor(e.code), e.tb);
  EXPECT_EQ(CoapCodeFor(e.code), e.coap);
  EXPECT_EQ(CoapCodeText(CoapCodeFor(e.code)), e.coap_text);
  EXPECT_EQ(MqttErrorFor(e.code), e.mqtt);
  EXPECT_EQ(ExitCodeFor(e.code), e.exit_code);
}

INSTANTIATE_TEST_SUITE_P(AllCodes, StatusMappingTest, ::testing::ValuesIn(kRows));

TEST(StatusMappingTest, StatusOverloadsUseTheCode) {
  const absl::Status s = absl::NotFoundError("Requested item wasn't found!");
  EXPECT_EQ(HttpStatusFor(s), 404);
  EXPECT_EQ(TbErrorCodeFor(s), TbErrorCode::kItemNotFound);
  EXPECT_EQ(CoapCodeFor(s), CoapCode::kNotFound);
  EXPECT_EQ(ExitCodeFor(s), 3);
}

TEST(StatusMappingTest, ThingsboardErrorCodeNumbers) {
  // ThingsboardErrorCode as ThingsBoard numbers it.
  EXPECT_EQ(static_cast<int>(TbErrorCode::kGeneral), 2);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kAuthentication), 10);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kJwtTokenExpired), 11);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kCredentialsExpired), 15);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kPermissionDenied), 20);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kInvalidArguments), 30);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kBadRequestParams), 31);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kItemNotFound), 32);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kTooManyRequests), 33);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kTooManyUpdates), 34);
  EXPECT_EQ(static_cast<int>(TbErrorCode::kSubscriptionViolation), 40);
}

TEST(StatusMappingTest, CoapCodeBytesAndText) {
  EXPECT_EQ(static_cast<int>(CoapCode::kNotFound), 0x84);
  EXPECT_EQ(static_cast<int>(CoapCode::kRequestEntityTooLarge), 0x8d);
  EXPECT_EQ(CoapCodeText(CoapCode::kBadRequest), "4.00");
  EXPECT_EQ(CoapCodeText(CoapCode::kUnauthorized), "4.01");
  EXPECT_EQ(CoapCodeText(CoapCode::kForbidden), "4.03");
  EXPECT_EQ(CoapCodeText(CoapCode::kMethodNotAllowed), "4.05");
  EXPECT_EQ(CoapCodeText(CoapCode::kRequestEntityTooLarge), "4.13");
  EXPECT_EQ(CoapCodeText(CoapCode::kInternalServerError), "5.00");
  EXPECT_EQ(CoapCodeText(CoapCode::kContent), "2.05");
}

}  // namespace
}  // namespace fwota::adapters
