// The fwota command line. Embedded mode works directly on a data directory through
// fwota::DataDir, the way sqlite3 works on a file; remote mode (--server) runs the same
// commands against a running fwotad through remote::NewRemoteOtaService, an OtaService
// over its REST API, so both modes print the same. main.cc calls Main(); the commands
// live in entity_commands.cc, package_commands.cc, update_commands.cc and
// checksum_command.cc.
#ifndef FWOTA_TOOLS_FWOTA_CLI_H_
#define FWOTA_TOOLS_FWOTA_CLI_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fwota/data_dir.h"
#include "fwota/ota_service.h"

namespace fwota::cli {

// A usage mistake (unknown command, missing flag): kInvalidArgument, exit code 2, and
// the top level adds the short usage text.
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

// What a command runs with. Not thread-safe.
class Context {
 public:
  Context(bool json, bool needs_tenant) : json_(json), needs_tenant_(needs_tenant) {}

  bool json() const { return json_; }

  // Embedded mode: opens the data directory (--data_dir) on first use, with
  // --max_package_size and the FWOTA_CRASH_AT test hook, and resolves --tenant when the
  // command is tenant-scoped. Commands check their own arguments first, so a typo does
  // not create a directory.
  // Remote mode (--server): the service over fwotad's REST API, authenticated with the
  // API key of --api_key, --api_key_file or $FWOTA_API_KEY (a usage error when none);
  // the key decides the tenant. It connects on its first call.
  absl::StatusOr<OtaService*> Service();
  // Valid after Service() succeeded (empty in remote mode: the server ignores it).
  const TenantContext& tenant() const { return tenant_; }

 private:
  const bool json_;
  const bool needs_tenant_;
  std::unique_ptr<DataDir> data_dir_;
  std::unique_ptr<OtaService> remote_;
  TenantContext tenant_;
};

// Whether the command line runs in remote mode (--server given).
bool RemoteMode();

// One command: the words after the command name, flags already parsed.
using CommandFn = absl::Status (*)(Context& ctx, const std::vector<std::string>& args);

// Commands (see the usage text in cli.cc).
absl::Status TenantCreate(Context& ctx, const std::vector<std::string>& args);
absl::Status TenantList(Context& ctx, const std::vector<std::string>& args);
absl::Status ProfileCreate(Context& ctx, const std::vector<std::string>& args);
absl::Status ProfileList(Context& ctx, const std::vector<std::string>& args);
absl::Status ProfileGet(Context& ctx, const std::vector<std::string>& args);
absl::Status ProfileDelete(Context& ctx, const std::vector<std::string>& args);
absl::Status DeviceCreate(Context& ctx, const std::vector<std::string>& args);
absl::Status DeviceList(Context& ctx, const std::vector<std::string>& args);
absl::Status DeviceGet(Context& ctx, const std::vector<std::string>& args);
absl::Status DeviceCredentials(Context& ctx, const std::vector<std::string>& args);
absl::Status DeviceDelete(Context& ctx, const std::vector<std::string>& args);
absl::Status DeviceMove(Context& ctx, const std::vector<std::string>& args);
absl::Status Assign(Context& ctx, const std::vector<std::string>& args);
absl::Status Unassign(Context& ctx, const std::vector<std::string>& args);
absl::Status Explain(Context& ctx, const std::vector<std::string>& args);
absl::Status Audit(Context& ctx, const std::vector<std::string>& args);
absl::Status RolloutStats(Context& ctx, const std::vector<std::string>& args);
absl::Status RolloutDevices(Context& ctx, const std::vector<std::string>& args);
absl::Status DeviceStatus(Context& ctx, const std::vector<std::string>& args);
absl::Status DeviceHistory(Context& ctx, const std::vector<std::string>& args);
absl::Status PackageCreate(Context& ctx, const std::vector<std::string>& args);
absl::Status PackageUpload(Context& ctx, const std::vector<std::string>& args);
absl::Status PackageList(Context& ctx, const std::vector<std::string>& args);
absl::Status PackageGet(Context& ctx, const std::vector<std::string>& args);
absl::Status PackageDownload(Context& ctx, const std::vector<std::string>& args);
absl::Status PackageVerify(Context& ctx, const std::vector<std::string>& args);
absl::Status PackageDelete(Context& ctx, const std::vector<std::string>& args);
absl::Status PackageProfileList(Context& ctx, const std::vector<std::string>& args);
absl::Status Checksum(Context& ctx, const std::vector<std::string>& args);
absl::Status ApiKeyCreate(Context& ctx, const std::vector<std::string>& args);
absl::Status ApiKeyList(Context& ctx, const std::vector<std::string>& args);
absl::Status ApiKeyDelete(Context& ctx, const std::vector<std::string>& args);

// Shared by the commands.
// kInvalidArgument usage error unless `args` has exactly `count` words.
absl::Status ExpectArgs(const std::vector<std::string>& args, size_t count,
                        absl::string_view usage);
// The value of a required string flag, or a usage error naming it.
absl::StatusOr<std::string> RequiredFlag(absl::string_view name, const std::string& value);
// A package named by id or TITLE@VERSION.
absl::StatusOr<OtaPackage> ResolvePackage(Context& ctx, absl::string_view ref);
// Writes `text` to standard output.
void Print(absl::string_view text);
// Whether progress bars are drawn (stderr is a terminal).
bool ShowProgress();

// The whole program: parses the flags, runs the command, reports errors. Returns the
// exit code.
int Main(int argc, char** argv);

}  // namespace fwota::cli

#endif  // FWOTA_TOOLS_FWOTA_CLI_H_
