// The SQLite MetadataStore: one connection (sqlite_connection.h) behind a mutex, one
// BEGIN IMMEDIATE transaction per RunInTransaction, and one real column per proto field
// (sqlite_schema.cc). Constraint violations come back from SQLite and are mapped here to
// the statuses of metadata_errors.h, which the in-memory store answers as well.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fwota/metadata_stores.h"
#include "fwota/status_macros.h"
#include "lib/store/metadata/metadata_errors.h"
#include "lib/store/metadata/report_logs.h"
#include "lib/store/metadata/sqlite_connection.h"
#include "lib/store/metadata/sqlite_rows.h"

namespace fwota {
namespace {

using metadata_internal::BindOptional;
using metadata_internal::BindText;
using metadata_internal::CatchAll;
using metadata_internal::ReadInt64;
using metadata_internal::ReadText;
using metadata_internal::Reference;
using metadata_internal::Row;
using metadata_internal::SqliteConnection;

// A cached statement for one use: reset again when the use ends, so that no statement
// keeps a read cursor open across COMMIT or ROLLBACK.
class Query {
 public:
  Query(SqliteConnection& connection, const std::string& sql)
      : statement_(connection.Prepare(sql)) {}
  ~Query() { statement_.tryReset(); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  SQLite::Statement& operator*() { return statement_; }
  SQLite::Statement* operator->() { return &statement_; }

 private:
  SQLite::Statement& statement_;
};

using Binder = absl::FunctionRef<void(SQLite::Statement&)>;

// The ORDER BY of a package listing: the key, then the id, both in the query's
// direction. Only whitelisted column names ever reach the SQL text.
std::string PackageOrderBy(const PageQuery& query) {
  const char* column = "created_time";
  switch (query.sort_property) {
    case PackageSortProperty::kTitle:
      column = "title";
      break;
    case PackageSortProperty::kVersion:
      column = "version";
      break;
    case PackageSortProperty::kType:
      column = "type";
      break;
    case PackageSortProperty::kDataSize:
      column = "data_size";
      break;
    case PackageSortProperty::kCreatedTime:
      break;
  }
  const char* direction = query.ascending ? "ASC" : "DESC";
  return absl::StrCat(" ORDER BY ", column, " ", direction, ", id ", direction);
}

// Case-insensitive substring, literal: instr() knows no wildcards, so "50%" finds only
// "50%". lower() folds ASCII only, as the in-memory store does. ?2 is the search text.
std::string TitleSearch(absl::string_view column) {
  return absl::StrCat("(?2 = '' OR instr(lower(", column, "), lower(?2)) > 0)");
}

// The direction of a listing sorted by time, then by a unique column, both in the
// query's direction.
std::string TimeOrderBy(absl::string_view time_column, absl::string_view tie_column,
                        const PageQuery& query) {
  const char* direction = query.ascending ? "ASC" : "DESC";
  return absl::StrCat(" ORDER BY ", time_column, " ", direction, ", ", tie_column, " ", direction);
}

// How messages name a row: its id, or what stands for one.
template <typename T>
std::string RowKey(const T& row) {
  return row.id();
}
std::string RowKey(const UpdateStatus& status) {
  return metadata_internal::UpdateStatusKey(status.device_id(), status.type());
}

// The table of an entity that rows refer to.
const char* TableOf(absl::string_view entity) {
  if (entity == metadata_internal::kTenant) return "tenant";
  if (entity == metadata_internal::kProfile) return "device_profile";
  if (entity == metadata_internal::kDevice) return "device";
  return "ota_package";
}

// ---------------------------------------------------------------------------------------
// The transaction.

// Not thread-safe; valid only inside RunInTransaction, whose lock it relies on.
class SqliteTransaction final : public MetadataTransaction {
 public:
  explicit SqliteTransaction(SqliteConnection& connection) : connection_(connection) {}

  // Tenants.
  absl::Status InsertTenant(const Tenant& tenant) override {
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckIdPresent(metadata_internal::kTenant, tenant.id()));
    return Write(
        metadata_internal::kTenant, Row<Tenant>::Sql().insert, tenant, {},
        [&](absl::string_view) { return metadata_internal::DuplicateTenantNameError(tenant); });
  }

  absl::StatusOr<Tenant> GetTenant(absl::string_view id) override {
    return GetById<Tenant>(metadata_internal::kTenant, id);
  }

  absl::StatusOr<Tenant> FindTenantByName(absl::string_view name) override {
    return QueryOne<Tenant>(
        absl::StrCat(Row<Tenant>::Sql().select, " WHERE name = ?1"),
        [&](SQLite::Statement& s) { BindText(s, 1, name); },
        metadata_internal::NotFoundError(metadata_internal::kTenant,
                                         absl::StrCat("name '", name, "'")));
  }

  absl::StatusOr<std::vector<Tenant>> ListTenants() override {
    return QueryAll<Tenant>(absl::StrCat(Row<Tenant>::Sql().select, " ORDER BY name, id"),
                            [](SQLite::Statement&) {});
  }

  // Device profiles.
  absl::Status InsertProfile(const DeviceProfile& profile) override {
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckIdPresent(metadata_internal::kProfile, profile.id()));
    return WriteProfile(Row<DeviceProfile>::Sql().insert, profile);
  }

  absl::Status UpdateProfile(const DeviceProfile& profile) override {
    return WriteProfile(Row<DeviceProfile>::Sql().update, profile);
  }

  absl::StatusOr<DeviceProfile> GetProfile(absl::string_view id) override {
    return GetById<DeviceProfile>(metadata_internal::kProfile, id);
  }

  absl::StatusOr<DeviceProfile> FindProfileByName(absl::string_view tenant_id,
                                                  absl::string_view name) override {
    return QueryOne<DeviceProfile>(
        absl::StrCat(Row<DeviceProfile>::Sql().select, " WHERE tenant_id = ?1 AND name = ?2"),
        [&](SQLite::Statement& s) {
          BindText(s, 1, tenant_id);
          BindText(s, 2, name);
        },
        metadata_internal::NotFoundError(
            metadata_internal::kProfile,
            absl::StrCat("name '", name, "' in tenant '", tenant_id, "'")));
  }

  absl::StatusOr<std::vector<DeviceProfile>> ListProfiles(absl::string_view tenant_id) override {
    return QueryAll<DeviceProfile>(
        absl::StrCat(Row<DeviceProfile>::Sql().select, " WHERE tenant_id = ?1 ORDER BY name, id"),
        [&](SQLite::Statement& s) { BindText(s, 1, tenant_id); });
  }

  absl::Status DeleteProfile(absl::string_view id) override {
    return Delete(metadata_internal::kProfile, Row<DeviceProfile>::Sql().remove, id,
                  [&]() -> absl::Status {
                    FWOTA_ASSIGN_OR_RETURN(int64_t devices, CountDevicesInProfile(id));
                    FWOTA_ASSIGN_OR_RETURN(int64_t packages, CountPackagesInProfile(id));
                    return metadata_internal::ProfileStillReferencedError(id, devices, packages);
                  });
  }

  // Devices.
  absl::Status InsertDevice(const Device& device) override {
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckIdPresent(metadata_internal::kDevice, device.id()));
    return WriteDevice(Row<Device>::Sql().insert, device);
  }

  absl::Status UpdateDevice(const Device& device) override {
    return WriteDevice(Row<Device>::Sql().update, device);
  }

  absl::StatusOr<Device> GetDevice(absl::string_view id) override {
    return GetById<Device>(metadata_internal::kDevice, id);
  }

  absl::StatusOr<Device> FindDeviceByName(absl::string_view tenant_id,
                                          absl::string_view name) override {
    return QueryOne<Device>(
        absl::StrCat(Row<Device>::Sql().select, " WHERE tenant_id = ?1 AND name = ?2"),
        [&](SQLite::Statement& s) {
          BindText(s, 1, tenant_id);
          BindText(s, 2, name);
        },
        metadata_internal::NotFoundError(
            metadata_internal::kDevice,
            absl::StrCat("name '", name, "' in tenant '", tenant_id, "'")));
  }

  absl::StatusOr<Device> FindDeviceByAccessToken(absl::string_view token) override {
    return QueryOne<Device>(
        absl::StrCat(Row<Device>::Sql().select, " WHERE access_token = ?1"),
        [&](SQLite::Statement& s) { BindText(s, 1, token); },
        metadata_internal::NotFoundError(metadata_internal::kDevice, "the given access token"));
  }

  absl::StatusOr<std::vector<Device>> ListDevices(absl::string_view tenant_id,
                                                  absl::string_view profile_id) override {
    return QueryAll<Device>(
        absl::StrCat(Row<Device>::Sql().select,
                     " WHERE tenant_id = ?1 AND (?2 = '' OR device_profile_id = ?2)"
                     " ORDER BY name, id"),
        [&](SQLite::Statement& s) {
          BindText(s, 1, tenant_id);
          BindText(s, 2, profile_id);
        });
  }

  absl::StatusOr<int64_t> CountDevicesInProfile(absl::string_view profile_id) override {
    return Count("SELECT COUNT(*) FROM device WHERE device_profile_id = ?1",
                 [&](SQLite::Statement& s) { BindText(s, 1, profile_id); });
  }

  // Its update statuses and events go with it (ON DELETE CASCADE).
  absl::Status DeleteDevice(absl::string_view id) override {
    return Delete(metadata_internal::kDevice, Row<Device>::Sql().remove, id, [] {
      return absl::InternalError("nothing refers to devices, yet a constraint failed");
    });
  }

  // OTA packages.
  absl::Status InsertPackage(const OtaPackage& package) override {
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckIdPresent(metadata_internal::kPackage, package.id()));
    return WritePackage(Row<OtaPackage>::Sql().insert, package);
  }

  absl::Status UpdatePackage(const OtaPackage& package) override {
    return WritePackage(Row<OtaPackage>::Sql().update, package);
  }

  absl::StatusOr<OtaPackage> GetPackage(absl::string_view id) override {
    return GetById<OtaPackage>(metadata_internal::kPackage, id);
  }

  absl::StatusOr<OtaPackage> FindPackageByTitleVersion(absl::string_view tenant_id,
                                                       absl::string_view title,
                                                       absl::string_view version) override {
    return QueryOne<OtaPackage>(
        absl::StrCat(Row<OtaPackage>::Sql().select,
                     " WHERE tenant_id = ?1 AND title = ?2 AND version = ?3"),
        [&](SQLite::Statement& s) {
          BindText(s, 1, tenant_id);
          BindText(s, 2, title);
          BindText(s, 3, version);
        },
        metadata_internal::NotFoundError(metadata_internal::kPackage,
                                         absl::StrCat("title '", title, "' and version '", version,
                                                      "' in tenant '", tenant_id, "'")));
  }

  absl::StatusOr<Page<OtaPackage>> ListPackages(absl::string_view tenant_id,
                                                const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckPageQuery(query));
    const std::string where = absl::StrCat(" WHERE tenant_id = ?1 AND ", TitleSearch("title"));
    return ListPage<OtaPackage>(absl::StrCat("SELECT COUNT(*) FROM ota_package", where),
                                absl::StrCat(Row<OtaPackage>::Sql().select, where,
                                             PackageOrderBy(query), " LIMIT ?3 OFFSET ?4"),
                                query, [&](SQLite::Statement& s) { BindText(s, 1, tenant_id); });
  }

  absl::StatusOr<std::vector<OtaPackage>> ListProfilePackages(absl::string_view tenant_id,
                                                              absl::string_view profile_id,
                                                              OtaPackageType type) override {
    return QueryAll<OtaPackage>(
        absl::StrCat(Row<OtaPackage>::Sql().select,
                     " WHERE tenant_id = ?1 AND device_profile_id = ?2 AND type = ?3"
                     " AND (has_data <> 0 OR url <> '') ORDER BY title, version, id"),
        [&](SQLite::Statement& s) {
          BindText(s, 1, tenant_id);
          BindText(s, 2, profile_id);
          s.bind(3, static_cast<int32_t>(type));
        });
  }

  absl::StatusOr<int64_t> CountPackagesInProfile(absl::string_view profile_id) override {
    return Count("SELECT COUNT(*) FROM ota_package WHERE device_profile_id = ?1",
                 [&](SQLite::Statement& s) { BindText(s, 1, profile_id); });
  }

  absl::StatusOr<PackageReferences> CountPackageReferences(absl::string_view package_id) override {
    PackageReferences refs;
    FWOTA_ASSIGN_OR_RETURN(
        refs.devices,
        Count("SELECT COUNT(*) FROM device WHERE firmware_id = ?1 OR software_id = ?1",
              [&](SQLite::Statement& s) { BindText(s, 1, package_id); }));
    FWOTA_ASSIGN_OR_RETURN(
        refs.profiles,
        Count("SELECT COUNT(*) FROM device_profile WHERE firmware_id = ?1 OR software_id = ?1",
              [&](SQLite::Statement& s) { BindText(s, 1, package_id); }));
    return refs;
  }

  absl::StatusOr<int64_t> CountPackagesWithBlob(absl::string_view sha256) override {
    return Count("SELECT COUNT(*) FROM ota_package WHERE sha256 = ?1",
                 [&](SQLite::Statement& s) { BindText(s, 1, sha256); });
  }

  absl::StatusOr<std::vector<std::string>> ListBlobKeys() override {
    return Run([&]() -> absl::StatusOr<std::vector<std::string>> {
      Query q(connection_,
              "SELECT DISTINCT sha256 FROM ota_package WHERE sha256 IS NOT NULL ORDER BY sha256");
      std::vector<std::string> keys;
      while (q->executeStep()) keys.push_back(ReadText(*q, 0));
      return keys;
    });
  }

  absl::Status DeletePackage(absl::string_view id) override {
    return Delete(metadata_internal::kPackage, Row<OtaPackage>::Sql().remove, id,
                  [&]() -> absl::Status {
                    FWOTA_ASSIGN_OR_RETURN(PackageReferences refs, CountPackageReferences(id));
                    return metadata_internal::PackageStillReferencedError(id, refs);
                  });
  }

  // API keys.
  absl::Status InsertApiKey(const ApiKey& key) override {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckIdPresent(metadata_internal::kApiKey, key.id()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckTenantPresent(metadata_internal::kApiKey,
                                                                key.id(), key.tenant_id()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckKeyHashPresent(key));
    return Write(metadata_internal::kApiKey, Row<ApiKey>::Sql().insert, key,
                 metadata_internal::ReferencesOf(key), [&](absl::string_view what) {
                   return absl::StrContains(what, "api_key.key_hash")
                              ? metadata_internal::DuplicateApiKeyHashError(key)
                              : metadata_internal::DuplicateApiKeyNameError(key);
                 });
  }

  absl::StatusOr<ApiKey> FindApiKeyByHash(absl::string_view key_hash) override {
    return QueryOne<ApiKey>(
        absl::StrCat(Row<ApiKey>::Sql().select, " WHERE key_hash = ?1"),
        [&](SQLite::Statement& s) { BindText(s, 1, key_hash); },
        metadata_internal::NotFoundError(metadata_internal::kApiKey, "the given key hash"));
  }

  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(absl::string_view tenant_id) override {
    return QueryAll<ApiKey>(
        absl::StrCat(Row<ApiKey>::Sql().select, " WHERE tenant_id = ?1 ORDER BY name, id"),
        [&](SQLite::Statement& s) { BindText(s, 1, tenant_id); });
  }

  absl::Status DeleteApiKey(absl::string_view id) override {
    return Delete(metadata_internal::kApiKey, Row<ApiKey>::Sql().remove, id, [] {
      return absl::InternalError("nothing refers to API keys, yet a constraint failed");
    });
  }

  // Update status.
  absl::Status PutUpdateStatus(const UpdateStatus& status) override {
    const std::string key = RowKey(status);
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckUpdateType(metadata_internal::kUpdateStatus, key, status.type()));
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckUpdateState(metadata_internal::kUpdateStatus, key, status.state()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckDevicePresent(metadata_internal::kUpdateStatus,
                                                                key, status.device_id()));
    auto on_unique = [&](absl::string_view what) {
      return absl::InternalError(
          absl::StrCat("update status '", key, "': unexpected conflict: ", what));
    };
    const std::vector<metadata_internal::Reference> refs = metadata_internal::ReferencesOf(status);
    // Most writes change a status the device has, of the same tenant: an UPDATE that
    // leaves tenant_id alone. Anything else (a new status, another tenant) is an upsert.
    absl::Status updated = Write(metadata_internal::kUpdateStatus,
                                 Row<UpdateStatus>::UpdateSameTenantSql(), status, refs, on_unique);
    if (!absl::IsNotFound(updated)) return updated;
    return Write(metadata_internal::kUpdateStatus, Row<UpdateStatus>::Sql().upsert, status, refs,
                 on_unique);
  }

  absl::StatusOr<UpdateStatus> GetUpdateStatus(absl::string_view device_id,
                                               OtaPackageType type) override {
    return QueryOne<UpdateStatus>(
        Row<UpdateStatus>::Sql().by_id,
        [&](SQLite::Statement& s) {
          BindText(s, 1, device_id);
          s.bind(2, static_cast<int32_t>(type));
        },
        metadata_internal::UpdateStatusNotFoundError(device_id, type));
  }

  absl::StatusOr<Page<UpdateStatus>> ListUpdateStatuses(absl::string_view tenant_id,
                                                        OtaPackageType type, UpdateState state,
                                                        const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckPageQuery(query));
    // IS: an empty tenant id lists the statuses of no tenant (NULL in the column). The
    // device always exists (the status goes with it), so its name is never NULL.
    const std::string where = absl::StrCat(
        " WHERE tenant_id IS ?1 AND type = ?5 AND (?6 = 0 OR state = ?6) AND ",
        TitleSearch("(SELECT device.name FROM device WHERE device.id = update_status.device_id)"));
    return ListPage<UpdateStatus>(
        absl::StrCat("SELECT COUNT(*) FROM update_status", where),
        absl::StrCat(Row<UpdateStatus>::Sql().select, where,
                     TimeOrderBy("state_since", "device_id", query), " LIMIT ?3 OFFSET ?4"),
        query, [&](SQLite::Statement& s) {
          BindOptional(s, 1, tenant_id);
          s.bind(5, static_cast<int32_t>(type));
          s.bind(6, static_cast<int32_t>(state));
        });
  }

  absl::StatusOr<std::vector<int64_t>> CountUpdateStates(absl::string_view tenant_id,
                                                         OtaPackageType type) override {
    return Run([&]() -> absl::StatusOr<std::vector<int64_t>> {
      Query q(connection_,
              "SELECT state, COUNT(*) FROM update_status WHERE tenant_id IS ?1 AND type = ?2"
              " GROUP BY state");
      BindOptional(*q, 1, tenant_id);
      q->bind(2, static_cast<int32_t>(type));
      std::vector<int64_t> counts(::fwota::v1::UpdateState_ARRAYSIZE, 0);
      while (q->executeStep()) {
        const int state = q->getColumn(0).getInt();
        // PutUpdateStatus admits only states of the enum.
        if (state >= 0 && state < static_cast<int>(counts.size())) counts[state] = ReadInt64(*q, 1);
      }
      return counts;
    });
  }

  absl::StatusOr<std::vector<UpdateStatus>> ListSilentStatuses(UpdateState state,
                                                               int64_t before_millis,
                                                               int limit) override {
    return Run([&]() -> absl::StatusOr<std::vector<UpdateStatus>> {
      Query q(connection_,
              absl::StrCat(Row<UpdateStatus>::Sql().select,
                           " WHERE state = ?1 AND state_since < ?2 AND last_activity < ?2"
                           " ORDER BY state_since, device_id, type LIMIT ?3"));
      q->bind(1, static_cast<int32_t>(state));
      q->bind(2, static_cast<int64_t>(before_millis));
      q->bind(3, static_cast<int64_t>(std::max(limit, 0)));
      std::vector<UpdateStatus> out;
      while (q->executeStep()) out.push_back(Row<UpdateStatus>::Read(*q));
      return out;
    });
  }

  absl::Status TouchUpdateStatus(absl::string_view device_id, OtaPackageType type,
                                 int64_t millis) override {
    return Run([&]() -> absl::Status {
      Query q(connection_,
              "UPDATE update_status SET last_activity = ?3"
              " WHERE device_id = ?1 AND type = ?2 AND last_activity < ?3");
      BindText(*q, 1, device_id);
      q->bind(2, static_cast<int32_t>(type));
      q->bind(3, static_cast<int64_t>(millis));
      q->exec();
      return absl::OkStatus();
    });
  }

  absl::StatusOr<int64_t> RetargetProfileMembers(absl::string_view profile_id,
                                                 OtaPackageType type, const UpdateStatus& status,
                                                 const UpdateEvent& event,
                                                 const Notice& notice) override {
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckRetarget(profile_id, type, status.state(), event.state()));
    // Only these two column names ever reach the SQL text.
    const char* slot = type == ::fwota::v1::SOFTWARE ? "software_id" : "firmware_id";
    // Written in device id order: each statement then fills its key-ordered indexes
    // (status and notice by device, history by device) front to back instead of at
    // random places.
    const std::string members = absl::StrCat(
        "SELECT id, tenant_id FROM device WHERE device_profile_id = ?1 AND ", slot, " IS NULL");
    return Run([&]() -> absl::StatusOr<int64_t> {
      const bool assigned = !status.target_package_id().empty();
      {
        Query q(connection_,
                assigned
                    ? absl::StrCat(
                          "INSERT INTO update_status (tenant_id, device_id, type, state,"
                          " target_package_id, target_title, target_version, target_tag,"
                          " target_ts, current_title, current_version, error, state_since,"
                          " last_activity, notices_sent)"
                          " SELECT m.tenant_id, m.id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '', '', ?9,"
                          " ?10, 0, ?11 FROM (",
                          members,
                          ") AS m WHERE true ORDER BY m.id"
                          " ON CONFLICT (device_id, type) DO UPDATE SET"
                          " state = excluded.state, target_package_id = excluded.target_package_id,"
                          " target_title = excluded.target_title,"
                          " target_version = excluded.target_version,"
                          " target_tag = excluded.target_tag, target_ts = excluded.target_ts,"
                          " error = excluded.error, state_since = excluded.state_since,"
                          " notices_sent = excluded.notices_sent")
                    : absl::StrCat(
                          "UPDATE update_status SET state = ?3, target_package_id = ?4,"
                          " target_title = ?5, target_version = ?6, target_tag = ?7,"
                          " target_ts = ?8, error = ?9, state_since = ?10, notices_sent = ?11"
                          " WHERE type = ?2 AND device_id IN (SELECT id FROM (",
                          members, "))"));
        BindText(*q, 1, profile_id);
        q->bind(2, static_cast<int32_t>(type));
        q->bind(3, static_cast<int32_t>(status.state()));
        BindOptional(*q, 4, status.target_package_id());
        BindText(*q, 5, status.target_title());
        BindText(*q, 6, status.target_version());
        BindText(*q, 7, status.target_tag());
        q->bind(8, static_cast<int64_t>(status.target_ts()));
        BindText(*q, 9, status.error());
        q->bind(10, static_cast<int64_t>(status.state_since()));
        q->bind(11, static_cast<int32_t>(status.notices_sent()));
        q->exec();
      }
      {
        Query q(connection_,
                absl::StrCat(
                    "INSERT INTO update_event (id, tenant_id, device_id, type, state, package_id,"
                    " title, version, error, source, accepted, note, created_time)"
                    " SELECT substr(?3, 1, 24) || printf('%012x', row_number() OVER"
                    " (ORDER BY m.id) - 1), m.tenant_id, m.id, ?2, ?4, ?5, ?6, ?7, ?8,"
                    " ?9, ?10, ?11, ?12 FROM (",
                    members,
                    // After an assignment every member has a status; after an
                    // unassignment only those that had one get an entry.
                    assigned ? ") AS m"
                             : ") AS m JOIN update_status s ON s.device_id = m.id AND s.type = ?2",
                    // In key order, the history's per-device index grows in order too.
                    " ORDER BY m.id"));
        BindText(*q, 1, profile_id);
        q->bind(2, static_cast<int32_t>(type));
        BindText(*q, 3, event.id());
        q->bind(4, static_cast<int32_t>(event.state()));
        BindOptional(*q, 5, event.package_id());
        BindText(*q, 6, event.title());
        BindText(*q, 7, event.version());
        BindText(*q, 8, event.error());
        BindText(*q, 9, event.source());
        q->bind(10, event.accepted() ? 1 : 0);
        BindText(*q, 11, event.note());
        q->bind(12, static_cast<int64_t>(event.created_time()));
        q->exec();
      }
      Query q(connection_,
              absl::StrCat("INSERT OR REPLACE INTO ota_notice (tenant_id, device_id, type,"
                           " package_id, reason, created_time) SELECT m.tenant_id, m.id, ?2, ?3,"
                           " ?4, ?5 FROM (",
                           members, ") AS m ORDER BY m.id"));
      BindText(*q, 1, profile_id);
      q->bind(2, static_cast<int32_t>(type));
      BindOptional(*q, 3, notice.package_id());
      BindText(*q, 4, notice.reason());
      q->bind(5, static_cast<int64_t>(notice.created_time()));
      return static_cast<int64_t>(q->exec());
    });
  }

  // Update events.
  absl::Status AppendUpdateEvent(const UpdateEvent& event) override {
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckIdPresent(metadata_internal::kUpdateEvent, event.id()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckUpdateType(metadata_internal::kUpdateEvent,
                                                             event.id(), event.type()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckUpdateState(metadata_internal::kUpdateEvent,
                                                              event.id(), event.state()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckDevicePresent(metadata_internal::kUpdateEvent,
                                                                event.id(), event.device_id()));
    return Write(
        metadata_internal::kUpdateEvent, Row<UpdateEvent>::Sql().insert, event,
        metadata_internal::ReferencesOf(event), [&](absl::string_view what) {
          return absl::AlreadyExistsError(absl::StrCat("update event '", event.id(), "': ", what));
        });
  }

  absl::StatusOr<Page<UpdateEvent>> ListUpdateEvents(absl::string_view device_id,
                                                     OtaPackageType type,
                                                     const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckPageQuery(query));
    const std::string where =
        absl::StrCat(" WHERE device_id = ?1 AND type = ?5 AND ", TitleSearch("title"));
    return ListPage<UpdateEvent>(
        absl::StrCat("SELECT COUNT(*) FROM update_event", where),
        absl::StrCat(Row<UpdateEvent>::Sql().select, where,
                     TimeOrderBy("created_time", "id", query), " LIMIT ?3 OFFSET ?4"),
        query, [&](SQLite::Statement& s) {
          BindText(s, 1, device_id);
          s.bind(5, static_cast<int32_t>(type));
        });
  }

  // Notice queue.
  absl::Status PutNotice(const Notice& notice) override {
    const std::string key = metadata_internal::UpdateStatusKey(notice.device_id(), notice.type());
    FWOTA_RETURN_IF_ERROR(
        metadata_internal::CheckUpdateType(metadata_internal::kNotice, key, notice.type()));
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckDevicePresent(metadata_internal::kNotice, key,
                                                                notice.device_id()));
    return Run([&]() -> absl::Status {
      try {
        // REPLACE deletes the device's older notice and inserts a new row: a new, larger
        // seq puts it at the end of the queue.
        Query q(connection_,
                "INSERT OR REPLACE INTO ota_notice (tenant_id, device_id, type, package_id,"
                " reason, created_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        BindOptional(*q, 1, notice.tenant_id());
        BindText(*q, 2, notice.device_id());
        q->bind(3, static_cast<int32_t>(notice.type()));
        BindOptional(*q, 4, notice.package_id());
        BindText(*q, 5, notice.reason());
        q->bind(6, static_cast<int64_t>(notice.created_time()));
        q->exec();
        return absl::OkStatus();
      } catch (const SQLite::Exception& e) {
        if ((e.getExtendedErrorCode() & 0xff) != SQLITE_CONSTRAINT) throw;
      }
      return MissingReference(metadata_internal::kNotice, key,
                              metadata_internal::ReferencesOf(notice));
    });
  }

  absl::StatusOr<std::vector<Notice>> ListNotices(int limit, bool deletions_only) override {
    return Run([&]() -> absl::StatusOr<std::vector<Notice>> {
      Query q(connection_,
              "SELECT seq, tenant_id, device_id, type, package_id, reason, created_time"
              " FROM ota_notice WHERE (?2 = 0 OR package_id IS NULL) ORDER BY seq LIMIT ?1");
      q->bind(1, static_cast<int64_t>(std::max(limit, 0)));
      q->bind(2, deletions_only ? 1 : 0);
      std::vector<Notice> out;
      while (q->executeStep()) {
        Notice n;
        n.set_seq(ReadInt64(*q, 0));
        n.set_tenant_id(ReadText(*q, 1));
        n.set_device_id(ReadText(*q, 2));
        n.set_type(static_cast<OtaPackageType>(q->getColumn(3).getInt()));
        n.set_package_id(ReadText(*q, 4));
        n.set_reason(ReadText(*q, 5));
        n.set_created_time(ReadInt64(*q, 6));
        out.push_back(std::move(n));
      }
      return out;
    });
  }

  absl::Status DeleteNotice(int64_t seq) override {
    return Run([&]() -> absl::Status {
      Query q(connection_, "DELETE FROM ota_notice WHERE seq = ?1");
      q->bind(1, static_cast<int64_t>(seq));
      if (q->exec() == 0) {
        return metadata_internal::NotFoundError(metadata_internal::kNotice,
                                                absl::StrCat("seq ", seq));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<int64_t> CountNotices() override {
    return Run([&]() -> absl::StatusOr<int64_t> {
      Query q(connection_, "SELECT COUNT(*) FROM ota_notice");
      q->executeStep();
      return ReadInt64(*q, 0);
    });
  }

  // Report log.
  absl::Status AppendReport(const LoggedReport& report) override {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckLoggedReport(report));
    return Run([&]() -> absl::Status {
      // seq left NULL: SQLite gives the largest rowid plus one.
      Query q(connection_,
              "INSERT INTO device_report (tenant_id, device_id, type, state, error,"
              " current_title, current_version, created_time)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
      BindOptional(*q, 1, report.tenant_id);
      BindText(*q, 2, report.device_id);
      q->bind(3, static_cast<int32_t>(report.type));
      BindText(*q, 4, report.state);
      BindText(*q, 5, report.error);
      BindText(*q, 6, report.current_title);
      BindText(*q, 7, report.current_version);
      q->bind(8, static_cast<int64_t>(report.created_time));
      q->exec();
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<LoggedReport>> ListReports(int limit) override {
    return Run([&]() -> absl::StatusOr<std::vector<LoggedReport>> {
      Query q(connection_,
              "SELECT seq, tenant_id, device_id, type, state, error, current_title,"
              " current_version, created_time FROM device_report ORDER BY seq LIMIT ?1");
      q->bind(1, static_cast<int64_t>(std::max(limit, 0)));
      std::vector<LoggedReport> out;
      while (q->executeStep()) {
        LoggedReport r;
        r.seq = ReadInt64(*q, 0);
        r.tenant_id = ReadText(*q, 1);
        r.device_id = ReadText(*q, 2);
        r.type = static_cast<OtaPackageType>(q->getColumn(3).getInt());
        r.state = ReadText(*q, 4);
        r.error = ReadText(*q, 5);
        r.current_title = ReadText(*q, 6);
        r.current_version = ReadText(*q, 7);
        r.created_time = ReadInt64(*q, 8);
        out.push_back(std::move(r));
      }
      return out;
    });
  }

  absl::Status DeleteReportsThrough(int64_t seq) override {
    return Run([&]() -> absl::Status {
      Query q(connection_, "DELETE FROM device_report WHERE seq <= ?1");
      q->bind(1, static_cast<int64_t>(seq));
      q->exec();
      return absl::OkStatus();
    });
  }

  absl::StatusOr<int64_t> GetReportsAppliedThrough() override {
    return Run([&]() -> absl::StatusOr<int64_t> {
      Query q(connection_, "SELECT applied_through FROM report_log_state WHERE id = 1");
      if (!q->executeStep()) {
        return absl::DataLossError("sqlite metadata store: report_log_state has no row");
      }
      return ReadInt64(*q, 0);
    });
  }

  absl::Status SetReportsAppliedThrough(int64_t seq) override {
    if (seq < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("report log: applied mark ", seq, " is negative"));
    }
    return Run([&]() -> absl::Status {
      Query q(connection_, "UPDATE report_log_state SET applied_through = ?1 WHERE id = 1");
      q->bind(1, static_cast<int64_t>(seq));
      q->exec();
      return absl::OkStatus();
    });
  }

  // Audit log.
  absl::Status AppendAudit(const AuditEvent& event) override {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckIdPresent(metadata_internal::kAudit, event.id()));
    return Write(
        metadata_internal::kAudit, Row<AuditEvent>::Sql().insert, event,
        metadata_internal::ReferencesOf(event), [&](absl::string_view what) {
          return absl::AlreadyExistsError(absl::StrCat("audit event '", event.id(), "': ", what));
        });
  }

  absl::StatusOr<Page<AuditEvent>> ListAudit(absl::string_view tenant_id,
                                             const PageQuery& query) override {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckPageQuery(query));
    // IS: an empty tenant id lists the events of no tenant (NULL in the column).
    const std::string where =
        absl::StrCat(" WHERE tenant_id IS ?1 AND ", TitleSearch("entity_name"));
    return ListPage<AuditEvent>(
        absl::StrCat("SELECT COUNT(*) FROM audit_event", where),
        absl::StrCat(Row<AuditEvent>::Sql().select, where, TimeOrderBy("created_time", "id", query),
                     " LIMIT ?3 OFFSET ?4"),
        query, [&](SQLite::Statement& s) { BindOptional(s, 1, tenant_id); });
  }

 private:
  // Runs one call's work: refuses when SQLite already ended the transaction after an
  // earlier error (the next statement would otherwise run in autocommit mode), and
  // turns every exception into a status.
  template <typename F>
  auto Run(F&& f) -> decltype(f()) {
    if (!connection_.InTransaction()) {
      return absl::UnavailableError(
          "sqlite metadata store: the transaction was rolled back after an earlier error");
    }
    return CatchAll(std::forward<F>(f));
  }

  template <typename T>
  absl::StatusOr<T> QueryOne(const std::string& sql, Binder bind, absl::Status not_found) {
    return Run([&]() -> absl::StatusOr<T> {
      Query q(connection_, sql);
      bind(*q);
      if (!q->executeStep()) return not_found;
      return Row<T>::Read(*q);
    });
  }

  template <typename T>
  absl::StatusOr<T> GetById(absl::string_view entity, absl::string_view id) {
    return QueryOne<T>(
        Row<T>::Sql().by_id, [&](SQLite::Statement& s) { BindText(s, 1, id); },
        metadata_internal::NotFoundById(entity, id));
  }

  template <typename T>
  absl::StatusOr<std::vector<T>> QueryAll(const std::string& sql, Binder bind) {
    return Run([&]() -> absl::StatusOr<std::vector<T>> {
      Query q(connection_, sql);
      bind(*q);
      std::vector<T> rows;
      while (q->executeStep()) rows.push_back(Row<T>::Read(*q));
      return rows;
    });
  }

  absl::StatusOr<int64_t> Count(const std::string& sql, Binder bind) {
    return Run([&]() -> absl::StatusOr<int64_t> {
      Query q(connection_, sql);
      bind(*q);
      q->executeStep();  // COUNT(*) always answers one row
      return ReadInt64(*q, 0);
    });
  }

  // One page: `count_sql` and `page_sql` share ?1 (bound by `bind`) and ?2, the search
  // text; `page_sql` also takes ?3 LIMIT and ?4 OFFSET.
  template <typename T>
  absl::StatusOr<Page<T>> ListPage(const std::string& count_sql, const std::string& page_sql,
                                   const PageQuery& query, Binder bind) {
    return Run([&]() -> absl::StatusOr<Page<T>> {
      Page<T> page;
      {
        Query q(connection_, count_sql);
        bind(*q);
        BindText(*q, 2, query.text_search);
        q->executeStep();
        page.total_elements = ReadInt64(*q, 0);
      }
      Query q(connection_, page_sql);
      bind(*q);
      BindText(*q, 2, query.text_search);
      q->bind(3, static_cast<int64_t>(query.page_size));
      q->bind(4, static_cast<int64_t>(query.page) * query.page_size);
      while (q->executeStep()) page.data.push_back(Row<T>::Read(*q));
      FinishPage(query, page);
      return page;
    });
  }

  // Finds the first reference of `refs` that does not exist (the diagnosis of a failed
  // foreign key, which SQLite reports without saying which one).
  absl::Status MissingReference(absl::string_view entity, absl::string_view id,
                                const std::vector<Reference>& refs) {
    for (const Reference& ref : refs) {
      Query q(connection_, absl::StrCat("SELECT 1 FROM ", TableOf(ref.entity), " WHERE id = ?1"));
      BindText(*q, 1, ref.id);
      if (!q->executeStep()) return metadata_internal::MissingReferenceError(entity, id, ref);
    }
    return absl::InternalError(absl::StrCat("sqlite metadata store: ", entity, " '", id,
                                            "': a foreign key failed, yet every reference "
                                            "exists"));
  }

  // Runs an INSERT or UPDATE (`sql`, bound by Row<T>::Bind) and maps its constraint
  // violations: a duplicate id -> kAlreadyExists, another unique key -> `on_unique`
  // (given SQLite's message, which names the columns), a missing reference ->
  // kFailedPrecondition naming it. An UPDATE that matches no row -> kNotFound. Messages
  // name the row by RowKey.
  template <typename T>
  absl::Status Write(absl::string_view entity, const std::string& sql, const T& row,
                     const std::vector<Reference>& refs,
                     absl::FunctionRef<absl::Status(absl::string_view)> on_unique) {
    return Run([&]() -> absl::Status {
      int extended_code = 0;
      std::string what;
      try {
        Query q(connection_, sql);
        Row<T>::Bind(*q, row);
        if (q->exec() == 0) return metadata_internal::NotFoundById(entity, RowKey(row));
        return absl::OkStatus();
      } catch (const SQLite::Exception& e) {
        extended_code = e.getExtendedErrorCode();
        what = e.what();
        if ((extended_code & 0xff) != SQLITE_CONSTRAINT) throw;
      }
      switch (extended_code) {
        case SQLITE_CONSTRAINT_PRIMARYKEY:
          return metadata_internal::DuplicateIdError(entity, RowKey(row));
        case SQLITE_CONSTRAINT_UNIQUE:
          return on_unique(what);
        case SQLITE_CONSTRAINT_FOREIGNKEY:
        case SQLITE_CONSTRAINT_TRIGGER:  // a foreign-key action
        case SQLITE_CONSTRAINT_NOTNULL:
          return MissingReference(entity, RowKey(row), refs);
        default:
          return absl::InvalidArgumentError(
              absl::StrCat(entity, " '", RowKey(row), "' violates a constraint: ", what));
      }
    });
  }

  absl::Status WriteProfile(const std::string& sql, const DeviceProfile& profile) {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckTenantPresent(metadata_internal::kProfile,
                                                                profile.id(), profile.tenant_id()));
    return Write(
        metadata_internal::kProfile, sql, profile, metadata_internal::ReferencesOf(profile),
        [&](absl::string_view) { return metadata_internal::DuplicateProfileNameError(profile); });
  }

  absl::Status WriteDevice(const std::string& sql, const Device& device) {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckTenantPresent(metadata_internal::kDevice,
                                                                device.id(), device.tenant_id()));
    return Write(metadata_internal::kDevice, sql, device, metadata_internal::ReferencesOf(device),
                 [&](absl::string_view what) {
                   return absl::StrContains(what, "device.access_token")
                              ? metadata_internal::DuplicateAccessTokenError(device)
                              : metadata_internal::DuplicateDeviceNameError(device);
                 });
  }

  absl::Status WritePackage(const std::string& sql, const OtaPackage& package) {
    FWOTA_RETURN_IF_ERROR(metadata_internal::CheckTenantPresent(metadata_internal::kPackage,
                                                                package.id(), package.tenant_id()));
    return Write(metadata_internal::kPackage, sql, package,
                 metadata_internal::ReferencesOf(package), [&](absl::string_view) {
                   return metadata_internal::DuplicatePackageTitleVersionError(package);
                 });
  }

  // Runs a DELETE by id: no such row -> kNotFound; refused by a RESTRICT reference ->
  // `still_referenced()`, which says by whom.
  absl::Status Delete(absl::string_view entity, const std::string& sql, absl::string_view id,
                      absl::FunctionRef<absl::Status()> still_referenced) {
    return Run([&]() -> absl::Status {
      try {
        Query q(connection_, sql);
        BindText(*q, 1, id);
        if (q->exec() == 0) return metadata_internal::NotFoundById(entity, id);
        return absl::OkStatus();
      } catch (const SQLite::Exception& e) {
        // A DELETE can only break a reference. SQLite runs ON DELETE RESTRICT as a
        // trigger, so the extended code is SQLITE_CONSTRAINT_TRIGGER, not _FOREIGNKEY.
        if ((e.getExtendedErrorCode() & 0xff) != SQLITE_CONSTRAINT) throw;
      }
      return still_referenced();
    });
  }

  SqliteConnection& connection_;
};

// ---------------------------------------------------------------------------------------
// The store.

// Thread-safe: one writing connection, one transaction at a time under `mu_`; read
// transactions on a second connection under `read_mu_`, beside the writing one (WAL
// gives each a consistent snapshot). BEGIN IMMEDIATE takes SQLite's write lock up front,
// so another process on the same file waits (up to the busy timeout) at the start
// instead of failing halfway.
class SqliteMetadataStore final : public MetadataStore {
 public:
  SqliteMetadataStore(std::unique_ptr<SqliteConnection> connection,
                      std::unique_ptr<SqliteConnection> reader, std::unique_ptr<ReportLog> log)
      : connection_(std::move(connection)), reader_(std::move(reader)), log_(std::move(log)) {}

  absl::Status RunInTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) override {
    absl::MutexLock lock(&mu_);
    return Run(*connection_, body, /*write=*/true);
  }

  absl::Status RunInReadTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) override {
    if (reader_ == nullptr) return RunInTransaction(body);  // an in-memory database
    absl::MutexLock lock(&read_mu_);
    return Run(*reader_, body, /*write=*/false);
  }

  ReportLog& report_log() override { return *log_; }

 private:
  static absl::Status Run(SqliteConnection& connection,
                          absl::FunctionRef<absl::Status(MetadataTransaction&)> body, bool write) {
    FWOTA_RETURN_IF_ERROR(CatchAll([&] {
      if (write) {
        connection.Begin();
      } else {
        connection.BeginRead();
      }
      return absl::OkStatus();
    }));
    absl::Status status;
    {
      SqliteTransaction transaction(connection);
      try {
        status = body(transaction);
      } catch (...) {
        // Not ours to swallow: the caller's exception goes on, its work is undone.
        connection.RollbackQuietly();
        throw;
      }
    }
    if (!status.ok()) {
      connection.RollbackQuietly();
      return status;
    }
    if (!connection.InTransaction()) {
      return absl::UnavailableError(
          "sqlite metadata store: the transaction was rolled back after an error");
    }
    absl::Status commit = CatchAll([&] {
      connection.Commit();
      return absl::OkStatus();
    });
    if (!commit.ok()) connection.RollbackQuietly();
    return commit;
  }

  absl::Mutex mu_;
  std::unique_ptr<SqliteConnection> connection_ ABSL_GUARDED_BY(mu_);
  absl::Mutex read_mu_;
  std::unique_ptr<SqliteConnection> reader_ ABSL_GUARDED_BY(read_mu_);
  std::unique_ptr<ReportLog> log_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(const std::string& path) {
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConnection> connection,
                         SqliteConnection::Open(path));
  if (path == ":memory:") {  // a private database: no second connection sees it
    return std::unique_ptr<MetadataStore>(new SqliteMetadataStore(
        std::move(connection), nullptr, metadata_internal::NewMemoryReportLog()));
  }
  // Opened after the writer migrated the schema.
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConnection> reader,
                         SqliteConnection::OpenReader(path));
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<ReportLog> log,
                         metadata_internal::OpenSqliteReportLog(path + "-reports"));
  return std::unique_ptr<MetadataStore>(
      new SqliteMetadataStore(std::move(connection), std::move(reader), std::move(log)));
}

}  // namespace fwota
