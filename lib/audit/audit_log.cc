#include "lib/audit/audit_log.h"

#include "lib/util/random.h"

namespace fwota::internal {

AuditEvent MakeAuditEvent(absl::string_view tenant_id, absl::string_view user_name,
                          const AuditSubject& subject, ::fwota::v1::AuditActionType action,
                          const absl::Status& outcome, std::string action_data_json,
                          int64_t now_millis) {
  AuditEvent event;
  event.set_id(NewUuid());
  event.set_tenant_id(std::string(tenant_id));
  event.set_entity_type(subject.entity_type);
  event.set_entity_id(subject.entity_id);
  event.set_entity_name(subject.entity_name);
  event.set_user_name(std::string(user_name));
  event.set_action_type(action);
  event.set_action_status(outcome.ok() ? ::fwota::v1::SUCCESS : ::fwota::v1::FAILURE);
  if (!outcome.ok()) event.set_failure_details(std::string(outcome.message()));
  event.set_action_data_json(action_data_json.empty() ? "{}" : std::move(action_data_json));
  event.set_created_time(now_millis);
  return event;
}

}  // namespace fwota::internal
