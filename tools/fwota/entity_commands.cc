// Tenants, device profiles, devices, assignment, explain and audit.
#include <map>

#include "absl/flags/flag.h"
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

template <typename T>
void PrintJson(void (*write)(JsonWriter&, const T&), const T& value) {
  JsonWriter w;
  write(w, value);
  Print(absl::StrCat(w.str(), "\n"));
}

template <typename T>
void PrintJsonList(void (*write)(JsonWriter&, const T&), std::vector<T> items) {
  JsonWriter w;
  adapters::WritePage<T>(w, adapters::SinglePage(std::move(items)), write);
  Print(absl::StrCat(w.str(), "\n"));
}

// "title version" of package ids, looked up once each, for human-readable tables.
class PackageLabels {
 public:
  explicit PackageLabels(Context& ctx) : ctx_(ctx) {}
  std::string operator()(const std::string& id) {
    if (id.empty()) return "-";
    auto it = cache_.find(id);
    if (it != cache_.end()) return it->second;
    std::string label = id;
    absl::StatusOr<OtaService*> service = ctx_.Service();
    if (service.ok()) {
      absl::StatusOr<OtaPackage> p = (*service)->GetPackage(ctx_.tenant(), id);
      if (p.ok()) label = absl::StrCat(p->title(), " ", p->version());
    }
    return cache_[id] = label;
  }

 private:
  Context& ctx_;
  std::map<std::string, std::string> cache_;
};

std::string ProfileLabel(Context& ctx, const std::string& profile_id) {
  absl::StatusOr<OtaService*> service = ctx.Service();
  if (!service.ok()) return profile_id;
  absl::StatusOr<DeviceProfile> p = (*service)->FindProfile(ctx.tenant(), profile_id);
  return p.ok() ? p->name() : profile_id;
}

void PrintProfileDetails(Context& ctx, const DeviceProfile& p) {
  PackageLabels labels(ctx);
  Print(absl::StrCat("id:          ", p.id(), "\nname:        ", p.name(),
                     "\ndescription: ", OrDash(p.description()),
                     "\nfirmware:    ", labels(p.firmware_id()),
                     "\nsoftware:    ", labels(p.software_id()),
                     "\ncreated:     ", FormatMillis(p.created_time()), "\n"));
}

void PrintDeviceDetails(Context& ctx, const Device& d) {
  PackageLabels labels(ctx);
  Print(absl::StrCat("id:           ", d.id(), "\nname:         ", d.name(),
                     "\nprofile:      ", ProfileLabel(ctx, d.device_profile_id()),
                     "\naccess token: ", d.access_token(),
                     "\nfirmware:     ", labels(d.firmware_id()),
                     "\nsoftware:     ", labels(d.software_id()),
                     "\ncreated:      ", FormatMillis(d.created_time()), "\n"));
}

// --device or --profile, exactly one.
absl::Status OneTarget(const std::string& device, const std::string& profile,
                       absl::string_view command) {
  if (device.empty() == profile.empty()) {
    return UsageError(absl::StrCat(command, " needs exactly one of --device and --profile"));
  }
  return absl::OkStatus();
}

}  // namespace

// ---- Tenants ----

absl::Status TenantCreate(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "tenant create NAME"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Tenant tenant, service->CreateTenant(args[0]));
  if (ctx.json()) {
    PrintJson(adapters::WriteTenant, tenant);
  } else {
    Print(absl::StrCat("created tenant ", tenant.name(), " (", tenant.id(), ")\n"));
  }
  return absl::OkStatus();
}

absl::Status TenantList(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "tenant list"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(std::vector<Tenant> tenants, service->ListTenants());
  if (ctx.json()) {
    PrintJsonList(adapters::WriteTenant, std::move(tenants));
    return absl::OkStatus();
  }
  Table table({"ID", "NAME", "CREATED"});
  for (const Tenant& t : tenants) table.AddRow({t.id(), t.name(), FormatMillis(t.created_time())});
  Print(table.Render());
  return absl::OkStatus();
}

// ---- Device profiles ----

absl::Status ProfileCreate(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "profile create --name=N [--description=D]"));
  FWOTA_ASSIGN_OR_RETURN(std::string name, RequiredFlag("name", absl::GetFlag(FLAGS_name)));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(
      DeviceProfile profile,
      service->CreateProfile(ctx.tenant(), name, absl::GetFlag(FLAGS_description)));
  if (ctx.json()) {
    PrintJson(adapters::WriteDeviceProfile, profile);
  } else {
    Print(absl::StrCat("created device profile ", profile.name(), " (", profile.id(), ")\n"));
  }
  return absl::OkStatus();
}

absl::Status ProfileList(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "profile list"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(std::vector<DeviceProfile> profiles, service->ListProfiles(ctx.tenant()));
  if (ctx.json()) {
    PrintJsonList(adapters::WriteDeviceProfile, std::move(profiles));
    return absl::OkStatus();
  }
  PackageLabels labels(ctx);
  Table table({"ID", "NAME", "FIRMWARE", "SOFTWARE", "DESCRIPTION"});
  for (const DeviceProfile& p : profiles) {
    table.AddRow({p.id(), p.name(), labels(p.firmware_id()), labels(p.software_id()),
                  OrDash(p.description())});
  }
  Print(table.Render());
  return absl::OkStatus();
}

absl::Status ProfileGet(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "profile get ID|NAME"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile, service->FindProfile(ctx.tenant(), args[0]));
  if (ctx.json()) {
    PrintJson(adapters::WriteDeviceProfile, profile);
  } else {
    PrintProfileDetails(ctx, profile);
  }
  return absl::OkStatus();
}

absl::Status ProfileDelete(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "profile delete ID|NAME"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile, service->FindProfile(ctx.tenant(), args[0]));
  FWOTA_RETURN_IF_ERROR(service->DeleteProfile(ctx.tenant(), profile.id()));
  if (ctx.json()) {
    PrintJson(adapters::WriteDeviceProfile, profile);
  } else {
    Print(absl::StrCat("deleted device profile ", profile.name(), " (", profile.id(), ")\n"));
  }
  return absl::OkStatus();
}

// ---- Devices ----

absl::Status DeviceCreate(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "device create --name=N --profile=P [--token=T]"));
  FWOTA_ASSIGN_OR_RETURN(std::string name, RequiredFlag("name", absl::GetFlag(FLAGS_name)));
  FWOTA_ASSIGN_OR_RETURN(std::string profile,
                         RequiredFlag("profile", absl::GetFlag(FLAGS_profile)));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(
      Device device,
      service->CreateDevice(ctx.tenant(), name, profile, absl::GetFlag(FLAGS_token)));
  if (ctx.json()) {
    // ThingsBoard's device-with-credentials shape.
    JsonWriter w;
    w.BeginObject().Key("device");
    adapters::WriteDevice(w, device);
    w.Key("credentials");
    adapters::WriteDeviceCredentials(w, device);
    w.EndObject();
    Print(absl::StrCat(w.str(), "\n"));
  } else {
    Print(absl::StrCat("created device ", device.name(), " (", device.id(), ")\naccess token: ",
                       device.access_token(), "\n"));
  }
  return absl::OkStatus();
}

absl::Status DeviceList(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "device list"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(std::vector<Device> devices, service->ListDevices(ctx.tenant()));
  if (ctx.json()) {
    PrintJsonList(adapters::WriteDevice, std::move(devices));
    return absl::OkStatus();
  }
  FWOTA_ASSIGN_OR_RETURN(std::vector<DeviceProfile> profiles, service->ListProfiles(ctx.tenant()));
  std::map<std::string, std::string> profile_names;
  for (const DeviceProfile& p : profiles) profile_names[p.id()] = p.name();
  PackageLabels labels(ctx);
  Table table({"ID", "NAME", "PROFILE", "FIRMWARE", "SOFTWARE"});
  for (const Device& d : devices) {
    table.AddRow({d.id(), d.name(), profile_names[d.device_profile_id()],
                  labels(d.firmware_id()), labels(d.software_id())});
  }
  Print(table.Render());
  return absl::OkStatus();
}

absl::Status DeviceGet(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "device get ID|NAME"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Device device, service->FindDevice(ctx.tenant(), args[0]));
  if (ctx.json()) {
    PrintJson(adapters::WriteDevice, device);
  } else {
    PrintDeviceDetails(ctx, device);
  }
  return absl::OkStatus();
}

absl::Status DeviceCredentials(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "device credentials ID|NAME"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Device device, service->FindDevice(ctx.tenant(), args[0]));
  if (ctx.json()) {
    PrintJson(adapters::WriteDeviceCredentials, device);
  } else {
    Print(absl::StrCat(device.access_token(), "\n"));
  }
  return absl::OkStatus();
}

absl::Status DeviceDelete(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "device delete ID|NAME"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Device device, service->FindDevice(ctx.tenant(), args[0]));
  FWOTA_RETURN_IF_ERROR(service->DeleteDevice(ctx.tenant(), device.id()));
  if (ctx.json()) {
    PrintJson(adapters::WriteDevice, device);
  } else {
    Print(absl::StrCat("deleted device ", device.name(), " (", device.id(), ")\n"));
  }
  return absl::OkStatus();
}

absl::Status DeviceMove(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "device move ID|NAME --profile=P"));
  FWOTA_ASSIGN_OR_RETURN(std::string profile_ref,
                         RequiredFlag("profile", absl::GetFlag(FLAGS_profile)));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Device device, service->FindDevice(ctx.tenant(), args[0]));
  FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile, service->FindProfile(ctx.tenant(), profile_ref));
  FWOTA_ASSIGN_OR_RETURN(Device moved, service->MoveDevice(ctx.tenant(), device.id(), profile.id()));
  if (ctx.json()) {
    PrintJson(adapters::WriteDevice, moved);
  } else {
    Print(absl::StrCat("moved device ", moved.name(), " to profile ", profile.name(), "\n"));
  }
  return absl::OkStatus();
}

// ---- Assignment ----

absl::Status Assign(Context& ctx, const std::vector<std::string>& args) {
  constexpr absl::string_view kUsage = "assign --package=PKG (--device=D | --profile=P)";
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, kUsage));
  FWOTA_ASSIGN_OR_RETURN(std::string package_ref,
                         RequiredFlag("package", absl::GetFlag(FLAGS_package)));
  const std::string device_ref = absl::GetFlag(FLAGS_device);
  const std::string profile_ref = absl::GetFlag(FLAGS_profile);
  FWOTA_RETURN_IF_ERROR(OneTarget(device_ref, profile_ref, "assign"));
  std::optional<OtaPackageType> type_flag;
  if (!absl::GetFlag(FLAGS_type).empty()) {
    FWOTA_ASSIGN_OR_RETURN(type_flag, adapters::ParsePackageType(absl::GetFlag(FLAGS_type)));
  }
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  // The type comes from the package. A package that cannot be found (or is another
  // tenant's) is handed to the service as given, so that the answer is ThingsBoard's
  // ("Can't assign non-existent firmware!").
  std::string package_id = package_ref;
  OtaPackageType type = type_flag.value_or(::fwota::v1::FIRMWARE);
  std::string package_label = package_ref;
  absl::StatusOr<OtaPackage> package = ResolvePackage(ctx, package_ref);
  if (package.ok()) {
    package_id = package->id();
    if (!type_flag.has_value()) type = package->type();
    package_label = absl::StrCat(package->title(), " ", package->version());
  } else if (!absl::IsNotFound(package.status()) &&
             !absl::IsPermissionDenied(package.status())) {
    return package.status();
  }
  const std::string word = type == ::fwota::v1::SOFTWARE ? "software" : "firmware";
  if (!device_ref.empty()) {
    FWOTA_ASSIGN_OR_RETURN(Device device, service->FindDevice(ctx.tenant(), device_ref));
    FWOTA_ASSIGN_OR_RETURN(device, service->AssignDevicePackage(ctx.tenant(), device.id(), type,
                                                                package_id));
    if (ctx.json()) {
      PrintJson(adapters::WriteDevice, device);
    } else {
      Print(absl::StrCat("assigned ", word, " ", package_label, " to device ", device.name(),
                         "\n"));
    }
    return absl::OkStatus();
  }
  FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile, service->FindProfile(ctx.tenant(), profile_ref));
  FWOTA_ASSIGN_OR_RETURN(profile, service->AssignProfilePackage(ctx.tenant(), profile.id(), type,
                                                                package_id));
  if (ctx.json()) {
    PrintJson(adapters::WriteDeviceProfile, profile);
  } else {
    Print(absl::StrCat("assigned ", word, " ", package_label, " to device profile ",
                       profile.name(), "\n"));
  }
  return absl::OkStatus();
}

absl::Status Unassign(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(
      ExpectArgs(args, 0, "unassign --type=FIRMWARE|SOFTWARE (--device=D | --profile=P)"));
  FWOTA_ASSIGN_OR_RETURN(std::string type_name, RequiredFlag("type", absl::GetFlag(FLAGS_type)));
  FWOTA_ASSIGN_OR_RETURN(OtaPackageType type, adapters::ParsePackageType(type_name));
  const std::string device_ref = absl::GetFlag(FLAGS_device);
  const std::string profile_ref = absl::GetFlag(FLAGS_profile);
  FWOTA_RETURN_IF_ERROR(OneTarget(device_ref, profile_ref, "unassign"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  const std::string word = type == ::fwota::v1::SOFTWARE ? "software" : "firmware";
  if (!device_ref.empty()) {
    FWOTA_ASSIGN_OR_RETURN(Device device, service->FindDevice(ctx.tenant(), device_ref));
    FWOTA_ASSIGN_OR_RETURN(device,
                           service->AssignDevicePackage(ctx.tenant(), device.id(), type, ""));
    if (ctx.json()) {
      PrintJson(adapters::WriteDevice, device);
    } else {
      Print(absl::StrCat("unassigned ", word, " from device ", device.name(), "\n"));
    }
    return absl::OkStatus();
  }
  FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile, service->FindProfile(ctx.tenant(), profile_ref));
  FWOTA_ASSIGN_OR_RETURN(profile,
                         service->AssignProfilePackage(ctx.tenant(), profile.id(), type, ""));
  if (ctx.json()) {
    PrintJson(adapters::WriteDeviceProfile, profile);
  } else {
    Print(absl::StrCat("unassigned ", word, " from device profile ", profile.name(), "\n"));
  }
  return absl::OkStatus();
}

absl::Status Explain(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "explain --device=D [--type=FIRMWARE|SOFTWARE]"));
  FWOTA_ASSIGN_OR_RETURN(std::string device_ref,
                         RequiredFlag("device", absl::GetFlag(FLAGS_device)));
  OtaPackageType type = ::fwota::v1::FIRMWARE;
  if (!absl::GetFlag(FLAGS_type).empty()) {
    FWOTA_ASSIGN_OR_RETURN(type, adapters::ParsePackageType(absl::GetFlag(FLAGS_type)));
  }
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Device device, service->FindDevice(ctx.tenant(), device_ref));
  FWOTA_ASSIGN_OR_RETURN(Explanation explanation,
                         service->Explain(ctx.tenant(), device.id(), type));
  if (ctx.json()) {
    PrintJson(adapters::WriteExplanation, explanation);
    return absl::OkStatus();
  }
  std::string text = absl::StrCat("device:  ", device.name(), " (", device.id(), ")\n",
                                  "type:    ", PackageTypeName(type), "\n", "package: ");
  if (explanation.package.has_value()) {
    absl::StrAppend(&text, explanation.package->title(), " ", explanation.package->version(),
                    " (", explanation.package->id(), ")\n");
  } else {
    absl::StrAppend(&text, "none\n");
  }
  absl::StrAppend(&text, "source:  ", ExplanationSourceName(explanation.source), "\n",
                  "reason:  ", explanation.reason, "\n");
  Print(text);
  return absl::OkStatus();
}

// ---- Audit ----

absl::Status Audit(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "audit [--page_size=N --page=K]"));
  FWOTA_RETURN_IF_ERROR(CheckPagingFlags());
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(Page<AuditEvent> page,
                         ListPageOrAll<AuditEvent>("", [&](const PageQuery& query) {
                           return service->ListAudit(ctx.tenant(), query);
                         }));
  if (ctx.json()) {
    PrintJsonPage<AuditEvent>(page, adapters::WriteAuditEvent);
    return absl::OkStatus();
  }
  Table table({"TIME", "USER", "ACTION", "STATUS", "ENTITY", "NAME", "DETAILS"});
  for (const AuditEvent& e : page.data) {
    table.AddRow({FormatMillis(e.created_time()), e.user_name(),
                  ::fwota::v1::AuditActionType_Name(e.action_type()),
                  ::fwota::v1::AuditActionStatus_Name(e.action_status()), e.entity_type(),
                  OrDash(e.entity_name()), OrDash(e.failure_details())});
  }
  Print(table.Render());
  PrintPageFooter(page, "events");
  return absl::OkStatus();
}

}  // namespace fwota::cli

// ---- API keys (for fwotad's REST API) ----

namespace fwota::cli {

absl::Status ApiKeyCreate(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "apikey create --name=N"));
  FWOTA_ASSIGN_OR_RETURN(std::string name, RequiredFlag("name", absl::GetFlag(FLAGS_name)));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(NewApiKey key, service->CreateApiKey(ctx.tenant(), name));
  if (ctx.json()) {
    JsonWriter w;
    w.BeginObject()
        .Field("id", key.key.id())
        .Field("name", key.key.name())
        .Field("createdTime", key.key.created_time())
        .Field("secret", key.secret)
        .EndObject();
    Print(absl::StrCat(w.str(), "\n"));
  } else {
    Print(absl::StrCat("created API key ", key.key.name(), " (", key.key.id(),
                       "); its secret, shown only now:\n", key.secret, "\n"));
  }
  return absl::OkStatus();
}

absl::Status ApiKeyList(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 0, "apikey list"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(std::vector<ApiKey> keys, service->ListApiKeys(ctx.tenant()));
  if (ctx.json()) {
    JsonWriter w;
    w.BeginObject().Key("data").BeginArray();
    for (const ApiKey& k : keys) {
      w.BeginObject()
          .Field("id", k.id())
          .Field("name", k.name())
          .Field("createdTime", k.created_time())
          .EndObject();
    }
    w.EndArray().EndObject();
    Print(absl::StrCat(w.str(), "\n"));
    return absl::OkStatus();
  }
  Table table({"ID", "NAME", "CREATED"});
  for (const ApiKey& k : keys) table.AddRow({k.id(), k.name(), FormatMillis(k.created_time())});
  Print(table.Render());
  return absl::OkStatus();
}

absl::Status ApiKeyDelete(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "apikey delete ID|NAME"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_RETURN_IF_ERROR(service->DeleteApiKey(ctx.tenant(), args[0]));
  if (!ctx.json()) Print(absl::StrCat("deleted API key ", args[0], "\n"));
  else Print("{}\n");
  return absl::OkStatus();
}

}  // namespace fwota::cli
