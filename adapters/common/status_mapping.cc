#include "adapters/common/status_mapping.h"

#include "absl/strings/str_format.h"

namespace fwota::adapters {
namespace {

// One row per status code that some transport treats specially; every column of a
// row is decided together, here and only here.
struct Row {
  absl::StatusCode code;
  int http;
  TbErrorCode tb;
  CoapCode coap;
  absl::string_view mqtt;
  int exit_code;
};

constexpr Row kTable[] = {
    {absl::StatusCode::kOk, 200, TbErrorCode::kGeneral, CoapCode::kContent, "", kExitOk},
    {absl::StatusCode::kInvalidArgument, 400, TbErrorCode::kBadRequestParams,
     CoapCode::kBadRequest, "FAILURE", kExitUsage},
    {absl::StatusCode::kNotFound, 404, TbErrorCode::kItemNotFound, CoapCode::kNotFound,
     "NOT_FOUND", kExitNotFound},
    {absl::StatusCode::kPermissionDenied, 403, TbErrorCode::kPermissionDenied,
     CoapCode::kForbidden, "FAILURE", kExitPermission},
    {absl::StatusCode::kUnauthenticated, 401, TbErrorCode::kAuthentication,
     CoapCode::kUnauthorized, "FAILURE", kExitPermission},
    {absl::StatusCode::kAlreadyExists, 400, TbErrorCode::kBadRequestParams,
     CoapCode::kBadRequest, "FAILURE", kExitConflict},
    {absl::StatusCode::kFailedPrecondition, 400, TbErrorCode::kBadRequestParams,
     CoapCode::kBadRequest, "FAILURE", kExitConflict},
    {absl::StatusCode::kResourceExhausted, 413, TbErrorCode::kBadRequestParams,
     CoapCode::kRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", kExitTooLarge},
    {absl::StatusCode::kDataLoss, 500, TbErrorCode::kGeneral, CoapCode::kInternalServerError,
     "FAILURE", kExitDataLoss},
    {absl::StatusCode::kUnavailable, 503, TbErrorCode::kGeneral,
     CoapCode::kServiceUnavailable, "FAILURE", kExitGeneric},
};

// Everything not in the table: an internal failure.
constexpr Row kOther = {absl::StatusCode::kInternal, 500, TbErrorCode::kGeneral,
                        CoapCode::kInternalServerError, "FAILURE", kExitGeneric};

const Row& RowFor(absl::StatusCode code) {
  for (const Row& row : kTable) {
    if (row.code == code) return row;
  }
  return kOther;
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) { return RowFor(code).http; }

TbErrorCode TbErrorCodeFor(absl::StatusCode code) { return RowFor(code).tb; }

CoapCode CoapCodeFor(absl::StatusCode code) { return RowFor(code).coap; }

std::string CoapCodeText(CoapCode code) {
  const auto byte = static_cast<uint8_t>(code);
  return absl::StrFormat("%d.%02d", byte >> 5, byte & 0x1f);
}

absl::string_view MqttErrorFor(absl::StatusCode code) { return RowFor(code).mqtt; }

int ExitCodeFor(absl::StatusCode code) { return RowFor(code).exit_code; }

}  // namespace fwota::adapters
