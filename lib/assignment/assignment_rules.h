// Assignment rules: which package may go to which device or profile (ThingsBoard's
// checks and messages), and which package a device effectively gets. Internal. Pure
// functions over a transaction: thread-compatible.
#ifndef FWOTA_LIB_ASSIGNMENT_ASSIGNMENT_RULES_H_
#define FWOTA_LIB_ASSIGNMENT_ASSIGNMENT_RULES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fwota/metadata_store.h"
#include "fwota/ota_service.h"

namespace fwota::internal {

// The package id in the `type` slot of a device or profile ("" when none).
const std::string& AssignedId(const Device& device, OtaPackageType type);
const std::string& AssignedId(const DeviceProfile& profile, OtaPackageType type);
void SetAssignedId(Device& device, OtaPackageType type, std::string id);
void SetAssignedId(DeviceProfile& profile, OtaPackageType type, std::string id);

// Checks that `package_id` may fill the `type` slot of an entity of `tenant_id` whose
// device profile is `profile_id`; returns the package. Messages as ThingsBoard's:
// kNotFound "Can't assign non-existent firmware!", kPermissionDenied "... from different
// tenant!", kInvalidArgument "... with type: SOFTWARE", kFailedPrecondition "... with
// empty data!" and "... with different deviceProfile!".
absl::StatusOr<OtaPackage> CheckAssignable(MetadataTransaction& tx, absl::string_view tenant_id,
                                           absl::string_view profile_id, OtaPackageType type,
                                           absl::string_view package_id);

// The device's effective package of `type`: its own, else its profile's, else none.
absl::StatusOr<Explanation> ExplainEffectivePackage(MetadataTransaction& tx,
                                                    const Device& device,
                                                    OtaPackageType type);

}  // namespace fwota::internal

#endif  // FWOTA_LIB_ASSIGNMENT_ASSIGNMENT_RULES_H_
