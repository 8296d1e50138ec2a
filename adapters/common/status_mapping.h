// The one table that turns libfwota's absl::StatusCode into what each transport speaks:
// an HTTP status, ThingsBoard's `errorCode` (ThingsboardErrorCode), a CoAP response code,
// the error name of the MQTT `v2/fw/error` topic, and the fwota command line's exit code.
// Codes are chosen once in the core (design.md "Errors"); every adapter maps them here and
// nowhere else. Thread-safe: pure functions over a constant table.
#ifndef FWOTA_ADAPTERS_COMMON_STATUS_MAPPING_H_
#define FWOTA_ADAPTERS_COMMON_STATUS_MAPPING_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fwota::adapters {

// ThingsBoard's ThingsboardErrorCode (org.thingsboard.server.common.data.exception), the
// `errorCode` number of its JSON error body.
enum class TbErrorCode : int {
  kGeneral = 2,
  kAuthentication = 10,
  kJwtTokenExpired = 11,
  kCredentialsExpired = 15,
  kPermissionDenied = 20,
  kInvalidArguments = 30,
  kBadRequestParams = 31,
  kItemNotFound = 32,
  kTooManyRequests = 33,
  kTooManyUpdates = 34,
  kSubscriptionViolation = 40,
};

// A CoAP response code (RFC 7252 section 12.1.2) as its byte on the wire: class in the top
// three bits, detail in the low five, so 4.04 is 0x84. kChanged and kBadOption are not
// in the status table: the CoAP adapter answers them for a recorded POST and for a Block2
// option it cannot serve (RFC 7959).
enum class CoapCode : uint8_t {
  kChanged = 0x44,                 // 2.04
  kContent = 0x45,                 // 2.05
  kBadRequest = 0x80,              // 4.00
  kUnauthorized = 0x81,            // 4.01
  kBadOption = 0x82,               // 4.02
  kForbidden = 0x83,               // 4.03
  kNotFound = 0x84,                // 4.04
  kMethodNotAllowed = 0x85,        // 4.05
  kRequestEntityTooLarge = 0x8d,   // 4.13
  kInternalServerError = 0xa0,     // 5.00
  kServiceUnavailable = 0xa3,      // 5.03
};

// Exit codes of the fwota command line.
inline constexpr int kExitOk = 0;
inline constexpr int kExitGeneric = 1;
inline constexpr int kExitUsage = 2;  // also kInvalidArgument
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitPermission = 4;  // kPermissionDenied, kUnauthenticated
inline constexpr int kExitConflict = 5;    // kAlreadyExists, kFailedPrecondition
inline constexpr int kExitTooLarge = 6;    // kResourceExhausted
inline constexpr int kExitDataLoss = 7;

// HTTP status: InvalidArgument 400, Unauthenticated 401, PermissionDenied 403, NotFound
// 404, AlreadyExists 400 and FailedPrecondition 400 (ThingsBoard answers duplicates and
// its deletion guards with 400), ResourceExhausted 413, DataLoss 500, Unavailable 503,
// OK 200, everything else 500.
int HttpStatusFor(absl::StatusCode code);

// ThingsBoard errorCode: validation failures (InvalidArgument, AlreadyExists,
// FailedPrecondition, ResourceExhausted) are BAD_REQUEST_PARAMS (31) as ThingsBoard
// reports its DataValidationException; NotFound ITEM_NOT_FOUND (32); PermissionDenied
// PERMISSION_DENIED (20); Unauthenticated AUTHENTICATION (10); everything else GENERAL (2).
TbErrorCode TbErrorCodeFor(absl::StatusCode code);

// CoAP: InvalidArgument, AlreadyExists, FailedPrecondition 4.00; Unauthenticated 4.01;
// PermissionDenied 4.03; NotFound 4.04; ResourceExhausted 4.13; Unavailable 5.03; OK 2.05;
// everything else 5.00.
CoapCode CoapCodeFor(absl::StatusCode code);

// "4.04" for CoapCode::kNotFound.
std::string CoapCodeText(CoapCode code);

// The error name ThingsBoard publishes on `v2/fw/error`: NotFound "NOT_FOUND",
// ResourceExhausted "PAYLOAD_TOO_LARGE", everything else "FAILURE" (OK: "").
absl::string_view MqttErrorFor(absl::StatusCode code);

// Exit code of the command line: OK 0; InvalidArgument 2; NotFound 3; PermissionDenied and
// Unauthenticated 4; AlreadyExists and FailedPrecondition 5; ResourceExhausted 6;
// DataLoss 7; everything else 1.
int ExitCodeFor(absl::StatusCode code);

// Shorthands over a status.
inline int HttpStatusFor(const absl::Status& s) { return HttpStatusFor(s.code()); }
inline TbErrorCode TbErrorCodeFor(const absl::Status& s) { return TbErrorCodeFor(s.code()); }
inline CoapCode CoapCodeFor(const absl::Status& s) { return CoapCodeFor(s.code()); }
inline int ExitCodeFor(const absl::Status& s) { return ExitCodeFor(s.code()); }

}  // namespace fwota::adapters

#endif  // FWOTA_ADAPTERS_COMMON_STATUS_MAPPING_H_
