// The admin REST API: ThingsBoard's package, device profile, device and audit routes, and
// fwota's update status, history and explain routes.
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapters/common/tb_json.h"
#include "adapters/http/internal/json_request.h"
#include "adapters/http/internal/multipart.h"
#include "adapters/http/internal/ota_http_util.h"
#include "adapters/http/internal/ota_range.h"
#include "adapters/http/internal/ota_routes.h"
#include "fwota/checksum.h"
#include "fwota/json_writer.h"

namespace fwota::http::internal {
namespace {

constexpr char kDefaultFileName[] = "firmware.bin";

// A page of entities as ThingsBoard's PageData.
template <typename T, typename Writer>
HttpResponse PageResponse(const Page<T>& page, Writer write_one) {
  JsonWriter w;
  adapters::WritePage<T>(w, page, write_one);
  return JsonResponse(w.str());
}

HttpResponse EmptyOk() {
  HttpResponse response;
  response.status = 200;
  return response;
}

// The JSON body of an admin request, bounded by max_json_body.
absl::StatusOr<std::string> JsonBody(const ApiContext& api, const RouteCall& call) {
  return ReadSmallBody(call.body, call.request.content_length, api.options.max_json_body);
}

// The plain request body as an upload source, with Content-Length as its size hint so
// the service refuses an oversized upload before reading it.
class PlainBodySource : public ByteSource {
 public:
  PlainBodySource(ByteSource& body, int64_t content_length)
      : body_(body), content_length_(content_length) {}
  absl::StatusOr<size_t> Read(absl::Span<char> out) override { return body_.Read(out); }
  int64_t SizeHint() const override { return content_length_; }

 private:
  ByteSource& body_;
  const int64_t content_length_;
};

// Applies an IdField to a current assignment: nothing when absent or unchanged.
// `assign` is called with the new package id ("" to unassign).
template <typename Assign>
absl::Status ApplyAssignment(const IdField& field, const std::string& current, Assign assign) {
  if (field.state == IdField::kAbsent) return absl::OkStatus();
  const std::string wanted = field.state == IdField::kSet ? field.id : std::string();
  if (wanted == current) return absl::OkStatus();
  return assign(wanted);
}

}  // namespace

// ---- Packages ----

HttpResponse SavePackageInfo(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<std::string> json = JsonBody(api, call);
  if (!json.ok()) return ErrorResponse(json.status());
  absl::StatusOr<PackageInfoRequest> info = ParsePackageInfoJson(*json);
  if (!info.ok()) return ErrorResponse(info.status());
  absl::StatusOr<OtaPackage> saved = api.service.SavePackageInfo(*call.tenant, *info);
  if (!saved.ok()) return ErrorResponse(saved.status());
  return JsonResponse(adapters::PackageJson(*saved));
}

HttpResponse UploadPackage(const ApiContext& api, const RouteCall& call) {
  const HttpRequest& request = call.request;
  UploadRequest upload;
  if (const std::string* algorithm = request.Query("checksumAlgorithm");
      algorithm != nullptr && !algorithm->empty()) {
    absl::StatusOr<ChecksumAlgorithm> parsed = ParseChecksumAlgorithm(*algorithm);
    if (!parsed.ok()) return ErrorResponse(parsed.status());
    upload.checksum_algorithm = *parsed;
  }
  if (const std::string* checksum = request.Query("checksum")) upload.checksum = *checksum;
  const std::string* query_name = request.Query("fileName");

  const std::string* content_type = request.Header("content-type");
  absl::StatusOr<OtaPackage> saved;
  if (content_type != nullptr && IsMultipartContentType(*content_type)) {
    absl::StatusOr<std::string> boundary = MultipartBoundary(*content_type);
    if (!boundary.ok()) return ErrorResponse(boundary.status());
    MultipartLimits limits;
    limits.max_overhead = api.options.max_multipart_overhead;
    absl::StatusOr<std::unique_ptr<MultipartFileSource>> file =
        MultipartFileSource::Open(call.body, *boundary, "file", limits);
    if (!file.ok()) return ErrorResponse(file.status());
    upload.file_name = (*file)->file_name();
    if (upload.file_name.empty() && query_name != nullptr) upload.file_name = *query_name;
    if (upload.file_name.empty()) upload.file_name = kDefaultFileName;
    upload.content_type = (*file)->content_type();
    saved = api.service.UploadPackageData(*call.tenant, call.params[0], upload, **file);
  } else {
    if (query_name != nullptr && !query_name->empty()) {
      upload.file_name = *query_name;
    } else if (const std::string* header = request.Header("x-filename");
               header != nullptr && !header->empty()) {
      upload.file_name = *header;
    } else {
      upload.file_name = kDefaultFileName;
    }
    // curl --data-binary sends form encoding by default; that says nothing about a file.
    if (content_type != nullptr &&
        !absl::StartsWithIgnoreCase(*content_type, "application/x-www-form-urlencoded")) {
      upload.content_type = *content_type;
    }
    PlainBodySource source(call.body, request.content_length);
    saved = api.service.UploadPackageData(*call.tenant, call.params[0], upload, source);
  }
  if (!saved.ok()) return ErrorResponse(saved.status());
  return JsonResponse(adapters::PackageJson(*saved));
}

HttpResponse GetPackage(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<OtaPackage> package = api.service.GetPackage(*call.tenant, call.params[0]);
  if (!package.ok()) return ErrorResponse(package.status());
  return JsonResponse(adapters::PackageJson(*package));
}

HttpResponse DownloadPackage(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<OtaPackage> package = api.service.GetPackage(*call.tenant, call.params[0]);
  if (!package.ok()) return ErrorResponse(package.status());
  absl::StatusOr<std::unique_ptr<BlobReader>> reader =
      api.service.OpenPackageData(*call.tenant, call.params[0]);
  if (!reader.ok()) return ErrorResponse(reader.status());
  std::shared_ptr<BlobReader> shared(std::move(reader).value());
  const std::string content_type =
      package->content_type().empty() ? "application/octet-stream" : package->content_type();
  return ServePackageBytes(call.request, std::move(shared), *package,
                           HeaderSafe(content_type, false), 0, 0);
}

HttpResponse DeletePackage(const ApiContext& api, const RouteCall& call) {
  absl::Status s = api.service.DeletePackage(*call.tenant, call.params[0]);
  if (!s.ok()) return ErrorResponse(s);
  return EmptyOk();
}

HttpResponse ListPackages(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<PageQuery> query = ParsePageQuery(call.request, /*with_sort=*/true);
  if (!query.ok()) return ErrorResponse(query.status());
  absl::StatusOr<Page<OtaPackage>> page = api.service.ListPackages(*call.tenant, *query);
  if (!page.ok()) return ErrorResponse(page.status());
  return PageResponse(*page, adapters::WritePackage);
}

HttpResponse ListProfilePackages(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<OtaPackageType> type = adapters::ParsePackageType(call.params[1]);
  if (!type.ok()) return ErrorResponse(type.status());
  absl::StatusOr<PageQuery> query = ParsePageQuery(call.request, /*with_sort=*/false);
  if (!query.ok()) return ErrorResponse(query.status());
  absl::StatusOr<std::vector<OtaPackage>> packages =
      api.service.ListProfilePackages(*call.tenant, call.params[0], *type);
  if (!packages.ok()) return ErrorResponse(packages.status());
  Page<OtaPackage> page = PageOf(std::move(packages).value(), *query,
                                 [](const OtaPackage& p) -> const std::string& { return p.title(); });
  return PageResponse(page, adapters::WritePackage);
}

// ---- Device profiles ----

HttpResponse SaveProfile(const ApiContext& api, const RouteCall& call) {
  const TenantContext& ctx = *call.tenant;
  absl::StatusOr<std::string> json = JsonBody(api, call);
  if (!json.ok()) return ErrorResponse(json.status());
  absl::StatusOr<ProfileRequest> r = ParseProfileJson(*json);
  if (!r.ok()) return ErrorResponse(r.status());

  const bool create = r->id.empty();
  DeviceProfile profile;
  if (create) {
    absl::StatusOr<DeviceProfile> created =
        api.service.CreateProfile(ctx, r->name, r->description.value_or(""));
    if (!created.ok()) return ErrorResponse(created.status());
    profile = *std::move(created);
  } else {
    absl::StatusOr<DeviceProfile> found = api.service.FindProfile(ctx, r->id);
    if (!found.ok()) return ErrorResponse(found.status());
    profile = *std::move(found);
    // The service can change a profile's assignments only; say so rather than drop edits.
    if (!r->name.empty() && r->name != profile.name()) {
      return ErrorResponse(
          absl::InvalidArgumentError("Updating the device profile name is not supported!"));
    }
    if (r->description.has_value() && *r->description != profile.description()) {
      return ErrorResponse(absl::InvalidArgumentError(
          "Updating the device profile description is not supported!"));
    }
  }
  auto assign = [&](OtaPackageType type) {
    return [&, type](const std::string& package_id) -> absl::Status {
      absl::StatusOr<DeviceProfile> updated =
          api.service.AssignProfilePackage(ctx, profile.id(), type, package_id);
      if (!updated.ok()) return updated.status();
      profile = *std::move(updated);
      return absl::OkStatus();
    };
  };
  absl::Status s = ApplyAssignment(r->firmware_id, profile.firmware_id(), assign(::fwota::v1::FIRMWARE));
  if (s.ok()) {
    s = ApplyAssignment(r->software_id, profile.software_id(), assign(::fwota::v1::SOFTWARE));
  }
  if (!s.ok()) {
    // A create is all or nothing, as in ThingsBoard (one transaction there).
    if (create) api.service.DeleteProfile(ctx, profile.id()).IgnoreError();
    return ErrorResponse(s);
  }
  return JsonResponse(adapters::DeviceProfileJson(profile));
}

HttpResponse GetProfile(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<DeviceProfile> profile = api.service.FindProfile(*call.tenant, call.params[0]);
  if (!profile.ok()) return ErrorResponse(profile.status());
  return JsonResponse(adapters::DeviceProfileJson(*profile));
}

HttpResponse DeleteProfile(const ApiContext& api, const RouteCall& call) {
  absl::Status s = api.service.DeleteProfile(*call.tenant, call.params[0]);
  if (!s.ok()) return ErrorResponse(s);
  return EmptyOk();
}

HttpResponse ListProfiles(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<PageQuery> query = ParsePageQuery(call.request, /*with_sort=*/false);
  if (!query.ok()) return ErrorResponse(query.status());
  absl::StatusOr<std::vector<DeviceProfile>> profiles = api.service.ListProfiles(*call.tenant);
  if (!profiles.ok()) return ErrorResponse(profiles.status());
  Page<DeviceProfile> page =
      PageOf(std::move(profiles).value(), *query,
             [](const DeviceProfile& p) -> const std::string& { return p.name(); });
  return PageResponse(page, adapters::WriteDeviceProfile);
}

// ---- Devices ----

HttpResponse SaveDevice(const ApiContext& api, const RouteCall& call) {
  const TenantContext& ctx = *call.tenant;
  absl::StatusOr<std::string> json = JsonBody(api, call);
  if (!json.ok()) return ErrorResponse(json.status());
  absl::StatusOr<DeviceRequest> r = ParseDeviceJson(*json);
  if (!r.ok()) return ErrorResponse(r.status());

  const bool create = r->id.empty();
  Device device;
  if (create) {
    const std::string* token = call.request.Query("accessToken");
    const std::string profile = !r->profile_id.empty() ? r->profile_id : r->profile_name;
    absl::StatusOr<Device> created =
        api.service.CreateDevice(ctx, r->name, profile, token == nullptr ? "" : *token);
    if (!created.ok()) return ErrorResponse(created.status());
    device = *std::move(created);
  } else {
    absl::StatusOr<Device> found = api.service.FindDevice(ctx, r->id);
    if (!found.ok()) return ErrorResponse(found.status());
    device = *std::move(found);
    if (!r->name.empty() && r->name != device.name()) {
      return ErrorResponse(
          absl::InvalidArgumentError("Updating the device name is not supported!"));
    }
  }
  auto assign = [&](OtaPackageType type) {
    return [&, type](const std::string& package_id) -> absl::Status {
      absl::StatusOr<Device> updated =
          api.service.AssignDevicePackage(ctx, device.id(), type, package_id);
      if (!updated.ok()) return updated.status();
      device = *std::move(updated);
      return absl::OkStatus();
    };
  };
  if (!create && !r->profile_id.empty() && r->profile_id != device.device_profile_id()) {
    // A move to another profile. Overrides the body removes go first (the device could
    // not leave their profile with them); the new ones are checked against the new
    // profile after the move.
    for (auto [field, type] : {std::pair{&r->firmware_id, ::fwota::v1::FIRMWARE},
                               std::pair{&r->software_id, ::fwota::v1::SOFTWARE}}) {
      if (field->state == IdField::kNull) {
        absl::Status removed = ApplyAssignment(
            *field, type == ::fwota::v1::FIRMWARE ? device.firmware_id() : device.software_id(),
            assign(type));
        if (!removed.ok()) return ErrorResponse(removed);
      }
    }
    absl::StatusOr<Device> moved = api.service.MoveDevice(ctx, device.id(), r->profile_id);
    if (!moved.ok()) return ErrorResponse(moved.status());
    device = *std::move(moved);
  }
  absl::Status s = ApplyAssignment(r->firmware_id, device.firmware_id(), assign(::fwota::v1::FIRMWARE));
  if (s.ok()) {
    s = ApplyAssignment(r->software_id, device.software_id(), assign(::fwota::v1::SOFTWARE));
  }
  if (!s.ok()) {
    if (create) api.service.DeleteDevice(ctx, device.id()).IgnoreError();
    return ErrorResponse(s);
  }
  return JsonResponse(adapters::DeviceJson(device));
}

HttpResponse GetDevice(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<Device> device = api.service.FindDevice(*call.tenant, call.params[0]);
  if (!device.ok()) return ErrorResponse(device.status());
  return JsonResponse(adapters::DeviceJson(*device));
}

HttpResponse GetDeviceCredentials(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<Device> device = api.service.FindDevice(*call.tenant, call.params[0]);
  if (!device.ok()) return ErrorResponse(device.status());
  return JsonResponse(adapters::DeviceCredentialsJson(*device));
}

HttpResponse DeleteDevice(const ApiContext& api, const RouteCall& call) {
  absl::Status s = api.service.DeleteDevice(*call.tenant, call.params[0]);
  if (!s.ok()) return ErrorResponse(s);
  return EmptyOk();
}

HttpResponse ListDevices(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<PageQuery> query = ParsePageQuery(call.request, /*with_sort=*/false);
  if (!query.ok()) return ErrorResponse(query.status());
  absl::StatusOr<std::vector<Device>> devices = api.service.ListDevices(*call.tenant);
  if (!devices.ok()) return ErrorResponse(devices.status());
  Page<Device> page = PageOf(std::move(devices).value(), *query,
                             [](const Device& d) -> const std::string& { return d.name(); });
  return PageResponse(page, adapters::WriteDevice);
}

// ---- Audit, update status and history, explain ----

HttpResponse ListAudit(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<PageQuery> query = ParsePageQuery(call.request, /*with_sort=*/false);
  if (!query.ok()) return ErrorResponse(query.status());
  absl::StatusOr<Page<AuditEvent>> page = api.service.ListAudit(*call.tenant, *query);
  if (!page.ok()) return ErrorResponse(page.status());
  return PageResponse(*page, adapters::WriteAuditEvent);
}

HttpResponse GetOtaStatus(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<OtaPackageType> type = TypeParam(call.request, "type", ::fwota::v1::FIRMWARE);
  if (!type.ok()) return ErrorResponse(type.status());
  absl::StatusOr<UpdateStatus> status =
      api.service.GetUpdateStatus(*call.tenant, call.params[0], *type);
  if (!status.ok()) return ErrorResponse(status.status());
  return JsonResponse(adapters::UpdateStatusJson(*status));
}

HttpResponse ListOtaHistory(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<OtaPackageType> type = TypeParam(call.request, "type", ::fwota::v1::FIRMWARE);
  if (!type.ok()) return ErrorResponse(type.status());
  absl::StatusOr<PageQuery> query = ParsePageQuery(call.request, /*with_sort=*/false);
  if (!query.ok()) return ErrorResponse(query.status());
  absl::StatusOr<Page<UpdateEvent>> page =
      api.service.ListUpdateHistory(*call.tenant, call.params[0], *type, *query);
  if (!page.ok()) return ErrorResponse(page.status());
  return PageResponse(*page, adapters::WriteUpdateEvent);
}

// The dashboard's count cards and the per-state counts behind them (see
// adapters::WriteUpdateStats).
HttpResponse GetOtaStats(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<OtaPackageType> type = TypeParam(call.request, "type", ::fwota::v1::FIRMWARE);
  if (!type.ok()) return ErrorResponse(type.status());
  absl::StatusOr<std::vector<int64_t>> counts = api.service.CountUpdateStates(*call.tenant, *type);
  if (!counts.ok()) return ErrorResponse(counts.status());
  JsonWriter w;
  adapters::WriteUpdateStats(w, *type, *counts);
  return JsonResponse(w.str());
}

// The devices in one state (or all), paged, with device-name search.
HttpResponse ListOtaDevices(const ApiContext& api, const RouteCall& call) {
  absl::StatusOr<OtaPackageType> type = TypeParam(call.request, "type", ::fwota::v1::FIRMWARE);
  if (!type.ok()) return ErrorResponse(type.status());
  UpdateState state = ::fwota::v1::UPDATE_STATE_UNSPECIFIED;
  if (const std::string* name = call.request.Query("state"); name != nullptr && !name->empty()) {
    absl::StatusOr<UpdateState> parsed = ParseUpdateState(*name);
    if (!parsed.ok()) return ErrorResponse(parsed.status());
    state = *parsed;
  }
  absl::StatusOr<PageQuery> query = ParsePageQuery(call.request, /*with_sort=*/false);
  if (!query.ok()) return ErrorResponse(query.status());
  absl::StatusOr<Page<UpdateStatus>> page =
      api.service.ListUpdateStatuses(*call.tenant, *type, state, *query);
  if (!page.ok()) return ErrorResponse(page.status());
  // Each entry names its device, so a dashboard need not fetch every device.
  return PageResponse(*page, [&](JsonWriter& w, const UpdateStatus& s) {
    absl::StatusOr<Device> device = api.service.FindDevice(*call.tenant, s.device_id());
    adapters::WriteUpdateStatus(w, s, device.ok() ? device->name() : std::string());
  });
}

HttpResponse ExplainDevice(const ApiContext& api, const RouteCall& call) {
  const std::string* device_id = call.request.Query("deviceId");
  if (device_id == nullptr || device_id->empty()) {
    return ErrorResponse(
        absl::InvalidArgumentError("Required request parameter 'deviceId' is not present"));
  }
  absl::StatusOr<std::string> id = CheckUuid(*device_id);
  if (!id.ok()) return ErrorResponse(id.status());
  absl::StatusOr<OtaPackageType> type = TypeParam(call.request, "type", ::fwota::v1::FIRMWARE);
  if (!type.ok()) return ErrorResponse(type.status());
  absl::StatusOr<Explanation> why = api.service.Explain(*call.tenant, *id, *type);
  if (!why.ok()) return ErrorResponse(why.status());
  return JsonResponse(adapters::ExplanationJson(*why));
}

}  // namespace fwota::http::internal
