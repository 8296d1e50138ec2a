// The ReportLog implementations behind the shipped stores. Not API: the stores hand
// theirs out through MetadataStore::report_log().
#ifndef FWOTA_STORE_METADATA_REPORT_LOGS_H_
#define FWOTA_STORE_METADATA_REPORT_LOGS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fwota/metadata_store.h"

namespace fwota {
namespace metadata_internal {

// Opens (creating if needed) the report log database at `path`: one table whose rowid
// is the seq (AUTOINCREMENT: a seq is never given twice, even after every entry was
// dropped), WAL journal, synchronous=FULL (an append is durable once it returns). Appends
// and truncations run on one connection, reads on another, so reading never waits for
// an append's fsync. A file that is not a database answers kDataLoss, a log written by a
// newer fwota kFailedPrecondition.
absl::StatusOr<std::unique_ptr<ReportLog>> OpenSqliteReportLog(const std::string& path);

// A report log in memory (lost when destroyed).
std::unique_ptr<ReportLog> NewMemoryReportLog();

}  // namespace metadata_internal
}  // namespace fwota

#endif  // FWOTA_STORE_METADATA_REPORT_LOGS_H_
