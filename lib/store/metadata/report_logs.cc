#include "lib/store/metadata/report_logs.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fwota/status_macros.h"
#include "lib/store/metadata/metadata_errors.h"
#include "lib/store/metadata/sqlite_connection.h"
#include "lib/store/metadata/sqlite_rows.h"

namespace fwota {
namespace metadata_internal {
namespace {

absl::Status CheckAll(const std::vector<LoggedReport>& reports) {
  for (const LoggedReport& report : reports) FWOTA_RETURN_IF_ERROR(CheckLoggedReport(report));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// SQLite.

// The log's own schema version (PRAGMA user_version), apart from the metadata's.
constexpr int kReportLogVersion = 1;

constexpr char kReportLogSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS report (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id TEXT,
  device_id TEXT NOT NULL,
  type INTEGER NOT NULL,
  state TEXT NOT NULL,
  error TEXT NOT NULL,
  current_title TEXT NOT NULL,
  current_version TEXT NOT NULL,
  created_time INTEGER NOT NULL
);
)sql";

absl::StatusOr<std::unique_ptr<SQLite::Database>> OpenLogConnection(const std::string& path) {
  ConfigureSqliteOnce();
  auto db = std::make_unique<SQLite::Database>(path, kSqliteOpenFlags | SQLite::OPEN_CREATE,
                                               kSqliteBusyTimeoutMs);
  // The header first: a file that is not a database fails here, before anything changes.
  const int version = db->execAndGet("PRAGMA user_version").getInt();
  if (version > kReportLogVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("report log '", path, "' was written by a newer fwota (version ", version,
                     ", this build knows ", kReportLogVersion, ")"));
  }
  const std::string journal = db->execAndGet("PRAGMA journal_mode=WAL").getString();
  if (journal != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        "report log: cannot use WAL journal mode for '", path, "' (it stays '", journal, "')"));
  }
  // FULL: an acknowledged report survives a power loss, not only a crash.
  db->exec("PRAGMA synchronous=FULL");
  return db;
}

class SqliteReportLog final : public ReportLog {
 public:
  SqliteReportLog(std::unique_ptr<SQLite::Database> writer, std::unique_ptr<SQLite::Database> reader)
      : writer_(std::move(writer)), reader_(std::move(reader)) {
    insert_ = std::make_unique<SQLite::Statement>(
        *writer_,
        "INSERT INTO report (tenant_id, device_id, type, state, error, current_title,"
        " current_version, created_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    read_ = std::make_unique<SQLite::Statement>(
        *reader_,
        "SELECT seq, tenant_id, device_id, type, state, error, current_title, current_version,"
        " created_time FROM report WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  }

  ~SqliteReportLog() override {
    // Statements go before their connections.
    insert_.reset();
    read_.reset();
  }

  absl::Status Append(std::vector<LoggedReport>& reports) override {
    FWOTA_RETURN_IF_ERROR(CheckAll(reports));
    if (reports.empty()) return absl::OkStatus();
    absl::MutexLock lock(&write_mu_);
    return Write([&] {
      std::vector<int64_t> seqs;
      seqs.reserve(reports.size());
      for (const LoggedReport& report : reports) {
        SQLite::Statement& q = *insert_;
        q.tryReset();
        BindOptional(q, 1, report.tenant_id);
        BindText(q, 2, report.device_id);
        q.bind(3, static_cast<int32_t>(report.type));
        BindText(q, 4, report.state);
        BindText(q, 5, report.error);
        BindText(q, 6, report.current_title);
        BindText(q, 7, report.current_version);
        q.bind(8, static_cast<int64_t>(report.created_time));
        q.exec();
        seqs.push_back(writer_->getLastInsertRowid());
      }
      return [&, seqs = std::move(seqs)] {
        for (size_t i = 0; i < reports.size(); ++i) reports[i].seq = seqs[i];
        last_appended_.store(seqs.back(), std::memory_order_relaxed);
      };
    });
  }

  absl::StatusOr<std::vector<LoggedReport>> ReadAfter(int64_t after, int limit) override {
    absl::MutexLock lock(&read_mu_);
    return CatchAll([&]() -> absl::StatusOr<std::vector<LoggedReport>> {
      SQLite::Statement& q = *read_;
      q.tryReset();
      q.bind(1, static_cast<int64_t>(after));
      q.bind(2, static_cast<int64_t>(std::max(limit, 0)));
      std::vector<LoggedReport> out;
      // Room for what this process appended after `after` (a hint: the log may hold
      // more, from before a restart, and then the vector grows).
      const int64_t appended = last_appended_.load(std::memory_order_relaxed) - after;
      if (appended > 0) {
        out.reserve(static_cast<size_t>(std::min<int64_t>(appended, std::max(limit, 0))));
      }
      while (q.executeStep()) {
        LoggedReport r;
        r.seq = ReadInt64(q, 0);
        r.tenant_id = ReadText(q, 1);
        r.device_id = ReadText(q, 2);
        r.type = static_cast<OtaPackageType>(q.getColumn(3).getInt());
        r.state = ReadText(q, 4);
        r.error = ReadText(q, 5);
        r.current_title = ReadText(q, 6);
        r.current_version = ReadText(q, 7);
        r.created_time = ReadInt64(q, 8);
        out.push_back(std::move(r));
      }
      q.tryReset();  // ends the statement's read transaction: the WAL can be reused
      return out;
    });
  }

  absl::Status Truncate(int64_t seq) override {
    absl::MutexLock lock(&write_mu_);
    return Write([&] {
      SQLite::Statement q(*writer_, "DELETE FROM report WHERE seq <= ?1");
      q.bind(1, static_cast<int64_t>(seq));
      q.exec();
      return [] {};
    });
  }

  absl::Status SkipThrough(int64_t seq) override {
    absl::MutexLock lock(&write_mu_);
    return Write([&] {
      // sqlite_sequence keeps the largest seq given; the next one is above it and above
      // every seq in the table.
      SQLite::Statement update(*writer_,
                               "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'report' AND seq < ?1");
      update.bind(1, static_cast<int64_t>(seq));
      update.exec();
      SQLite::Statement insert(*writer_,
                               "INSERT INTO sqlite_sequence (name, seq) SELECT 'report', ?1"
                               " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'report')");
      insert.bind(1, static_cast<int64_t>(seq));
      insert.exec();
      return [] {};
    });
  }

 private:
  // Runs `body` in one write transaction of the writer; `body` returns what to do once
  // the transaction committed.
  template <typename Body>
  absl::Status Write(Body body) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    absl::Status status = CatchAll([&]() -> absl::Status {
      writer_->exec("BEGIN IMMEDIATE");
      auto then = body();
      writer_->exec("COMMIT");
      then();
      return absl::OkStatus();
    });
    if (!status.ok() && sqlite3_get_autocommit(writer_->getHandle()) == 0) {
      writer_->tryExec("ROLLBACK");
    }
    return status;
  }

  absl::Mutex write_mu_;
  std::atomic<int64_t> last_appended_{0};  // the last seq this process appended
  std::unique_ptr<SQLite::Database> writer_ ABSL_GUARDED_BY(write_mu_);
  std::unique_ptr<SQLite::Statement> insert_ ABSL_GUARDED_BY(write_mu_);
  absl::Mutex read_mu_;
  std::unique_ptr<SQLite::Database> reader_ ABSL_GUARDED_BY(read_mu_);
  std::unique_ptr<SQLite::Statement> read_ ABSL_GUARDED_BY(read_mu_);
};

// ---------------------------------------------------------------------------------------
// Memory.

class MemoryReportLog final : public ReportLog {
 public:
  absl::Status Append(std::vector<LoggedReport>& reports) override {
    FWOTA_RETURN_IF_ERROR(CheckAll(reports));
    absl::MutexLock lock(&mu_);
    for (LoggedReport& report : reports) {
      report.seq = ++last_seq_;
      entries_[report.seq] = report;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<LoggedReport>> ReadAfter(int64_t after, int limit) override {
    absl::MutexLock lock(&mu_);
    std::vector<LoggedReport> out;
    for (auto it = entries_.upper_bound(after);
         it != entries_.end() && static_cast<int>(out.size()) < limit; ++it) {
      out.push_back(it->second);
    }
    return out;
  }

  absl::Status Truncate(int64_t seq) override {
    absl::MutexLock lock(&mu_);
    entries_.erase(entries_.begin(), entries_.upper_bound(seq));
    return absl::OkStatus();
  }

  absl::Status SkipThrough(int64_t seq) override {
    absl::MutexLock lock(&mu_);
    last_seq_ = std::max(last_seq_, seq);
    return absl::OkStatus();
  }

 private:
  absl::Mutex mu_;
  int64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, LoggedReport> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<ReportLog>> OpenSqliteReportLog(const std::string& path) {
  return CatchAll([&]() -> absl::StatusOr<std::unique_ptr<ReportLog>> {
    FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> writer, OpenLogConnection(path));
    if (writer->execAndGet("PRAGMA user_version").getInt() < kReportLogVersion) {
      writer->exec("BEGIN IMMEDIATE");
      writer->exec(kReportLogSchema);
      writer->exec(absl::StrCat("PRAGMA user_version = ", kReportLogVersion));
      writer->exec("COMMIT");
    }
    FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> reader, OpenLogConnection(path));
    reader->exec("PRAGMA query_only=ON");
    return std::unique_ptr<ReportLog>(new SqliteReportLog(std::move(writer), std::move(reader)));
  });
}

std::unique_ptr<ReportLog> NewMemoryReportLog() { return std::make_unique<MemoryReportLog>(); }

}  // namespace metadata_internal
}  // namespace fwota
