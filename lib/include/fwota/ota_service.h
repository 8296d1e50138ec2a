// OtaService: the one facade of libfwota. Adapters (HTTP, MQTT, CoAP), the fwota command
// line and embedding platforms call it; it owns the rules (validation with ThingsBoard's
// messages, tenant isolation, assignment, deletion guards, audit) and keeps the stores
// consistent.
//
// Errors: kInvalidArgument (bad input), kNotFound ("Requested item wasn't found!"),
// kPermissionDenied (another tenant's entity: "You don't have permission to perform this
// operation!"), kAlreadyExists, kFailedPrecondition (deletion guard, wrong profile, empty
// data), kResourceExhausted (size limit), kDataLoss (stored bytes damaged),
// kUnauthenticated (unknown device token).
#ifndef FWOTA_OTA_SERVICE_H_
#define FWOTA_OTA_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fwota/blob_store.h"
#include "fwota/byte_source.h"
#include "fwota/checksum.h"
#include "fwota/clock.h"
#include "fwota/metadata_store.h"
#include "fwota/notifier.h"

namespace fwota {

// Who is asking: every admin call is scoped to one tenant.
struct TenantContext {
  std::string tenant_id;
  std::string user_name;  // recorded in the audit log
};

// Package info as an administrator sends it (ThingsBoard's OtaPackageInfo body).
struct PackageInfoRequest {
  std::string id;  // empty: create; set: update (only additional_info_json may change)
  std::string title;
  std::string version;
  OtaPackageType type = ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED;
  std::string device_profile_id;
  std::string tag;  // empty: "<title> <version>", as ThingsBoard's UI fills it
  std::string url;
  std::string additional_info_json;  // a JSON object; empty means {}
};

// The data part of an upload.
struct UploadRequest {
  // UNSPECIFIED: SHA256.
  ChecksumAlgorithm checksum_algorithm = ::fwota::v1::CHECKSUM_ALGORITHM_UNSPECIFIED;
  // Empty: computed. Given: verified ("Wrong otaPackage file!" on mismatch).
  std::string checksum;
  std::string file_name;     // required
  std::string content_type;  // empty: application/octet-stream
};

// Called during uploads: bytes so far and the total (-1 when unknown).
using UploadProgress = std::function<void(int64_t done, int64_t total)>;

// Why a device gets the package it gets.
struct Explanation {
  enum class Source { kNone, kDeviceOverride, kProfileDefault };
  Source source = Source::kNone;
  OtaPackageType type = ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED;
  Device device;
  DeviceProfile profile;
  std::optional<OtaPackage> package;  // set unless source is kNone
  std::string reason;                 // one sentence for people
};

// "device_override", "profile_default", "none".
absl::string_view ExplanationSourceName(Explanation::Source source);

// A new API key: the stored record and the secret, which is shown once and never kept.
struct NewApiKey {
  ApiKey key;
  std::string secret;
};

// A package a device may download, with a reader over its bytes.
struct DevicePackage {
  Device device;
  OtaPackage package;
  // Shared with other downloads of the same bytes; thread-safe.
  std::shared_ptr<BlobReader> data;
};


// What a device reported about one package type (ThingsBoard telemetry fw_state,
// fw_error, current_fw_title, current_fw_version, or the sw_ ones). Empty fields were
// not in the report.
struct DeviceReport {
  OtaPackageType type = ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED;
  std::string state;  // as sent: "DOWNLOADING", ...
  std::string error;
  std::string current_title;
  std::string current_version;
};

// What one DrainNotices call did.
struct DrainResult {
  int64_t sent = 0;       // update notices sent (each wrote INITIATED)
  int64_t deletions = 0;  // attribute-deletion notices sent
  int64_t skipped = 0;    // stale notices dropped (the package is no longer effective)
  int64_t remaining = 0;  // notices still queued afterwards
};

// The stall detector's rules: how long a device may stay silent (no report, no
// download) in each state before something happens, and how many times it is notified
// again before it is marked FAILED.
struct StallPolicy {
  // Milliseconds of silence allowed in INITIATED, DOWNLOADING, DOWNLOADED, VERIFIED,
  // UPDATING (indexed by UpdateState; other entries unused). 0: never a stall.
  int64_t silence_millis[::fwota::v1::UpdateState_ARRAYSIZE] = {};
  // Notices sent again to a silent device before it is marked FAILED.
  int renotify = 2;
  // Defaults: INITIATED 24 h (a sleeping device may wake late), DOWNLOADING, DOWNLOADED
  // and VERIFIED 15 min, UPDATING 30 min (flashing and rebooting).
  static StallPolicy Default();
};

// What one SweepStalls call did.
struct StallSweepResult {
  int64_t renotified = 0;  // silent devices notified again
  int64_t failed = 0;      // silent devices marked FAILED
  int64_t touched = 0;     // download activity written to the statuses
};

// "QUEUED" -> QUEUED; kInvalidArgument for anything else.
absl::StatusOr<UpdateState> ParseUpdateState(absl::string_view name);
absl::string_view UpdateStateName(UpdateState state);

struct OtaServiceOptions {
  // Required; must outlive the service.
  MetadataStore* metadata = nullptr;
  // Required; must outlive the service.
  BlobStore* blobs = nullptr;
  // Default: RealClock(). Must outlive the service.
  Clock* clock = nullptr;
  // Largest package accepted, in bytes. Default 2 GiB.
  int64_t max_package_size = int64_t{2} << 30;
  // Upload buffers: count x size bytes is the upload's peak buffer memory. Defaults
  // 4 x 1 MiB.
  int upload_buffers = 4;
  size_t upload_buffer_size = 1 << 20;
  // Where sent notices go (the transports' connected devices). Default: none (devices
  // learn of their update when they ask for their attributes). Must outlive the service.
  Notifier* notifier = nullptr;
  // Device reports are written ahead into the store's report log and acknowledged; a
  // thread of the service applies the log to statuses and history meanwhile (true, the
  // default). false: the log is applied only by the next call that reads or changes the
  // update process, at start-up, and when 131,072 reports wait: fewer, larger batches
  // for a fleet whose progress is seldom read, and a fixed point for tests. Either way,
  // every read sees every report acknowledged before it.
  bool apply_reports_in_background = true;
  // Test hook: called at named points of multi-step operations ("upload.blob_written",
  // "upload.blob_committed", "delete.metadata_deleted") so crash tests can kill the
  // process exactly there. Default: none.
  std::function<void(absl::string_view point)> crash_point;
};

// Thread-safe.
class OtaService {
 public:
  // Checks the options and recovers from an earlier crash: removes interrupted blob
  // writes and blobs that no package refers to. Call with the data directory locked
  // (only one process may run a service over the same stores).
  static absl::StatusOr<std::unique_ptr<OtaService>> Create(OtaServiceOptions options);
  virtual ~OtaService() = default;

  // Tenants (system level: no tenant context).
  virtual absl::StatusOr<Tenant> CreateTenant(absl::string_view name) = 0;
  // By id or by name.
  virtual absl::StatusOr<Tenant> FindTenant(absl::string_view id_or_name) = 0;
  virtual absl::StatusOr<std::vector<Tenant>> ListTenants() = 0;

  // Device profiles.
  virtual absl::StatusOr<DeviceProfile> CreateProfile(const TenantContext& ctx,
                                                      absl::string_view name,
                                                      absl::string_view description) = 0;
  // By id or, within the tenant, by name.
  virtual absl::StatusOr<DeviceProfile> FindProfile(const TenantContext& ctx,
                                                    absl::string_view id_or_name) = 0;
  virtual absl::StatusOr<std::vector<DeviceProfile>> ListProfiles(const TenantContext& ctx) = 0;
  // kFailedPrecondition while devices or packages still belong to it.
  virtual absl::Status DeleteProfile(const TenantContext& ctx, absl::string_view id) = 0;

  // Devices. An empty `access_token` generates a unique random 20-character one.
  virtual absl::StatusOr<Device> CreateDevice(const TenantContext& ctx, absl::string_view name,
                                              absl::string_view profile_id_or_name,
                                              absl::string_view access_token = "") = 0;
  virtual absl::StatusOr<Device> FindDevice(const TenantContext& ctx,
                                            absl::string_view id_or_name) = 0;
  virtual absl::StatusOr<std::vector<Device>> ListDevices(const TenantContext& ctx) = 0;
  virtual absl::Status DeleteDevice(const TenantContext& ctx, absl::string_view id) = 0;
  // Moves the device to another profile of the tenant. Its own assignments stay and must
  // belong to the new profile (kFailedPrecondition "Can't assign firmware with different
  // deviceProfile!" otherwise); where its effective package changes, the update process
  // queues it as for any assignment change.
  virtual absl::StatusOr<Device> MoveDevice(const TenantContext& ctx,
                                            absl::string_view device_id,
                                            absl::string_view profile_id_or_name) = 0;
  // The device of an access token; kUnauthenticated when there is none.
  virtual absl::StatusOr<Device> AuthenticateDevice(absl::string_view access_token) = 0;

  // OTA packages.
  // Creates package info (no data yet) or, with `id` set, updates its additional info.
  virtual absl::StatusOr<OtaPackage> SavePackageInfo(const TenantContext& ctx,
                                                     const PackageInfoRequest& request) = 0;
  // Streams the data of an existing package without data or URL.
  virtual absl::StatusOr<OtaPackage> UploadPackageData(const TenantContext& ctx,
                                                       absl::string_view package_id,
                                                       const UploadRequest& upload,
                                                       ByteSource& data,
                                                       const UploadProgress& progress = {}) = 0;
  // Info and data in one step: the package exists afterwards with its data, or not at
  // all.
  virtual absl::StatusOr<OtaPackage> CreatePackageWithData(
      const TenantContext& ctx, const PackageInfoRequest& request, const UploadRequest& upload,
      ByteSource& data, const UploadProgress& progress = {}) = 0;
  virtual absl::StatusOr<OtaPackage> GetPackage(const TenantContext& ctx,
                                                absl::string_view id) = 0;
  virtual absl::StatusOr<Page<OtaPackage>> ListPackages(const TenantContext& ctx,
                                                        const PageQuery& query) = 0;
  // The profile's packages of `type` with data or a URL.
  virtual absl::StatusOr<std::vector<OtaPackage>> ListProfilePackages(
      const TenantContext& ctx, absl::string_view profile_id, OtaPackageType type) = 0;
  // A reader over the package's bytes (kNotFound when it has none, e.g. a URL package).
  // Every read checks the stored bytes: kDataLoss when they are damaged.
  virtual absl::StatusOr<std::unique_ptr<BlobReader>> OpenPackageData(
      const TenantContext& ctx, absl::string_view id) = 0;
  // Recomputes the package's checksum over its stored bytes: kDataLoss on mismatch.
  virtual absl::Status VerifyPackage(const TenantContext& ctx, absl::string_view id) = 0;
  // kFailedPrecondition while a device or profile refers to it.
  virtual absl::Status DeletePackage(const TenantContext& ctx, absl::string_view id) = 0;

  // Assignment. An empty `package_id` unassigns `type`. Returns the updated entity.
  virtual absl::StatusOr<Device> AssignDevicePackage(const TenantContext& ctx,
                                                     absl::string_view device_id,
                                                     OtaPackageType type,
                                                     absl::string_view package_id) = 0;
  virtual absl::StatusOr<DeviceProfile> AssignProfilePackage(const TenantContext& ctx,
                                                             absl::string_view profile_id,
                                                             OtaPackageType type,
                                                             absl::string_view package_id) = 0;
  // Effective package = the device's own, else its profile's.
  virtual absl::StatusOr<Explanation> Explain(const TenantContext& ctx,
                                              absl::string_view device_id,
                                              OtaPackageType type) = 0;

  // API keys of administrators. The secret is returned once; only its hash is kept.
  virtual absl::StatusOr<NewApiKey> CreateApiKey(const TenantContext& ctx,
                                                 absl::string_view name) = 0;
  // The tenant a secret belongs to (user_name = "apikey:<name>"); kUnauthenticated
  // for an unknown or malformed secret.
  virtual absl::StatusOr<TenantContext> AuthenticateApiKey(absl::string_view secret) = 0;
  virtual absl::StatusOr<std::vector<ApiKey>> ListApiKeys(const TenantContext& ctx) = 0;
  virtual absl::Status DeleteApiKey(const TenantContext& ctx, absl::string_view id) = 0;

  // ---- Device-facing calls: authenticated by the device's access token ----

  // The device's effective package of `type` with its bytes. kUnauthenticated for an
  // unknown token; kNotFound when nothing is assigned or the package is a URL package;
  // kInvalidArgument when `title` or `version` is given and is not the assigned one.
  virtual absl::StatusOr<DevicePackage> OpenDevicePackage(absl::string_view access_token,
                                                          OtaPackageType type,
                                                          absl::string_view title,
                                                          absl::string_view version) = 0;
  // The fw_* and sw_* shared attributes of the device's effective packages (fw_title,
  // fw_version, fw_tag, then fw_size, fw_checksum_algorithm, fw_checksum for data or
  // fw_url for a URL package). Empty `keys`: all of them; else only those named.
  virtual absl::StatusOr<std::vector<SharedAttribute>> DeviceSharedAttributes(
      absl::string_view access_token, const std::vector<std::string>& keys) = 0;
  // Records what a device reported: every report becomes an UpdateEvent in the history;
  // the device's UpdateStatus moves by the state machine of docs/architecture.md ("Device
  // reports"): a report that makes no sense (a state from the past, any state while no
  // package is assigned) is recorded as not accepted and leaves the state alone.
  // kInvalidArgument (nothing recorded) for a state name that is not one of ThingsBoard's;
  // kUnauthenticated for an unknown token. Concurrent reports are committed together
  // (one transaction for all that arrive during the previous one); each call returns
  // when its own report is durable.
  virtual absl::Status RecordDeviceReport(absl::string_view access_token,
                                          const DeviceReport& report) = 0;
  // The device's current update status of `type` (kNotFound when it never had one).
  virtual absl::StatusOr<UpdateStatus> GetUpdateStatus(const TenantContext& ctx,
                                                       absl::string_view device_id,
                                                       OtaPackageType type) = 0;
  // The device's update history of `type`, newest first.
  virtual absl::StatusOr<Page<UpdateEvent>> ListUpdateHistory(const TenantContext& ctx,
                                                              absl::string_view device_id,
                                                              OtaPackageType type,
                                                              const PageQuery& query) = 0;

  // How many of the tenant's devices are in each update state for `type` (indexed by
  // UpdateState; index 0: devices with a status but no state, e.g. after an unassign).
  virtual absl::StatusOr<std::vector<int64_t>> CountUpdateStates(const TenantContext& ctx,
                                                                 OtaPackageType type) = 0;
  // The tenant's update statuses of `type`, only those in `state` unless it is
  // UPDATE_STATE_UNSPECIFIED, newest state first; query.text_search matches the device
  // name.
  virtual absl::StatusOr<Page<UpdateStatus>> ListUpdateStatuses(const TenantContext& ctx,
                                                                OtaPackageType type,
                                                                UpdateState state,
                                                                const PageQuery& query) = 0;

  // ---- The update process (fwotad runs these from UpdateWorker) ----

  // Sends queued notices, oldest first: every attribute-deletion notice, and up to
  // `max_updates` update notices (each writes INITIATED, counts in notices_sent, and goes
  // to the notifier after its transaction commits); a notice whose package is no longer
  // the device's effective one, or whose device already reports the target as UPDATED,
  // is dropped. A notice leaves the queue in the same transaction that records it as
  // sent, so a restart neither loses nor repeats one.
  virtual absl::StatusOr<DrainResult> DrainNotices(int64_t max_updates) = 0;
  // Writes the download activity seen since the last call into the statuses, then
  // handles every device silent for longer than `policy` allows in its state: notified
  // again at once, not through the queue (INITIATED, the history says why, the push goes
  // to the notifier) while it has had fewer than `policy.renotify` re-notifications, else
  // FAILED with an fw_error naming the state and the silence.
  virtual absl::StatusOr<StallSweepResult> SweepStalls(const StallPolicy& policy) = 0;
  // Notices waiting in the queue (all tenants).
  virtual absl::StatusOr<int64_t> CountQueuedNotices() = 0;

  // Audit log of the tenant, newest first.
  virtual absl::StatusOr<Page<AuditEvent>> ListAudit(const TenantContext& ctx,
                                                     const PageQuery& query) = 0;
};

}  // namespace fwota

#endif  // FWOTA_OTA_SERVICE_H_
