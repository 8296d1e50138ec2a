#include "lib/store/metadata/sqlite_schema.h"

#include "fwota/metadata_stores.h"

namespace fwota {
namespace metadata_internal {
namespace {

// Version 1: the initial schema. One real column per proto field, in the proto's order,
// so that another SQL back end can share the layout. Conventions:
// - ids are TEXT (UUIDs); a reference id that is empty in the proto is NULL here, and
//   so are an empty access token (a device without one) and an empty sha256 (a package
//   without data): NULL never collides in a UNIQUE key and never matches a lookup.
// - enums are INTEGER, the proto enum numbers (stable by protobuf's own rules).
// - times are milliseconds since the Unix epoch; booleans are 0 / 1.
// - every reference is RESTRICT: the store refuses to delete what others still use.
constexpr absl::string_view kSchemaV1 = R"sql(
CREATE TABLE tenant (
  id TEXT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  created_time BIGINT NOT NULL,
  CONSTRAINT tenant_name_unique UNIQUE (name)
);

CREATE TABLE device_profile (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenant (id) ON DELETE RESTRICT,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  created_time BIGINT NOT NULL,
  firmware_id TEXT REFERENCES ota_package (id) ON DELETE RESTRICT,
  software_id TEXT REFERENCES ota_package (id) ON DELETE RESTRICT,
  CONSTRAINT device_profile_name_unique UNIQUE (tenant_id, name)
);
CREATE INDEX device_profile_firmware ON device_profile (firmware_id);
CREATE INDEX device_profile_software ON device_profile (software_id);

CREATE TABLE device (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenant (id) ON DELETE RESTRICT,
  device_profile_id TEXT REFERENCES device_profile (id) ON DELETE RESTRICT,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  access_token TEXT,
  created_time BIGINT NOT NULL,
  firmware_id TEXT REFERENCES ota_package (id) ON DELETE RESTRICT,
  software_id TEXT REFERENCES ota_package (id) ON DELETE RESTRICT,
  CONSTRAINT device_name_unique UNIQUE (tenant_id, name),
  CONSTRAINT device_access_token_unique UNIQUE (access_token)
);
CREATE INDEX device_profile_devices ON device (device_profile_id);
CREATE INDEX device_firmware ON device (firmware_id);
CREATE INDEX device_software ON device (software_id);

CREATE TABLE ota_package (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenant (id) ON DELETE RESTRICT,
  device_profile_id TEXT REFERENCES device_profile (id) ON DELETE RESTRICT,
  type INTEGER NOT NULL,
  title TEXT NOT NULL,
  version TEXT NOT NULL,
  tag TEXT NOT NULL,
  url TEXT NOT NULL,
  has_data BOOLEAN NOT NULL CHECK (has_data IN (0, 1)),
  file_name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  checksum_algorithm INTEGER NOT NULL,
  checksum TEXT NOT NULL,
  data_size BIGINT NOT NULL,
  sha256 TEXT,
  additional_info_json TEXT NOT NULL,
  created_time BIGINT NOT NULL,
  CONSTRAINT ota_package_title_version_unique UNIQUE (tenant_id, title, version)
);
CREATE INDEX ota_package_tenant_created ON ota_package (tenant_id, created_time);
CREATE INDEX ota_package_profile_type ON ota_package (device_profile_id, type);
CREATE INDEX ota_package_sha256 ON ota_package (sha256);

CREATE TABLE audit_event (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT REFERENCES tenant (id) ON DELETE RESTRICT,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  entity_name TEXT NOT NULL,
  user_name TEXT NOT NULL,
  action_type INTEGER NOT NULL,
  action_status INTEGER NOT NULL,
  action_data_json TEXT NOT NULL,
  failure_details TEXT NOT NULL,
  created_time BIGINT NOT NULL
);
CREATE INDEX audit_event_tenant_created ON audit_event (tenant_id, created_time);
)sql";

// Version 2: API keys, and each device's update status and history. The conventions of
// version 1 hold, with two deliberate departures:
// - a device's status and events are its history: deleting the device deletes them
//   (ON DELETE CASCADE, which needs foreign_keys on, as every store connection has it).
// - the package a status targets (or an event names) is no reference: the row keeps
//   its title and version after the package is deleted, so it is a plain id column.
constexpr absl::string_view kSchemaV2 = R"sql(
CREATE TABLE api_key (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenant (id) ON DELETE RESTRICT,
  name TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  created_time BIGINT NOT NULL,
  CONSTRAINT api_key_hash_unique UNIQUE (key_hash),
  CONSTRAINT api_key_name_unique UNIQUE (tenant_id, name)
);

CREATE TABLE update_status (
  tenant_id TEXT REFERENCES tenant (id) ON DELETE RESTRICT,
  device_id TEXT NOT NULL REFERENCES device (id) ON DELETE CASCADE,
  type INTEGER NOT NULL,
  state INTEGER NOT NULL,
  target_package_id TEXT,
  target_title TEXT NOT NULL,
  target_version TEXT NOT NULL,
  target_tag TEXT NOT NULL,
  target_ts BIGINT NOT NULL,
  current_title TEXT NOT NULL,
  current_version TEXT NOT NULL,
  error TEXT NOT NULL,
  state_since BIGINT NOT NULL,
  last_activity BIGINT NOT NULL,
  PRIMARY KEY (device_id, type)
);
CREATE INDEX update_status_tenant_type_state
  ON update_status (tenant_id, type, state, state_since);

CREATE TABLE update_event (
  id TEXT NOT NULL PRIMARY KEY,
  tenant_id TEXT REFERENCES tenant (id) ON DELETE RESTRICT,
  device_id TEXT NOT NULL REFERENCES device (id) ON DELETE CASCADE,
  type INTEGER NOT NULL,
  state INTEGER NOT NULL,
  package_id TEXT,
  title TEXT NOT NULL,
  version TEXT NOT NULL,
  error TEXT NOT NULL,
  source TEXT NOT NULL,
  accepted BOOLEAN NOT NULL CHECK (accepted IN (0, 1)),
  note TEXT NOT NULL,
  created_time BIGINT NOT NULL
);
CREATE INDEX update_event_device_type_created ON update_event (device_id, type, created_time);
)sql";

// Version 3: the notification queue and the stall detector.
// - ota_notice: at most one queued notice per device and type (UNIQUE), a newer one
//   replaces the older (INSERT OR REPLACE gives it a new, larger seq: FIFO by seq). It
//   goes with its device. package_id is a plain column: a stale notice may outlive its
//   package, and the drainer skips it.
// - update_status.notices_sent counts the notices sent for the current target.
// - the stall detector looks for statuses by state and age.
constexpr absl::string_view kSchemaV3 = R"sql(
ALTER TABLE update_status ADD COLUMN notices_sent INTEGER NOT NULL DEFAULT 0;
CREATE INDEX update_status_state_since ON update_status (state, state_since);

CREATE TABLE ota_notice (
  seq INTEGER PRIMARY KEY,
  tenant_id TEXT REFERENCES tenant (id) ON DELETE RESTRICT,
  device_id TEXT NOT NULL REFERENCES device (id) ON DELETE CASCADE,
  type INTEGER NOT NULL,
  package_id TEXT,
  reason TEXT NOT NULL,
  created_time BIGINT NOT NULL,
  CONSTRAINT ota_notice_device_type_unique UNIQUE (device_id, type)
);
)sql";

// Version 4: the report log. Device reports are written ahead into it, one small row
// each at the end of the table (seq grows), and applied to update_status and
// update_event later in batches sorted by device (see OtaService::RecordDeviceReport).
// No foreign key and no index but seq: an append touches only the table's last page.
// The device id is kept as a plain column; the log outlives a deleted device only until
// it is next applied, which skips the device.
constexpr absl::string_view kSchemaV4 = R"sql(
CREATE TABLE device_report (
  seq INTEGER PRIMARY KEY,
  tenant_id TEXT,
  device_id TEXT NOT NULL,
  type INTEGER NOT NULL,
  state TEXT NOT NULL,
  error TEXT NOT NULL,
  current_title TEXT NOT NULL,
  current_version TEXT NOT NULL,
  created_time BIGINT NOT NULL
);
)sql";

// Version 5: the report log moved to a database of its own (see OpenSqliteReportLog);
// this one keeps how far it is applied, written in the transaction that applies. The
// device_report table of version 4 stays until a later version: OtaService drains what
// a previous version left in it at start-up.
constexpr absl::string_view kSchemaV5 = R"sql(
CREATE TABLE report_log_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  applied_through INTEGER NOT NULL CHECK (applied_through >= 0)
);
INSERT INTO report_log_state (id, applied_through) VALUES (1, 0);
)sql";

constexpr SqliteMigration kMigrations[] = {
    {1, "initial schema", kSchemaV1},
    {2, "API keys, update status and update events", kSchemaV2},
    {3, "notification queue and stall detection", kSchemaV3},
    {4, "device report log", kSchemaV4},
    {5, "report log applied mark", kSchemaV5},
};

}  // namespace

absl::Span<const SqliteMigration> SqliteMigrations() { return kMigrations; }

}  // namespace metadata_internal

int SqliteSchemaVersion() { return metadata_internal::SqliteMigrations().back().version; }

}  // namespace fwota
