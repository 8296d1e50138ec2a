#include "lib/store/metadata/sqlite_connection.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "fwota/metadata_stores.h"
#include "fwota/status_macros.h"
#include "lib/store/metadata/sqlite_schema.h"

namespace fwota {
namespace metadata_internal {
namespace {

absl::Status NewerSchemaError(int found) {
  return absl::FailedPreconditionError(
      absl::StrCat("metadata database written by a newer fwota: schema version ", found,
                   ", this build knows ", SqliteSchemaVersion()));
}

}  // namespace

void ConfigureSqliteOnce() {
  static const bool configured = [] {
    // Before SQLite initializes (else SQLITE_MISUSE, harmless: an embedder that already
    // uses SQLite keeps its settings). Without it, every allocation of SQLite takes a
    // process-wide mutex to keep statistics that fwota never reads.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
}

absl::Status StatusFromSqliteCode(int code, absl::string_view what) {
  const std::string message = absl::StrCat("sqlite metadata store: ", what);
  switch (code & 0xff) {  // the primary code of an extended one
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return absl::UnavailableError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status StatusFromException(const std::exception& e) {
  if (const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&e)) {
    // -1: SQLiteCpp's own complaint (API misuse), not an SQLite result.
    if (sqlite->getErrorCode() == -1) {
      return absl::InternalError(absl::StrCat("sqlite metadata store: ", e.what()));
    }
    const int code = sqlite->getExtendedErrorCode() > 0 ? sqlite->getExtendedErrorCode()
                                                        : sqlite->getErrorCode();
    return StatusFromSqliteCode(code, e.what());
  }
  return absl::InternalError(absl::StrCat("sqlite metadata store: ", e.what()));
}

absl::StatusOr<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& path) {
  ConfigureSqliteOnce();
  return CatchAll([&]() -> absl::StatusOr<std::unique_ptr<SqliteConnection>> {
    auto db = std::make_unique<SQLite::Database>(path, kSqliteOpenFlags | SQLite::OPEN_CREATE,
                                                 kSqliteBusyTimeoutMs);
    std::unique_ptr<SqliteConnection> connection(new SqliteConnection(std::move(db)));
    // Reading the header first: a file that is not a database fails here, and a newer
    // schema is refused before this build changes anything (even the journal mode).
    const int version = connection->UserVersion();
    if (version > SqliteSchemaVersion()) return NewerSchemaError(version);

    SQLite::Database& database = connection->db();
    const std::string journal = database.execAndGet("PRAGMA journal_mode=WAL").getString();
    if (journal != "wal" && !(path == ":memory:" && journal == "memory")) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite metadata store: cannot use WAL journal mode for '", path,
                       "' (it stays '", journal, "')"));
    }
    database.exec("PRAGMA foreign_keys=ON");
    if (database.execAndGet("PRAGMA foreign_keys").getInt() != 1) {
      return absl::FailedPreconditionError(
          "sqlite metadata store: this SQLite cannot enforce foreign keys");
    }
    // FULL: a commit is durable once it returns, even across a power loss (WAL's
    // default, NORMAL, may lose the last transactions).
    database.exec("PRAGMA synchronous=FULL");
    // Up to 64 MiB of page cache (SQLite's default is 2 MiB): a fleet of 100,000 devices
    // makes a database of some 100-200 MiB whose status and history indexes are keyed by
    // random ids; with the default cache, bulk updates re-read most pages from the OS.
    // The cache grows only as pages are used.
    database.exec("PRAGMA cache_size=-65536");
    FWOTA_RETURN_IF_ERROR(connection->Migrate());
    return connection;
  });
}

absl::StatusOr<std::unique_ptr<SqliteConnection>> SqliteConnection::OpenReader(
    const std::string& path) {
  return CatchAll([&]() -> absl::StatusOr<std::unique_ptr<SqliteConnection>> {
    auto db = std::make_unique<SQLite::Database>(path, kSqliteOpenFlags, kSqliteBusyTimeoutMs);
    std::unique_ptr<SqliteConnection> connection(new SqliteConnection(std::move(db)));
    const int version = connection->UserVersion();
    if (version != SqliteSchemaVersion()) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite metadata store: '", path, "' is at schema version ", version,
                       " for its reader, expected ", SqliteSchemaVersion()));
    }
    SQLite::Database& database = connection->db();
    database.exec("PRAGMA query_only=ON");
    // The same cache as the writer's: the report logger looks up every report's access
    // token here, spread over the whole device table and its token index (with 16 MiB,
    // 100,000 devices made a lookup 14.6 us instead of 7.9). It grows only as used.
    database.exec("PRAGMA cache_size=-65536");
    return connection;
  });
}

SqliteConnection::SqliteConnection(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}

int SqliteConnection::UserVersion() { return db_->execAndGet("PRAGMA user_version").getInt(); }

absl::Status SqliteConnection::Migrate() {
  if (UserVersion() == SqliteSchemaVersion()) return absl::OkStatus();
  for (const SqliteMigration& step : SqliteMigrations()) {
    absl::Status status = CatchAll([&]() -> absl::Status {
      Begin();
      // Read again under the write lock: another process may have migrated meanwhile.
      const int version = UserVersion();
      if (version > SqliteSchemaVersion()) return NewerSchemaError(version);
      if (version >= step.version) return absl::OkStatus();
      if (version != step.version - 1) {
        return absl::InternalError(absl::StrCat("sqlite metadata store: at schema version ",
                                                version, ", cannot apply step ", step.version, " (",
                                                step.description, ")"));
      }
      db_->exec(std::string(step.sql));
      db_->exec(absl::StrCat("PRAGMA user_version = ", step.version));
      Commit();
      return absl::OkStatus();
    });
    // Commits nothing unless the step committed; ends the read-only transaction too.
    RollbackQuietly();
    if (!status.ok()) {
      return absl::Status(
          status.code(),
          absl::StrCat(status.message(), " [migrating to schema version ", step.version, "]"));
    }
  }
  return absl::OkStatus();
}

SQLite::Statement& SqliteConnection::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    it = statements_.emplace(sql, std::make_unique<SQLite::Statement>(*db_, sql)).first;
  }
  it->second->tryReset();
  return *it->second;
}

bool SqliteConnection::InTransaction() const {
  return sqlite3_get_autocommit(db_->getHandle()) == 0;
}

void SqliteConnection::Begin() { db_->exec("BEGIN IMMEDIATE"); }

void SqliteConnection::BeginRead() { db_->exec("BEGIN"); }

void SqliteConnection::Commit() { db_->exec("COMMIT"); }

void SqliteConnection::RollbackQuietly() noexcept {
  if (InTransaction()) db_->tryExec("ROLLBACK");
}

}  // namespace metadata_internal
}  // namespace fwota
