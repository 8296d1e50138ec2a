// fwotad's settings: built-in defaults, then the --config file, then flags that differ
// from their defaults. Not thread-safe; used once at start-up.
#ifndef FWOTA_TOOLS_FWOTAD_CONFIG_H_
#define FWOTA_TOOLS_FWOTAD_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fwota/ota_service.h"
#include "fwota/v1/config.pb.h"

namespace fwota::fwotad {

// The built-in defaults (documented in proto/fwota/v1/config.proto).
::fwota::v1::FwotadConfig DefaultConfig();

// Defaults, overlaid with the text-format file at `path` (when not empty): fields set in
// the file replace the defaults. kInvalidArgument with the parser's line and column for
// a bad file; kNotFound when it does not exist.
absl::StatusOr<::fwota::v1::FwotadConfig> LoadConfig(const std::string& path);

// Checks ranges (ports, sizes, TLS files given in pairs). kInvalidArgument naming the
// field.
absl::Status ValidateConfig(const ::fwota::v1::FwotadConfig& config);

// "DOWNLOADING=15m,UPDATING=1h" over StallPolicy::Default() (the listed states change;
// "0" turns one off). kInvalidArgument naming the bad part.
absl::StatusOr<StallPolicy> ParseStallTimeouts(absl::string_view text);

// "fwotad-<host>-<8 hex digits>": the MQTT client id when none is configured. The digits
// are a hash of the data directory's absolute path, so the id stays the same across
// restarts (the broker's persistent session is found again) and two instances on one
// host differ.
std::string DefaultMqttClientId(const std::string& data_dir, absl::string_view host);

}  // namespace fwota::fwotad

#endif  // FWOTA_TOOLS_FWOTAD_CONFIG_H_
