// OtaService: the facade over the stores and the rules. See fwota/ota_service.h.
#include "fwota/ota_service.h"

#include <pthread.h>

#include <algorithm>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include <atomic>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "fwota/json_writer.h"
#include "fwota/status_macros.h"
#include "lib/assignment/assignment_rules.h"
#include "lib/audit/audit_log.h"
#include "lib/registry/package_rules.h"
#include "lib/registry/upload_pipeline.h"
#include "lib/updates/notices.h"
#include "lib/updates/update_state_machine.h"
#include "lib/util/random.h"

namespace fwota {

absl::string_view ExplanationSourceName(Explanation::Source source) {
  switch (source) {
    case Explanation::Source::kDeviceOverride:
      return "device_override";
    case Explanation::Source::kProfileDefault:
      return "profile_default";
    case Explanation::Source::kNone:
      return "none";
  }
  return "none";
}

namespace {

using internal::AuditSubject;
using ::fwota::v1::ADDED;
using ::fwota::v1::ASSIGNED;
using ::fwota::v1::DELETED;
using ::fwota::v1::UNASSIGNED;
using ::fwota::v1::UPDATED;

constexpr OtaPackageType kTypes[] = {::fwota::v1::FIRMWARE, ::fwota::v1::SOFTWARE};
constexpr char kNoPermission[] = "You don't have permission to perform this operation!";
constexpr char kNotFoundMessage[] = "Requested item wasn't found!";
constexpr int kAccessTokenLength = 20;
// API key secrets look like "fwota_" + 40 alphanumerics (238 bits).
constexpr absl::string_view kApiKeyPrefix = "fwota_";

absl::Status NotFound() { return absl::NotFoundError(kNotFoundMessage); }
absl::Status NoPermission() { return absl::PermissionDeniedError(kNoPermission); }

// A store lookup by id, with the service's messages: kNotFound for a missing row,
// kPermissionDenied for another tenant's.
template <typename T>
absl::StatusOr<T> OwnedBy(absl::StatusOr<T> found, absl::string_view tenant_id) {
  if (absl::IsNotFound(found.status())) return NotFound();
  if (!found.ok()) return found.status();
  if (found->tenant_id() != tenant_id) return NoPermission();
  return found;
}

absl::Status CheckName(absl::string_view what, absl::string_view name) {
  if (absl::StripAsciiWhitespace(name).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " name should be specified!"));
  }
  if (name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " name should not contain 0x00 symbol!"));
  }
  if (name.size() > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " name length must be equal or shorter than 255!"));
  }
  return absl::OkStatus();
}

AuditSubject SubjectOf(const OtaPackage& p) {
  return {"OTA_PACKAGE", p.id(), absl::StrCat(p.title(), " ", p.version())};
}
AuditSubject SubjectOf(const Device& d) { return {"DEVICE", d.id(), d.name()}; }
AuditSubject SubjectOf(const DeviceProfile& p) { return {"DEVICE_PROFILE", p.id(), p.name()}; }

std::string AssignmentData(OtaPackageType type, absl::string_view package_id) {
  JsonWriter w;
  w.BeginObject().Field("type", internal::TypeName(type));
  if (package_id.empty()) {
    w.Key("otaPackageId").Null();
  } else {
    w.Field("otaPackageId", package_id);
  }
  w.EndObject();
  return w.str();
}

// A new history entry about `device_id`'s `type`, with a fresh time-ordered id (the
// history table grows at its end); accepted unless the caller says otherwise.
UpdateEvent NewUpdateEvent(absl::string_view tenant_id, absl::string_view device_id,
                           OtaPackageType type, absl::string_view source, int64_t now) {
  UpdateEvent event;
  event.set_id(internal::NewTimeOrderedUuid(now));
  event.set_tenant_id(std::string(tenant_id));
  event.set_device_id(std::string(device_id));
  event.set_type(type);
  event.set_source(std::string(source));
  event.set_accepted(true);
  event.set_created_time(now);
  return event;
}

// The device's status of `type`; a fresh one (no state, no target) when it has none,
// and then *existed is false.
absl::StatusOr<UpdateStatus> StatusOrNew(MetadataTransaction& tx, const Device& device,
                                         OtaPackageType type, bool* existed = nullptr) {
  absl::StatusOr<UpdateStatus> found = tx.GetUpdateStatus(device.id(), type);
  if (existed != nullptr) *existed = found.ok();
  if (found.ok() || !absl::IsNotFound(found.status())) return found;
  UpdateStatus fresh;
  fresh.set_tenant_id(device.tenant_id());
  fresh.set_device_id(device.id());
  fresh.set_type(type);
  return fresh;
}

class OtaServiceImpl : public OtaService {
 public:
  explicit OtaServiceImpl(OtaServiceOptions options)
      : options_(std::move(options)),
        metadata_(*options_.metadata),
        blobs_(*options_.blobs),
        clock_(*options_.clock) {}

  absl::Status Recover() {
    // Reports acknowledged before the last stop (or crash) may wait in the report log.
    FWOTA_RETURN_IF_ERROR(RecoverReportLog());
    absl::MutexLock lock(&blob_mu_);
    FWOTA_RETURN_IF_ERROR(blobs_.RemoveIncompleteWrites());
    std::vector<std::string> referenced;
    FWOTA_RETURN_IF_ERROR(metadata_.RunInTransaction([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(referenced, tx.ListBlobKeys());
      return absl::OkStatus();
    }));
    std::set<std::string> keep(referenced.begin(), referenced.end());
    FWOTA_ASSIGN_OR_RETURN(std::vector<std::string> stored, blobs_.ListKeys());
    for (const std::string& key : stored) {
      if (keep.count(key) == 0) {
        absl::Status s = blobs_.Delete(key);
        if (!s.ok() && !absl::IsNotFound(s)) return s;
      }
    }
    return absl::OkStatus();
  }

  // ---- Tenants ----

  absl::StatusOr<Tenant> CreateTenant(absl::string_view name) override {
    FWOTA_RETURN_IF_ERROR(CheckName("Tenant", name));
    Tenant tenant;
    tenant.set_id(internal::NewUuid());
    tenant.set_name(std::string(name));
    tenant.set_created_time(clock_.NowMillis());
    absl::Status s = Mutate([&](MetadataTransaction& tx) {
      if (tx.FindTenantByName(name).ok()) {
        return absl::AlreadyExistsError("Tenant with such name already exists!");
      }
      return tx.InsertTenant(tenant);
    });
    if (!s.ok()) return s;
    return tenant;
  }

  absl::StatusOr<Tenant> FindTenant(absl::string_view id_or_name) override {
    absl::StatusOr<Tenant> out = NotFound();
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      out = tx.GetTenant(id_or_name);
      if (absl::IsNotFound(out.status())) out = tx.FindTenantByName(id_or_name);
      if (absl::IsNotFound(out.status())) out = NotFound();
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<std::vector<Tenant>> ListTenants() override {
    std::vector<Tenant> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(out, tx.ListTenants());
      return absl::OkStatus();
    }));
    return out;
  }

  // ---- Device profiles ----

  absl::StatusOr<DeviceProfile> CreateProfile(const TenantContext& ctx, absl::string_view name,
                                              absl::string_view description) override {
    DeviceProfile profile;
    profile.set_id(internal::NewUuid());
    profile.set_tenant_id(ctx.tenant_id);
    profile.set_name(std::string(name));
    profile.set_description(std::string(description));
    profile.set_created_time(clock_.NowMillis());
    absl::Status s = CheckName("Device profile", name);
    if (s.ok()) {
      s = Mutate([&](MetadataTransaction& tx) {
        FWOTA_RETURN_IF_ERROR(CheckTenantExists(tx, ctx));
        if (tx.FindProfileByName(ctx.tenant_id, name).ok()) {
          return absl::AlreadyExistsError("Device profile with such name already exists!");
        }
        FWOTA_RETURN_IF_ERROR(tx.InsertProfile(profile));
        return Audit(tx, ctx, SubjectOf(profile), ADDED, absl::OkStatus());
      });
    }
    if (!s.ok()) return Failed(ctx, SubjectOf(profile), ADDED, s);
    return profile;
  }

  absl::StatusOr<DeviceProfile> FindProfile(const TenantContext& ctx,
                                            absl::string_view id_or_name) override {
    absl::StatusOr<DeviceProfile> out = NotFound();
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      out = FindProfileIn(tx, ctx, id_or_name);
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<std::vector<DeviceProfile>> ListProfiles(const TenantContext& ctx) override {
    std::vector<DeviceProfile> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(out, tx.ListProfiles(ctx.tenant_id));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::Status DeleteProfile(const TenantContext& ctx, absl::string_view id) override {
    AuditSubject subject{"DEVICE_PROFILE", std::string(id), ""};
    absl::Status s = Mutate([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile, OwnedBy(tx.GetProfile(id), ctx.tenant_id));
      subject = SubjectOf(profile);
      FWOTA_ASSIGN_OR_RETURN(int64_t devices, tx.CountDevicesInProfile(profile.id()));
      if (devices > 0) {
        return absl::FailedPreconditionError(
            "The device profile referenced by the devices cannot be deleted!");
      }
      FWOTA_ASSIGN_OR_RETURN(int64_t packages, tx.CountPackagesInProfile(profile.id()));
      if (packages > 0) {
        return absl::FailedPreconditionError(
            "The device profile referenced by the OTA packages cannot be deleted!");
      }
      FWOTA_RETURN_IF_ERROR(tx.DeleteProfile(profile.id()));
      return Audit(tx, ctx, subject, DELETED, absl::OkStatus());
    });
    if (!s.ok()) return Failed(ctx, subject, DELETED, s);
    return s;
  }

  // ---- Devices ----

  absl::StatusOr<Device> CreateDevice(const TenantContext& ctx, absl::string_view name,
                                      absl::string_view profile_id_or_name,
                                      absl::string_view access_token) override {
    Device device;
    device.set_id(internal::NewUuid());
    device.set_tenant_id(ctx.tenant_id);
    device.set_name(std::string(name));
    device.set_type("default");
    device.set_created_time(clock_.NowMillis());
    absl::Status s = CheckName("Device", name);
    if (s.ok() && !access_token.empty()) s = CheckAccessToken(access_token);
    if (s.ok()) {
      s = Mutate([&](MetadataTransaction& tx) {
        FWOTA_RETURN_IF_ERROR(CheckTenantExists(tx, ctx));
        absl::StatusOr<DeviceProfile> profile = FindProfileIn(tx, ctx, profile_id_or_name);
        if (absl::IsNotFound(profile.status())) {
          return absl::InvalidArgumentError("Device is referencing to non-existent device profile!");
        }
        if (!profile.ok()) return profile.status();
        device.set_device_profile_id(profile->id());
        if (tx.FindDeviceByName(ctx.tenant_id, name).ok()) {
          return absl::AlreadyExistsError("Device with such name already exists!");
        }
        if (access_token.empty()) {
          do {
            device.set_access_token(internal::RandomAlphanumeric(kAccessTokenLength));
          } while (tx.FindDeviceByAccessToken(device.access_token()).ok());
        } else {
          if (tx.FindDeviceByAccessToken(access_token).ok()) {
            return absl::AlreadyExistsError(
                "Device credentials are already assigned to another device!");
          }
          device.set_access_token(std::string(access_token));
        }
        FWOTA_RETURN_IF_ERROR(tx.InsertDevice(device));
        // A device born into a profile with a package gets it like any other member.
        for (OtaPackageType type : {::fwota::v1::FIRMWARE, ::fwota::v1::SOFTWARE}) {
          FWOTA_RETURN_IF_ERROR(QueueIfTargetChanged(tx, device, type, Explanation{}, "profile"));
        }
        return Audit(tx, ctx, SubjectOf(device), ADDED, absl::OkStatus());
      });
    }
    if (!s.ok()) return Failed(ctx, SubjectOf(device), ADDED, s);
    return device;
  }

  absl::StatusOr<Device> FindDevice(const TenantContext& ctx,
                                    absl::string_view id_or_name) override {
    absl::StatusOr<Device> out = NotFound();
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      out = FindDeviceIn(tx, ctx, id_or_name);
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<std::vector<Device>> ListDevices(const TenantContext& ctx) override {
    std::vector<Device> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(out, tx.ListDevices(ctx.tenant_id, ""));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::Status DeleteDevice(const TenantContext& ctx, absl::string_view id) override {
    AuditSubject subject{"DEVICE", std::string(id), ""};
    absl::Status s = Mutate([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(Device device, OwnedBy(tx.GetDevice(id), ctx.tenant_id));
      subject = SubjectOf(device);
      FWOTA_RETURN_IF_ERROR(tx.DeleteDevice(device.id()));
      return Audit(tx, ctx, subject, DELETED, absl::OkStatus());
    });
    if (!s.ok()) return Failed(ctx, subject, DELETED, s);
    return s;
  }

  absl::StatusOr<Device> MoveDevice(const TenantContext& ctx, absl::string_view device_id,
                                    absl::string_view profile_id_or_name) override {
    AuditSubject subject{"DEVICE", std::string(device_id), ""};
    Device device;
    absl::Status s = Mutate([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(device, OwnedBy(tx.GetDevice(device_id), ctx.tenant_id));
      subject = SubjectOf(device);
      absl::StatusOr<DeviceProfile> profile = FindProfileIn(tx, ctx, profile_id_or_name);
      if (absl::IsNotFound(profile.status())) {
        return absl::InvalidArgumentError("Device is referencing to non-existent device profile!");
      }
      FWOTA_RETURN_IF_ERROR(profile.status());
      if (profile->id() == device.device_profile_id()) return absl::OkStatus();
      // The device's own packages must belong to its new profile (ThingsBoard's check).
      for (OtaPackageType type : {::fwota::v1::FIRMWARE, ::fwota::v1::SOFTWARE}) {
        const std::string& own = internal::AssignedId(device, type);
        if (!own.empty()) {
          FWOTA_RETURN_IF_ERROR(
              CheckAssignable(tx, ctx.tenant_id, profile->id(), type, own).status());
        }
      }
      Explanation before[2];
      for (int i = 0; i < 2; ++i) {
        FWOTA_ASSIGN_OR_RETURN(before[i],
                               internal::ExplainEffectivePackage(tx, device, kTypes[i]));
      }
      device.set_device_profile_id(profile->id());
      FWOTA_RETURN_IF_ERROR(tx.UpdateDevice(device));
      for (int i = 0; i < 2; ++i) {
        FWOTA_RETURN_IF_ERROR(
            QueueIfTargetChanged(tx, device, kTypes[i], before[i], "move to another profile"));
      }
      JsonWriter data;
      data.BeginObject().Field("deviceProfileId", profile->id()).EndObject();
      return Audit(tx, ctx, subject, UPDATED, absl::OkStatus(), data.str());
    });
    if (!s.ok()) return Failed(ctx, subject, UPDATED, s);
    return device;
  }

  absl::StatusOr<Device> AuthenticateDevice(absl::string_view access_token) override {
    absl::StatusOr<Device> out = absl::UnauthenticatedError("Invalid device access token");
    FWOTA_RETURN_IF_ERROR(metadata_.RunInTransaction([&](MetadataTransaction& tx) {
      if (access_token.empty()) return absl::OkStatus();
      absl::StatusOr<Device> found = tx.FindDeviceByAccessToken(access_token);
      if (found.ok()) out = std::move(found);
      else if (!absl::IsNotFound(found.status())) return found.status();
      return absl::OkStatus();
    }));
    return out;
  }

  // ---- Packages ----

  absl::StatusOr<OtaPackage> SavePackageInfo(const TenantContext& ctx,
                                             const PackageInfoRequest& request) override {
    if (!request.id.empty()) return UpdatePackageInfo(ctx, request);
    OtaPackage package;
    absl::Status s = BuildNewPackage(ctx, request, package);
    if (s.ok()) {
      s = Mutate([&](MetadataTransaction& tx) {
        FWOTA_RETURN_IF_ERROR(CheckNewPackage(tx, ctx, package));
        FWOTA_RETURN_IF_ERROR(tx.InsertPackage(package));
        return Audit(tx, ctx, SubjectOf(package), ADDED, absl::OkStatus());
      });
    }
    if (!s.ok()) return Failed(ctx, SubjectOf(package), ADDED, s);
    return package;
  }

  absl::StatusOr<OtaPackage> UploadPackageData(const TenantContext& ctx,
                                               absl::string_view package_id,
                                               const UploadRequest& upload, ByteSource& data,
                                               const UploadProgress& progress) override {
    AuditSubject subject{"OTA_PACKAGE", std::string(package_id), ""};
    absl::StatusOr<OtaPackage> result = UploadPackageDataImpl(ctx, package_id, upload, data,
                                                              progress, subject);
    if (!result.ok()) return Failed(ctx, subject, UPDATED, result.status());
    return result;
  }

  absl::StatusOr<OtaPackage> CreatePackageWithData(const TenantContext& ctx,
                                                   const PackageInfoRequest& request,
                                                   const UploadRequest& upload,
                                                   ByteSource& data,
                                                   const UploadProgress& progress) override {
    OtaPackage package;
    absl::Status s = BuildNewPackage(ctx, request, package);
    if (s.ok() && !request.url.empty()) {
      s = absl::InvalidArgumentError("File can't be saved if URL present!");
    }
    if (s.ok()) s = internal::ValidateUploadRequest(upload);
    if (s.ok()) {
      // Fail fast, before streaming gigabytes, on what can be checked now; checked again
      // when the package is inserted.
      s = Mutate(
          [&](MetadataTransaction& tx) { return CheckNewPackage(tx, ctx, package); });
    }
    if (s.ok()) {
      s = StreamAndStore(upload, data, progress, package, [&](MetadataTransaction& tx) {
        FWOTA_RETURN_IF_ERROR(CheckNewPackage(tx, ctx, package));
        FWOTA_RETURN_IF_ERROR(tx.InsertPackage(package));
        return Audit(tx, ctx, SubjectOf(package), ADDED, absl::OkStatus());
      });
    }
    if (!s.ok()) return Failed(ctx, SubjectOf(package), ADDED, s);
    return package;
  }

  absl::StatusOr<OtaPackage> GetPackage(const TenantContext& ctx, absl::string_view id) override {
    absl::StatusOr<OtaPackage> out = NotFound();
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      out = OwnedBy(tx.GetPackage(id), ctx.tenant_id);
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<Page<OtaPackage>> ListPackages(const TenantContext& ctx,
                                                const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(CheckPageQuery(query));
    Page<OtaPackage> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(out, tx.ListPackages(ctx.tenant_id, query));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<std::vector<OtaPackage>> ListProfilePackages(const TenantContext& ctx,
                                                              absl::string_view profile_id,
                                                              OtaPackageType type) override {
    if (type != ::fwota::v1::FIRMWARE && type != ::fwota::v1::SOFTWARE) {
      return absl::InvalidArgumentError("Type should be specified!");
    }
    std::vector<OtaPackage> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile,
                             OwnedBy(tx.GetProfile(profile_id), ctx.tenant_id));
      FWOTA_ASSIGN_OR_RETURN(out, tx.ListProfilePackages(ctx.tenant_id, profile.id(), type));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<std::unique_ptr<BlobReader>> OpenPackageData(const TenantContext& ctx,
                                                              absl::string_view id) override {
    FWOTA_ASSIGN_OR_RETURN(OtaPackage package, GetPackage(ctx, id));
    if (!package.has_data()) {
      return absl::NotFoundError("OtaPackage has no data to download");
    }
    absl::StatusOr<std::unique_ptr<BlobReader>> reader = blobs_.Open(package.sha256());
    if (absl::IsNotFound(reader.status())) {
      return absl::DataLossError(absl::StrCat("The data of otaPackage ", package.id(),
                                              " is missing from the blob store"));
    }
    if (reader.ok() && (*reader)->size() != package.data_size()) {
      return absl::DataLossError(absl::StrCat("The data of otaPackage ", package.id(),
                                              " has the wrong size"));
    }
    return reader;
  }

  absl::Status VerifyPackage(const TenantContext& ctx, absl::string_view id) override {
    FWOTA_ASSIGN_OR_RETURN(OtaPackage package, GetPackage(ctx, id));
    FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, OpenPackageData(ctx, id));
    FWOTA_ASSIGN_OR_RETURN(
        std::unique_ptr<MultiHasher> hasher,
        MultiHasher::Create({::fwota::v1::SHA256, package.checksum_algorithm()}));
    std::vector<char> buf(options_.upload_buffer_size);
    for (int64_t off = 0; off < reader->size();) {
      FWOTA_ASSIGN_OR_RETURN(size_t n, reader->ReadAt(off, absl::MakeSpan(buf)));
      if (n == 0) break;
      hasher->Update(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(buf.data()), n));
      off += static_cast<int64_t>(n);
    }
    for (const auto& [algorithm, text] : hasher->Finish()) {
      const std::string& expected =
          algorithm == ::fwota::v1::SHA256 && package.checksum_algorithm() != ::fwota::v1::SHA256
              ? package.sha256()
              : package.checksum();
      if (text != expected) {
        return absl::DataLossError(absl::StrCat("The data of otaPackage ", package.id(),
                                                " is damaged: its ",
                                                ChecksumAlgorithmName(algorithm),
                                                " no longer matches"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status DeletePackage(const TenantContext& ctx, absl::string_view id) override {
    AuditSubject subject{"OTA_PACKAGE", std::string(id), ""};
    OtaPackage package;
    absl::MutexLock lock(&blob_mu_);
    absl::Status s = Mutate([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(package, OwnedBy(tx.GetPackage(id), ctx.tenant_id));
      subject = SubjectOf(package);
      FWOTA_ASSIGN_OR_RETURN(PackageReferences refs, tx.CountPackageReferences(package.id()));
      const absl::string_view noun =
          package.type() == ::fwota::v1::SOFTWARE ? "software" : "otaPackage";
      if (refs.devices > 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("The ", noun, " referenced by the devices cannot be deleted!"));
      }
      if (refs.profiles > 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("The ", noun, " referenced by the device profile cannot be deleted!"));
      }
      FWOTA_RETURN_IF_ERROR(tx.DeletePackage(package.id()));
      return Audit(tx, ctx, subject, DELETED, absl::OkStatus());
    });
    if (!s.ok()) return Failed(ctx, subject, DELETED, s);
    CrashPoint("delete.metadata_deleted");
    // The metadata is gone; a failure here leaves an orphan blob that the next start
    // removes, so it does not fail the delete.
    if (package.has_data()) DeleteBlobIfUnreferenced(package.sha256()).IgnoreError();
    return absl::OkStatus();
  }

  // ---- Assignment ----

  absl::StatusOr<Device> AssignDevicePackage(const TenantContext& ctx,
                                             absl::string_view device_id, OtaPackageType type,
                                             absl::string_view package_id) override {
    const auto action = package_id.empty() ? UNASSIGNED : ASSIGNED;
    AuditSubject subject{"DEVICE", std::string(device_id), ""};
    Device device;
    absl::Status s = CheckType(type);
    if (s.ok()) {
      s = Mutate([&](MetadataTransaction& tx) {
        FWOTA_ASSIGN_OR_RETURN(device, OwnedBy(tx.GetDevice(device_id), ctx.tenant_id));
        subject = SubjectOf(device);
        if (!package_id.empty()) {
          FWOTA_RETURN_IF_ERROR(CheckAssignable(tx, ctx.tenant_id, device.device_profile_id(),
                                                type, package_id)
                                    .status());
        }
        FWOTA_ASSIGN_OR_RETURN(Explanation before,
                               internal::ExplainEffectivePackage(tx, device, type));
        internal::SetAssignedId(device, type, std::string(package_id));
        FWOTA_RETURN_IF_ERROR(tx.UpdateDevice(device));
        FWOTA_RETURN_IF_ERROR(QueueIfTargetChanged(tx, device, type, before, "device"));
        return Audit(tx, ctx, subject, action, absl::OkStatus(),
                     AssignmentData(type, package_id));
      });
    }
    if (!s.ok()) return Failed(ctx, subject, action, s, AssignmentData(type, package_id));
    return device;
  }

  absl::StatusOr<DeviceProfile> AssignProfilePackage(const TenantContext& ctx,
                                                     absl::string_view profile_id,
                                                     OtaPackageType type,
                                                     absl::string_view package_id) override {
    const auto action = package_id.empty() ? UNASSIGNED : ASSIGNED;
    AuditSubject subject{"DEVICE_PROFILE", std::string(profile_id), ""};
    DeviceProfile profile;
    absl::Status s = CheckType(type);
    if (s.ok()) {
      s = Mutate([&](MetadataTransaction& tx) {
        FWOTA_ASSIGN_OR_RETURN(profile, OwnedBy(tx.GetProfile(profile_id), ctx.tenant_id));
        subject = SubjectOf(profile);
        if (!package_id.empty()) {
          FWOTA_RETURN_IF_ERROR(
              CheckAssignable(tx, ctx.tenant_id, profile.id(), type, package_id).status());
        }
        // Only the profile's devices without their own assignment follow it: their
        // effective package was the profile's and becomes the new one.
        const std::string old_id = internal::AssignedId(profile, type);
        std::optional<OtaPackage> after;
        if (!package_id.empty()) {
          FWOTA_ASSIGN_OR_RETURN(after, tx.GetPackage(package_id));
        }
        internal::SetAssignedId(profile, type, std::string(package_id));
        FWOTA_RETURN_IF_ERROR(tx.UpdateProfile(profile));
        if (old_id != package_id) {
          // One set-based write for all of them (100,000 devices in one statement each
          // for statuses, history and notices).
          const Retarget t = MakeRetarget(type, after, "profile");
          FWOTA_RETURN_IF_ERROR(
              tx.RetargetProfileMembers(profile.id(), type, t.status, t.event, t.notice)
                  .status());
        }
        return Audit(tx, ctx, subject, action, absl::OkStatus(),
                     AssignmentData(type, package_id));
      });
    }
    if (!s.ok()) return Failed(ctx, subject, action, s, AssignmentData(type, package_id));
    return profile;
  }

  absl::StatusOr<Explanation> Explain(const TenantContext& ctx, absl::string_view device_id,
                                      OtaPackageType type) override {
    FWOTA_RETURN_IF_ERROR(CheckType(type));
    Explanation out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(Device device, OwnedBy(tx.GetDevice(device_id), ctx.tenant_id));
      FWOTA_ASSIGN_OR_RETURN(out, internal::ExplainEffectivePackage(tx, device, type));
      return absl::OkStatus();
    }));
    return out;
  }

  // ---- API keys ----

  absl::StatusOr<NewApiKey> CreateApiKey(const TenantContext& ctx, absl::string_view name) override {
    FWOTA_RETURN_IF_ERROR(CheckName("API key", name));
    NewApiKey out;
    out.secret = absl::StrCat(kApiKeyPrefix, internal::RandomAlphanumeric(40));
    out.key.set_id(internal::NewUuid());
    out.key.set_tenant_id(ctx.tenant_id);
    out.key.set_name(std::string(name));
    out.key.set_key_hash(ChecksumText(::fwota::v1::SHA256, out.secret));
    out.key.set_created_time(clock_.NowMillis());
    AuditSubject subject{"API_KEY", out.key.id(), out.key.name()};
    absl::Status s = Mutate([&](MetadataTransaction& tx) {
      FWOTA_RETURN_IF_ERROR(CheckTenantExists(tx, ctx));
      absl::Status inserted = tx.InsertApiKey(out.key);
      if (absl::IsAlreadyExists(inserted)) {
        return absl::AlreadyExistsError("API key with such name already exists!");
      }
      FWOTA_RETURN_IF_ERROR(inserted);
      return Audit(tx, ctx, subject, ADDED, absl::OkStatus());
    });
    if (!s.ok()) return Failed(ctx, subject, ADDED, s);
    return out;
  }

  absl::StatusOr<TenantContext> AuthenticateApiKey(absl::string_view secret) override {
    const absl::Status denied = absl::UnauthenticatedError("Authentication failed");
    if (!absl::StartsWith(secret, kApiKeyPrefix) || secret.size() > 256) return denied;
    const std::string hash = ChecksumText(::fwota::v1::SHA256, secret);
    absl::StatusOr<TenantContext> out = denied;
    FWOTA_RETURN_IF_ERROR(metadata_.RunInTransaction([&](MetadataTransaction& tx) {
      absl::StatusOr<ApiKey> key = tx.FindApiKeyByHash(hash);
      if (absl::IsNotFound(key.status())) return absl::OkStatus();
      FWOTA_RETURN_IF_ERROR(key.status());
      out = TenantContext{key->tenant_id(), absl::StrCat("apikey:", key->name())};
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(const TenantContext& ctx) override {
    std::vector<ApiKey> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(out, tx.ListApiKeys(ctx.tenant_id));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::Status DeleteApiKey(const TenantContext& ctx, absl::string_view id) override {
    AuditSubject subject{"API_KEY", std::string(id), ""};
    absl::Status s = Mutate([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(std::vector<ApiKey> keys, tx.ListApiKeys(ctx.tenant_id));
      for (const ApiKey& key : keys) {
        if (key.id() == id || key.name() == id) {
          subject = {"API_KEY", key.id(), key.name()};
          FWOTA_RETURN_IF_ERROR(tx.DeleteApiKey(key.id()));
          return Audit(tx, ctx, subject, DELETED, absl::OkStatus());
        }
      }
      return NotFound();
    });
    if (!s.ok()) return Failed(ctx, subject, DELETED, s);
    return s;
  }

  // ---- Device-facing calls ----

  absl::StatusOr<DevicePackage> OpenDevicePackage(absl::string_view access_token,
                                                  OtaPackageType type, absl::string_view title,
                                                  absl::string_view version) override {
    FWOTA_RETURN_IF_ERROR(CheckType(type));
    DevicePackage out;
    FWOTA_ASSIGN_OR_RETURN(std::shared_ptr<const Resolution> resolved, Resolve(access_token));
    out.device = resolved->device;
    const std::optional<OtaPackage>& effective =
        type == ::fwota::v1::SOFTWARE ? resolved->software : resolved->firmware;
    if (!effective.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("No ", internal::TypeWord(type), " is assigned to this device"));
    }
    out.package = *effective;
    if (!out.package.has_data()) {
      return absl::NotFoundError(absl::StrCat("The assigned ", internal::TypeWord(type),
                                              " is an external URL package"));
    }
    if ((!title.empty() && title != out.package.title()) ||
        (!version.empty() && version != out.package.version())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Requested ", internal::TypeWord(type), " title/version does not match the assigned ",
          out.package.title(), " ", out.package.version()));
    }
    FWOTA_ASSIGN_OR_RETURN(out.data, SharedReader(out.package));
    NoteDownloadActivity(out.device.id(), type);
    return out;
  }

  absl::StatusOr<std::vector<SharedAttribute>> DeviceSharedAttributes(
      absl::string_view access_token, const std::vector<std::string>& keys) override {
    FWOTA_ASSIGN_OR_RETURN(Device device, AuthenticateDevice(access_token));
    std::vector<SharedAttribute> all;
    FWOTA_RETURN_IF_ERROR(metadata_.RunInTransaction([&](MetadataTransaction& tx) {
      for (OtaPackageType type : {::fwota::v1::FIRMWARE, ::fwota::v1::SOFTWARE}) {
        FWOTA_ASSIGN_OR_RETURN(Explanation why,
                               internal::ExplainEffectivePackage(tx, device, type));
        if (!why.package.has_value()) continue;
        for (SharedAttribute& a : internal::PackageAttributes(type, *why.package)) {
          all.push_back(std::move(a));
        }
      }
      return absl::OkStatus();
    }));
    if (keys.empty()) return all;
    std::vector<SharedAttribute> wanted;
    for (const std::string& key : keys) {
      for (const SharedAttribute& a : all) {
        if (a.key == key) wanted.push_back(a);
      }
    }
    return wanted;
  }

  // Reports are written ahead: the logger thread appends every report queued so far to
  // the store's report log in one write (one fsync, a group commit) and then wakes their
  // callers, so each caller returns once its report is durable. The report log is apart
  // from the metadata's transactions: the applier thread applies it to statuses and
  // history meanwhile, in batches sorted by device (ApplyReportLog), and so does every
  // other transaction of the service before its own work (Transact), so whatever reads
  // or changes the update process sees every acknowledged report. Logging and applying
  // thus run side by side; the logger waits only when kMaxUnapplied reports are behind.
  absl::Status RecordDeviceReport(absl::string_view access_token,
                                  const DeviceReport& report) override {
    FWOTA_RETURN_IF_ERROR(CheckType(report.type));
    if (access_token.empty()) return absl::UnauthenticatedError("Invalid device access token");
    // A state name that is none of ThingsBoard's is refused before anything is written.
    if (!report.state.empty()) FWOTA_RETURN_IF_ERROR(ParseUpdateState(report.state).status());
    PendingReport mine{access_token, &report, clock_.NowMillis()};
    int64_t group = 0;
    {
      absl::MutexLock lock(&reports_mu_);
      if (!report_logger_.joinable()) {
        report_logger_ = std::thread([this] { LogReportsLoop(); });
        if (options_.apply_reports_in_background) {
          report_applier_ = std::thread([this] { ApplyReportsLoop(); });
        }
      }
      pending_reports_.push_back(&mine);
      group = next_report_group_;
    }
    // The logger wakes a whole group with one broadcast (one system call, where waking
    // each reporter on its own condition costs the logger one per report), on the
    // condition variable of the group's parity: the reporters already queued for the
    // next group sleep on.
    std::unique_lock<std::mutex> lock(acks_mu_);
    acked_[group % 2].wait(lock, [&] { return acked_group_ >= group; });
    return mine.result;
  }

  ~OtaServiceImpl() override {
    {
      absl::MutexLock lock(&reports_mu_);
      stopping_reports_ = true;
    }
    if (report_logger_.joinable()) report_logger_.join();  // logs what is queued first
    {
      absl::MutexLock lock(&apply_mu_);
      stopping_apply_ = true;
    }
    if (report_applier_.joinable()) report_applier_.join();
  }

  // The logger: one thread that logs whatever reports queued up while it wrote the
  // previous group, in one append (a group commit).
  void LogReportsLoop() {
    pthread_setname_np(pthread_self(), "fwota-logger");  // as top -H and perf show it
    while (true) {
      if (options_.apply_reports_in_background) {
        // Back pressure: the applier is too far behind (a read would have to apply all
        // of it first). Reporters queue up meanwhile and go as one group.
        absl::MutexLock lock(&apply_mu_);
        auto caught_up = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_) {
          return logged_through_ - applied_through_ < kMaxUnapplied || apply_failing_;
        };
        apply_mu_.Await(absl::Condition(&caught_up));
      } else {
        bool behind = false;
        {
          absl::MutexLock lock(&apply_mu_);
          behind = logged_through_ - applied_through_ >= kMaxUnapplied;
        }
        // A failure leaves the log as it is; the next transaction applies it.
        if (behind) ApplyReports().IgnoreError();
      }
      std::deque<PendingReport*> batch;
      int64_t group = 0;
      {
        absl::MutexLock lock(&reports_mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reports_mu_) {
          return !pending_reports_.empty() || stopping_reports_;
        };
        reports_mu_.Await(absl::Condition(&ready));
        if (pending_reports_.empty()) return;  // stopping, and nothing left to write
        batch.swap(pending_reports_);
        group = next_report_group_++;
      }
      const int64_t last_seq = LogReports(batch);
      {
        std::lock_guard<std::mutex> lock(acks_mu_);
        acked_group_ = group;
      }
      acked_[group % 2].notify_all();
      if (last_seq > 0) {
        absl::MutexLock lock(&apply_mu_);
        logged_through_ = std::max(logged_through_, last_seq);
      }
    }
  }

  // The applier: one thread that applies the report log while there is anything logged
  // and not applied. Under load, what was logged while it applied one batch is the next
  // batch, so batches grow with the rate.
  void ApplyReportsLoop() {
    pthread_setname_np(pthread_self(), "fwota-applier");
    while (true) {
      {
        absl::MutexLock lock(&apply_mu_);
        auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_) {
          return logged_through_ > applied_through_ || stopping_apply_;
        };
        apply_mu_.Await(absl::Condition(&work));
        // A batch large enough to write each page once for many reports, or whatever
        // came within kApplyMaxDelay.
        auto batch = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_) {
          return logged_through_ - applied_through_ >= kApplyMinBatch || stopping_apply_;
        };
        apply_mu_.AwaitWithTimeout(absl::Condition(&batch), kApplyMaxDelay);
        if (stopping_apply_) return;
      }
      // One batch per transaction, so that the service's other transactions (which wait
      // for this one) wait for one batch at most, not for a log that keeps growing.
      absl::Status applied = ApplyReports(kApplyBatch);
      {
        absl::MutexLock lock(&apply_mu_);
        // While the store fails, the logger must not wait for the applier: the reports
        // stay in the log, and the next transaction that works applies them.
        apply_failing_ = !applied.ok();
      }
      if (!applied.ok()) {
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      int64_t through = 0;
      {
        absl::MutexLock lock(&apply_mu_);
        through = applied_through_;
      }
      // Applied entries are dropped from the log; a failure leaves them, and the applied
      // mark keeps them from being applied twice.
      if (through > truncated_through_ && metadata_.report_log().Truncate(through).ok()) {
        truncated_through_ = through;
      }
    }
  }

  // ---- The update process ----

  absl::StatusOr<DrainResult> DrainNotices(int64_t max_updates) override {
    DrainResult result;
    // Deletions first and unpaced (no download follows them), then updates within the
    // budget; each batch is one transaction, its pushes go out after it commits.
    for (bool deletions : {true, false}) {
      while (true) {
        const int64_t budget =
            deletions ? kDrainBatch : std::min(kDrainBatch, max_updates - result.sent);
        if (budget <= 0) break;
        std::vector<AttributeNotice> pushes;
        int64_t listed = 0;
        FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
          pushes.clear();
          FWOTA_ASSIGN_OR_RETURN(std::vector<Notice> notices,
                                 tx.ListNotices(static_cast<int>(budget), deletions));
          listed = static_cast<int64_t>(notices.size());
          for (const Notice& notice : notices) {
            FWOTA_RETURN_IF_ERROR(tx.DeleteNotice(notice.seq()));
            FWOTA_ASSIGN_OR_RETURN(std::optional<AttributeNotice> push, SendNotice(tx, notice));
            if (push.has_value()) pushes.push_back(*std::move(push));
          }
          return absl::OkStatus();
        }));
        for (AttributeNotice& push : pushes) {
          if (push.updated.empty()) {
            ++result.deletions;
          } else {
            ++result.sent;
          }
          if (options_.notifier != nullptr) options_.notifier->Notify(push);
        }
        result.skipped += listed - static_cast<int64_t>(pushes.size());
        if (listed < budget) break;
      }
    }
    FWOTA_ASSIGN_OR_RETURN(result.remaining, CountQueuedNotices());
    return result;
  }

  // A read transaction: applying the report log never touches the queue, and a health
  // check or a metrics scrape should not wait for the writer.
  absl::StatusOr<int64_t> CountQueuedNotices() override {
    int64_t count = 0;
    FWOTA_RETURN_IF_ERROR(metadata_.RunInReadTransaction([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(count, tx.CountNotices());
      return absl::OkStatus();
    }));
    return count;
  }

  absl::StatusOr<StallSweepResult> SweepStalls(const StallPolicy& policy) override {
    StallSweepResult result;
    absl::flat_hash_map<std::pair<std::string, int>, int64_t> activity;
    {
      absl::MutexLock lock(&activity_mu_);
      activity.swap(activity_);
    }
    if (!activity.empty()) {
      FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
        for (const auto& [key, millis] : activity) {
          FWOTA_RETURN_IF_ERROR(tx.TouchUpdateStatus(
              key.first, static_cast<OtaPackageType>(key.second), millis));
        }
        return absl::OkStatus();
      }));
      result.touched = static_cast<int64_t>(activity.size());
    }
    const int64_t now = clock_.NowMillis();
    for (UpdateState state :
         {::fwota::v1::UPDATE_STATE_INITIATED, ::fwota::v1::UPDATE_STATE_DOWNLOADING,
          ::fwota::v1::UPDATE_STATE_DOWNLOADED, ::fwota::v1::UPDATE_STATE_VERIFIED,
          ::fwota::v1::UPDATE_STATE_UPDATING}) {
      const int64_t silence = policy.silence_millis[state];
      if (silence <= 0) continue;
      while (true) {
        int64_t handled = 0;
        std::vector<AttributeNotice> pushes;
        StallSweepResult batch;
        FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
          pushes.clear();
          batch = StallSweepResult();
          FWOTA_ASSIGN_OR_RETURN(std::vector<UpdateStatus> silent,
                                 tx.ListSilentStatuses(state, now - silence, kDrainBatch));
          handled = static_cast<int64_t>(silent.size());
          for (UpdateStatus& status : silent) {
            FWOTA_ASSIGN_OR_RETURN(std::optional<AttributeNotice> push,
                                   HandleSilence(tx, status, silence, policy, now, batch));
            if (push.has_value()) pushes.push_back(*std::move(push));
          }
          return absl::OkStatus();
        }));
        result.renotified += batch.renotified;
        result.failed += batch.failed;
        if (options_.notifier != nullptr) {
          for (const AttributeNotice& push : pushes) options_.notifier->Notify(push);
        }
        if (handled < kDrainBatch) break;
      }
    }
    return result;
  }

  absl::StatusOr<UpdateStatus> GetUpdateStatus(const TenantContext& ctx,
                                               absl::string_view device_id,
                                               OtaPackageType type) override {
    FWOTA_RETURN_IF_ERROR(CheckType(type));
    absl::StatusOr<UpdateStatus> out = NotFound();
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(Device device, OwnedBy(tx.GetDevice(device_id), ctx.tenant_id));
      out = tx.GetUpdateStatus(device.id(), type);
      if (absl::IsNotFound(out.status())) out = NotFound();
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<Page<UpdateEvent>> ListUpdateHistory(const TenantContext& ctx,
                                                      absl::string_view device_id,
                                                      OtaPackageType type,
                                                      const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(CheckType(type));
    FWOTA_RETURN_IF_ERROR(CheckPageQuery(query));
    Page<UpdateEvent> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(Device device, OwnedBy(tx.GetDevice(device_id), ctx.tenant_id));
      FWOTA_ASSIGN_OR_RETURN(out, tx.ListUpdateEvents(device.id(), type, query));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<std::vector<int64_t>> CountUpdateStates(const TenantContext& ctx,
                                                         OtaPackageType type) override {
    FWOTA_RETURN_IF_ERROR(CheckType(type));
    std::vector<int64_t> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(out, tx.CountUpdateStates(ctx.tenant_id, type));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<Page<UpdateStatus>> ListUpdateStatuses(const TenantContext& ctx,
                                                        OtaPackageType type, UpdateState state,
                                                        const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(CheckType(type));
    FWOTA_RETURN_IF_ERROR(CheckPageQuery(query));
    Page<UpdateStatus> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(out, tx.ListUpdateStatuses(ctx.tenant_id, type, state, query));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<Page<AuditEvent>> ListAudit(const TenantContext& ctx,
                                             const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(CheckPageQuery(query));
    Page<AuditEvent> out;
    FWOTA_RETURN_IF_ERROR(Transact([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(out, tx.ListAudit(ctx.tenant_id, query));
      return absl::OkStatus();
    }));
    return out;
  }

 private:
  // A device and its effective packages, as the device-facing calls need them on every
  // request. Cached per access token so the hot download path does not query the store:
  // an entry is good while no admin change has been made since it was built
  // (generation_) and for at most kResolutionTtlMillis (other processes sharing the
  // store change it without our knowing).
  struct Resolution {
    Device device;
    std::optional<OtaPackage> firmware;
    std::optional<OtaPackage> software;
    uint64_t generation = 0;
    int64_t expires_at = 0;
  };
  static constexpr int64_t kResolutionTtlMillis = 2000;
  static constexpr size_t kMaxCachedResolutions = 100000;

  absl::StatusOr<std::shared_ptr<const Resolution>> Resolve(absl::string_view access_token) {
    const uint64_t generation = generation_.load();
    const int64_t now = clock_.NowMillis();
    {
      absl::ReaderMutexLock lock(&resolutions_mu_);
      auto it = resolutions_.find(access_token);
      if (it != resolutions_.end() && it->second->generation == generation &&
          it->second->expires_at > now) {
        return it->second;
      }
    }
    auto fresh = std::make_shared<Resolution>();
    fresh->generation = generation;
    fresh->expires_at = now + kResolutionTtlMillis;
    FWOTA_ASSIGN_OR_RETURN(fresh->device, AuthenticateDevice(access_token));
    FWOTA_RETURN_IF_ERROR(metadata_.RunInTransaction([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(Explanation fw, internal::ExplainEffectivePackage(
                                                 tx, fresh->device, ::fwota::v1::FIRMWARE));
      FWOTA_ASSIGN_OR_RETURN(Explanation sw, internal::ExplainEffectivePackage(
                                                 tx, fresh->device, ::fwota::v1::SOFTWARE));
      fresh->firmware = std::move(fw.package);
      fresh->software = std::move(sw.package);
      return absl::OkStatus();
    }));
    absl::MutexLock lock(&resolutions_mu_);
    if (resolutions_.size() >= kMaxCachedResolutions) resolutions_.clear();
    resolutions_[std::string(access_token)] = fresh;
    return std::shared_ptr<const Resolution>(std::move(fresh));
  }

  // Runs an admin change; afterwards every cached Resolution is stale.
  absl::Status Mutate(absl::FunctionRef<absl::Status(MetadataTransaction&)> body) {
    absl::Status s = Transact(body);
    generation_.fetch_add(1);
    // A package (and so its blob) may be gone: close the cached readers (downloads in
    // flight keep theirs).
    std::map<std::string, CachedReader, std::less<>> dropped;
    {
      absl::MutexLock lock(&readers_mu_);
      dropped.swap(readers_);
    }
    return s;
  }

  // After an assignment change: when the device's effective package of `type` is not the
  // one it was (`before`), QueueTarget.
  absl::Status QueueIfTargetChanged(MetadataTransaction& tx, const Device& device,
                                    OtaPackageType type, const Explanation& before,
                                    absl::string_view via) {
    FWOTA_ASSIGN_OR_RETURN(Explanation after, internal::ExplainEffectivePackage(tx, device, type));
    const std::string old_id = before.package.has_value() ? before.package->id() : "";
    const std::string new_id = after.package.has_value() ? after.package->id() : "";
    if (old_id == new_id) return absl::OkStatus();
    return QueueTarget(tx, device, type, after.package, via);
  }

  // The device's effective package of `type` is now `after` (or none): its status
  // becomes QUEUED with the new target (with none, no state and no target), the history
  // says so, and a notice (attributes, or their deletion) is queued for it, replacing
  // any older one.
  absl::Status QueueTarget(MetadataTransaction& tx, const Device& device, OtaPackageType type,
                           const std::optional<OtaPackage>& after, absl::string_view via) {
    const Retarget t = MakeRetarget(type, after, via);
    bool existed = false;
    FWOTA_ASSIGN_OR_RETURN(UpdateStatus status, StatusOrNew(tx, device, type, &existed));
    status.set_state(t.status.state());
    status.set_target_package_id(t.status.target_package_id());
    status.set_target_title(t.status.target_title());
    status.set_target_version(t.status.target_version());
    status.set_target_tag(t.status.target_tag());
    status.set_target_ts(t.status.target_ts());
    status.set_error(t.status.error());
    status.set_state_since(t.status.state_since());
    status.set_notices_sent(t.status.notices_sent());
    if (existed || after.has_value()) {
      UpdateEvent event = t.event;
      event.set_tenant_id(device.tenant_id());
      event.set_device_id(device.id());
      FWOTA_RETURN_IF_ERROR(tx.PutUpdateStatus(status));
      FWOTA_RETURN_IF_ERROR(tx.AppendUpdateEvent(event));
    }
    Notice notice = t.notice;
    notice.set_tenant_id(device.tenant_id());
    notice.set_device_id(device.id());
    return tx.PutNotice(notice);
  }

  // What an assignment change writes for each device it retargets, without the device:
  // the status fields that change, the history entry and the notice.
  struct Retarget {
    UpdateStatus status;
    UpdateEvent event;
    Notice notice;
  };

  Retarget MakeRetarget(OtaPackageType type, const std::optional<OtaPackage>& after,
                        absl::string_view via) {
    const int64_t now = clock_.NowMillis();
    Retarget t;
    t.status.set_type(type);
    t.status.set_state_since(now);
    t.status.set_target_ts(now);
    t.status.set_notices_sent(0);
    t.event = NewUpdateEvent("", "", type, "server", now);
    t.notice.set_type(type);
    t.notice.set_created_time(now);
    if (after.has_value()) {
      const OtaPackage& p = *after;
      t.status.set_state(::fwota::v1::UPDATE_STATE_QUEUED);
      t.status.set_target_package_id(p.id());
      t.status.set_target_title(p.title());
      t.status.set_target_version(p.version());
      t.status.set_target_tag(p.tag());
      t.event.set_state(::fwota::v1::UPDATE_STATE_QUEUED);
      t.event.set_package_id(p.id());
      t.event.set_title(p.title());
      t.event.set_version(p.version());
      t.event.set_note(absl::StrCat("assigned through the ", via));
      t.notice.set_package_id(p.id());
      t.notice.set_reason("assigned");
    } else {
      t.status.set_state(::fwota::v1::UPDATE_STATE_UNSPECIFIED);
      t.event.set_state(::fwota::v1::UPDATE_STATE_UNSPECIFIED);
      t.event.set_note(absl::StrCat("unassigned through the ", via));
      t.notice.set_reason("unassigned");
    }
    return t;
  }

  struct PendingReport {
    absl::string_view access_token;
    const DeviceReport* report;
    int64_t now;
    absl::Status result;  // set by the writer before it acknowledges the group
  };

  // Logs `batch` in one append: the access tokens are looked up in one read transaction,
  // beside whatever transaction applies the log meanwhile. Sets each report's result
  // (kUnauthenticated for an unknown token) and returns the last seq logged (0: none).
  int64_t LogReports(const std::deque<PendingReport*>& batch) {
    std::vector<LoggedReport> entries;
    std::vector<PendingReport*> logged;
    absl::Status looked_up = metadata_.RunInReadTransaction([&](MetadataTransaction& tx) {
      entries.clear();
      logged.clear();
      for (PendingReport* p : batch) {
        absl::StatusOr<Device> device = tx.FindDeviceByAccessToken(p->access_token);
        if (absl::IsNotFound(device.status())) {
          p->result = absl::UnauthenticatedError("Invalid device access token");
          continue;
        }
        FWOTA_RETURN_IF_ERROR(device.status());
        const DeviceReport& report = *p->report;
        LoggedReport& entry = entries.emplace_back();
        entry.tenant_id = device->tenant_id();
        entry.device_id = device->id();
        entry.type = report.type;
        entry.state = report.state;
        entry.error = report.error;
        entry.current_title = report.current_title;
        entry.current_version = report.current_version;
        entry.created_time = p->now;
        logged.push_back(p);
      }
      return absl::OkStatus();
    });
    absl::Status appended =
        looked_up.ok() ? metadata_.report_log().Append(entries) : looked_up;
    if (!appended.ok()) {
      for (PendingReport* p : batch) {
        if (p->result.ok()) p->result = appended;
      }
      return 0;
    }
    return entries.empty() ? 0 : entries.back().seq;
  }

  // Runs `body` in one transaction that first applies the report log: every service call
  // that reads or changes statuses, history, notices or assignments goes through here,
  // so it sees every report acknowledged before it began. Only device- and key-facing
  // lookups that need none of that (access token, effective package, API key, blob
  // references, the audit of a failure) use the store directly.
  absl::Status Transact(absl::FunctionRef<absl::Status(MetadataTransaction&)> body,
                        int64_t max_reports = std::numeric_limits<int64_t>::max()) {
    int64_t through = -1;  // the applied mark after this transaction, if it moved
    absl::Status status = metadata_.RunInTransaction([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(through, ApplyReportLog(tx, max_reports));
      return body(tx);
    });
    if (status.ok() && through >= 0) {
      absl::MutexLock lock(&apply_mu_);
      applied_through_ = std::max(applied_through_, through);
    }
    return status;
  }

  // Applies the report log (the oldest `max_reports` entries, at least one batch) in a
  // transaction of its own.
  absl::Status ApplyReports(int64_t max_reports = std::numeric_limits<int64_t>::max()) {
    return Transact([](MetadataTransaction&) { return absl::OkStatus(); }, max_reports);
  }

  // At start-up: applies what a version with the log inside the database (schema 4) left
  // there, makes sure the report log gives seqs above the applied mark (a lost or
  // replaced log file must not make new reports look applied), and applies the log.
  absl::Status RecoverReportLog() {
    int64_t mark = 0;
    FWOTA_RETURN_IF_ERROR(metadata_.RunInTransaction([&](MetadataTransaction& tx) {
      while (true) {
        FWOTA_ASSIGN_OR_RETURN(std::vector<LoggedReport> log, tx.ListReports(kApplyBatch));
        if (log.empty()) break;
        const int64_t last_seq = log.back().seq;
        FWOTA_RETURN_IF_ERROR(ApplyLoggedReports(tx, log));
        FWOTA_RETURN_IF_ERROR(tx.DeleteReportsThrough(last_seq));
      }
      FWOTA_ASSIGN_OR_RETURN(mark, tx.GetReportsAppliedThrough());
      return absl::OkStatus();
    }));
    FWOTA_RETURN_IF_ERROR(metadata_.report_log().SkipThrough(mark));
    {
      absl::MutexLock lock(&apply_mu_);
      applied_through_ = logged_through_ = mark;
    }
    FWOTA_RETURN_IF_ERROR(ApplyReports());
    absl::MutexLock lock(&apply_mu_);
    truncated_through_ = applied_through_;
    logged_through_ = std::max(logged_through_, applied_through_);
    return metadata_.report_log().Truncate(applied_through_);
  }

  // Applies the entries of the report log above the applied mark (every one, or batches
  // until `max_reports` are applied) to statuses and history within the caller's
  // transaction, kApplyBatch entries at a time (bounded memory), and moves the mark.
  // Returns the new mark, or -1 when there was nothing to apply.
  absl::StatusOr<int64_t> ApplyReportLog(MetadataTransaction& tx, int64_t max_reports) {
    FWOTA_ASSIGN_OR_RETURN(const int64_t mark, tx.GetReportsAppliedThrough());
    int64_t through = mark;
    for (int64_t applied = 0; applied < max_reports;) {
      FWOTA_ASSIGN_OR_RETURN(std::vector<LoggedReport> log,
                             metadata_.report_log().ReadAfter(through, kApplyBatch));
      if (log.empty()) break;
      through = log.back().seq;
      applied += static_cast<int64_t>(log.size());
      FWOTA_RETURN_IF_ERROR(ApplyLoggedReports(tx, log));
      if (static_cast<int>(log.size()) < kApplyBatch) break;
    }
    if (through == mark) return -1;
    FWOTA_RETURN_IF_ERROR(tx.SetReportsAppliedThrough(through));
    return through;
  }

  // Applies `log` (entries in arrival order). Sorted by device and type, each device's
  // reports kept in arrival order: the writes then walk the status table, its key index
  // and the history's per-device index in key order, each page written once per batch
  // rather than once per report, and a device that reported several times has its
  // status written once.
  absl::Status ApplyLoggedReports(MetadataTransaction& tx, std::vector<LoggedReport>& log) {
    std::stable_sort(log.begin(), log.end(), [](const LoggedReport& a, const LoggedReport& b) {
      return std::tie(a.device_id, a.type) < std::tie(b.device_id, b.type);
    });
    for (size_t begin = 0; begin < log.size();) {
      size_t end = begin + 1;
      while (end < log.size() && log[end].device_id == log[begin].device_id &&
             log[end].type == log[begin].type) {
        ++end;
      }
      FWOTA_RETURN_IF_ERROR(
          ApplyDeviceReports(tx, absl::MakeConstSpan(log).subspan(begin, end - begin)));
      begin = end;
    }
    return absl::OkStatus();
  }

  // Applies one device's logged reports of one type, oldest first, through the state
  // machine: one history entry per report, the status written once at the end. A device
  // deleted since it reported is skipped (its history went with it).
  absl::Status ApplyDeviceReports(MetadataTransaction& tx, absl::Span<const LoggedReport> reports) {
    const LoggedReport& first = reports.front();
    absl::StatusOr<UpdateStatus> found = tx.GetUpdateStatus(first.device_id, first.type);
    if (!found.ok() && !absl::IsNotFound(found.status())) return found.status();
    UpdateStatus status = found.ok() ? *std::move(found) : UpdateStatus();
    std::optional<Device> device;  // needed only without a status or a target
    if (!found.ok() || status.target_package_id().empty()) {
      absl::StatusOr<Device> d = tx.GetDevice(first.device_id);
      if (absl::IsNotFound(d.status())) return absl::OkStatus();
      FWOTA_RETURN_IF_ERROR(d.status());
      device = *std::move(d);
    }
    if (!found.ok()) {
      status.set_tenant_id(device->tenant_id());
      status.set_device_id(device->id());
      status.set_type(first.type);
    }
    // A device whose package became effective before fwota tracked status (schema v1
    // data): its target is its effective package at its first report.
    if (status.target_package_id().empty()) {
      FWOTA_ASSIGN_OR_RETURN(Explanation why,
                             internal::ExplainEffectivePackage(tx, *device, first.type));
      if (why.package.has_value()) {
        status.set_target_package_id(why.package->id());
        status.set_target_title(why.package->title());
        status.set_target_version(why.package->version());
        status.set_target_tag(why.package->tag());
        status.set_target_ts(first.created_time);
      }
    }
    for (const LoggedReport& logged : reports) {
      DeviceReport report;
      report.type = logged.type;
      report.state = logged.state;
      report.error = logged.error;
      report.current_title = logged.current_title;
      report.current_version = logged.current_version;
      const int64_t now = logged.created_time;
      UpdateEvent event =
          NewUpdateEvent(logged.tenant_id, logged.device_id, report.type, "device", now);
      event.set_package_id(status.target_package_id());
      event.set_title(report.current_title.empty() ? status.target_title()
                                                   : report.current_title);
      event.set_version(report.current_version.empty() ? status.target_version()
                                                       : report.current_version);
      event.set_error(report.error);
      internal::ReportOutcome outcome = internal::ApplyDeviceReport(status, report, now);
      status = std::move(outcome.status);
      event.set_state(outcome.state);
      event.set_accepted(outcome.accepted);
      event.set_note(std::move(outcome.note));
      FWOTA_RETURN_IF_ERROR(tx.AppendUpdateEvent(event));
    }
    return tx.PutUpdateStatus(status);
  }

  // Sends one notice inside the drain's transaction (it is already off the queue): an
  // update notice writes INITIATED and returns the push; a stale one returns nothing.
  absl::StatusOr<std::optional<AttributeNotice>> SendNotice(MetadataTransaction& tx,
                                                            const Notice& notice) {
    absl::StatusOr<Device> device = tx.GetDevice(notice.device_id());
    if (absl::IsNotFound(device.status())) return std::nullopt;
    FWOTA_RETURN_IF_ERROR(device.status());
    AttributeNotice push;
    push.tenant_id = device->tenant_id();
    push.device_id = device->id();
    push.access_token = device->access_token();
    push.type = notice.type();
    FWOTA_ASSIGN_OR_RETURN(Explanation now_effective,
                           internal::ExplainEffectivePackage(tx, *device, notice.type()));
    if (notice.package_id().empty()) {
      // Deletion: stale if the device has a package of this type again.
      if (now_effective.package.has_value()) return std::nullopt;
      push.deleted = internal::AttributeKeys(notice.type());
      return push;
    }
    if (!now_effective.package.has_value() || now_effective.package->id() != notice.package_id()) {
      return std::nullopt;
    }
    // (No status: a device whose package became effective before fwota tracked status.)
    FWOTA_ASSIGN_OR_RETURN(UpdateStatus status, StatusOrNew(tx, *device, notice.type()));
    if (status.target_package_id() == notice.package_id()) {
      // The device is ahead of its notice (it asked for its attributes and started, or
      // already runs the target, or failed it): the notice would only set it back.
      if (status.state() >= ::fwota::v1::UPDATE_STATE_DOWNLOADING) return std::nullopt;
      // It was notified (again, by the stall detector) after this notice was queued.
      if (status.state() == ::fwota::v1::UPDATE_STATE_INITIATED && status.notices_sent() > 0 &&
          status.state_since() >= notice.created_time()) {
        return std::nullopt;
      }
    }
    const OtaPackage& p = *now_effective.package;
    const int64_t now = clock_.NowMillis();
    status.set_state(::fwota::v1::UPDATE_STATE_INITIATED);
    status.set_state_since(now);
    status.set_error("");
    if (status.target_package_id() != p.id()) {
      status.set_target_package_id(p.id());
      status.set_target_title(p.title());
      status.set_target_version(p.version());
      status.set_target_tag(p.tag());
      status.set_target_ts(now);
      status.set_notices_sent(0);
    }
    status.set_notices_sent(status.notices_sent() + 1);
    UpdateEvent event =
        NewUpdateEvent(device->tenant_id(), device->id(), notice.type(), "server", now);
    event.set_state(::fwota::v1::UPDATE_STATE_INITIATED);
    event.set_package_id(p.id());
    event.set_title(p.title());
    event.set_version(p.version());
    event.set_note(status.notices_sent() == 1
                       ? std::string("notice sent")
                       : absl::StrCat("notice sent again (", status.notices_sent(), ")"));
    FWOTA_RETURN_IF_ERROR(tx.PutUpdateStatus(status));
    FWOTA_RETURN_IF_ERROR(tx.AppendUpdateEvent(event));
    push.updated = internal::PackageAttributes(notice.type(), p);
    push.deleted = internal::DeletedKeys(notice.type(), push.updated);
    return push;
  }

  // A device silent for `silence` ms in its state: notified again while it has
  // re-notifications left, else FAILED.
  // A device silent for `silence` ms in its state: notified again at once while it has
  // re-notifications left (not through the queue: a stalled device must not wait behind
  // a rollout, and is counted once per silence), else FAILED. Returns the push to send
  // after the transaction commits.
  absl::StatusOr<std::optional<AttributeNotice>> HandleSilence(
      MetadataTransaction& tx, UpdateStatus& status, int64_t silence, const StallPolicy& policy,
      int64_t now, StallSweepResult& result) {
    const std::string state_name(UpdateStateName(status.state()));
    const std::string quiet = absl::StrCat("no report or download for ",
                                           internal::DurationText(now - std::max(
                                               status.state_since(), status.last_activity())),
                                           " in ", state_name);
    UpdateEvent event =
        NewUpdateEvent(status.tenant_id(), status.device_id(), status.type(), "server", now);
    event.set_package_id(status.target_package_id());
    event.set_title(status.target_title());
    event.set_version(status.target_version());
    const int renotified = std::max(0, status.notices_sent() - 1);
    std::optional<AttributeNotice> push;
    if (!status.target_package_id().empty() && renotified < policy.renotify) {
      absl::StatusOr<Device> device = tx.GetDevice(status.device_id());
      absl::StatusOr<OtaPackage> package = tx.GetPackage(status.target_package_id());
      if (!device.ok()) return device.status();
      if (package.ok()) {
        push = AttributeNotice{device->tenant_id(), device->id(), device->access_token(),
                               status.type(),       {},           {}};
        push->updated = internal::PackageAttributes(status.type(), *package);
        push->deleted = internal::DeletedKeys(status.type(), push->updated);
      } else if (!absl::IsNotFound(package.status())) {
        return package.status();
      }
    }
    if (push.has_value()) {
      // A new attempt: INITIATED again, its silence counted from now.
      status.set_state(::fwota::v1::UPDATE_STATE_INITIATED);
      status.set_state_since(now);
      status.set_notices_sent(std::max(1, status.notices_sent()) + 1);
      event.set_state(::fwota::v1::UPDATE_STATE_INITIATED);
      event.set_note(absl::StrCat(quiet, "; notice sent again (", renotified + 1, " of ",
                                  policy.renotify, ")"));
      ++result.renotified;
    } else {
      status.set_state(::fwota::v1::UPDATE_STATE_FAILED);
      status.set_state_since(now);
      status.set_error(absl::StrCat("stalled: ", quiet,
                                    renotified > 0
                                        ? absl::StrCat(" after ", renotified, " re-notification(s)")
                                        : std::string()));
      event.set_state(::fwota::v1::UPDATE_STATE_FAILED);
      event.set_error(status.error());
      event.set_note(absl::StrCat("stall detector (limit ", internal::DurationText(silence),
                                  " in ", state_name, ")"));
      ++result.failed;
    }
    FWOTA_RETURN_IF_ERROR(tx.PutUpdateStatus(status));
    FWOTA_RETURN_IF_ERROR(tx.AppendUpdateEvent(event));
    return push;
  }

  // Remembers that the device downloaded `type` now; SweepStalls writes it to the store
  // (one write per device per sweep, not one per chunk).
  void NoteDownloadActivity(const std::string& device_id, OtaPackageType type) {
    const int64_t now = clock_.NowMillis();
    absl::MutexLock lock(&activity_mu_);
    int64_t& last = activity_[{device_id, static_cast<int>(type)}];
    last = std::max(last, now);
  }

  // One reader per blob, shared by concurrent downloads (its verified-block cache too).
  // The cache keeps each reader open for kReaderTtlMillis after it was opened, so that
  // back-to-back small requests (64 KiB chunks) neither reopen the blob and its sidecar
  // nor check the same blocks again; admin changes (Mutate) drop the cache, so a deleted
  // blob is not held open.
  absl::StatusOr<std::shared_ptr<BlobReader>> SharedReader(const OtaPackage& package) {
    const int64_t now = clock_.NowMillis();
    {
      absl::ReaderMutexLock lock(&readers_mu_);
      auto it = readers_.find(package.sha256());
      if (it != readers_.end() && it->second.expires_at > now) return it->second.reader;
    }
    absl::MutexLock lock(&readers_mu_);
    auto it = readers_.find(package.sha256());
    if (it != readers_.end() && it->second.expires_at > now) return it->second.reader;
    absl::StatusOr<std::unique_ptr<BlobReader>> opened = blobs_.Open(package.sha256());
    if (absl::IsNotFound(opened.status())) {
      return absl::DataLossError(absl::StrCat("The data of otaPackage ", package.id(),
                                              " is missing from the blob store"));
    }
    FWOTA_RETURN_IF_ERROR(opened.status());
    if ((*opened)->size() != package.data_size()) {
      return absl::DataLossError(
          absl::StrCat("The data of otaPackage ", package.id(), " has the wrong size"));
    }
    std::shared_ptr<BlobReader> reader(std::move(opened).value());
    // Drop expired entries so the map (and its open files) does not grow with every blob
    // ever read.
    for (auto e = readers_.begin(); e != readers_.end();) {
      e = e->second.expires_at <= now ? readers_.erase(e) : std::next(e);
    }
    readers_[package.sha256()] = {reader, now + kReaderTtlMillis};
    return reader;
  }

  static absl::StatusOr<OtaPackage> CheckAssignable(MetadataTransaction& tx,
                                                    absl::string_view tenant_id,
                                                    absl::string_view profile_id,
                                                    OtaPackageType type,
                                                    absl::string_view package_id) {
    return internal::CheckAssignable(tx, tenant_id, profile_id, type, package_id);
  }

  static absl::Status CheckType(OtaPackageType type) {
    if (type != ::fwota::v1::FIRMWARE && type != ::fwota::v1::SOFTWARE) {
      return absl::InvalidArgumentError("Type should be specified!");
    }
    return absl::OkStatus();
  }

  static absl::Status CheckPageQuery(const PageQuery& query) {
    if (query.page_size < 1) {
      return absl::InvalidArgumentError("Page size must be greater than zero!");
    }
    if (query.page < 0) return absl::InvalidArgumentError("Page must be positive integer!");
    return absl::OkStatus();
  }

  static absl::Status CheckAccessToken(absl::string_view token) {
    if (token.size() > 255) {
      return absl::InvalidArgumentError("Access token length must be equal or shorter than 255!");
    }
    for (char c : token) {
      // Tokens travel in URL paths and MQTT topics: no separators, spaces or controls.
      if (c == '/' || c == '+' || c == '#' || c == '?' || static_cast<unsigned char>(c) <= 0x20 ||
          c == 0x7f) {
        return absl::InvalidArgumentError(
            "Access token may not contain '/', '+', '#', '?', spaces or control characters!");
      }
    }
    return absl::OkStatus();
  }

  static absl::Status CheckTenantExists(MetadataTransaction& tx, const TenantContext& ctx) {
    absl::StatusOr<Tenant> tenant = tx.GetTenant(ctx.tenant_id);
    if (absl::IsNotFound(tenant.status())) return NoPermission();
    return tenant.status();
  }

  absl::StatusOr<DeviceProfile> FindProfileIn(MetadataTransaction& tx, const TenantContext& ctx,
                                              absl::string_view id_or_name) {
    absl::StatusOr<DeviceProfile> found = tx.GetProfile(id_or_name);
    if (absl::IsNotFound(found.status())) found = tx.FindProfileByName(ctx.tenant_id, id_or_name);
    return OwnedBy(std::move(found), ctx.tenant_id);
  }

  absl::StatusOr<Device> FindDeviceIn(MetadataTransaction& tx, const TenantContext& ctx,
                                      absl::string_view id_or_name) {
    absl::StatusOr<Device> found = tx.GetDevice(id_or_name);
    if (absl::IsNotFound(found.status())) found = tx.FindDeviceByName(ctx.tenant_id, id_or_name);
    return OwnedBy(std::move(found), ctx.tenant_id);
  }

  absl::Status BuildNewPackage(const TenantContext& ctx, const PackageInfoRequest& request,
                               OtaPackage& package) {
    package.set_id(internal::NewUuid());
    package.set_tenant_id(ctx.tenant_id);
    package.set_title(request.title);
    package.set_version(request.version);
    package.set_type(request.type);
    package.set_device_profile_id(request.device_profile_id);
    package.set_tag(request.tag.empty() ? absl::StrCat(request.title, " ", request.version)
                                        : request.tag);
    package.set_url(request.url);
    package.set_created_time(clock_.NowMillis());
    FWOTA_RETURN_IF_ERROR(internal::ValidateNewPackageInfo(request));
    if (package.tag().size() > 255) package.set_tag(package.tag().substr(0, 255));
    FWOTA_ASSIGN_OR_RETURN(std::string info,
                           internal::NormalizeAdditionalInfo(request.additional_info_json));
    package.set_additional_info_json(std::move(info));
    return absl::OkStatus();
  }

  static absl::Status CheckNewPackage(MetadataTransaction& tx, const TenantContext& ctx,
                                      const OtaPackage& package) {
    FWOTA_RETURN_IF_ERROR(CheckTenantExists(tx, ctx));
    absl::StatusOr<DeviceProfile> profile = tx.GetProfile(package.device_profile_id());
    if ((!profile.ok() && absl::IsNotFound(profile.status())) ||
        (profile.ok() && profile->tenant_id() != ctx.tenant_id)) {
      return absl::InvalidArgumentError(
          "OtaPackage is referencing to non-existent device profile!");
    }
    FWOTA_RETURN_IF_ERROR(profile.status());
    if (tx.FindPackageByTitleVersion(ctx.tenant_id, package.title(), package.version()).ok()) {
      return absl::AlreadyExistsError("OtaPackage with such title and version already exists!");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<OtaPackage> UpdatePackageInfo(const TenantContext& ctx,
                                               const PackageInfoRequest& request) {
    AuditSubject subject{"OTA_PACKAGE", request.id, ""};
    OtaPackage package;
    absl::Status s = Mutate([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(package, OwnedBy(tx.GetPackage(request.id), ctx.tenant_id));
      subject = SubjectOf(package);
      FWOTA_RETURN_IF_ERROR(internal::ValidatePackageInfoUpdate(package, request));
      FWOTA_ASSIGN_OR_RETURN(std::string info,
                             internal::NormalizeAdditionalInfo(request.additional_info_json));
      package.set_additional_info_json(std::move(info));
      FWOTA_RETURN_IF_ERROR(tx.UpdatePackage(package));
      return Audit(tx, ctx, subject, UPDATED, absl::OkStatus());
    });
    if (!s.ok()) return Failed(ctx, subject, UPDATED, s);
    return package;
  }

  absl::StatusOr<OtaPackage> UploadPackageDataImpl(const TenantContext& ctx,
                                                   absl::string_view package_id,
                                                   const UploadRequest& upload, ByteSource& data,
                                                   const UploadProgress& progress,
                                                   AuditSubject& subject) {
    FWOTA_ASSIGN_OR_RETURN(OtaPackage package, GetPackage(ctx, package_id));
    subject = SubjectOf(package);
    FWOTA_RETURN_IF_ERROR(CheckUploadable(package));
    FWOTA_RETURN_IF_ERROR(internal::ValidateUploadRequest(upload));
    FWOTA_RETURN_IF_ERROR(StreamAndStore(upload, data, progress, package,
                                         [&](MetadataTransaction& tx) {
      // The package may have changed while the data streamed.
      FWOTA_ASSIGN_OR_RETURN(OtaPackage current,
                             OwnedBy(tx.GetPackage(package.id()), ctx.tenant_id));
      FWOTA_RETURN_IF_ERROR(CheckUploadable(current));
      FWOTA_RETURN_IF_ERROR(tx.UpdatePackage(package));
      return Audit(tx, ctx, subject, UPDATED, absl::OkStatus());
    }));
    return package;
  }

  static absl::Status CheckUploadable(const OtaPackage& package) {
    if (!package.url().empty()) {
      return absl::InvalidArgumentError("File can't be saved if URL present!");
    }
    if (package.has_data()) {
      return absl::FailedPreconditionError("Updating otaPackage data is prohibited!");
    }
    return absl::OkStatus();
  }

  // Streams `data` into a new blob, verifies the checksum, fills the data fields of
  // `package`, commits the blob and runs `record` (the metadata change) in one
  // transaction. Either all of it happens or nothing is left behind.
  absl::Status StreamAndStore(const UploadRequest& upload, ByteSource& data,
                              const UploadProgress& progress, OtaPackage& package,
                              absl::FunctionRef<absl::Status(MetadataTransaction&)> record) {
    ChecksumAlgorithm algorithm = upload.checksum_algorithm;
    if (algorithm == ::fwota::v1::CHECKSUM_ALGORITHM_UNSPECIFIED) algorithm = ::fwota::v1::SHA256;
    internal::UploadLimits limits;
    limits.max_size = options_.max_package_size;
    limits.buffer_size = options_.upload_buffer_size;
    limits.buffers = options_.upload_buffers;
    FWOTA_ASSIGN_OR_RETURN(internal::StreamedBlob blob,
                           internal::StreamIntoBlob(data, blobs_, algorithm, limits, progress));
    if (blob.size == 0) return absl::InvalidArgumentError("OtaPackage data should be specified!");
    if (!upload.checksum.empty() && !ChecksumMatches(algorithm, upload.checksum, blob.checksum)) {
      return absl::InvalidArgumentError("Wrong otaPackage file!");
    }
    CrashPoint("upload.blob_written");
    package.set_has_data(true);
    package.set_file_name(upload.file_name);
    package.set_content_type(upload.content_type.empty() ? "application/octet-stream"
                                                         : upload.content_type);
    package.set_checksum_algorithm(algorithm);
    package.set_checksum(blob.checksum);
    package.set_data_size(blob.size);
    package.set_sha256(blob.sha256);

    absl::MutexLock lock(&blob_mu_);
    FWOTA_RETURN_IF_ERROR(blob.writer->Commit(blob.sha256));
    CrashPoint("upload.blob_committed");
    absl::Status s = Mutate(record);
    if (!s.ok()) DeleteBlobIfUnreferencedLocked(blob.sha256).IgnoreError();
    return s;
  }

  absl::Status DeleteBlobIfUnreferenced(const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(blob_mu_) {
    return DeleteBlobIfUnreferencedLocked(key);
  }

  absl::Status DeleteBlobIfUnreferencedLocked(const std::string& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(blob_mu_) {
    int64_t users = 0;
    FWOTA_RETURN_IF_ERROR(metadata_.RunInTransaction([&](MetadataTransaction& tx) {
      FWOTA_ASSIGN_OR_RETURN(users, tx.CountPackagesWithBlob(key));
      return absl::OkStatus();
    }));
    if (users > 0) return absl::OkStatus();
    absl::Status s = blobs_.Delete(key);
    return absl::IsNotFound(s) ? absl::OkStatus() : s;
  }

  void CrashPoint(absl::string_view point) {
    if (options_.crash_point) options_.crash_point(point);
  }

  absl::Status Audit(MetadataTransaction& tx, const TenantContext& ctx,
                     const AuditSubject& subject, ::fwota::v1::AuditActionType action,
                     const absl::Status& outcome, std::string data = "") {
    return tx.AppendAudit(internal::MakeAuditEvent(ctx.tenant_id, ctx.user_name, subject,
                                                   action, outcome, std::move(data),
                                                   clock_.NowMillis()));
  }

  // Records a failed operation in the audit log (in its own transaction, since the
  // operation's was rolled back) and returns `status`. Failures of another tenant's or
  // an unknown tenant's request are not written into a tenant's log.
  absl::Status Failed(const TenantContext& ctx, const AuditSubject& subject,
                      ::fwota::v1::AuditActionType action, const absl::Status& status,
                      std::string data = "") {
    if (absl::IsPermissionDenied(status) && subject.entity_name.empty()) return status;
    metadata_
        .RunInTransaction([&](MetadataTransaction& tx) -> absl::Status {
          if (!tx.GetTenant(ctx.tenant_id).ok()) return absl::OkStatus();
          return Audit(tx, ctx, subject, action, status, data);
        })
        .IgnoreError();
    return status;
  }

  const OtaServiceOptions options_;
  MetadataStore& metadata_;
  BlobStore& blobs_;
  Clock& clock_;
  // Serializes blob commits and blob deletions with the metadata changes that decide
  // them, so a blob shared by two packages is never deleted while one still needs it.
  absl::Mutex blob_mu_;
  std::atomic<uint64_t> generation_{0};
  absl::Mutex resolutions_mu_;
  std::map<std::string, std::shared_ptr<const Resolution>, std::less<>> resolutions_
      ABSL_GUARDED_BY(resolutions_mu_);
  struct CachedReader {
    std::shared_ptr<BlobReader> reader;
    int64_t expires_at = 0;
  };
  static constexpr int64_t kReaderTtlMillis = 10000;
  // Notices (and silent statuses) handled per transaction.
  static constexpr int64_t kDrainBatch = 512;
  // The applier waits for this many reports, or kApplyMaxDelay: batches of a few hundred
  // write nearly as many pages as reports, batches of tens of thousands far fewer.
  static constexpr int64_t kApplyMinBatch = 32768;
  static constexpr absl::Duration kApplyMaxDelay = absl::Milliseconds(200);
  // Log entries applied at a time (bounded memory).
  static constexpr int kApplyBatch = 65536;
  // The logger waits while this many logged reports are not applied yet: the most a read
  // may have to apply first.
  static constexpr int64_t kMaxUnapplied = 2 * kApplyBatch;
  absl::Mutex reports_mu_;
  std::deque<PendingReport*> pending_reports_ ABSL_GUARDED_BY(reports_mu_);
  bool stopping_reports_ ABSL_GUARDED_BY(reports_mu_) = false;
  // The group that reports queued now will be written in; groups are numbered from 1.
  int64_t next_report_group_ ABSL_GUARDED_BY(reports_mu_) = 1;
  // The last group written (its callers' results set); std:: rather than absl:: so that
  // notify_all wakes a group's reporters with one futex call.
  std::mutex acks_mu_;
  std::condition_variable acked_[2];
  int64_t acked_group_ = 0;  // guarded by acks_mu_
  // How far this process logged and knows the log applied (seqs), for the applier's
  // wake-ups and the logger's back pressure. Reads never rely on them: Transact applies
  // whatever is above the mark stored in the metadata.
  absl::Mutex apply_mu_;
  int64_t logged_through_ ABSL_GUARDED_BY(apply_mu_) = 0;
  int64_t applied_through_ ABSL_GUARDED_BY(apply_mu_) = 0;
  bool apply_failing_ ABSL_GUARDED_BY(apply_mu_) = false;
  bool stopping_apply_ ABSL_GUARDED_BY(apply_mu_) = false;
  int64_t truncated_through_ = 0;  // the applier's (and Recover's, before it starts)
  std::thread report_logger_;   // started with the first report
  std::thread report_applier_;  // started with the first report
  absl::Mutex activity_mu_;
  absl::flat_hash_map<std::pair<std::string, int>, int64_t> activity_
      ABSL_GUARDED_BY(activity_mu_);
  absl::Mutex readers_mu_;
  std::map<std::string, CachedReader, std::less<>> readers_ ABSL_GUARDED_BY(readers_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<OtaService>> OtaService::Create(OtaServiceOptions options) {
  if (options.metadata == nullptr || options.blobs == nullptr) {
    return absl::InvalidArgumentError("OtaServiceOptions needs a metadata store and a blob store");
  }
  if (options.clock == nullptr) options.clock = RealClock();
  if (options.max_package_size <= 0) {
    return absl::InvalidArgumentError("max_package_size must be positive");
  }
  if (options.upload_buffer_size < 4096 || options.upload_buffers < 2) {
    return absl::InvalidArgumentError("upload buffers: at least 2 of at least 4096 bytes");
  }
  auto service = std::make_unique<OtaServiceImpl>(std::move(options));
  FWOTA_RETURN_IF_ERROR(service->Recover());
  return std::unique_ptr<OtaService>(std::move(service));
}

}  // namespace fwota
