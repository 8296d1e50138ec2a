// The inverse of adapters/common/tb_json.h: ThingsBoard-shaped JSON, as fwotad answers
// it, read back into libfwota's entities. Writing an entity read here with tb_json.h
// gives the server's text again (stored JSON such as additionalInfo is kept raw), so the
// command line prints the same JSON in remote and embedded mode. Fields the JSON does not
// carry (a device's access token, a package's SHA-256) stay empty. Thread-safe: pure
// functions.
#ifndef FWOTA_TOOLS_FWOTA_REMOTE_TB_JSON_READER_H_
#define FWOTA_TOOLS_FWOTA_REMOTE_TB_JSON_READER_H_

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "fwota/metadata_store.h"
#include "fwota/ota_service.h"
#include "tools/fwota/remote/json_value.h"

namespace fwota::cli::remote {

// Each reader: kInternal "unexpected answer from the server" when `json` is not an
// object of the expected shape (absent fields read as empty).
absl::StatusOr<OtaPackage> ReadPackage(const JsonValue& json);
absl::StatusOr<Device> ReadDevice(const JsonValue& json);
absl::StatusOr<DeviceProfile> ReadDeviceProfile(const JsonValue& json);
absl::StatusOr<AuditEvent> ReadAuditEvent(const JsonValue& json);
absl::StatusOr<Explanation> ReadExplanation(const JsonValue& json);
absl::StatusOr<UpdateStatus> ReadUpdateStatus(const JsonValue& json);
absl::StatusOr<UpdateEvent> ReadUpdateEvent(const JsonValue& json);
// GET /api/ota/stats's object as CountUpdateStates returns it, indexed by UpdateState
// (index 0, devices with a status but no state, is not in the answer: 0).
absl::StatusOr<std::vector<int64_t>> ReadUpdateStats(const JsonValue& json);
// The access token (credentialsId) of a DeviceCredentials object.
absl::StatusOr<std::string> ReadAccessToken(const JsonValue& json);

// PageData<T>: {"data":[...],"totalPages","totalElements","hasNext"}.
template <typename T>
absl::StatusOr<Page<T>> ReadPage(const JsonValue& json,
                                 absl::FunctionRef<absl::StatusOr<T>(const JsonValue&)> read);

// The id of `{"entityType":..,"id":..}` (or a bare string); "" for null or absent.
std::string IdOf(const JsonValue* value);

// The error for a server answer that does not have the expected shape.
absl::Status UnexpectedAnswer(absl::string_view what);

// ---- Implementation ----

template <typename T>
absl::StatusOr<Page<T>> ReadPage(const JsonValue& json,
                                 absl::FunctionRef<absl::StatusOr<T>(const JsonValue&)> read) {
  const JsonValue* data = json.Find("data");
  if (data == nullptr || !data->is_array()) return UnexpectedAnswer("a page without data");
  Page<T> page;
  for (const JsonValue& item : data->items()) {
    absl::StatusOr<T> one = read(item);
    if (!one.ok()) return one.status();
    page.data.push_back(*std::move(one));
  }
  const JsonValue* total_pages = json.Find("totalPages");
  const JsonValue* total_elements = json.Find("totalElements");
  const JsonValue* has_next = json.Find("hasNext");
  page.total_pages = total_pages == nullptr ? 0 : static_cast<int>(total_pages->Int());
  page.total_elements = total_elements == nullptr ? 0 : total_elements->Int();
  page.has_next = has_next != nullptr && has_next->boolean();
  return page;
}

}  // namespace fwota::cli::remote

#endif  // FWOTA_TOOLS_FWOTA_REMOTE_TB_JSON_READER_H_
