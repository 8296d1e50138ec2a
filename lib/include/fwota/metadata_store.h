// MetadataStore: where libfwota keeps its entities (tenants, device profiles, devices,
// OTA packages, audit events). The default implementation is SQLite
// (fwota/sqlite_metadata_store.h); an in-memory one serves tests and embedders. Other
// back ends (PostgreSQL for several fwotad instances) implement the same interface.
//
// The store is deliberately dumb: it keeps and finds rows, enforces uniqueness and
// referential integrity, and runs a group of calls atomically. Business rules
// (validation, messages, deletion guards, tenant checks) live in the service.
#ifndef FWOTA_METADATA_STORE_H_
#define FWOTA_METADATA_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fwota/v1/fwota.pb.h"

namespace fwota {

using ::fwota::v1::ApiKey;
using ::fwota::v1::AuditEvent;
using ::fwota::v1::Device;
using ::fwota::v1::DeviceProfile;
using ::fwota::v1::Notice;
using ::fwota::v1::OtaPackage;
using ::fwota::v1::OtaPackageType;
using ::fwota::v1::Tenant;
using ::fwota::v1::UpdateEvent;
using ::fwota::v1::UpdateState;
using ::fwota::v1::UpdateStatus;

// Sort keys for package listings, as ThingsBoard's sortProperty.
enum class PackageSortProperty { kCreatedTime, kTitle, kVersion, kType, kDataSize };

// One page request, as ThingsBoard's PageLink. Ties in the sort key are broken by id, so
// paging is stable.
struct PageQuery {
  int page_size = 10;  // >= 1
  int page = 0;        // >= 0
  // Case-insensitive substring of the title (packages) or name (others); empty: all.
  std::string text_search;
  PackageSortProperty sort_property = PackageSortProperty::kCreatedTime;
  bool ascending = false;  // newest first by default, as ThingsBoard's UI lists
};

// One page of results, in ThingsBoard's shape.
template <typename T>
struct Page {
  std::vector<T> data;
  int64_t total_elements = 0;
  int total_pages = 0;
  bool has_next = false;
};

// Fills total_pages and has_next of `page` from total_elements and `query`.
template <typename T>
void FinishPage(const PageQuery& query, Page<T>& page) {
  page.total_pages = query.page_size > 0
                         ? static_cast<int>((page.total_elements + query.page_size - 1) /
                                            query.page_size)
                         : 0;
  // 64-bit: a page number of INT_MAX must not overflow (it is simply past the end).
  page.has_next = int64_t{query.page} + 1 < page.total_pages;
}

// A device report that was acknowledged and is not yet applied to the device's status
// and history: one entry of the report log. The service writes reports ahead into the
// store's ReportLog (one small entry each, appended with one fsync per group) and applies
// the log to the status and history tables later, in large batches sorted by device, on
// a thread of its own; the state machine runs then.
struct LoggedReport {
  int64_t seq = 0;  // given by the log: larger than that of every entry appended before
  std::string tenant_id;
  std::string device_id;
  OtaPackageType type = ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED;
  // As the device sent them (state by name); empty: not in the report.
  std::string state;
  std::string error;
  std::string current_title;
  std::string current_version;
  int64_t created_time = 0;  // when the report arrived, ms since the Unix epoch
};

// How many entities refer to one package (the deletion guard's question).
struct PackageReferences {
  int64_t devices = 0;
  int64_t profiles = 0;
};

// The calls available inside one transaction. Lookups by id, name or token answer
// kNotFound when there is no such row. Inserts answer kAlreadyExists for a duplicate id
// or a unique key (tenant name; profile name and device name within a tenant; access
// token; package title+version within a tenant). Inserts and updates whose references
// (tenant, profile, package ids) do not exist answer kFailedPrecondition, and so do
// deletes of rows that others still refer to (a referenced package or profile). Not
// thread-safe: valid only inside the RunInTransaction callback that received it.
class MetadataTransaction {
 public:
  virtual ~MetadataTransaction() = default;

  // Tenants.
  virtual absl::Status InsertTenant(const Tenant& tenant) = 0;
  virtual absl::StatusOr<Tenant> GetTenant(absl::string_view id) = 0;
  virtual absl::StatusOr<Tenant> FindTenantByName(absl::string_view name) = 0;
  virtual absl::StatusOr<std::vector<Tenant>> ListTenants() = 0;

  // Device profiles.
  virtual absl::Status InsertProfile(const DeviceProfile& profile) = 0;
  virtual absl::Status UpdateProfile(const DeviceProfile& profile) = 0;
  virtual absl::StatusOr<DeviceProfile> GetProfile(absl::string_view id) = 0;
  virtual absl::StatusOr<DeviceProfile> FindProfileByName(absl::string_view tenant_id,
                                                          absl::string_view name) = 0;
  // Sorted by name.
  virtual absl::StatusOr<std::vector<DeviceProfile>> ListProfiles(
      absl::string_view tenant_id) = 0;
  virtual absl::Status DeleteProfile(absl::string_view id) = 0;

  // Devices.
  virtual absl::Status InsertDevice(const Device& device) = 0;
  virtual absl::Status UpdateDevice(const Device& device) = 0;
  virtual absl::StatusOr<Device> GetDevice(absl::string_view id) = 0;
  virtual absl::StatusOr<Device> FindDeviceByName(absl::string_view tenant_id,
                                                  absl::string_view name) = 0;
  virtual absl::StatusOr<Device> FindDeviceByAccessToken(absl::string_view token) = 0;
  // Sorted by name. Empty `profile_id`: every device of the tenant.
  virtual absl::StatusOr<std::vector<Device>> ListDevices(absl::string_view tenant_id,
                                                          absl::string_view profile_id) = 0;
  virtual absl::StatusOr<int64_t> CountDevicesInProfile(absl::string_view profile_id) = 0;
  virtual absl::Status DeleteDevice(absl::string_view id) = 0;

  // OTA packages.
  virtual absl::Status InsertPackage(const OtaPackage& package) = 0;
  virtual absl::Status UpdatePackage(const OtaPackage& package) = 0;
  virtual absl::StatusOr<OtaPackage> GetPackage(absl::string_view id) = 0;
  virtual absl::StatusOr<OtaPackage> FindPackageByTitleVersion(absl::string_view tenant_id,
                                                               absl::string_view title,
                                                               absl::string_view version) = 0;
  virtual absl::StatusOr<Page<OtaPackage>> ListPackages(absl::string_view tenant_id,
                                                        const PageQuery& query) = 0;
  // The profile's packages of `type` that have data or a URL, sorted by title, version.
  virtual absl::StatusOr<std::vector<OtaPackage>> ListProfilePackages(
      absl::string_view tenant_id, absl::string_view profile_id, OtaPackageType type) = 0;
  virtual absl::StatusOr<int64_t> CountPackagesInProfile(absl::string_view profile_id) = 0;
  virtual absl::StatusOr<PackageReferences> CountPackageReferences(
      absl::string_view package_id) = 0;
  // Number of packages (any tenant) whose content address is `sha256`.
  virtual absl::StatusOr<int64_t> CountPackagesWithBlob(absl::string_view sha256) = 0;
  // Every content address that some package refers to.
  virtual absl::StatusOr<std::vector<std::string>> ListBlobKeys() = 0;
  virtual absl::Status DeletePackage(absl::string_view id) = 0;

  // API keys. A key's hash is unique across all tenants; its name within the tenant.
  virtual absl::Status InsertApiKey(const ApiKey& key) = 0;
  virtual absl::StatusOr<ApiKey> FindApiKeyByHash(absl::string_view key_hash) = 0;
  // Sorted by name.
  virtual absl::StatusOr<std::vector<ApiKey>> ListApiKeys(absl::string_view tenant_id) = 0;
  virtual absl::Status DeleteApiKey(absl::string_view id) = 0;

  // Update status: one row per (device, type), created or replaced by PutUpdateStatus.
  // Deleting a device deletes its statuses and events (they are its history).
  virtual absl::Status PutUpdateStatus(const UpdateStatus& status) = 0;
  virtual absl::StatusOr<UpdateStatus> GetUpdateStatus(absl::string_view device_id,
                                                       OtaPackageType type) = 0;
  // The tenant's statuses of `type`, optionally only those in `state` (UNSPECIFIED: all),
  // sorted by state_since descending; query.text_search matches the device name.
  virtual absl::StatusOr<Page<UpdateStatus>> ListUpdateStatuses(absl::string_view tenant_id,
                                                                OtaPackageType type,
                                                                UpdateState state,
                                                                const PageQuery& query) = 0;
  // Number of the tenant's statuses of `type` in each state, indexed by UpdateState.
  virtual absl::StatusOr<std::vector<int64_t>> CountUpdateStates(absl::string_view tenant_id,
                                                                 OtaPackageType type) = 0;
  // Statuses (any tenant, any type) in `state` that have been silent since before
  // `before_millis`: both state_since and last_activity are earlier. Oldest state_since
  // first, at most `limit`.
  virtual absl::StatusOr<std::vector<UpdateStatus>> ListSilentStatuses(UpdateState state,
                                                                       int64_t before_millis,
                                                                       int limit) = 0;
  // Sets last_activity of the device's status of `type` to `millis` when it is later than
  // the stored one; no status: nothing happens.
  virtual absl::Status TouchUpdateStatus(absl::string_view device_id, OtaPackageType type,
                                         int64_t millis) = 0;
  // The update process's bulk write when the `type` package of profile `profile_id`
  // changes, for every device of the profile whose own `type` slot is empty, in device
  // id order:
  // - its status of `type` takes `status`'s state, target_*, error, state_since and
  //   notices_sent (its current_* and last_activity stay; a device without a status gets
  //   one, with its tenant, when status.target_package_id is set, and is left without one
  //   otherwise);
  // - each status written gets a history entry: `event` with the device's id and tenant
  //   and a fresh id (event.id's first 24 characters, then a 12-digit hex counter);
  // - each device gets `notice` (its device and tenant filled in), replacing its queued
  //   one.
  // Returns the number of devices.
  virtual absl::StatusOr<int64_t> RetargetProfileMembers(absl::string_view profile_id,
                                                         OtaPackageType type,
                                                         const UpdateStatus& status,
                                                         const UpdateEvent& event,
                                                         const Notice& notice) = 0;
  // History, append-only; listed newest first (ties by id).
  virtual absl::Status AppendUpdateEvent(const UpdateEvent& event) = 0;
  virtual absl::StatusOr<Page<UpdateEvent>> ListUpdateEvents(absl::string_view device_id,
                                                             OtaPackageType type,
                                                             const PageQuery& query) = 0;

  // Notice queue. PutNotice queues `notice` (its seq is ignored) behind every queued
  // notice, replacing the device's queued notice of the same type if there is one.
  virtual absl::Status PutNotice(const Notice& notice) = 0;
  // The oldest `limit` notices (seq filled in), FIFO; only deletions (no package_id)
  // when `deletions_only`.
  virtual absl::StatusOr<std::vector<Notice>> ListNotices(int limit, bool deletions_only) = 0;
  // Removes the notice with `seq`; kNotFound when it is not queued (any more).
  virtual absl::Status DeleteNotice(int64_t seq) = 0;
  virtual absl::StatusOr<int64_t> CountNotices() = 0;

  // How far the report log is applied: every entry of MetadataStore::report_log() whose
  // seq is at most this is in the statuses and history. 0 at first. Set in the same
  // transaction as the writes of what was applied, so a crash never applies an entry
  // twice or loses one.
  virtual absl::StatusOr<int64_t> GetReportsAppliedThrough() = 0;
  // kInvalidArgument for a negative seq.
  virtual absl::Status SetReportsAppliedThrough(int64_t seq) = 0;

  // The report log of schema version 4, kept inside the database (table device_report).
  // OtaService no longer writes it: it drains what a previous version left there once,
  // at start-up, before it reads report_log(). In arrival order. AppendReport ignores
  // report.seq and gives the next one; it answers kFailedPrecondition for an empty device
  // id and kInvalidArgument for a type that is neither FIRMWARE nor SOFTWARE.
  virtual absl::Status AppendReport(const LoggedReport& report) = 0;
  // The oldest `limit` entries, seq filled in.
  virtual absl::StatusOr<std::vector<LoggedReport>> ListReports(int limit) = 0;
  // Removes every entry whose seq is at most `seq`.
  virtual absl::Status DeleteReportsThrough(int64_t seq) = 0;

  // Audit log: append-only; listed newest first.
  virtual absl::Status AppendAudit(const AuditEvent& event) = 0;
  virtual absl::StatusOr<Page<AuditEvent>> ListAudit(absl::string_view tenant_id,
                                                     const PageQuery& query) = 0;
};

// The report log: device reports written ahead, in arrival order, apart from the
// store's transactions, so that appending a group of reports never waits for a
// transaction that applies earlier ones (and the reverse). An entry is durable once
// Append returns. Entries are read by seq and dropped once applied (the applied mark
// lives in the metadata, MetadataTransaction::GetReportsAppliedThrough). Thread-safe.
class ReportLog {
 public:
  virtual ~ReportLog() = default;

  // Appends `reports` in order, durably and atomically (all or none), giving each the
  // next seq: larger than every seq this log ever gave, and than the last SkipThrough.
  // kFailedPrecondition for an entry without a device id, kInvalidArgument for a type
  // that is neither FIRMWARE nor SOFTWARE (nothing is appended then).
  virtual absl::Status Append(std::vector<LoggedReport>& reports) = 0;
  // Up to `limit` entries whose seq is larger than `after`, oldest first.
  virtual absl::StatusOr<std::vector<LoggedReport>> ReadAfter(int64_t after, int limit) = 0;
  // Drops every entry whose seq is at most `seq`.
  virtual absl::Status Truncate(int64_t seq) = 0;
  // Makes every later seq larger than `seq`. For a log that was lost or replaced while
  // the metadata says it was applied through `seq`: new entries must not look applied.
  virtual absl::Status SkipThrough(int64_t seq) = 0;
};

// Thread-safe: transactions from several threads run one after another (or, for stores
// that can, concurrently with serializable isolation).
class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Runs `body` inside one transaction: everything it did is committed when it returns
  // OK and rolled back when it returns an error (which RunInTransaction then returns).
  // A store failure (I/O, corruption) is returned as kInternal / kDataLoss /
  // kUnavailable. `body` must not keep the transaction beyond its return and must not
  // call RunInTransaction again.
  virtual absl::Status RunInTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) = 0;

  // Runs `body`, which only reads, in one transaction that sees a consistent snapshot.
  // Stores that can run it alongside a writing transaction (the SQLite store, on a
  // connection of its own); by default it is simply RunInTransaction. A write inside
  // answers an error.
  virtual absl::Status RunInReadTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) {
    return RunInTransaction(body);
  }

  // The store's report log; lives as long as the store.
  virtual ReportLog& report_log() = 0;
};

}  // namespace fwota

#endif  // FWOTA_METADATA_STORE_H_
