// The update process as the administrator watches it: a rollout's per-state counts and
// devices, one device's update status and history. Each prints, with --json, what the
// REST route behind it answers (GET /api/ota/stats, /api/ota/devices,
// /api/device/{id}/otaStatus and /otaHistory), in embedded and remote mode alike.
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "adapters/common/tb_json.h"
#include "fwota/json_writer.h"
#include "fwota/status_macros.h"
#include "tools/fwota/cli.h"
#include "tools/fwota/flags.h"
#include "tools/fwota/output.h"
#include "tools/fwota/paging.h"

namespace fwota::cli {
namespace {

using adapters::PackageTypeName;

constexpr absl::string_view kPagingUsage = "[--page_size=N --page=K]";

absl::StatusOr<OtaPackageType> TypeFlag() {
  if (absl::GetFlag(FLAGS_type).empty()) return ::fwota::v1::FIRMWARE;
  return adapters::ParsePackageType(absl::GetFlag(FLAGS_type));
}

absl::StatusOr<UpdateState> StateFlag() {
  const std::string name = absl::GetFlag(FLAGS_state);
  if (name.empty()) return ::fwota::v1::UPDATE_STATE_UNSPECIFIED;
  absl::StatusOr<UpdateState> state = ParseUpdateState(name);
  if (!state.ok()) {
    return UsageError(absl::StrCat("invalid --state ", name,
                                   ": QUEUED, INITIATED, DOWNLOADING, DOWNLOADED, VERIFIED, "
                                   "UPDATING, UPDATED or FAILED"));
  }
  return state;
}

// Device names for a listing of statuses: one lookup each for a short listing, the
// tenant's whole device list for a long one.
absl::StatusOr<std::map<std::string, std::string>> DeviceNames(
    Context& ctx, const std::vector<UpdateStatus>& statuses) {
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  std::map<std::string, std::string> names;
  if (statuses.size() > 200) {
    FWOTA_ASSIGN_OR_RETURN(std::vector<Device> devices, service->ListDevices(ctx.tenant()));
    for (const Device& d : devices) names[d.id()] = d.name();
    return names;
  }
  for (const UpdateStatus& s : statuses) {
    if (names.count(s.device_id()) != 0) continue;
    absl::StatusOr<Device> device = service->FindDevice(ctx.tenant(), s.device_id());
    if (device.ok()) {
      names[s.device_id()] = device->name();
    } else if (!absl::IsNotFound(device.status())) {
      return device.status();
    }
  }
  return names;
}

// "title version", or "-".
std::string Label(absl::string_view title, absl::string_view version) {
  if (title.empty() && version.empty()) return "-";
  return absl::StrCat(title, " ", version);
}

std::string StateOrDash(UpdateState state) {
  return state == ::fwota::v1::UPDATE_STATE_UNSPECIFIED ? "-"
                                                        : std::string(UpdateStateName(state));
}

std::string TimeOrDash(int64_t millis) { return millis > 0 ? FormatMillis(millis) : "-"; }

}  // namespace

absl::Status RolloutStats(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "rollout stats [--type=FIRMWARE|SOFTWARE]"));
  FWOTA_ASSIGN_OR_RETURN(OtaPackageType type, TypeFlag());
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(std::vector<int64_t> counts,
                         service->CountUpdateStates(ctx.tenant(), type));
  if (ctx.json()) {
    JsonWriter w;
    adapters::WriteUpdateStats(w, type, counts);
    Print(absl::StrCat(w.str(), "\n"));
    return absl::OkStatus();
  }
  auto count = [&](int state) {
    return static_cast<size_t>(state) < counts.size() ? counts[state] : int64_t{0};
  };
  int64_t updating = 0;
  std::vector<std::string> header;
  std::vector<std::string> row;
  for (int i = ::fwota::v1::UPDATE_STATE_QUEUED; i <= ::fwota::v1::UPDATE_STATE_FAILED; ++i) {
    header.emplace_back(UpdateStateName(static_cast<UpdateState>(i)));
    row.push_back(absl::StrCat(count(i)));
    if (i >= ::fwota::v1::UPDATE_STATE_INITIATED && i <= ::fwota::v1::UPDATE_STATE_UPDATING) {
      updating += count(i);
    }
  }
  Table table(std::move(header));
  table.AddRow(std::move(row));
  Print(absl::StrCat(PackageTypeName(type), ": waiting ", count(::fwota::v1::UPDATE_STATE_QUEUED),
                     ", updating ", updating, ", updated ",
                     count(::fwota::v1::UPDATE_STATE_UPDATED), ", failed ",
                     count(::fwota::v1::UPDATE_STATE_FAILED), "\n", table.Render()));
  return absl::OkStatus();
}

absl::Status RolloutDevices(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(
      args, 0,
      absl::StrCat("rollout devices [--type=FIRMWARE|SOFTWARE] [--state=STATE] [--search=NAME] ",
                   kPagingUsage)));
  FWOTA_ASSIGN_OR_RETURN(OtaPackageType type, TypeFlag());
  FWOTA_ASSIGN_OR_RETURN(UpdateState state, StateFlag());
  FWOTA_RETURN_IF_ERROR(CheckPagingFlags());
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Page<UpdateStatus> page,
                         ListPageOrAll<UpdateStatus>(absl::GetFlag(FLAGS_search),
                                                     [&](const PageQuery& query) {
                           return service->ListUpdateStatuses(ctx.tenant(), type, state, query);
                         }));
  FWOTA_ASSIGN_OR_RETURN(auto names, DeviceNames(ctx, page.data));
  auto name_of = [&](const UpdateStatus& s) {
    auto it = names.find(s.device_id());
    return it == names.end() ? std::string() : it->second;
  };
  if (ctx.json()) {
    PrintJsonPage<UpdateStatus>(page, [&](JsonWriter& w, const UpdateStatus& s) {
      adapters::WriteUpdateStatus(w, s, name_of(s));
    });
    return absl::OkStatus();
  }
  Table table({"DEVICE", "STATE", "SINCE", "PROGRESS", "CURRENT", "TARGET", "NOTICES", "ERROR"});
  for (const UpdateStatus& s : page.data) {
    const std::string name = name_of(s);
    table.AddRow({name.empty() ? s.device_id() : name, StateOrDash(s.state()),
                  TimeOrDash(s.state_since()),
                  absl::StrCat(adapters::UpdateProgressPercent(s.state()), "%"),
                  Label(s.current_title(), s.current_version()),
                  Label(s.target_title(), s.target_version()), absl::StrCat(s.notices_sent()),
                  OrDash(s.error())});
  }
  Print(table.Render());
  PrintPageFooter(page, "devices");
  return absl::OkStatus();
}

absl::Status DeviceStatus(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "device status D [--type=FIRMWARE|SOFTWARE]"));
  FWOTA_ASSIGN_OR_RETURN(OtaPackageType type, TypeFlag());
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Device device, service->FindDevice(ctx.tenant(), args[0]));
  absl::StatusOr<UpdateStatus> status = service->GetUpdateStatus(ctx.tenant(), device.id(), type);
  if (absl::IsNotFound(status.status())) {
    return absl::NotFoundError(absl::StrCat("Device ", device.name(), " has no ",
                                            PackageTypeName(type),
                                            " update status: no package was ever assigned to it"));
  }
  if (!status.ok()) return status.status();
  if (ctx.json()) {
    JsonWriter w;
    adapters::WriteUpdateStatus(w, *status);
    Print(absl::StrCat(w.str(), "\n"));
    return absl::OkStatus();
  }
  const UpdateStatus& s = *status;
  std::string target = Label(s.target_title(), s.target_version());
  if (!s.target_package_id().empty()) absl::StrAppend(&target, " (", s.target_package_id(), ")");
  Print(absl::StrCat(
      "device:        ", device.name(), " (", device.id(), ")\n",                      //
      "type:          ", PackageTypeName(type), "\n",                                  //
      "state:         ", StateOrDash(s.state()), " since ", TimeOrDash(s.state_since()),
      " (", adapters::UpdateProgressPercent(s.state()), "%)\n",                        //
      "target:        ", target, "\n",                                                 //
      "current:       ", Label(s.current_title(), s.current_version()), "\n",          //
      "error:         ", OrDash(s.error()), "\n",                                      //
      "last activity: ", TimeOrDash(s.last_activity()), "\n",                          //
      "notices sent:  ", s.notices_sent(), "\n"));
  return absl::OkStatus();
}

absl::Status DeviceHistory(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(
      args, 1, absl::StrCat("device history D [--type=FIRMWARE|SOFTWARE] ", kPagingUsage)));
  FWOTA_ASSIGN_OR_RETURN(OtaPackageType type, TypeFlag());
  if (!absl::GetFlag(FLAGS_search).empty()) {
    return UsageError("device history takes no --search");
  }
  FWOTA_RETURN_IF_ERROR(CheckPagingFlags());
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Device device, service->FindDevice(ctx.tenant(), args[0]));
  FWOTA_ASSIGN_OR_RETURN(Page<UpdateEvent> page,
                         ListPageOrAll<UpdateEvent>("", [&](const PageQuery& query) {
                           return service->ListUpdateHistory(ctx.tenant(), device.id(), type,
                                                             query);
                         }));
  if (ctx.json()) {
    PrintJsonPage<UpdateEvent>(page, adapters::WriteUpdateEvent);
    return absl::OkStatus();
  }
  Table table({"TIME", "STATE", "PACKAGE", "SOURCE", "ACCEPTED", "ERROR", "NOTE"});
  for (const UpdateEvent& e : page.data) {
    table.AddRow({FormatMillis(e.created_time()), StateOrDash(e.state()),
                  Label(e.title(), e.version()), OrDash(e.source()), e.accepted() ? "yes" : "no",
                  OrDash(e.error()), OrDash(e.note())});
  }
  Print(table.Render());
  PrintPageFooter(page, "events");
  return absl::OkStatus();
}

}  // namespace fwota::cli
