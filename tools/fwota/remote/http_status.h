// fwotad's error answers turned back into the absl::Status the embedded service would
// have returned, so that remote mode prints the same message and exits with the same
// code (adapters/common/status_mapping.h is the forward table; this is its inverse).
// Thread-safe: pure functions.
#ifndef FWOTA_TOOLS_FWOTA_REMOTE_HTTP_STATUS_H_
#define FWOTA_TOOLS_FWOTA_REMOTE_HTTP_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fwota::cli::remote {

// The status for an HTTP answer other than 2xx with body `body` (ThingsBoard's
// `{"status","message","errorCode"}`, or anything else). The message is the body's
// "message" when there is one, else the body text, else "HTTP <status>".
//  - 400: kInvalidArgument, except ThingsBoard's messages that the core raises as
//    kAlreadyExists ("... already exists!", "... already assigned to another device!")
//    or kFailedPrecondition (the deletion guards "... cannot be deleted!", "Can't assign
//    ... with empty data!" / "... with different deviceProfile!", "Updating otaPackage
//    data is prohibited!"): HTTP gives all of these 400 and errorCode 31.
//  - 401 kUnauthenticated, 403 kPermissionDenied, 404 kNotFound, 413
//    kResourceExhausted, 503 kUnavailable.
//  - 500: kDataLoss when the message says the stored data is damaged or missing, else
//    kInternal. Anything else: kUnknown.
absl::Status StatusFromHttp(int http_status, absl::string_view body);

}  // namespace fwota::cli::remote

#endif  // FWOTA_TOOLS_FWOTA_REMOTE_HTTP_STATUS_H_
