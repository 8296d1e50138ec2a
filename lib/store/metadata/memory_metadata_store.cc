// The in-memory MetadataStore: the whole state in ordered maps, one mutex, and
// transactions that work on a copy which replaces the state only when the body succeeds.
// It mirrors the SQLite store's semantics (unique keys, RESTRICT references, ordering,
// search), which the conformance suite in tests/store/metadata checks for both.
#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fwota/metadata_stores.h"
#include "fwota/status_macros.h"
#include "lib/store/metadata/metadata_errors.h"
#include "lib/store/metadata/report_logs.h"

namespace fwota {
namespace {

using metadata_internal::CheckIdPresent;
using metadata_internal::CheckPageQuery;
using metadata_internal::CheckTenantPresent;
using metadata_internal::Reference;

// Everything the store keeps, each table keyed by id (update statuses by device and type).
struct MemoryState {
  std::map<std::string, Tenant> tenants;
  std::map<std::string, DeviceProfile> profiles;
  std::map<std::string, Device> devices;
  std::map<std::string, OtaPackage> packages;
  std::map<std::string, AuditEvent> audit;
  std::map<std::string, ApiKey> api_keys;
  std::map<std::pair<std::string, int>, UpdateStatus> update_statuses;
  std::map<std::string, UpdateEvent> update_events;
  // The notice queue by seq, and the next seq to give.
  std::map<int64_t, Notice> notices;
  int64_t next_notice_seq = 1;
  // The report log by seq, and the next seq to give.
  std::map<int64_t, LoggedReport> reports;
  int64_t reports_applied_through = 0;
  int64_t next_report_seq = 1;
};

// Case-insensitive (ASCII, as SQLite's lower()) substring test; an empty needle matches.
bool ContainsIgnoringCase(absl::string_view haystack, absl::string_view needle) {
  if (needle.empty()) return true;
  return absl::AsciiStrToLower(haystack).find(absl::AsciiStrToLower(needle)) != std::string::npos;
}

// Cuts one page out of `all`, which is already filtered and sorted.
template <typename T>
Page<T> MakePage(const PageQuery& query, std::vector<T> all) {
  Page<T> page;
  page.total_elements = static_cast<int64_t>(all.size());
  const int64_t begin = static_cast<int64_t>(query.page) * query.page_size;
  const int64_t end = std::min<int64_t>(begin + query.page_size, page.total_elements);
  for (int64_t i = begin; i < end; ++i) page.data.push_back(std::move(all[i]));
  FinishPage(query, page);
  return page;
}

// Orders packages as ListPackages does: by the sort key, ties by id, both in the
// query's direction (so a descending listing is the exact reverse of an ascending one).
bool PackageLess(const OtaPackage& a, const OtaPackage& b, PackageSortProperty key) {
  switch (key) {
    case PackageSortProperty::kTitle:
      return std::tie(a.title(), a.id()) < std::tie(b.title(), b.id());
    case PackageSortProperty::kVersion:
      return std::tie(a.version(), a.id()) < std::tie(b.version(), b.id());
    case PackageSortProperty::kType:
      return std::make_tuple(static_cast<int>(a.type()), std::cref(a.id())) <
             std::make_tuple(static_cast<int>(b.type()), std::cref(b.id()));
    case PackageSortProperty::kDataSize:
      return std::make_tuple(a.data_size(), std::cref(a.id())) <
             std::make_tuple(b.data_size(), std::cref(b.id()));
    case PackageSortProperty::kCreatedTime:
      break;
  }
  return std::make_tuple(a.created_time(), std::cref(a.id())) <
         std::make_tuple(b.created_time(), std::cref(b.id()));
}

// Not thread-safe: works on the copy that RunInTransaction hands it.
class MemoryTransaction final : public MetadataTransaction {
 public:
  explicit MemoryTransaction(MemoryState& state) : state_(state) {}

  // Tenants.
  absl::Status InsertTenant(const Tenant& tenant) override {
    FWOTA_RETURN_IF_ERROR(CheckIdPresent(metadata_internal::kTenant, tenant.id()));
    if (state_.tenants.count(tenant.id()) > 0) {
      return metadata_internal::DuplicateIdError(metadata_internal::kTenant, tenant.id());
    }
    for (const auto& [id, other] : state_.tenants) {
      if (other.name() == tenant.name()) {
        return metadata_internal::DuplicateTenantNameError(tenant);
      }
    }
    state_.tenants[tenant.id()] = tenant;
    return absl::OkStatus();
  }

  absl::StatusOr<Tenant> GetTenant(absl::string_view id) override {
    return Lookup(state_.tenants, metadata_internal::kTenant, id);
  }

  absl::StatusOr<Tenant> FindTenantByName(absl::string_view name) override {
    for (const auto& [id, tenant] : state_.tenants) {
      if (tenant.name() == name) return tenant;
    }
    return metadata_internal::NotFoundError(metadata_internal::kTenant,
                                            absl::StrCat("name '", name, "'"));
  }

  absl::StatusOr<std::vector<Tenant>> ListTenants() override {
    std::vector<Tenant> tenants;
    for (const auto& [id, tenant] : state_.tenants) tenants.push_back(tenant);
    SortByName(tenants);
    return tenants;
  }

  // Device profiles.
  absl::Status InsertProfile(const DeviceProfile& profile) override {
    FWOTA_RETURN_IF_ERROR(CheckIdPresent(metadata_internal::kProfile, profile.id()));
    FWOTA_RETURN_IF_ERROR(
        CheckTenantPresent(metadata_internal::kProfile, profile.id(), profile.tenant_id()));
    if (state_.profiles.count(profile.id()) > 0) {
      return metadata_internal::DuplicateIdError(metadata_internal::kProfile, profile.id());
    }
    return PutProfile(profile);
  }

  absl::Status UpdateProfile(const DeviceProfile& profile) override {
    FWOTA_RETURN_IF_ERROR(
        CheckTenantPresent(metadata_internal::kProfile, profile.id(), profile.tenant_id()));
    if (state_.profiles.count(profile.id()) == 0) {
      return metadata_internal::NotFoundById(metadata_internal::kProfile, profile.id());
    }
    return PutProfile(profile);
  }

  absl::StatusOr<DeviceProfile> GetProfile(absl::string_view id) override {
    return Lookup(state_.profiles, metadata_internal::kProfile, id);
  }

  absl::StatusOr<DeviceProfile> FindProfileByName(absl::string_view tenant_id,
                                                  absl::string_view name) override {
    for (const auto& [id, profile] : state_.profiles) {
      if (profile.tenant_id() == tenant_id && profile.name() == name) return profile;
    }
    return metadata_internal::NotFoundError(
        metadata_internal::kProfile, absl::StrCat("name '", name, "' in tenant '", tenant_id, "'"));
  }

  absl::StatusOr<std::vector<DeviceProfile>> ListProfiles(absl::string_view tenant_id) override {
    std::vector<DeviceProfile> profiles;
    for (const auto& [id, profile] : state_.profiles) {
      if (profile.tenant_id() == tenant_id) profiles.push_back(profile);
    }
    SortByName(profiles);
    return profiles;
  }

  absl::Status DeleteProfile(absl::string_view id) override {
    auto it = state_.profiles.find(std::string(id));
    if (it == state_.profiles.end()) {
      return metadata_internal::NotFoundById(metadata_internal::kProfile, id);
    }
    const int64_t devices = CountDevicesWithProfile(id);
    const int64_t packages = CountPackagesWithProfile(id);
    if (devices > 0 || packages > 0) {
      return metadata_internal::ProfileStillReferencedError(id, devices, packages);
    }
    state_.profiles.erase(it);
    return absl::OkStatus();
  }

  // Devices.
  absl::Status InsertDevice(const Device& device) override {
    FWOTA_RETURN_IF_ERROR(CheckIdPresent(metadata_internal::kDevice, device.id()));
    FWOTA_RETURN_IF_ERROR(
        CheckTenantPresent(metadata_internal::kDevice, device.id(), device.tenant_id()));
    if (state_.devices.count(device.id()) > 0) {
      return metadata_internal::DuplicateIdError(metadata_internal::kDevice, device.id());
    }
    return PutDevice(device);
  }

  absl::Status UpdateDevice(const Device& device) override {
    FWOTA_RETURN_IF_ERROR(
        CheckTenantPresent(metadata_internal::kDevice, device.id(), device.tenant_id()));
    if (state_.devices.count(device.id()) == 0) {
      return metadata_internal::NotFoundById(metadata_internal::kDevice, device.id());
    }
    return PutDevice(device);
  }

  absl::StatusOr<Device> GetDevice(absl::string_view id) override {
    return Lookup(state_.devices, metadata_internal::kDevice, id);
  }

  absl::StatusOr<Device> FindDeviceByName(absl::string_view tenant_id,
                                          absl::string_view name) override {
    for (const auto& [id, device] : state_.devices) {
      if (device.tenant_id() == tenant_id && device.name() == name) return device;
    }
    return metadata_internal::NotFoundError(
        metadata_internal::kDevice, absl::StrCat("name '", name, "' in tenant '", tenant_id, "'"));
  }

  absl::StatusOr<Device> FindDeviceByAccessToken(absl::string_view token) override {
    // An empty token is "no token": it finds nothing, as NULL does in SQL.
    if (!token.empty()) {
      for (const auto& [id, device] : state_.devices) {
        if (device.access_token() == token) return device;
      }
    }
    return metadata_internal::NotFoundError(metadata_internal::kDevice, "the given access token");
  }

  absl::StatusOr<std::vector<Device>> ListDevices(absl::string_view tenant_id,
                                                  absl::string_view profile_id) override {
    std::vector<Device> devices;
    for (const auto& [id, device] : state_.devices) {
      if (device.tenant_id() != tenant_id) continue;
      if (!profile_id.empty() && device.device_profile_id() != profile_id) continue;
      devices.push_back(device);
    }
    SortByName(devices);
    return devices;
  }

  absl::StatusOr<int64_t> CountDevicesInProfile(absl::string_view profile_id) override {
    return CountDevicesWithProfile(profile_id);
  }

  // Its update statuses and events go with it, as ON DELETE CASCADE does in SQL.
  absl::Status DeleteDevice(absl::string_view id) override {
    if (state_.devices.erase(std::string(id)) == 0) {
      return metadata_internal::NotFoundById(metadata_internal::kDevice, id);
    }
    EraseIf(state_.update_statuses, [id](const UpdateStatus& s) { return s.device_id() == id; });
    EraseIf(state_.update_events, [id](const UpdateEvent& e) { return e.device_id() == id; });
    EraseIf(state_.notices, [id](const Notice& n) { return n.device_id() == id; });
    return absl::OkStatus();
  }

  // OTA packages.
  absl::Status InsertPackage(const OtaPackage& package) override {
    FWOTA_RETURN_IF_ERROR(CheckIdPresent(metadata_internal::kPackage, package.id()));
    FWOTA_RETURN_IF_ERROR(
        CheckTenantPresent(metadata_internal::kPackage, package.id(), package.tenant_id()));
    if (state_.packages.count(package.id()) > 0) {
      return metadata_internal::DuplicateIdError(metadata_internal::kPackage, package.id());
    }
    return PutPackage(package);
  }

  absl::Status UpdatePackage(const OtaPackage& package) override {
    FWOTA_RETURN_IF_ERROR(
        CheckTenantPresent(metadata_internal::kPackage, package.id(), package.tenant_id()));
    if (state_.packages.count(package.id()) == 0) {
      return metadata_internal::NotFoundById(metadata_internal::kPackage, package.id());
    }
    return PutPackage(package);
  }

  absl::StatusOr<OtaPackage> GetPackage(absl::string_view id) override {
    return Lookup(state_.packages, metadata_internal::kPackage, id);
  }

  absl::StatusOr<OtaPackage> FindPackageByTitleVersion(absl::string_view tenant_id,
                                                       absl::string_view title,
                                                       absl::string_view version) override {
    for (const auto& [id, package] : state_.packages) {
      if (package.tenant_id() == tenant_id && package.title() == title &&
          package.version() == version) {
        return package;
      }
    }
    return metadata_internal::NotFoundError(
        metadata_internal::kPackage, absl::StrCat("title '", title, "' and version '", version,
                                                  "' in tenant '", tenant_id, "'"));
  }

  absl::StatusOr<Page<OtaPackage>> ListPackages(absl::string_view tenant_id,
                                                const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(CheckPageQuery(query));
    std::vector<OtaPackage> matching;
    for (const auto& [id, package] : state_.packages) {
      if (package.tenant_id() == tenant_id &&
          ContainsIgnoringCase(package.title(), query.text_search)) {
        matching.push_back(package);
      }
    }
    std::sort(matching.begin(), matching.end(), [&query](const OtaPackage& a, const OtaPackage& b) {
      return query.ascending ? PackageLess(a, b, query.sort_property)
                             : PackageLess(b, a, query.sort_property);
    });
    return MakePage(query, std::move(matching));
  }

  absl::StatusOr<std::vector<OtaPackage>> ListProfilePackages(absl::string_view tenant_id,
                                                              absl::string_view profile_id,
                                                              OtaPackageType type) override {
    std::vector<OtaPackage> packages;
    if (profile_id.empty()) return packages;  // "" is "no profile": matches nothing.
    for (const auto& [id, package] : state_.packages) {
      if (package.tenant_id() == tenant_id && package.device_profile_id() == profile_id &&
          package.type() == type && (package.has_data() || !package.url().empty())) {
        packages.push_back(package);
      }
    }
    std::sort(packages.begin(), packages.end(), [](const OtaPackage& a, const OtaPackage& b) {
      return std::tie(a.title(), a.version(), a.id()) < std::tie(b.title(), b.version(), b.id());
    });
    return packages;
  }

  absl::StatusOr<int64_t> CountPackagesInProfile(absl::string_view profile_id) override {
    return CountPackagesWithProfile(profile_id);
  }

  absl::StatusOr<PackageReferences> CountPackageReferences(absl::string_view package_id) override {
    return ReferencesTo(package_id);
  }

  absl::StatusOr<int64_t> CountPackagesWithBlob(absl::string_view sha256) override {
    int64_t count = 0;
    if (sha256.empty()) return count;  // "" is "no blob", as NULL in SQL.
    for (const auto& [id, package] : state_.packages) {
      if (package.sha256() == sha256) ++count;
    }
    return count;
  }

  absl::StatusOr<std::vector<std::string>> ListBlobKeys() override {
    std::set<std::string> keys;
    for (const auto& [id, package] : state_.packages) {
      if (!package.sha256().empty()) keys.insert(package.sha256());
    }
    return std::vector<std::string>(keys.begin(), keys.end());
  }

  absl::Status DeletePackage(absl::string_view id) override {
    auto it = state_.packages.find(std::string(id));
    if (it == state_.packages.end()) {
      return metadata_internal::NotFoundById(metadata_internal::kPackage, id);
    }
    const PackageReferences refs = ReferencesTo(id);
    if (refs.devices > 0 || refs.profiles > 0) {
      return metadata_internal::PackageStillReferencedError(id, refs);
    }
    state_.packages.erase(it);
    return absl::OkStatus();
  }

  // API keys.
  absl::Status InsertApiKey(const ApiKey& key) override {
    FWOTA_RETURN_IF_ERROR(CheckIdPresent(metadata_internal::kApiKey, key.id()));
    FWOTA_RETURN_IF_ERROR(
        CheckTenantPresent(metadata_internal::kApiKey, key.id(), key.tenant_id()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckKeyHashPresent(key));
    if (state_.api_keys.count(key.id()) > 0) {
      return metadata_internal::DuplicateIdError(metadata_internal::kApiKey, key.id());
    }
    for (const auto& [id, other] : state_.api_keys) {
      if (other.key_hash() == key.key_hash()) {
        return metadata_internal::DuplicateApiKeyHashError(key);
      }
      if (other.tenant_id() == key.tenant_id() && other.name() == key.name()) {
        return metadata_internal::DuplicateApiKeyNameError(key);
      }
    }
    FWOTA_RETURN_IF_ERROR(CheckReferences(metadata_internal::kApiKey, key.id(),
                                          metadata_internal::ReferencesOf(key)));
    state_.api_keys[key.id()] = key;
    return absl::OkStatus();
  }

  absl::StatusOr<ApiKey> FindApiKeyByHash(absl::string_view key_hash) override {
    for (const auto& [id, key] : state_.api_keys) {
      if (key.key_hash() == key_hash) return key;
    }
    return metadata_internal::NotFoundError(metadata_internal::kApiKey, "the given key hash");
  }

  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(absl::string_view tenant_id) override {
    std::vector<ApiKey> keys;
    for (const auto& [id, key] : state_.api_keys) {
      if (key.tenant_id() == tenant_id) keys.push_back(key);
    }
    SortByName(keys);
    return keys;
  }

  absl::Status DeleteApiKey(absl::string_view id) override {
    if (state_.api_keys.erase(std::string(id)) == 0) {
      return metadata_internal::NotFoundById(metadata_internal::kApiKey, id);
    }
    return absl::OkStatus();
  }

  // Update status.
  absl::Status PutUpdateStatus(const UpdateStatus& status) override {
    const std::string key = metadata_internal::UpdateStatusKey(status.device_id(), status.type());
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckUpdateType(metadata_internal::kUpdateStatus, key, status.type()));
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckUpdateState(metadata_internal::kUpdateStatus, key, status.state()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckDevicePresent(metadata_internal::kUpdateStatus,
                                                                key, status.device_id()));
    FWOTA_RETURN_IF_ERROR(CheckReferences(metadata_internal::kUpdateStatus, key,
                                          metadata_internal::ReferencesOf(status)));
    state_.update_statuses[{status.device_id(), static_cast<int>(status.type())}] = status;
    return absl::OkStatus();
  }

  absl::StatusOr<UpdateStatus> GetUpdateStatus(absl::string_view device_id,
                                               OtaPackageType type) override {
    auto it = state_.update_statuses.find({std::string(device_id), static_cast<int>(type)});
    if (it == state_.update_statuses.end()) {
      return metadata_internal::UpdateStatusNotFoundError(device_id, type);
    }
    return it->second;
  }

  absl::StatusOr<Page<UpdateStatus>> ListUpdateStatuses(absl::string_view tenant_id,
                                                        OtaPackageType type, UpdateState state,
                                                        const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(CheckPageQuery(query));
    std::vector<UpdateStatus> matching;
    for (const auto& [key, status] : state_.update_statuses) {
      if (status.tenant_id() != tenant_id || status.type() != type) continue;
      if (state != ::fwota::v1::UPDATE_STATE_UNSPECIFIED && status.state() != state) continue;
      if (!ContainsIgnoringCase(DeviceName(status.device_id()), query.text_search)) continue;
      matching.push_back(status);
    }
    std::sort(matching.begin(), matching.end(),
              [&query](const UpdateStatus& a, const UpdateStatus& b) {
                auto ka = std::make_tuple(a.state_since(), std::cref(a.device_id()));
                auto kb = std::make_tuple(b.state_since(), std::cref(b.device_id()));
                return query.ascending ? ka < kb : kb < ka;
              });
    return MakePage(query, std::move(matching));
  }

  absl::StatusOr<std::vector<int64_t>> CountUpdateStates(absl::string_view tenant_id,
                                                         OtaPackageType type) override {
    std::vector<int64_t> counts(::fwota::v1::UpdateState_ARRAYSIZE, 0);
    for (const auto& [key, status] : state_.update_statuses) {
      if (status.tenant_id() != tenant_id || status.type() != type) continue;
      // PutUpdateStatus admits only states of the enum.
      const int index = static_cast<int>(status.state());
      if (index >= 0 && index < static_cast<int>(counts.size())) ++counts[index];
    }
    return counts;
  }

  absl::StatusOr<std::vector<UpdateStatus>> ListSilentStatuses(UpdateState state,
                                                               int64_t before_millis,
                                                               int limit) override {
    std::vector<UpdateStatus> out;
    for (const auto& [key, status] : state_.update_statuses) {
      if (status.state() == state && status.state_since() < before_millis &&
          status.last_activity() < before_millis) {
        out.push_back(status);
      }
    }
    std::sort(out.begin(), out.end(), [](const UpdateStatus& a, const UpdateStatus& b) {
      return std::make_tuple(a.state_since(), std::cref(a.device_id()), a.type()) <
             std::make_tuple(b.state_since(), std::cref(b.device_id()), b.type());
    });
    if (out.size() > static_cast<size_t>(std::max(limit, 0))) out.resize(std::max(limit, 0));
    return out;
  }

  absl::Status TouchUpdateStatus(absl::string_view device_id, OtaPackageType type,
                                 int64_t millis) override {
    auto it = state_.update_statuses.find({std::string(device_id), static_cast<int>(type)});
    if (it != state_.update_statuses.end() && it->second.last_activity() < millis) {
      it->second.set_last_activity(millis);
    }
    return absl::OkStatus();
  }

  // Notice queue.
  absl::Status PutNotice(const Notice& notice) override {
    const std::string key = metadata_internal::UpdateStatusKey(notice.device_id(), notice.type());
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckUpdateType(metadata_internal::kNotice, key, notice.type()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckDevicePresent(metadata_internal::kNotice, key,
                                                                notice.device_id()));
    FWOTA_RETURN_IF_ERROR(
        CheckReferences(metadata_internal::kNotice, key, metadata_internal::ReferencesOf(notice)));
    EraseIf(state_.notices, [&](const Notice& n) {
      return n.device_id() == notice.device_id() && n.type() == notice.type();
    });
    Notice stored = notice;
    stored.set_seq(state_.next_notice_seq++);
    state_.notices[stored.seq()] = std::move(stored);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Notice>> ListNotices(int limit, bool deletions_only) override {
    std::vector<Notice> out;
    for (const auto& [seq, notice] : state_.notices) {
      if (static_cast<int>(out.size()) >= limit) break;
      if (deletions_only && !notice.package_id().empty()) continue;
      out.push_back(notice);
    }
    return out;
  }

  absl::Status DeleteNotice(int64_t seq) override {
    if (state_.notices.erase(seq) == 0) {
      return metadata_internal::NotFoundError(metadata_internal::kNotice,
                                              absl::StrCat("seq ", seq));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> CountNotices() override {
    return static_cast<int64_t>(state_.notices.size());
  }

  // Report log.
  absl::Status AppendReport(const LoggedReport& report) override {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckLoggedReport(report));
    LoggedReport stored = report;
    stored.seq = state_.next_report_seq++;
    state_.reports[stored.seq] = std::move(stored);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<LoggedReport>> ListReports(int limit) override {
    std::vector<LoggedReport> out;
    for (const auto& [seq, report] : state_.reports) {
      if (static_cast<int>(out.size()) >= limit) break;
      out.push_back(report);
    }
    return out;
  }

  absl::Status DeleteReportsThrough(int64_t seq) override {
    state_.reports.erase(state_.reports.begin(), state_.reports.upper_bound(seq));
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> GetReportsAppliedThrough() override {
    return state_.reports_applied_through;
  }

  absl::Status SetReportsAppliedThrough(int64_t seq) override {
    if (seq < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("report log: applied mark ", seq, " is negative"));
    }
    state_.reports_applied_through = seq;
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> RetargetProfileMembers(absl::string_view profile_id,
                                                 OtaPackageType type, const UpdateStatus& status,
                                                 const UpdateEvent& event,
                                                 const Notice& notice) override {
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckRetarget(profile_id, type, status.state(), event.state()));
    std::vector<const Device*> members;
    for (const auto& [id, device] : state_.devices) {
      const std::string& own =
          type == ::fwota::v1::SOFTWARE ? device.software_id() : device.firmware_id();
      if (device.device_profile_id() == profile_id && own.empty()) members.push_back(&device);
    }
    std::sort(members.begin(), members.end(),
              [](const Device* a, const Device* b) { return a->id() < b->id(); });
    int64_t events = 0;
    for (const Device* device : members) {
      auto it = state_.update_statuses.find({device->id(), static_cast<int>(type)});
      if (it == state_.update_statuses.end()) {
        if (status.target_package_id().empty()) continue;
        UpdateStatus fresh;
        fresh.set_tenant_id(device->tenant_id());
        fresh.set_device_id(device->id());
        fresh.set_type(type);
        it = state_.update_statuses.emplace(std::make_pair(device->id(), static_cast<int>(type)),
                                            fresh).first;
      }
      UpdateStatus& row = it->second;
      row.set_state(status.state());
      row.set_target_package_id(status.target_package_id());
      row.set_target_title(status.target_title());
      row.set_target_version(status.target_version());
      row.set_target_tag(status.target_tag());
      row.set_target_ts(status.target_ts());
      row.set_error(status.error());
      row.set_state_since(status.state_since());
      row.set_notices_sent(status.notices_sent());
      UpdateEvent entry = event;
      entry.set_id(metadata_internal::BulkEventId(event.id(), events++));
      entry.set_tenant_id(device->tenant_id());
      entry.set_device_id(device->id());
      if (state_.update_events.count(entry.id()) > 0) {
        return metadata_internal::DuplicateIdError(metadata_internal::kUpdateEvent, entry.id());
      }
      state_.update_events[entry.id()] = std::move(entry);
    }
    // The members' queued notices of `type` give way to the new ones (one pass).
    std::set<std::string> member_ids;
    for (const Device* device : members) member_ids.insert(device->id());
    EraseIf(state_.notices, [&](const Notice& n) {
      return n.type() == type && member_ids.count(n.device_id()) > 0;
    });
    for (const Device* device : members) {
      Notice queued = notice;
      queued.set_tenant_id(device->tenant_id());
      queued.set_device_id(device->id());
      queued.set_type(type);
      queued.set_seq(state_.next_notice_seq++);
      state_.notices[queued.seq()] = std::move(queued);
    }
    return static_cast<int64_t>(members.size());
  }

  // Update events.
  absl::Status AppendUpdateEvent(const UpdateEvent& event) override {
    FWOTA_RETURN_IF_ERROR(CheckIdPresent(metadata_internal::kUpdateEvent, event.id()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckUpdateType(metadata_internal::kUpdateEvent,
                                                             event.id(), event.type()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckUpdateState(metadata_internal::kUpdateEvent,
                                                              event.id(), event.state()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckDevicePresent(metadata_internal::kUpdateEvent,
                                                                event.id(), event.device_id()));
    if (state_.update_events.count(event.id()) > 0) {
      return metadata_internal::DuplicateIdError(metadata_internal::kUpdateEvent, event.id());
    }
    FWOTA_RETURN_IF_ERROR(CheckReferences(metadata_internal::kUpdateEvent, event.id(),
                                          metadata_internal::ReferencesOf(event)));
    state_.update_events[event.id()] = event;
    return absl::OkStatus();
  }

  absl::StatusOr<Page<UpdateEvent>> ListUpdateEvents(absl::string_view device_id,
                                                     OtaPackageType type,
                                                     const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(CheckPageQuery(query));
    std::vector<UpdateEvent> matching;
    for (const auto& [id, event] : state_.update_events) {
      if (event.device_id() == device_id && event.type() == type &&
          ContainsIgnoringCase(event.title(), query.text_search)) {
        matching.push_back(event);
      }
    }
    std::sort(matching.begin(), matching.end(),
              [&query](const UpdateEvent& a, const UpdateEvent& b) {
                auto ka = std::make_tuple(a.created_time(), std::cref(a.id()));
                auto kb = std::make_tuple(b.created_time(), std::cref(b.id()));
                return query.ascending ? ka < kb : kb < ka;
              });
    return MakePage(query, std::move(matching));
  }

  // Audit log.
  absl::Status AppendAudit(const AuditEvent& event) override {
    FWOTA_RETURN_IF_ERROR(CheckIdPresent(metadata_internal::kAudit, event.id()));
    if (state_.audit.count(event.id()) > 0) {
      return metadata_internal::DuplicateIdError(metadata_internal::kAudit, event.id());
    }
    FWOTA_RETURN_IF_ERROR(CheckReferences(metadata_internal::kAudit, event.id(),
                                          metadata_internal::ReferencesOf(event)));
    state_.audit[event.id()] = event;
    return absl::OkStatus();
  }

  absl::StatusOr<Page<AuditEvent>> ListAudit(absl::string_view tenant_id,
                                             const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(CheckPageQuery(query));
    std::vector<AuditEvent> matching;
    for (const auto& [id, event] : state_.audit) {
      if (event.tenant_id() == tenant_id &&
          ContainsIgnoringCase(event.entity_name(), query.text_search)) {
        matching.push_back(event);
      }
    }
    std::sort(matching.begin(), matching.end(), [&query](const AuditEvent& a, const AuditEvent& b) {
      auto ka = std::make_tuple(a.created_time(), std::cref(a.id()));
      auto kb = std::make_tuple(b.created_time(), std::cref(b.id()));
      return query.ascending ? ka < kb : kb < ka;
    });
    return MakePage(query, std::move(matching));
  }

 private:
  template <typename T>
  static absl::StatusOr<T> Lookup(const std::map<std::string, T>& table, absl::string_view entity,
                                  absl::string_view id) {
    auto it = table.find(std::string(id));
    if (it == table.end()) return metadata_internal::NotFoundById(entity, id);
    return it->second;
  }

  template <typename T>
  static void SortByName(std::vector<T>& rows) {
    std::sort(rows.begin(), rows.end(), [](const T& a, const T& b) {
      return std::tie(a.name(), a.id()) < std::tie(b.name(), b.id());
    });
  }

  template <typename K, typename T, typename Pred>
  static void EraseIf(std::map<K, T>& table, Pred pred) {
    for (auto it = table.begin(); it != table.end();) {
      it = pred(it->second) ? table.erase(it) : std::next(it);
    }
  }

  // The device's name; "" for a device that does not exist (never the case for a status,
  // which goes with its device).
  std::string DeviceName(absl::string_view device_id) const {
    auto it = state_.devices.find(std::string(device_id));
    return it == state_.devices.end() ? std::string() : it->second.name();
  }

  bool Exists(const Reference& ref) const {
    if (ref.entity == metadata_internal::kTenant) return state_.tenants.count(ref.id) > 0;
    if (ref.entity == metadata_internal::kProfile) return state_.profiles.count(ref.id) > 0;
    if (ref.entity == metadata_internal::kDevice) return state_.devices.count(ref.id) > 0;
    if (ref.entity == metadata_internal::kPackage) return state_.packages.count(ref.id) > 0;
    return false;
  }

  absl::Status CheckReferences(absl::string_view entity, absl::string_view id,
                               const std::vector<Reference>& refs) const {
    for (const Reference& ref : refs) {
      if (!Exists(ref)) return metadata_internal::MissingReferenceError(entity, id, ref);
    }
    return absl::OkStatus();
  }

  // Inserts or replaces `profile` after the unique and reference checks (the row's own
  // id never collides with itself).
  absl::Status PutProfile(const DeviceProfile& profile) {
    for (const auto& [id, other] : state_.profiles) {
      if (id != profile.id() && other.tenant_id() == profile.tenant_id() &&
          other.name() == profile.name()) {
        return metadata_internal::DuplicateProfileNameError(profile);
      }
    }
    FWOTA_RETURN_IF_ERROR(CheckReferences(metadata_internal::kProfile, profile.id(),
                                          metadata_internal::ReferencesOf(profile)));
    state_.profiles[profile.id()] = profile;
    return absl::OkStatus();
  }

  absl::Status PutDevice(const Device& device) {
    for (const auto& [id, other] : state_.devices) {
      if (id == device.id()) continue;
      if (other.tenant_id() == device.tenant_id() && other.name() == device.name()) {
        return metadata_internal::DuplicateDeviceNameError(device);
      }
      if (!device.access_token().empty() && other.access_token() == device.access_token()) {
        return metadata_internal::DuplicateAccessTokenError(device);
      }
    }
    FWOTA_RETURN_IF_ERROR(CheckReferences(metadata_internal::kDevice, device.id(),
                                          metadata_internal::ReferencesOf(device)));
    state_.devices[device.id()] = device;
    return absl::OkStatus();
  }

  absl::Status PutPackage(const OtaPackage& package) {
    for (const auto& [id, other] : state_.packages) {
      if (id != package.id() && other.tenant_id() == package.tenant_id() &&
          other.title() == package.title() && other.version() == package.version()) {
        return metadata_internal::DuplicatePackageTitleVersionError(package);
      }
    }
    FWOTA_RETURN_IF_ERROR(CheckReferences(metadata_internal::kPackage, package.id(),
                                          metadata_internal::ReferencesOf(package)));
    state_.packages[package.id()] = package;
    return absl::OkStatus();
  }

  // An empty profile id is "no profile" and, as NULL in SQL, matches nothing.
  int64_t CountDevicesWithProfile(absl::string_view profile_id) const {
    int64_t count = 0;
    if (profile_id.empty()) return count;
    for (const auto& [id, device] : state_.devices) {
      if (device.device_profile_id() == profile_id) ++count;
    }
    return count;
  }

  int64_t CountPackagesWithProfile(absl::string_view profile_id) const {
    int64_t count = 0;
    if (profile_id.empty()) return count;
    for (const auto& [id, package] : state_.packages) {
      if (package.device_profile_id() == profile_id) ++count;
    }
    return count;
  }

  PackageReferences ReferencesTo(absl::string_view package_id) const {
    PackageReferences refs;
    if (package_id.empty()) return refs;  // "" is "no package", never a reference.
    for (const auto& [id, device] : state_.devices) {
      if (device.firmware_id() == package_id || device.software_id() == package_id) {
        ++refs.devices;
      }
    }
    for (const auto& [id, profile] : state_.profiles) {
      if (profile.firmware_id() == package_id || profile.software_id() == package_id) {
        ++refs.profiles;
      }
    }
    return refs;
  }

  MemoryState& state_;
};

// Thread-safe: one transaction at a time, under `mu_`.
class MemoryMetadataStore final : public MetadataStore {
 public:
  absl::Status RunInTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) override {
    absl::MutexLock lock(&mu_);
    MemoryState working = state_;
    MemoryTransaction transaction(working);
    absl::Status status = body(transaction);
    if (status.ok()) state_ = std::move(working);
    return status;
  }

  ReportLog& report_log() override { return *log_; }

 private:
  absl::Mutex mu_;
  MemoryState state_ ABSL_GUARDED_BY(mu_);
  const std::unique_ptr<ReportLog> log_ = metadata_internal::NewMemoryReportLog();
};

}  // namespace

std::unique_ptr<MetadataStore> NewMemoryMetadataStore() {
  return std::make_unique<MemoryMetadataStore>();
}

}  // namespace fwota
