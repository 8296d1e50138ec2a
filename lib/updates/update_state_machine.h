// The device-report state machine of the update process (protocol-reference.md, "Update
// process"). Internal. A pure function: no store access, no clock reads; thread-safe.
//
// States in order QUEUED < INITIATED < DOWNLOADING < DOWNLOADED < VERIFIED < UPDATING <
// UPDATED; FAILED is reachable from any non-final state; UPDATED and FAILED are final
// until a new attempt (INITIATED or DOWNLOADING). Every report is recorded; `accepted`
// says whether it moved (or kept) the state, `note` says why not, or gives context.
#ifndef FWOTA_LIB_UPDATES_UPDATE_STATE_MACHINE_H_
#define FWOTA_LIB_UPDATES_UPDATE_STATE_MACHINE_H_

#include <cstdint>
#include <string>

#include "fwota/metadata_store.h"
#include "fwota/ota_service.h"

namespace fwota::internal {

struct ReportOutcome {
  // The new status: current_title/version and last_activity always follow the report;
  // state, state_since and error only when the report is accepted.
  UpdateStatus status;
  // For the UpdateEvent: the state the report stands for (the reported one, UPDATED when
  // the device reports the target version, the kept one when it reported no state,
  // UNSPECIFIED for an unknown name).
  UpdateState state = ::fwota::v1::UPDATE_STATE_UNSPECIFIED;
  bool accepted = true;
  std::string note;
};

// Applies one device report to the device's `current` status of the report's type
// (a default UpdateStatus when it has none yet) at `now_millis`.
ReportOutcome ApplyDeviceReport(const UpdateStatus& current, const DeviceReport& report,
                                int64_t now_millis);

}  // namespace fwota::internal

#endif  // FWOTA_LIB_UPDATES_UPDATE_STATE_MACHINE_H_
