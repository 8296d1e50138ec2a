#include "tools/fwota/cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/common/status_mapping.h"
#include "adapters/common/tb_json.h"
#include "fwota/status_macros.h"
#include "tools/fwota/args.h"
#include "tools/fwota/flags.h"
#include "tools/fwota/remote/remote_ota_service.h"

namespace fwota::cli {
namespace {

constexpr char kUsagePayload[] = "fwota.cli/usage";

// After a usage mistake: short, the mistake itself is on the line above.
constexpr char kShortUsage[] =
    R"(usage: fwota [--data_dir=DIR] [--tenant=NAME] [--json] <command> [flags]
       fwota --server=URL [--api_key=KEY|--api_key_file=PATH] [--json] <command> [flags]
commands: tenant, profile, device, package, assign, unassign, explain, rollout, audit,
          checksum
run `fwota --help` for the details
)";

constexpr char kUsage[] =
    R"(usage: fwota [--data_dir=DIR] [--tenant=NAME] [--json] <command> [flags]
       fwota --server=URL [--api_key=KEY|--api_key_file=PATH] [--insecure]
             [--timeout=SECONDS] [--json] <command> [flags]

  tenant create NAME | tenant list
  profile create --name=N [--description=D] | profile list | profile get P | profile delete P
  device create --name=N --profile=P [--token=T] | device list | device get D
  device credentials D | device delete D | device move D --profile=P
  device status D [--type=T] | device history D [--type=T] [--page_size=N --page=K]
  package create --title=T --version=V --type=FIRMWARE|SOFTWARE --profile=P
                 [--file=PATH [--checksum_algorithm=ALG] [--checksum=HEX] | --url=URL]
                 [--tag=TAG] [--description=TEXT]
  package upload PKG --file=PATH [--checksum_algorithm=ALG] [--checksum=HEX]
  package list [--search=TEXT] [--page_size=N --page=K]
               [--sort=createdTime|title|version|type|dataSize] [--order=ASC|DESC]
  package get PKG | package verify PKG | package delete PKG
  package download PKG --output=PATH|-
  package profile-list --profile=P --type=FIRMWARE|SOFTWARE
  assign --package=PKG (--device=D | --profile=P)
  unassign --type=FIRMWARE|SOFTWARE (--device=D | --profile=P)
  explain --device=D [--type=FIRMWARE|SOFTWARE]
  rollout stats [--type=FIRMWARE|SOFTWARE]
  rollout devices [--type=T] [--state=QUEUED|...|UPDATED|FAILED] [--search=NAME]
                  [--page_size=N --page=K]
  audit [--page_size=N --page=K]
  checksum [--algorithm=ALG[,ALG...]]... FILE|-
  apikey create --name=N | apikey list | apikey delete ID|NAME   (fwotad's REST keys)

Profiles and devices are named by id or name, packages by id or TITLE@VERSION.
Flags may come anywhere on the line; --json prints ThingsBoard-shaped JSON.
Remote mode (--server=http://HOST:PORT or https://...) runs the same commands against
a running fwotad over its REST API, with the same output; the API key (--api_key,
--api_key_file or $FWOTA_API_KEY) decides the tenant; --insecure accepts a self-signed
TLS certificate; a server silent for --timeout seconds (default 120, 0: no limit) fails
the command. `tenant` and `apikey` work on a data directory only.
Exit codes: 0 ok, 1 error, 2 usage or invalid argument, 3 not found, 4 permission
denied, 5 already exists or still in use, 6 too large, 7 stored data damaged.
Test hook: FWOTA_CRASH_AT=<point> kills the process with SIGKILL at that named point
of a multi-step operation (upload.blob_written, upload.blob_committed,
delete.metadata_deleted), for crash-recovery tests.
)";

struct Command {
  absl::string_view group;
  absl::string_view sub;  // "" for single-word commands
  CommandFn fn;
  bool tenant_scoped;
  // Tenants and API keys have no REST API: only on a data directory.
  bool embedded_only = false;
};

constexpr Command kCommands[] = {
    {"tenant", "create", TenantCreate, false, true},
    {"tenant", "list", TenantList, false, true},
    {"profile", "create", ProfileCreate, true},
    {"profile", "list", ProfileList, true},
    {"profile", "get", ProfileGet, true},
    {"profile", "delete", ProfileDelete, true},
    {"device", "create", DeviceCreate, true},
    {"device", "list", DeviceList, true},
    {"device", "get", DeviceGet, true},
    {"device", "credentials", DeviceCredentials, true},
    {"device", "delete", DeviceDelete, true},
    {"device", "move", DeviceMove, true},
    {"device", "status", DeviceStatus, true},
    {"device", "history", DeviceHistory, true},
    {"package", "create", PackageCreate, true},
    {"package", "upload", PackageUpload, true},
    {"package", "list", PackageList, true},
    {"package", "get", PackageGet, true},
    {"package", "download", PackageDownload, true},
    {"package", "verify", PackageVerify, true},
    {"package", "delete", PackageDelete, true},
    {"package", "profile-list", PackageProfileList, true},
    {"assign", "", Assign, true},
    {"unassign", "", Unassign, true},
    {"explain", "", Explain, true},
    {"audit", "", Audit, true},
    {"rollout", "stats", RolloutStats, true},
    {"rollout", "devices", RolloutDevices, true},
    {"checksum", "", Checksum, false},
    {"apikey", "create", ApiKeyCreate, true, true},
    {"apikey", "list", ApiKeyList, true, true},
    {"apikey", "delete", ApiKeyDelete, true, true},
};

// The API key of remote mode: --api_key, else the contents of --api_key_file, else
// $FWOTA_API_KEY.
absl::StatusOr<std::string> RemoteApiKey() {
  std::string key = absl::GetFlag(FLAGS_api_key);
  const std::string file = absl::GetFlag(FLAGS_api_key_file);
  if (key.empty() && !file.empty()) {
    std::ifstream in(file);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("cannot read the API key file ", file));
    }
    std::ostringstream text;
    text << in.rdbuf();
    key = std::string(absl::StripAsciiWhitespace(text.str()));
    if (key.empty()) return UsageError(absl::StrCat("the API key file ", file, " is empty"));
  }
  if (key.empty()) {
    const char* env = ::getenv("FWOTA_API_KEY");
    if (env != nullptr) key = std::string(absl::StripAsciiWhitespace(env));
  }
  if (key.empty()) {
    return UsageError(
        "--server needs an API key: --api_key=KEY, --api_key_file=PATH or FWOTA_API_KEY "
        "(fwotad writes the first one to <data_dir>/admin-api-key)");
  }
  return key;
}

// The audit log's userName for what this command line does.
std::string UserName() {
  const char* user = ::getenv("USER");
  return absl::StrCat("cli:", user != nullptr && *user != '\0' ? user : "unknown");
}

// FWOTA_CRASH_AT=<point>: a test hook that kills this process at a named point.
std::function<void(absl::string_view)> CrashHookFromEnvironment() {
  const char* at = ::getenv("FWOTA_CRASH_AT");
  if (at == nullptr || *at == '\0') return nullptr;
  return [point = std::string(at)](absl::string_view reached) {
    if (reached == point) ::raise(SIGKILL);
  };
}

void ReportError(const absl::Status& status, bool json) {
  std::string text;
  if (json) {
    text = absl::StrCat(adapters::ErrorJson(status, absl::ToUnixMillis(absl::Now())), "\n");
  } else {
    text = absl::StrCat("fwota: ", status.message(), "\n");
    if (IsUsageError(status)) absl::StrAppend(&text, kShortUsage);
  }
  fflush(stdout);
  fputs(text.c_str(), stderr);
}

absl::Status Dispatch(const std::vector<std::string>& words, bool json) {
  if (words.empty()) return UsageError("no command given");
  bool group_known = false;
  for (const Command& c : kCommands) {
    if (words[0] != c.group) continue;
    group_known = true;
    if (c.sub.empty() || (words.size() > 1 && words[1] == c.sub)) {
      if (c.embedded_only && RemoteMode()) {
        return UsageError(absl::StrCat(
            "`fwota ", c.group, " ", c.sub,
            "` works on a data directory only, not with --server (run it with --data_dir "
            "where fwotad keeps its data, while fwotad is stopped)"));
      }
      std::vector<std::string> args(words.begin() + (c.sub.empty() ? 1 : 2), words.end());
      Context ctx(json, c.tenant_scoped);
      return c.fn(ctx, args);
    }
  }
  if (group_known) {
    return UsageError(words.size() > 1
                          ? absl::StrCat("unknown command: ", words[0], " ", words[1])
                          : absl::StrCat("command ", words[0], " needs a subcommand"));
  }
  return UsageError(absl::StrCat("unknown command: ", words[0]));
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kUsagePayload, absl::Cord("1"));
  return s;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

bool RemoteMode() { return !absl::GetFlag(FLAGS_server).empty(); }

absl::StatusOr<OtaService*> Context::Service() {
  if (data_dir_ != nullptr) return &data_dir_->service();
  if (remote_ != nullptr) return remote_.get();
  if (RemoteMode()) {
    if (absl::GetFlag(FLAGS_tenant) != "default") {
      return UsageError("--tenant does not apply with --server: the API key decides the tenant");
    }
    remote::RemoteServiceOptions options;
    options.server_url = absl::GetFlag(FLAGS_server);
    options.insecure = absl::GetFlag(FLAGS_insecure);
    options.timeout_seconds = absl::GetFlag(FLAGS_timeout);
    FWOTA_ASSIGN_OR_RETURN(options.api_key, RemoteApiKey());
    absl::StatusOr<std::unique_ptr<OtaService>> service =
        remote::NewRemoteOtaService(std::move(options));
    if (absl::IsInvalidArgument(service.status())) return UsageError(service.status().message());
    if (!service.ok()) return service.status();
    remote_ = *std::move(service);
    return remote_.get();
  }
  OtaServiceOptions options;
  options.max_package_size = absl::GetFlag(FLAGS_max_package_size);
  options.crash_point = CrashHookFromEnvironment();
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<DataDir> dir,
                         DataDir::Open(absl::GetFlag(FLAGS_data_dir), std::move(options)));
  OtaService& service = dir->service();
  if (needs_tenant_) {
    const std::string name = absl::GetFlag(FLAGS_tenant);
    absl::StatusOr<Tenant> tenant = service.FindTenant(name);
    if (absl::IsNotFound(tenant.status()) && name == "default") {
      tenant = service.CreateTenant(name);
    }
    if (absl::IsNotFound(tenant.status())) {
      return absl::NotFoundError(absl::StrCat("tenant \"", name,
                                              "\" does not exist (create it with `fwota "
                                              "tenant create ",
                                              name, "`)"));
    }
    if (!tenant.ok()) return tenant.status();
    tenant_.tenant_id = tenant->id();
    tenant_.user_name = UserName();
  }
  data_dir_ = std::move(dir);
  return &data_dir_->service();
}

absl::Status ExpectArgs(const std::vector<std::string>& args, size_t count,
                        absl::string_view usage) {
  if (args.size() == count) return absl::OkStatus();
  if (args.size() > count) {
    return UsageError(absl::StrCat("unexpected argument \"", args[count], "\"; usage: fwota ",
                                   usage));
  }
  return UsageError(absl::StrCat("missing argument; usage: fwota ", usage));
}

absl::StatusOr<std::string> RequiredFlag(absl::string_view name, const std::string& value) {
  if (value.empty()) return UsageError(absl::StrCat("flag --", name, " is required"));
  return value;
}

void Print(absl::string_view text) { fwrite(text.data(), 1, text.size(), stdout); }

bool ShowProgress() { return ::isatty(STDERR_FILENO) == 1; }

int Main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-help" || arg == "-h" || (i == 1 && arg == "help")) {
      Print(kUsage);
      return adapters::kExitOk;
    }
  }
  PreparedArgs prepared;
  absl::Status status = PrepareArgs(argc, argv, prepared);
  if (!status.ok()) {
    ReportError(UsageError(status.message()), WantsJson(argc, argv));
    return adapters::kExitUsage;
  }
  std::vector<char*> positional = absl::ParseCommandLine(prepared.argc(), prepared.argv());
  std::vector<std::string> words;
  for (size_t i = 1; i < positional.size(); ++i) words.emplace_back(positional[i]);
  const bool json = absl::GetFlag(FLAGS_json);
  status = Dispatch(words, json);
  if (fflush(stdout) != 0 && status.ok()) {
    status = absl::UnavailableError("cannot write to standard output");
  }
  if (status.ok()) return adapters::kExitOk;
  ReportError(status, json);
  return IsUsageError(status) ? adapters::kExitUsage : adapters::ExitCodeFor(status);
}

}  // namespace fwota::cli
