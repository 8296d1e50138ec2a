// The MetadataStore implementations that ship with libfwota.
#ifndef FWOTA_METADATA_STORES_H_
#define FWOTA_METADATA_STORES_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fwota/metadata_store.h"

namespace fwota {

// The schema version this build of libfwota writes. Opening a database migrates it from
// any older version (starting at 1) up to this one.
int SqliteSchemaVersion();

// Opens (creating if needed) the SQLite database at `path`: WAL journal, foreign keys on,
// schema migrated to SqliteSchemaVersion() in one transaction per step. A database
// written by a newer libfwota answers kFailedPrecondition; a file that is not a SQLite
// database answers kDataLoss. The returned store is thread-safe.
//
// Its report log is a second SQLite database beside it, at `path` + "-reports" (WAL,
// synchronous=FULL), so that appending reports and applying them never wait for each
// other's write lock. Keep (back up, move) the two files together. Read transactions
// run on a connection of their own, alongside the writing one.
absl::StatusOr<std::unique_ptr<MetadataStore>> OpenSqliteMetadataStore(
    const std::string& path);

// A store that keeps everything in memory, its report log too (lost when destroyed).
// Thread-safe. Same semantics as the SQLite store; for tests and for embedders with their own persistence.
std::unique_ptr<MetadataStore> NewMemoryMetadataStore();

}  // namespace fwota

#endif  // FWOTA_METADATA_STORES_H_
