// Building audit events. Internal. Thread-safe (pure).
#ifndef FWOTA_LIB_AUDIT_AUDIT_LOG_H_
#define FWOTA_LIB_AUDIT_AUDIT_LOG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fwota/metadata_store.h"

namespace fwota::internal {

// What an audited operation is about.
struct AuditSubject {
  std::string entity_type;  // OTA_PACKAGE, DEVICE, DEVICE_PROFILE, TENANT
  std::string entity_id;
  std::string entity_name;
};

// One audit event with a fresh id; FAILURE with the status message when `outcome` is
// not OK.
AuditEvent MakeAuditEvent(absl::string_view tenant_id, absl::string_view user_name,
                          const AuditSubject& subject, ::fwota::v1::AuditActionType action,
                          const absl::Status& outcome, std::string action_data_json,
                          int64_t now_millis);

}  // namespace fwota::internal

#endif  // FWOTA_LIB_AUDIT_AUDIT_LOG_H_
