// The SQLite schema of the metadata store, as an ordered list of migration steps. Not
// API; tests include it to check the list and to rebuild old versions.
//
// Rules for adding a step: append, never edit a released step (databases in the field
// were built by it); step N takes a database from user_version N-1 to N; each step runs
// in its own transaction (BEGIN IMMEDIATE ... COMMIT) together with the user_version bump.
// A step that has to rebuild a table (SQLite's 12-step ALTER) must also turn
// foreign_keys off around it, which cannot happen inside a transaction: add a flag here
// for that when the first such step comes.
#ifndef FWOTA_STORE_METADATA_SQLITE_SCHEMA_H_
#define FWOTA_STORE_METADATA_SQLITE_SCHEMA_H_

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fwota {
namespace metadata_internal {

struct SqliteMigration {
  int version;  // user_version after this step
  absl::string_view description;
  absl::string_view sql;  // one or more statements
};

// Every step, ordered by version, starting at 1 (the initial schema). The last step's
// version is SqliteSchemaVersion().
absl::Span<const SqliteMigration> SqliteMigrations();

}  // namespace metadata_internal
}  // namespace fwota

#endif  // FWOTA_STORE_METADATA_SQLITE_SCHEMA_H_
