// The one SQLite connection behind the SQLite MetadataStore: opening with the pragmas
// the store relies on, migrating the schema, a prepared-statement cache, transaction
// control, and the mapping of SQLite errors to absl::Status. Not API: SQLite types stay
// inside lib/store/metadata.
#ifndef FWOTA_STORE_METADATA_SQLITE_CONNECTION_H_
#define FWOTA_STORE_METADATA_SQLITE_CONNECTION_H_

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <exception>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fwota {
namespace metadata_internal {

// How every connection of the stores is opened: read-write, and without SQLite's own
// per-connection mutex (SQLITE_OPEN_NOMUTEX), which would be taken and released on every
// bind, step and column read: each connection and its statements are used under a mutex
// of the store that owns it, one thread at a time.
inline const int kSqliteOpenFlags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

// Turns off SQLite's memory statistics (a process-wide mutex on every allocation) if
// SQLite is not initialized yet. Called before the stores open a connection.
void ConfigureSqliteOnce();

// How long a statement waits for another process's lock before answering kUnavailable.
inline constexpr int kSqliteBusyTimeoutMs = 5000;

// Maps a SQLite result code (primary or extended) to the store's status codes: busy,
// locked and I/O trouble -> kUnavailable, corruption or not a database -> kDataLoss,
// anything else -> kInternal. Constraint violations are the caller's to map first.
absl::Status StatusFromSqliteCode(int code, absl::string_view what);

// The status for any exception caught at the store's boundary.
absl::Status StatusFromException(const std::exception& e);

// Runs `f` (returning absl::Status or absl::StatusOr<T>) and turns whatever it throws
// into a status, so that no exception leaves the store.
template <typename F>
auto CatchAll(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return StatusFromException(e);
  } catch (...) {
    return absl::InternalError("sqlite metadata store: unknown exception");
  }
}

// Not thread-safe: the store guards it with its mutex.
class SqliteConnection {
 public:
  // Opens or creates the database at `path` in WAL mode with foreign keys on and
  // synchronous=FULL, and migrates it to SqliteSchemaVersion(). A newer schema answers
  // kFailedPrecondition (before anything is changed), a file that is not a database
  // kDataLoss.
  static absl::StatusOr<std::unique_ptr<SqliteConnection>> Open(const std::string& path);
  // A second connection to a database that Open already migrated, for read transactions
  // only (PRAGMA query_only: a write fails).
  static absl::StatusOr<std::unique_ptr<SqliteConnection>> OpenReader(const std::string& path);

  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  SQLite::Database& db() { return *db_; }

  // The prepared statement for `sql`, reset and cached for the connection's life; the
  // caller binds every parameter. Throws SQLite::Exception.
  SQLite::Statement& Prepare(const std::string& sql);

  // True while a transaction is open (SQLite may end one by itself after some errors).
  bool InTransaction() const;
  // BEGIN IMMEDIATE / BEGIN (a read transaction: its snapshot starts at its first read)
  // / COMMIT; throw SQLite::Exception.
  void Begin();
  void BeginRead();
  void Commit();
  // Rolls back the open transaction, if any; never throws.
  void RollbackQuietly() noexcept;

 private:
  explicit SqliteConnection(std::unique_ptr<SQLite::Database> db);

  // Applies every migration step above the database's user_version, each in its own
  // transaction.
  absl::Status Migrate();
  int UserVersion();

  std::unique_ptr<SQLite::Database> db_;
  // Declared after db_: statements must be finalized before the database closes.
  absl::flat_hash_map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
};

}  // namespace metadata_internal
}  // namespace fwota

#endif  // FWOTA_STORE_METADATA_SQLITE_CONNECTION_H_
