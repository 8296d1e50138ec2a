#include "tools/fwota/remote/http_status.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tools/fwota/remote/json_value.h"

namespace fwota::cli::remote {
namespace {

// Fragments of the core's kAlreadyExists messages (lib/service, lib/store).
constexpr absl::string_view kAlreadyExists[] = {
    "already exists",
    "already assigned to another device",
    "already has the access token",
};

// Fragments of the core's kFailedPrecondition messages that reach HTTP as 400.
constexpr absl::string_view kFailedPrecondition[] = {
    "cannot be deleted!",
    "with empty data!",
    "with different deviceProfile!",
    "Updating otaPackage data is prohibited!",
};

// Fragments of kDataLoss messages: the core's and the HTTP backend's.
constexpr absl::string_view kDataLoss[] = {
    "is damaged",
    "is missing from the blob store",
    "has the wrong size",
    "the stored file is damaged",
};

template <size_t N>
bool ContainsAny(absl::string_view text, const absl::string_view (&fragments)[N]) {
  for (absl::string_view f : fragments) {
    if (absl::StrContains(text, f)) return true;
  }
  return false;
}

std::string MessageOf(int http_status, absl::string_view body) {
  absl::StatusOr<JsonValue> json = JsonValue::Parse(body);
  if (json.ok()) {
    const JsonValue* message = json->Find("message");
    if (message != nullptr && message->is_string() && !message->string().empty()) {
      return message->string();
    }
  }
  absl::string_view text = absl::StripAsciiWhitespace(body);
  constexpr size_t kShown = 300;
  if (!text.empty() && !json.ok()) {
    return absl::StrCat("HTTP ", http_status, ": ", text.substr(0, kShown),
                        text.size() > kShown ? "..." : "");
  }
  return absl::StrCat("HTTP ", http_status);
}

}  // namespace

absl::Status StatusFromHttp(int http_status, absl::string_view body) {
  const std::string message = MessageOf(http_status, body);
  switch (http_status) {
    case 400:
      if (ContainsAny(message, kAlreadyExists)) return absl::AlreadyExistsError(message);
      if (ContainsAny(message, kFailedPrecondition)) {
        return absl::FailedPreconditionError(message);
      }
      return absl::InvalidArgumentError(message);
    case 401:
      return absl::UnauthenticatedError(message);
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 413:
      return absl::ResourceExhaustedError(message);
    case 500:
      if (ContainsAny(message, kDataLoss)) return absl::DataLossError(message);
      return absl::InternalError(message);
    case 503:
      return absl::UnavailableError(message);
    default:
      return absl::UnknownError(message);
  }
}

}  // namespace fwota::cli::remote
