// The SQLite MetadataStore: the conformance suite on a temporary file, and what only a
// file-backed store has: persistence, schema versions and migrations, pragmas, and the
// mapping of SQLite trouble (a newer schema, a file that is no database, a lock held by
// another connection) to statuses.
#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <future>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fwota/metadata_stores.h"
#include "fwota/status_macros.h"
#include "lib/store/metadata/sqlite_connection.h"
#include "lib/store/metadata/sqlite_schema.h"
#include "tests/store/metadata/metadata_store_conformance.h"

namespace fwota {
namespace metadata_test {
namespace {

using ::fwota::v1::FIRMWARE;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A path in the test's temporary directory that no earlier call returned; any leftover
// file (and its WAL companions) is removed.
std::string FreshPath(const std::string& stem) {
  static int counter = 0;
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path =
      absl::StrCat(dir != nullptr ? dir : "/tmp", "/", stem, "-", ++counter, ".db");
  for (const char* suffix :
       {"", "-wal", "-shm", "-journal", "-reports", "-reports-wal", "-reports-shm"}) {
    std::remove(absl::StrCat(path, suffix).c_str());
  }
  return path;
}

std::unique_ptr<MetadataStore> MustOpen(const std::string& path) {
  absl::StatusOr<std::unique_ptr<MetadataStore>> store = OpenSqliteMetadataStore(path);
  if (!store.ok()) {
    ADD_FAILURE() << "cannot open " << path << ": " << store.status();
    return nullptr;
  }
  return *std::move(store);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, MetadataStoreConformanceTest,
                         ::testing::Values(MetadataStoreFactory{
                             "sqlite", [] { return MustOpen(FreshPath("conformance")); }}),
                         MetadataStoreFactoryName);

// Reads one value with a connection of the test's own.
int PragmaInt(SQLite::Database& db, const std::string& pragma) {
  return db.execAndGet("PRAGMA " + pragma).getInt();
}

// The schema as SQLite keeps it: name -> CREATE statement, for every table and index
// (automatic indexes included, by name).
std::map<std::string, std::string> SchemaOf(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT name, ifnull(sql, '') FROM sqlite_master ORDER BY name");
  std::map<std::string, std::string> schema;
  while (q.executeStep()) schema[q.getColumn(0).getString()] = q.getColumn(1).getString();
  return schema;
}

absl::Status Fill(MetadataStore& store) {
  return store.RunInTransaction([](MetadataTransaction& tx) {
    FWOTA_RETURN_IF_ERROR(tx.InsertTenant(MakeTenant("t1", "One")));
    FWOTA_RETURN_IF_ERROR(tx.InsertProfile(MakeProfile("p1", "t1", "thermostat")));
    FWOTA_RETURN_IF_ERROR(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1")));
    Device device = MakeDevice("d1", "t1", "p1", "dev", "tok");
    device.set_firmware_id("k1");
    FWOTA_RETURN_IF_ERROR(tx.InsertDevice(device));
    return tx.AppendAudit(MakeAudit("a1", "t1", "fw", 5));
  });
}

TEST(SqliteMetadataStoreTest, DataSurvivesCloseAndReopen) {
  const std::string path = FreshPath("reopen");
  {
    std::unique_ptr<MetadataStore> store = MustOpen(path);
    ASSERT_NE(store, nullptr);
    FWOTA_ASSERT_OK(Fill(*store));
  }
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  FWOTA_EXPECT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
    Device device = MakeDevice("d1", "t1", "p1", "dev", "tok");
    device.set_firmware_id("k1");
    EXPECT_THAT(Must(tx.GetDevice("d1")), EqualsProto(device));
    EXPECT_THAT(Must(tx.GetTenant("t1")), EqualsProto(MakeTenant("t1", "One")));
    EXPECT_THAT(Must(tx.GetProfile("p1")), EqualsProto(MakeProfile("p1", "t1", "thermostat")));
    EXPECT_THAT(Must(tx.GetPackage("k1")),
                EqualsProto(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1")));
    EXPECT_EQ(Must(tx.ListAudit("t1", PageQuery{})).total_elements, 1);
    // Foreign keys are a per-connection setting: the reopened store enforces them too.
    FWOTA_EXPECT_CODE(tx.InsertDevice(MakeDevice("d2", "t1", "p404", "dev2", "tok2")),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.DeletePackage("k1"), kFailedPrecondition);
    return absl::OkStatus();
  }));
}

TEST(SqliteMetadataStoreTest, CommittedDataIsInTheFileForOtherConnections) {
  const std::string path = FreshPath("visible");
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  FWOTA_ASSERT_OK(Fill(*store));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT name FROM tenant WHERE id = 't1'").getString(), "One");
  // Empty ids are NULL in the columns, not ''.
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM audit_event WHERE tenant_id = 't1'").getInt(), 1);
  FWOTA_ASSERT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
    return tx.InsertDevice(MakeDevice("d9", "t1", "", "no profile", ""));
  }));
  EXPECT_TRUE(db.execAndGet("SELECT device_profile_id FROM device WHERE id = 'd9'").isNull());
  EXPECT_TRUE(db.execAndGet("SELECT access_token FROM device WHERE id = 'd9'").isNull());
  EXPECT_TRUE(db.execAndGet("SELECT firmware_id FROM device WHERE id = 'd9'").isNull());
}

TEST(SqliteMetadataStoreTest, FreshFileGetsTheCurrentSchemaInWalMode) {
  const std::string path = FreshPath("fresh");
  ASSERT_NE(MustOpen(path), nullptr);
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(PragmaInt(db, "user_version"), SqliteSchemaVersion());
  // The journal mode is a property of the file.
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
  for (const char* table : {"tenant", "device_profile", "device", "ota_package", "audit_event",
                            "api_key", "update_status", "update_event"}) {
    EXPECT_TRUE(db.tableExists(table)) << table;
  }
}

TEST(SqliteMetadataStoreTest, StoreConnectionHasForeignKeysAndFullSync) {
  // foreign_keys, synchronous and busy_timeout belong to a connection, so they are read
  // from the connection the store itself opens.
  const std::string path = FreshPath("pragmas");
  absl::StatusOr<std::unique_ptr<metadata_internal::SqliteConnection>> connection =
      metadata_internal::SqliteConnection::Open(path);
  ASSERT_TRUE(connection.ok()) << connection.status();
  SQLite::Database& db = (*connection)->db();
  EXPECT_EQ(PragmaInt(db, "foreign_keys"), 1);
  EXPECT_EQ(PragmaInt(db, "synchronous"), 2);  // FULL
  EXPECT_EQ(PragmaInt(db, "busy_timeout"), metadata_internal::kSqliteBusyTimeoutMs);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_FALSE((*connection)->InTransaction());
}

TEST(SqliteMetadataStoreTest, NewerSchemaIsRefusedUntouched) {
  const std::string path = FreshPath("newer");
  const int newer = SqliteSchemaVersion() + 1;
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE future (x INTEGER)");
    db.exec(absl::StrCat("PRAGMA user_version = ", newer));
  }
  absl::StatusOr<std::unique_ptr<MetadataStore>> store = OpenSqliteMetadataStore(path);
  ASSERT_THAT(store, HasCode(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr(absl::StrCat("written by a newer fwota: schema version ", newer,
                                     ", this build knows ", SqliteSchemaVersion())));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(PragmaInt(db, "user_version"), newer);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "delete");
  EXPECT_FALSE(db.tableExists("tenant"));
}

TEST(SqliteMetadataStoreTest, FileThatIsNotADatabaseIsDataLoss) {
  const std::string big = FreshPath("garbage");
  {
    std::ofstream out(big, std::ios::binary);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>((i * 37 + 11) & 0xff));
  }
  EXPECT_THAT(OpenSqliteMetadataStore(big), HasCode(absl::StatusCode::kDataLoss));

  const std::string text = FreshPath("text");
  {
    std::ofstream out(text);
    out << "this is a firmware image, not a database\n";
  }
  EXPECT_THAT(OpenSqliteMetadataStore(text), HasCode(absl::StatusCode::kDataLoss));
}

TEST(SqliteMetadataStoreTest, UnopenablePathIsAnErrorNotAnException) {
  absl::StatusOr<std::unique_ptr<MetadataStore>> store =
      OpenSqliteMetadataStore(FreshPath("no-such-dir") + "/sub/store.db");
  EXPECT_FALSE(store.ok());
  EXPECT_THAT(store, HasCode(absl::StatusCode::kUnavailable));
}

TEST(SqliteMetadataStoreTest, MigrationStepsAreConsistent) {
  absl::Span<const metadata_internal::SqliteMigration> steps =
      metadata_internal::SqliteMigrations();
  ASSERT_FALSE(steps.empty());
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].version, static_cast<int>(i) + 1) << "steps are 1, 2, 3, ...";
    EXPECT_FALSE(steps[i].description.empty()) << steps[i].version;
    EXPECT_FALSE(steps[i].sql.empty()) << steps[i].version;
    EXPECT_FALSE(absl::StrContains(steps[i].sql, "user_version"))
        << "the runner bumps user_version, not the step";
    EXPECT_FALSE(absl::StrContains(steps[i].sql, "BEGIN"))
        << "the runner opens each step's transaction";
  }
  EXPECT_EQ(SqliteSchemaVersion(), steps.back().version);
}

// Builds a database at `version` by hand, applying the first `version` steps the way an
// older fwota would have.
void BuildAtVersion(const std::string& path, int version) {
  SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  for (const auto& step : metadata_internal::SqliteMigrations()) {
    if (step.version > version) break;
    db.exec(std::string(step.sql));
  }
  db.exec(absl::StrCat("PRAGMA user_version = ", version));
}

TEST(SqliteMetadataStoreTest, EveryVersionMigratesToTheFreshSchema) {
  const std::string fresh = FreshPath("schema-fresh");
  ASSERT_NE(MustOpen(fresh), nullptr);
  const std::map<std::string, std::string> expected = SchemaOf(fresh);
  ASSERT_FALSE(expected.empty());
  for (int version = 0; version <= SqliteSchemaVersion(); ++version) {
    SCOPED_TRACE(absl::StrCat("from version ", version));
    const std::string path = FreshPath("schema-from");
    BuildAtVersion(path, version);
    ASSERT_NE(MustOpen(path), nullptr);
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    EXPECT_EQ(PragmaInt(db, "user_version"), SqliteSchemaVersion());
    EXPECT_EQ(SchemaOf(path), expected);
  }
}

TEST(SqliteMetadataStoreTest, Version1DatabaseWithRowsIsMigratedAndReadable) {
  const std::string path = FreshPath("v1");
  BuildAtVersion(path, 1);
  {
    // Rows as fwota's schema version 1 wrote them.
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("INSERT INTO tenant (id, name, created_time) VALUES ('t1', 'One', 1)");
    db.exec(
        "INSERT INTO device_profile (id, tenant_id, name, description, created_time, "
        "firmware_id, software_id) VALUES ('p1', 't1', 'thermostat', 'd', 2, NULL, NULL)");
    db.exec(
        "INSERT INTO ota_package (id, tenant_id, device_profile_id, type, title, version, "
        "tag, url, has_data, file_name, content_type, checksum_algorithm, checksum, "
        "data_size, sha256, additional_info_json, created_time) VALUES ('k1', 't1', 'p1', "
        "1, 'fw', '1.0', 'fw 1.0', '', 1, 'fw.bin', 'application/octet-stream', 2, 'ab', "
        "10, 'cafe', '{}', 3)");
    db.exec(
        "INSERT INTO device (id, tenant_id, device_profile_id, name, type, access_token, "
        "created_time, firmware_id, software_id) VALUES ('d1', 't1', 'p1', 'dev', "
        "'default', 'tok', 4, 'k1', NULL)");
  }
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  FWOTA_EXPECT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
    absl::StatusOr<Device> device = tx.FindDeviceByAccessToken("tok");
    EXPECT_TRUE(device.ok()) << device.status();
    if (device.ok()) {
      EXPECT_EQ(device->firmware_id(), "k1");
      EXPECT_EQ(device->software_id(), "");
    }
    absl::StatusOr<OtaPackage> package = tx.FindPackageByTitleVersion("t1", "fw", "1.0");
    EXPECT_TRUE(package.ok()) << package.status();
    if (package.ok()) {
      EXPECT_EQ(package->type(), FIRMWARE);
      EXPECT_EQ(package->checksum_algorithm(), ::fwota::v1::SHA256);
      EXPECT_TRUE(package->has_data());
      EXPECT_EQ(package->sha256(), "cafe");
    }
    EXPECT_THAT(Must(tx.ListBlobKeys()), ElementsAre("cafe"));
    return absl::OkStatus();
  }));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(PragmaInt(db, "user_version"), SqliteSchemaVersion());
}

TEST(SqliteMetadataStoreTest, Version1DatabaseMigratesToVersion2WithRowsIntact) {
  const std::string path = FreshPath("v1-to-v2");
  BuildAtVersion(path, 1);
  {
    // Rows of every version-1 table, as schema version 1 wrote them.
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("INSERT INTO tenant (id, name, created_time) VALUES ('t1', 'One', 1)");
    db.exec(
        "INSERT INTO device_profile (id, tenant_id, name, description, created_time, "
        "firmware_id, software_id) VALUES ('p1', 't1', 'thermostat', 'profile thermostat', 2, "
        "NULL, NULL)");
    db.exec(
        "INSERT INTO ota_package (id, tenant_id, device_profile_id, type, title, version, "
        "tag, url, has_data, file_name, content_type, checksum_algorithm, checksum, "
        "data_size, sha256, additional_info_json, created_time) VALUES ('k1', 't1', 'p1', "
        "1, 'fw', '1', 'fw 1', '', 1, 'fw.bin', 'application/octet-stream', 2, 'abcdef', "
        "100, 'blob-k1', '{\"description\":\"test\"}', 4)");
    db.exec(
        "INSERT INTO device (id, tenant_id, device_profile_id, name, type, access_token, "
        "created_time, firmware_id, software_id) VALUES ('d1', 't1', 'p1', 'dev', "
        "'default', 'tok', 3, 'k1', NULL)");
    db.exec(
        "INSERT INTO audit_event (id, tenant_id, entity_type, entity_id, entity_name, "
        "user_name, action_type, action_status, action_data_json, failure_details, "
        "created_time) VALUES ('a1', 't1', 'OTA_PACKAGE', 'entity-a1', 'fw', 'admin', 1, 1, "
        "'{}', '', 5)");
    EXPECT_FALSE(db.tableExists("update_status"));
  }
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    EXPECT_EQ(PragmaInt(db, "user_version"), SqliteSchemaVersion());
    for (const char* table : {"api_key", "update_status", "update_event"}) {
      EXPECT_TRUE(db.tableExists(table)) << table;
    }
    // The migration left no dangling reference behind.
    SQLite::Statement check(db, "PRAGMA foreign_key_check");
    EXPECT_FALSE(check.executeStep());
  }
  Device device = MakeDevice("d1", "t1", "p1", "dev", "tok");
  device.set_firmware_id("k1");
  FWOTA_EXPECT_OK(store->RunInTransaction([&](MetadataTransaction& tx) {
    // The version-1 rows, every field as before.
    EXPECT_THAT(Must(tx.GetTenant("t1")), EqualsProto(MakeTenant("t1", "One")));
    EXPECT_THAT(Must(tx.GetProfile("p1")), EqualsProto(MakeProfile("p1", "t1", "thermostat")));
    EXPECT_THAT(Must(tx.GetDevice("d1")), EqualsProto(device));
    EXPECT_THAT(Must(tx.GetPackage("k1")),
                EqualsProto(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1")));
    Page<AuditEvent> audit = Must(tx.ListAudit("t1", PageQuery{}));
    EXPECT_EQ(audit.data.size(), 1u);
    if (!audit.data.empty()) {
      EXPECT_THAT(audit.data[0], EqualsProto(MakeAudit("a1", "t1", "fw", 5)));
    }
    // The new tables work with the old rows.
    FWOTA_RETURN_IF_ERROR(tx.InsertApiKey(MakeApiKey("key-1", "t1", "admin", "hash")));
    FWOTA_RETURN_IF_ERROR(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UPDATED, 10)));
    FWOTA_RETURN_IF_ERROR(tx.AppendUpdateEvent(
        MakeUpdateEvent("e1", "t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UPDATED, 10)));
    return absl::OkStatus();
  }));
  FWOTA_EXPECT_OK(store->RunInTransaction([&](MetadataTransaction& tx) {
    EXPECT_EQ(Must(tx.FindApiKeyByHash("hash")).id(), "key-1");
    EXPECT_EQ(Must(tx.GetUpdateStatus("d1", FIRMWARE)).state(), ::fwota::v1::UPDATE_STATE_UPDATED);
    EXPECT_EQ(Must(tx.ListUpdateEvents("d1", FIRMWARE, PageQuery{})).total_elements, 1);
    // RESTRICT as before; the device's history goes with the migrated device.
    FWOTA_EXPECT_CODE(tx.DeletePackage("k1"), kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.DeleteProfile("p1"), kFailedPrecondition);
    FWOTA_RETURN_IF_ERROR(tx.DeleteDevice("d1"));
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d1", FIRMWARE), kNotFound);
    EXPECT_EQ(Must(tx.ListUpdateEvents("d1", FIRMWARE, PageQuery{})).total_elements, 0);
    return absl::OkStatus();
  }));
}

// The references of the version-2 tables: the tenant RESTRICT, the device CASCADE, and
// none to a package (statuses and events keep a deleted package's id as history).
TEST(SqliteMetadataStoreTest, Version2StatusesGetNoNoticesSentAndAnEmptyQueue) {
  const std::string path = FreshPath("v2-to-v3");
  BuildAtVersion(path, 2);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("INSERT INTO tenant (id, name, created_time) VALUES ('t1', 'One', 1)");
    db.exec(
        "INSERT INTO device_profile (id, tenant_id, name, description, created_time, "
        "firmware_id, software_id) VALUES ('p1', 't1', 'thermostat', '', 2, NULL, NULL)");
    db.exec(
        "INSERT INTO device (id, tenant_id, device_profile_id, name, type, access_token, "
        "created_time, firmware_id, software_id) VALUES ('d1', 't1', 'p1', 'dev', "
        "'default', 'tok', 4, NULL, NULL)");
    db.exec(
        "INSERT INTO update_status (tenant_id, device_id, type, state, target_package_id, "
        "target_title, target_version, target_tag, target_ts, current_title, "
        "current_version, error, state_since, last_activity) VALUES ('t1', 'd1', 1, 3, 'k1', "
        "'fw', '2.0', 'fw 2.0', 10, 'fw', '1.0', '', 11, 12)");
  }
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  FWOTA_EXPECT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
    absl::StatusOr<UpdateStatus> status = tx.GetUpdateStatus("d1", FIRMWARE);
    EXPECT_TRUE(status.ok()) << status.status();
    if (status.ok()) {
      EXPECT_EQ(status->state(), ::fwota::v1::UPDATE_STATE_DOWNLOADING);
      EXPECT_EQ(status->last_activity(), 12);
      EXPECT_EQ(status->notices_sent(), 0);
    }
    EXPECT_EQ(Must(tx.CountNotices()), 0);
    return absl::OkStatus();
  }));
}

// Version 4 adds the report log: a version-3 database keeps its statuses and queue and
// starts with an empty log, which then takes entries in order.
TEST(SqliteMetadataStoreTest, Version3DatabaseGetsAnEmptyReportLog) {
  const std::string path = FreshPath("v3-to-v4");
  BuildAtVersion(path, 3);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("INSERT INTO tenant (id, name, created_time) VALUES ('t1', 'One', 1)");
    db.exec(
        "INSERT INTO device (id, tenant_id, device_profile_id, name, type, access_token, "
        "created_time, firmware_id, software_id) VALUES ('d1', 't1', NULL, 'dev', "
        "'default', 'tok', 4, NULL, NULL)");
    db.exec(
        "INSERT INTO update_status (tenant_id, device_id, type, state, target_package_id, "
        "target_title, target_version, target_tag, target_ts, current_title, "
        "current_version, error, state_since, last_activity, notices_sent) VALUES ('t1', "
        "'d1', 1, 2, 'k1', 'fw', '2.0', 'fw 2.0', 10, 'fw', '1.0', '', 11, 12, 1)");
    db.exec(
        "INSERT INTO ota_notice (tenant_id, device_id, type, package_id, reason, "
        "created_time) VALUES ('t1', 'd1', 1, 'k1', 'assigned', 13)");
  }
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  FWOTA_EXPECT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
    absl::StatusOr<UpdateStatus> status = tx.GetUpdateStatus("d1", FIRMWARE);
    EXPECT_TRUE(status.ok()) << status.status();
    if (status.ok()) {
      EXPECT_EQ(status->state(), ::fwota::v1::UPDATE_STATE_INITIATED);
      EXPECT_EQ(status->notices_sent(), 1);
    }
    EXPECT_EQ(Must(tx.CountNotices()), 1);
    EXPECT_TRUE(Must(tx.ListReports(10)).empty());
    LoggedReport report;
    report.tenant_id = "t1";
    report.device_id = "d1";
    report.type = FIRMWARE;
    report.state = "DOWNLOADING";
    report.created_time = 14;
    FWOTA_RETURN_IF_ERROR(tx.AppendReport(report));
    FWOTA_RETURN_IF_ERROR(tx.AppendReport(report));
    std::vector<LoggedReport> log = Must(tx.ListReports(10));
    EXPECT_EQ(log.size(), 2u);
    if (log.size() == 2) {
      EXPECT_LT(log[0].seq, log[1].seq);
    }
    return absl::OkStatus();
  }));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(PragmaInt(db, "user_version"), SqliteSchemaVersion());
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM device_report WHERE device_id = 'd1' AND "
                          "state = 'DOWNLOADING' AND created_time = 14")
                .getInt(),
            2);
}

TEST(SqliteMetadataStoreTest, UpdateHistoryReferencesAreAsDesigned) {
  const std::string path = FreshPath("references");
  ASSERT_NE(MustOpen(path), nullptr);
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  const std::map<std::string, std::set<std::string>> expected = {
      {"api_key", {"tenant_id -> tenant.id ON DELETE RESTRICT"}},
      {"update_status",
       {"tenant_id -> tenant.id ON DELETE RESTRICT", "device_id -> device.id ON DELETE CASCADE"}},
      {"update_event",
       {"tenant_id -> tenant.id ON DELETE RESTRICT", "device_id -> device.id ON DELETE CASCADE"}},
      // Unchanged: everything of version 1 is RESTRICT.
      {"device",
       {"tenant_id -> tenant.id ON DELETE RESTRICT",
        "device_profile_id -> device_profile.id ON DELETE RESTRICT",
        "firmware_id -> ota_package.id ON DELETE RESTRICT",
        "software_id -> ota_package.id ON DELETE RESTRICT"}},
  };
  for (const auto& [table, references] : expected) {
    SQLite::Statement q(db,
                        "SELECT \"from\", \"table\", \"to\", on_delete FROM "
                        "pragma_foreign_key_list(?1)");
    q.bind(1, table);
    std::set<std::string> found;
    while (q.executeStep()) {
      found.insert(absl::StrCat(q.getColumn(0).getString(), " -> ", q.getColumn(1).getString(), ".",
                                q.getColumn(2).getString(), " ON DELETE ",
                                q.getColumn(3).getString()));
    }
    EXPECT_EQ(found, references) << table;
  }
}

TEST(SqliteMetadataStoreTest, UpdateHistoryRowsInTheFile) {
  const std::string path = FreshPath("history");
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  FWOTA_ASSERT_OK(Fill(*store));
  FWOTA_ASSERT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
    UpdateStatus status =
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 1);
    status.set_target_package_id("");
    FWOTA_RETURN_IF_ERROR(tx.PutUpdateStatus(status));
    UpdateEvent event =
        MakeUpdateEvent("e1", "t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 1);
    event.set_package_id("");
    return tx.AppendUpdateEvent(event);
  }));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  // An empty package id is NULL, as every optional id.
  EXPECT_TRUE(db.execAndGet("SELECT target_package_id FROM update_status").isNull());
  EXPECT_TRUE(db.execAndGet("SELECT package_id FROM update_event").isNull());
  EXPECT_EQ(
      db.execAndGet("SELECT state FROM update_status WHERE device_id = 'd1' AND type = 1").getInt(),
      ::fwota::v1::UPDATE_STATE_QUEUED);
  // A second put replaces the row in place.
  FWOTA_ASSERT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
    return tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_FAILED, 2));
  }));
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM update_status").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT error FROM update_status").getString(), "checksum mismatch");
  // The cascade is SQLite's own, seen by any connection.
  FWOTA_ASSERT_OK(
      store->RunInTransaction([](MetadataTransaction& tx) { return tx.DeleteDevice("d1"); }));
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM update_status").getInt(), 0);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM update_event").getInt(), 0);
}

// Every proto field has a real column of its own name (a schema another SQL back end
// can share), and no table has columns that the proto lacks.
TEST(SqliteMetadataStoreTest, EveryProtoFieldIsAColumn) {
  const std::string path = FreshPath("columns");
  ASSERT_NE(MustOpen(path), nullptr);
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  const std::vector<std::pair<std::string, const google::protobuf::Descriptor*>> tables = {
      {"tenant", Tenant::descriptor()},
      {"device_profile", DeviceProfile::descriptor()},
      {"device", Device::descriptor()},
      {"ota_package", OtaPackage::descriptor()},
      {"audit_event", AuditEvent::descriptor()},
      {"api_key", ApiKey::descriptor()},
      {"update_status", UpdateStatus::descriptor()},
      {"update_event", UpdateEvent::descriptor()},
      {"ota_notice", ::fwota::v1::Notice::descriptor()},
  };
  for (const auto& [table, descriptor] : tables) {
    std::set<std::string> fields, columns;
    for (int i = 0; i < descriptor->field_count(); ++i) {
      fields.insert(descriptor->field(i)->name());
    }
    SQLite::Statement q(db, "SELECT name FROM pragma_table_info(?1)");
    q.bind(1, table);
    while (q.executeStep()) columns.insert(q.getColumn(0).getString());
    EXPECT_EQ(columns, fields) << table;
  }
}

TEST(SqliteMetadataStoreTest, LockHeldByAnotherConnectionIsUnavailable) {
  const std::string path = FreshPath("locked");
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  {
    SQLite::Database other(path, SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");  // holds the write lock past the busy timeout
    absl::Status status = store->RunInTransaction(
        [](MetadataTransaction& tx) { return tx.InsertTenant(MakeTenant("t1", "One")); });
    EXPECT_THAT(status, HasCode(absl::StatusCode::kUnavailable));
    other.exec("ROLLBACK");
  }
  FWOTA_EXPECT_OK(store->RunInTransaction(
      [](MetadataTransaction& tx) { return tx.InsertTenant(MakeTenant("t1", "One")); }));
}

TEST(SqliteMetadataStoreTest, TwoStoresOnOneFileLoseNoUpdates) {
  // As two fwota processes on one file: each store has its own connection, and
  // BEGIN IMMEDIATE with the busy timeout serializes them.
  const std::string path = FreshPath("shared");
  std::unique_ptr<MetadataStore> first = MustOpen(path);
  std::unique_ptr<MetadataStore> second = MustOpen(path);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  FWOTA_ASSERT_OK(first->RunInTransaction([](MetadataTransaction& tx) {
    FWOTA_RETURN_IF_ERROR(tx.InsertTenant(MakeTenant("t1", "One", /*created_time=*/0)));
    return tx.InsertProfile(MakeProfile("p1", "t1", "counter", /*created_time=*/0));
  }));
  constexpr int kIncrements = 20;
  std::vector<std::thread> threads;
  for (MetadataStore* store : {first.get(), second.get(), first.get(), second.get()}) {
    threads.emplace_back([store] {
      for (int i = 0; i < kIncrements; ++i) {
        FWOTA_EXPECT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
          FWOTA_ASSIGN_OR_RETURN(DeviceProfile p, tx.GetProfile("p1"));
          p.set_created_time(p.created_time() + 1);
          return tx.UpdateProfile(p);
        }));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  FWOTA_EXPECT_OK(second->RunInTransaction([](MetadataTransaction& tx) {
    EXPECT_EQ(Must(tx.GetProfile("p1")).created_time(), 4 * kIncrements);
    return absl::OkStatus();
  }));
}

// Version 5 moves the report log to a file of its own and keeps the applied mark: what
// a version-4 fwota left in its log stays readable (the service applies it at start-up).
TEST(SqliteMetadataStoreTest, Version4ReportLogStaysReadableAndTheMarkStartsAtZero) {
  const std::string path = FreshPath("v4-to-v5");
  BuildAtVersion(path, 4);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec(
        "INSERT INTO device_report (tenant_id, device_id, type, state, error, current_title,"
        " current_version, created_time) VALUES ('t1', 'd1', 1, 'DOWNLOADING', '', 'fw', '1.0',"
        " 14)");
  }
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  FWOTA_EXPECT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
    std::vector<LoggedReport> log = Must(tx.ListReports(10));
    EXPECT_EQ(log.size(), 1u);
    if (log.size() == 1) {
      EXPECT_EQ(log[0].device_id, "d1");
      EXPECT_EQ(log[0].state, "DOWNLOADING");
      EXPECT_EQ(log[0].created_time, 14);
    }
    EXPECT_EQ(Must(tx.GetReportsAppliedThrough()), 0);
    return absl::OkStatus();
  }));
  EXPECT_THAT(Must(store->report_log().ReadAfter(0, 10)), ::testing::IsEmpty());
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(PragmaInt(db, "user_version"), 5);
}

LoggedReport NewReport(const std::string& device_id, int64_t created_time) {
  LoggedReport r;
  r.tenant_id = "t1";
  r.device_id = device_id;
  r.type = FIRMWARE;
  r.state = "DOWNLOADING";
  r.created_time = created_time;
  return r;
}

TEST(SqliteMetadataStoreTest, ReportLogSurvivesReopeningAndNeverGivesASeqTwice) {
  const std::string path = FreshPath("report-log");
  int64_t last = 0;
  {
    std::unique_ptr<MetadataStore> store = MustOpen(path);
    ASSERT_NE(store, nullptr);
    std::vector<LoggedReport> batch = {NewReport("d1", 1), NewReport("d2", 2), NewReport("d3", 3)};
    FWOTA_ASSERT_OK(store->report_log().Append(batch));
    FWOTA_ASSERT_OK(store->report_log().Truncate(batch[0].seq));
    last = batch[2].seq;
  }
  {
    std::unique_ptr<MetadataStore> store = MustOpen(path);
    ASSERT_NE(store, nullptr);
    std::vector<LoggedReport> left = Must(store->report_log().ReadAfter(0, 10));
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].device_id, "d2");
    EXPECT_EQ(left[1].device_id, "d3");
    EXPECT_EQ(left[1].seq, last);
    FWOTA_ASSERT_OK(store->report_log().Truncate(last));  // empty now
  }
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  std::vector<LoggedReport> next = {NewReport("d4", 4)};
  FWOTA_ASSERT_OK(store->report_log().Append(next));
  EXPECT_GT(next[0].seq, last);
  // The log is a database file of its own beside the metadata.
  SQLite::Database log(path + "-reports", SQLite::OPEN_READONLY);
  EXPECT_EQ(log.execAndGet("SELECT COUNT(*) FROM report WHERE device_id = 'd4'").getInt(), 1);
  EXPECT_EQ(log.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

// The point of the split: while a transaction holds the metadata's write lock (applying
// reports), the logger still looks up tokens and appends.
TEST(SqliteMetadataStoreTest, ReadsAndAppendsDoNotWaitForAWritingTransaction) {
  const std::string path = FreshPath("beside");
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  FWOTA_ASSERT_OK(Fill(*store));
  std::promise<void> inside;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::thread writer([&] {
    FWOTA_EXPECT_OK(store->RunInTransaction([&](MetadataTransaction& tx) {
      FWOTA_RETURN_IF_ERROR(tx.InsertTenant(MakeTenant("t2", "Two")));
      inside.set_value();
      released.wait();
      return absl::OkStatus();
    }));
  });
  inside.get_future().wait();
  std::future<void> side = std::async(std::launch::async, [&] {
    FWOTA_EXPECT_OK(store->RunInReadTransaction([](MetadataTransaction& tx) {
      EXPECT_EQ(Must(tx.FindDeviceByAccessToken("tok")).id(), "d1");
      // The writer's tenant is not committed yet: not in this snapshot.
      EXPECT_THAT(tx.GetTenant("t2"), HasCode(absl::StatusCode::kNotFound));
      return absl::OkStatus();
    }));
    std::vector<LoggedReport> batch = {NewReport("d1", 1)};
    FWOTA_EXPECT_OK(store->report_log().Append(batch));
  });
  const bool done = side.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  EXPECT_TRUE(done) << "the read transaction or the append waited for the writer";
  release.set_value();
  writer.join();
  side.wait();
}

TEST(SqliteMetadataStoreTest, WriteInAReadTransactionIsRefused) {
  const std::string path = FreshPath("read-only");
  std::unique_ptr<MetadataStore> store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  absl::Status status = store->RunInReadTransaction(
      [](MetadataTransaction& tx) { return tx.InsertTenant(MakeTenant("t1", "One")); });
  EXPECT_FALSE(status.ok());
  FWOTA_EXPECT_OK(store->RunInTransaction([](MetadataTransaction& tx) {
    EXPECT_TRUE(Must(tx.ListTenants()).empty());
    return absl::OkStatus();
  }));
}

TEST(SqliteMetadataStoreTest, ReportLogThatIsNotADatabaseIsDataLoss) {
  const std::string path = FreshPath("bad-log");
  {
    std::ofstream garbage(path + "-reports", std::ios::binary);
    garbage << std::string(8192, 'x');
  }
  EXPECT_THAT(OpenSqliteMetadataStore(path), HasCode(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace metadata_test
}  // namespace fwota
