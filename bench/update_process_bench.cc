// The update process at scale, on the SQLite metadata store on disk: queueing a package
// for every device of a profile (AssignProfilePackage), sending the notices
// (DrainNotices without a rate limit), and ingesting device state reports
// (RecordDeviceReport from 1, 8, 32, 64 concurrent reporters, group-committed).
//
//   bazel build -c opt //bench:update_process_bench
//   bazel-bin/bench/update_process_bench [--devices=100000] [--dir=/path/on/disk]
//
// A plain main rather than Google Benchmark's loop: every phase changes the state the
// next one starts from (and setting up 100,000 devices takes longer than any phase), so
// each phase runs once per process, timed with a steady clock, and is then verified
// (all devices queued, every notice sent, the expected history). Run the binary several
// times to see the spread.
//
// Setup is not timed as part of the phases: one tenant, one profile, two firmware
// packages of 64 KiB, and N devices. --service_devices of them (default 1000) are created
// with OtaService::CreateDevice, one transaction each, and that rate is printed; the rest
// are inserted through the MetadataStore in one transaction (CreateDevice for 100,000
// devices takes minutes: one fsync each). --service_devices=-1 creates all of them
// through the service.
//
// --profile wraps the metadata store in a counting layer: per phase, every
// MetadataTransaction call with its count and time, and the time in the transactions'
// bodies against BEGIN/COMMIT. It adds two clock reads per call; take the headline
// figures from runs without it.
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "fwota/blob_store.h"
#include "fwota/byte_source.h"
#include "fwota/metadata_store.h"
#include "fwota/metadata_stores.h"
#include "fwota/notifier.h"
#include "fwota/ota_service.h"

ABSL_FLAG(int, devices, 100000, "devices in the profile");
ABSL_FLAG(std::string, dir, "",
          "parent directory for the data (a fresh subdirectory is created and removed); "
          "default $FWOTA_BENCH_DIR, else /tmp. Must be on a real disk, not tmpfs");
ABSL_FLAG(bool, allow_tmpfs, false, "run even if --dir is on tmpfs");
ABSL_FLAG(int, service_devices, 1000,
          "devices created with OtaService::CreateDevice (timed); the rest are inserted "
          "through the MetadataStore in one transaction. -1: all of them");
ABSL_FLAG(std::vector<std::string>, reporters, std::vector<std::string>({"1", "8", "32", "64"}),
          "concurrent reporters, one report phase each");
ABSL_FLAG(double, phase_seconds, 3.0,
          "length of each report phase (reporters start no new device after it)");
ABSL_FLAG(int, history_sample, 1000, "devices whose history and status are checked");
ABSL_FLAG(bool, profile, false,
          "count and time every MetadataTransaction call per phase (adds overhead)");
ABSL_FLAG(bool, sqlite_trace, false,
          "per phase, every SQL statement SQLite ran with its count and time (adds overhead)");
ABSL_FLAG(std::vector<std::string>, sqlite_pragmas, {},
          "experiments only: PRAGMAs run on every new SQLite connection before the store's "
          "own (e.g. cache_size=-262144); the store's PRAGMAs still win where they overlap");
ABSL_FLAG(bool, keep, false, "keep the data directory");

namespace fwota {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int64_t PeakRssKib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

[[noreturn]] void Die(absl::string_view what, const absl::Status& status) {
  std::fprintf(stderr, "FAILED: %s: %s\n", std::string(what).c_str(), status.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, absl::string_view what) {
  if (!v.ok()) Die(what, v.status());
  return *std::move(v);
}

void Must(const absl::Status& s, absl::string_view what) {
  if (!s.ok()) Die(what, s);
}

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "CHECK FAILED: %s\n", what.c_str());
    std::exit(1);
  }
}

// ---------------------------------------------------------------------------------------
// --profile: a MetadataStore that counts and times every call of its transactions.

#define FWOTA_BENCH_TX_METHODS(X)                                                              \
  X(absl::Status, InsertTenant, (const Tenant& a), (a))                                        \
  X(absl::StatusOr<Tenant>, GetTenant, (absl::string_view a), (a))                             \
  X(absl::StatusOr<Tenant>, FindTenantByName, (absl::string_view a), (a))                      \
  X(absl::StatusOr<std::vector<Tenant>>, ListTenants, (), ())                                  \
  X(absl::Status, InsertProfile, (const DeviceProfile& a), (a))                                \
  X(absl::Status, UpdateProfile, (const DeviceProfile& a), (a))                                \
  X(absl::StatusOr<DeviceProfile>, GetProfile, (absl::string_view a), (a))                     \
  X(absl::StatusOr<DeviceProfile>, FindProfileByName, (absl::string_view a, absl::string_view b), \
    (a, b))                                                                                    \
  X(absl::StatusOr<std::vector<DeviceProfile>>, ListProfiles, (absl::string_view a), (a))      \
  X(absl::Status, DeleteProfile, (absl::string_view a), (a))                                   \
  X(absl::Status, InsertDevice, (const Device& a), (a))                                        \
  X(absl::Status, UpdateDevice, (const Device& a), (a))                                        \
  X(absl::StatusOr<Device>, GetDevice, (absl::string_view a), (a))                             \
  X(absl::StatusOr<Device>, FindDeviceByName, (absl::string_view a, absl::string_view b), (a, b)) \
  X(absl::StatusOr<Device>, FindDeviceByAccessToken, (absl::string_view a), (a))               \
  X(absl::StatusOr<std::vector<Device>>, ListDevices, (absl::string_view a, absl::string_view b), \
    (a, b))                                                                                    \
  X(absl::StatusOr<int64_t>, CountDevicesInProfile, (absl::string_view a), (a))                \
  X(absl::Status, DeleteDevice, (absl::string_view a), (a))                                    \
  X(absl::Status, InsertPackage, (const OtaPackage& a), (a))                                   \
  X(absl::Status, UpdatePackage, (const OtaPackage& a), (a))                                   \
  X(absl::StatusOr<OtaPackage>, GetPackage, (absl::string_view a), (a))                        \
  X(absl::StatusOr<OtaPackage>, FindPackageByTitleVersion,                                     \
    (absl::string_view a, absl::string_view b, absl::string_view c), (a, b, c))                \
  X(absl::StatusOr<Page<OtaPackage>>, ListPackages, (absl::string_view a, const PageQuery& b), \
    (a, b))                                                                                    \
  X(absl::StatusOr<std::vector<OtaPackage>>, ListProfilePackages,                              \
    (absl::string_view a, absl::string_view b, OtaPackageType c), (a, b, c))                   \
  X(absl::StatusOr<int64_t>, CountPackagesInProfile, (absl::string_view a), (a))               \
  X(absl::StatusOr<PackageReferences>, CountPackageReferences, (absl::string_view a), (a))     \
  X(absl::StatusOr<int64_t>, CountPackagesWithBlob, (absl::string_view a), (a))                \
  X(absl::StatusOr<std::vector<std::string>>, ListBlobKeys, (), ())                            \
  X(absl::Status, DeletePackage, (absl::string_view a), (a))                                   \
  X(absl::Status, InsertApiKey, (const ApiKey& a), (a))                                        \
  X(absl::StatusOr<ApiKey>, FindApiKeyByHash, (absl::string_view a), (a))                      \
  X(absl::StatusOr<std::vector<ApiKey>>, ListApiKeys, (absl::string_view a), (a))              \
  X(absl::Status, DeleteApiKey, (absl::string_view a), (a))                                    \
  X(absl::Status, PutUpdateStatus, (const UpdateStatus& a), (a))                               \
  X(absl::StatusOr<UpdateStatus>, GetUpdateStatus, (absl::string_view a, OtaPackageType b),    \
    (a, b))                                                                                    \
  X(absl::StatusOr<Page<UpdateStatus>>, ListUpdateStatuses,                                    \
    (absl::string_view a, OtaPackageType b, UpdateState c, const PageQuery& d), (a, b, c, d))  \
  X(absl::StatusOr<std::vector<int64_t>>, CountUpdateStates,                                   \
    (absl::string_view a, OtaPackageType b), (a, b))                                           \
  X(absl::StatusOr<std::vector<UpdateStatus>>, ListSilentStatuses,                             \
    (UpdateState a, int64_t b, int c), (a, b, c))                                              \
  X(absl::Status, TouchUpdateStatus, (absl::string_view a, OtaPackageType b, int64_t c),       \
    (a, b, c))                                                                                 \
  X(absl::StatusOr<int64_t>, RetargetProfileMembers,                                           \
    (absl::string_view a, OtaPackageType b, const UpdateStatus& c, const UpdateEvent& d,       \
     const Notice& e),                                                                         \
    (a, b, c, d, e))                                                                           \
  X(absl::Status, AppendUpdateEvent, (const UpdateEvent& a), (a))                              \
  X(absl::StatusOr<Page<UpdateEvent>>, ListUpdateEvents,                                       \
    (absl::string_view a, OtaPackageType b, const PageQuery& c), (a, b, c))                    \
  X(absl::Status, PutNotice, (const Notice& a), (a))                                           \
  X(absl::StatusOr<std::vector<Notice>>, ListNotices, (int a, bool b), (a, b))                 \
  X(absl::Status, DeleteNotice, (int64_t a), (a))                                              \
  X(absl::StatusOr<int64_t>, CountNotices, (), ())                                             \
  X(absl::Status, AppendReport, (const LoggedReport& a), (a))                                  \
  X(absl::StatusOr<std::vector<LoggedReport>>, ListReports, (int a), (a))                      \
  X(absl::Status, DeleteReportsThrough, (int64_t a), (a))                                      \
  X(absl::StatusOr<int64_t>, GetReportsAppliedThrough, (), ())                                  \
  X(absl::Status, SetReportsAppliedThrough, (int64_t a), (a))                                   \
  X(absl::Status, AppendAudit, (const AuditEvent& a), (a))                                     \
  X(absl::StatusOr<Page<AuditEvent>>, ListAudit, (absl::string_view a, const PageQuery& b),    \
    (a, b))

enum Method {
#define FWOTA_BENCH_ENUM(ret, name, params, args) k##name,
  FWOTA_BENCH_TX_METHODS(FWOTA_BENCH_ENUM)
#undef FWOTA_BENCH_ENUM
      kMethodCount
};

constexpr const char* kMethodNames[] = {
#define FWOTA_BENCH_NAME(ret, name, params, args) #name,
    FWOTA_BENCH_TX_METHODS(FWOTA_BENCH_NAME)
#undef FWOTA_BENCH_NAME
};

// Updated only inside transactions, which the store runs one at a time (one set for the
// writing transactions, one for the read transactions).
struct CallStats {
  std::array<int64_t, kMethodCount> calls{};
  std::array<int64_t, kMethodCount> nanos{};
  int64_t body_nanos = 0;
};

class ProfiledTransaction final : public MetadataTransaction {
 public:
  ProfiledTransaction(MetadataTransaction& inner, CallStats& stats)
      : inner_(inner), stats_(stats) {}

#define FWOTA_BENCH_FORWARD(ret, name, params, args)                                   \
  ret name params override {                                                           \
    const auto start = Clock::now();                                                   \
    ret out = inner_.name args;                                                        \
    stats_.nanos[k##name] +=                                                           \
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count(); \
    ++stats_.calls[k##name];                                                           \
    return out;                                                                        \
  }
  FWOTA_BENCH_TX_METHODS(FWOTA_BENCH_FORWARD)
#undef FWOTA_BENCH_FORWARD

 private:
  MetadataTransaction& inner_;
  CallStats& stats_;
};

// Times the calls of the store's report log (from several threads).
class ProfiledReportLog final : public ReportLog {
 public:
  explicit ProfiledReportLog(ReportLog& inner) : inner_(inner) {}

  absl::Status Append(std::vector<LoggedReport>& reports) override {
    return Timed(kAppend, [&] { return inner_.Append(reports); });
  }
  absl::StatusOr<std::vector<LoggedReport>> ReadAfter(int64_t after, int limit) override {
    return Timed(kReadAfter, [&] { return inner_.ReadAfter(after, limit); });
  }
  absl::Status Truncate(int64_t seq) override {
    return Timed(kTruncate, [&] { return inner_.Truncate(seq); });
  }
  absl::Status SkipThrough(int64_t seq) override {
    return Timed(kSkipThrough, [&] { return inner_.SkipThrough(seq); });
  }

  void PrintAndReset(double items) {
    static constexpr const char* kNames[] = {"Append", "ReadAfter", "Truncate", "SkipThrough"};
    std::printf("    %-26s %10s %10s %10s %12s\n", "ReportLog call", "calls", "total s",
                "us/call", "us per item");
    for (int m = 0; m < kCount; ++m) {
      const int64_t calls = calls_[m].exchange(0);
      const int64_t nanos = nanos_[m].exchange(0);
      if (calls == 0) continue;
      std::printf("    %-26s %10" PRId64 " %10.3f %10.2f %12.2f\n", kNames[m], calls, nanos / 1e9,
                  nanos / 1e3 / static_cast<double>(calls), nanos / 1e3 / items);
    }
  }

 private:
  enum { kAppend, kReadAfter, kTruncate, kSkipThrough, kCount };
  template <typename F>
  std::invoke_result_t<F> Timed(int m, F f) {
    const auto start = Clock::now();
    auto out = f();
    nanos_[m].fetch_add(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    calls_[m].fetch_add(1);
    return out;
  }

  ReportLog& inner_;
  std::array<std::atomic<int64_t>, kCount> calls_{};
  std::array<std::atomic<int64_t>, kCount> nanos_{};
};

class ProfiledStore final : public MetadataStore {
 public:
  explicit ProfiledStore(MetadataStore& inner) : inner_(inner), log_(inner.report_log()) {}

  absl::Status RunInTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) override {
    return Profile(writes_, body, [&](auto f) { return inner_.RunInTransaction(f); });
  }

  absl::Status RunInReadTransaction(
      absl::FunctionRef<absl::Status(MetadataTransaction&)> body) override {
    return Profile(reads_, body, [&](auto f) { return inner_.RunInReadTransaction(f); });
  }

  ReportLog& report_log() override { return log_; }

  // Prints what happened since the last call, per `items` (devices, notices, reports), and
  // starts counting again. Call while no transaction runs.
  void PrintAndReset(absl::string_view phase, int64_t items) {
    const double per = items > 0 ? static_cast<double>(items) : 1.0;
    std::printf("\n  profile of %s (%" PRId64 " items):\n", std::string(phase).c_str(), items);
    writes_.PrintAndReset("writing transactions", per);
    reads_.PrintAndReset("read transactions", per);
    log_.PrintAndReset(per);
  }

 private:
  struct Kind {
    CallStats stats;
    std::atomic<int64_t> transactions{0};
    std::atomic<int64_t> total_nanos{0};

    void PrintAndReset(const char* what, double per) {
      const int64_t tx = transactions.exchange(0);
      const int64_t total = total_nanos.exchange(0);
      CallStats taken;
      std::swap(taken, stats);
      if (tx == 0) return;
      std::printf("    %s %" PRId64 ", %.1f items each; wall in them %.3f s (sum over callers),"
                  " in bodies %.3f s, BEGIN+COMMIT+waiting %.3f s\n",
                  what, tx, per / tx, total / 1e9, taken.body_nanos / 1e9,
                  (total - taken.body_nanos) / 1e9);
      std::vector<int> order;
      for (int m = 0; m < kMethodCount; ++m) {
        if (taken.calls[m] > 0) order.push_back(m);
      }
      std::sort(order.begin(), order.end(),
                [&](int a, int b) { return taken.nanos[a] > taken.nanos[b]; });
      std::printf("    %-26s %10s %10s %10s %12s\n", "MetadataTransaction call", "calls",
                  "total s", "us/call", "us per item");
      int64_t in_calls = 0;
      for (int m : order) {
        in_calls += taken.nanos[m];
        std::printf("    %-26s %10" PRId64 " %10.3f %10.2f %12.2f\n", kMethodNames[m],
                    taken.calls[m], taken.nanos[m] / 1e9,
                    taken.nanos[m] / 1e3 / static_cast<double>(taken.calls[m]),
                    taken.nanos[m] / 1e3 / per);
      }
      std::printf("    %-26s %10s %10.3f %10s %12.2f\n", "(service code in bodies)", "",
                  (taken.body_nanos - in_calls) / 1e9, "", (taken.body_nanos - in_calls) / 1e3 / per);
    }
  };

  template <typename Run>
  static absl::Status Profile(Kind& kind, absl::FunctionRef<absl::Status(MetadataTransaction&)> body,
                              Run run) {
    const auto start = Clock::now();
    absl::Status s = run([&](MetadataTransaction& tx) {
      const auto body_start = Clock::now();
      ProfiledTransaction profiled(tx, kind.stats);
      absl::Status out = body(profiled);
      kind.stats.body_nanos +=
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - body_start)
              .count();
      return out;
    });
    kind.transactions.fetch_add(1);
    kind.total_nanos.fetch_add(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    return s;
  }

  MetadataStore& inner_;
  ProfiledReportLog log_;
  Kind writes_;
  Kind reads_;
};

// ---------------------------------------------------------------------------------------
// --sqlite_trace and --sqlite_pragmas: an SQLite auto extension, run on every connection
// this process opens (the store's own included), times each statement from its first step
// (SQLITE_TRACE_STMT) to its end (SQLITE_TRACE_PROFILE, whose own figure has only
// millisecond resolution).

struct SqlStat {
  int64_t count = 0;
  int64_t nanos = 0;
  int64_t max_nanos = 0;
};

absl::Mutex sql_mu;
absl::flat_hash_map<std::string, SqlStat>* sql_stats ABSL_GUARDED_BY(sql_mu) = nullptr;
absl::flat_hash_map<void*, Clock::time_point>* sql_started ABSL_GUARDED_BY(sql_mu) = nullptr;

int TraceSql(unsigned type, void*, void* p, void*) {
  const auto now = Clock::now();
  absl::MutexLock lock(&sql_mu);
  if (type == SQLITE_TRACE_STMT) {
    sql_started->emplace(p, now);  // a trigger's sub-statement keeps the outer start
    return 0;
  }
  auto it = sql_started->find(p);
  if (it == sql_started->end()) return 0;
  const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(p));
  SqlStat& stat = (*sql_stats)[sql != nullptr ? sql : "?"];
  const int64_t nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now - it->second).count();
  ++stat.count;
  stat.nanos += nanos;
  stat.max_nanos = std::max(stat.max_nanos, nanos);
  sql_started->erase(it);
  return 0;
}

int OnSqliteOpen(sqlite3* db, const char**, const struct sqlite3_api_routines*) {
  for (const std::string& pragma : absl::GetFlag(FLAGS_sqlite_pragmas)) {
    sqlite3_exec(db, absl::StrCat("PRAGMA ", pragma).c_str(), nullptr, nullptr, nullptr);
  }
  if (absl::GetFlag(FLAGS_sqlite_trace)) {
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT | SQLITE_TRACE_PROFILE, TraceSql, nullptr);
  }
  return SQLITE_OK;
}

void InstallSqliteHooks() {
  if (!absl::GetFlag(FLAGS_sqlite_trace) && absl::GetFlag(FLAGS_sqlite_pragmas).empty()) return;
  {
    absl::MutexLock lock(&sql_mu);
    sql_stats = new absl::flat_hash_map<std::string, SqlStat>();
    sql_started = new absl::flat_hash_map<void*, Clock::time_point>();
  }
  sqlite3_auto_extension(reinterpret_cast<void (*)()>(OnSqliteOpen));
}

void PrintSqlAndReset(absl::string_view phase, int64_t items) {
  if (!absl::GetFlag(FLAGS_sqlite_trace)) return;
  absl::flat_hash_map<std::string, SqlStat> stats;
  {
    absl::MutexLock lock(&sql_mu);
    stats.swap(*sql_stats);
  }
  std::vector<std::pair<std::string, SqlStat>> order(stats.begin(), stats.end());
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.second.nanos > b.second.nanos; });
  const double per = items > 0 ? static_cast<double>(items) : 1.0;
  int64_t total = 0;
  for (const auto& [sql, stat] : order) total += stat.nanos;
  std::printf("\n  SQL of %s: %.3f s in statements, %.2f us per item\n", std::string(phase).c_str(),
              total / 1e9, total / 1e3 / per);
  std::printf("    %9s %9s %9s %10s %9s  %s\n", "count", "total s", "us/run", "max ms", "us/item",
              "statement");
  for (const auto& [sql, stat] : order) {
    if (stat.nanos < total / 1000) continue;  // under 0.1%
    std::string text = sql;
    for (char& c : text) {
      if (c == '\n') c = ' ';
    }
    if (text.size() > 150) text = text.substr(0, 147) + "...";
    std::printf("    %9" PRId64 " %9.3f %9.2f %10.2f %9.2f  %s\n", stat.count, stat.nanos / 1e9,
                stat.nanos / 1e3 / static_cast<double>(stat.count), stat.max_nanos / 1e6,
                stat.nanos / 1e3 / per, text.c_str());
  }
}

// ---------------------------------------------------------------------------------------

class CountingNotifier final : public Notifier {
 public:
  void Notify(const AttributeNotice& notice) override {
    if (notice.updated.empty()) {
      deletions.fetch_add(1);
    } else {
      updates.fetch_add(1);
    }
  }
  std::atomic<int64_t> updates{0};
  std::atomic<int64_t> deletions{0};
};

std::string RandomToken(std::mt19937_64& rng, int length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(length, ' ');
  for (char& c : out) c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return out;
}

std::string RandomUuid(std::mt19937_64& rng) {
  const uint64_t hi = (rng() & ~uint64_t{0xf000}) | 0x4000;
  const uint64_t lo = (rng() & ~(uint64_t{0xc} << 60)) | (uint64_t{0x8} << 60);
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff,
                         hi & 0xffff, lo >> 48, lo & 0xffffffffffffULL);
}

// Resource use of the process since the previous Mark().
struct Usage {
  double user = 0, sys = 0;
  int64_t in_blocks = 0, out_blocks = 0, vcsw = 0, ivcsw = 0;
};

struct rusage last_usage;

void Mark() { getrusage(RUSAGE_SELF, &last_usage); }

Usage SinceMark() {
  struct rusage now;
  getrusage(RUSAGE_SELF, &now);
  const auto sec = [](const timeval& a, const timeval& b) {
    return (b.tv_sec - a.tv_sec) + (b.tv_usec - a.tv_usec) / 1e6;
  };
  Usage u;
  u.user = sec(last_usage.ru_utime, now.ru_utime);
  u.sys = sec(last_usage.ru_stime, now.ru_stime);
  u.in_blocks = now.ru_inblock - last_usage.ru_inblock;
  u.out_blocks = now.ru_oublock - last_usage.ru_oublock;
  u.vcsw = now.ru_nvcsw - last_usage.ru_nvcsw;
  u.ivcsw = now.ru_nivcsw - last_usage.ru_nivcsw;
  return u;
}

// One line per phase; `usage` covers the phase only when Mark() was called right before
// it was timed.
void AddRow(const std::string& phase, int64_t items, double seconds, const std::string& note,
            const Usage& u) {
  std::printf("%-34s %8" PRId64 " items %9.3f s %11.0f /s %9.2f us/item  peak RSS %" PRId64
              " MiB  cpu user %.2f s sys %.2f s, write %.0f MiB, ctxsw %" PRId64 "/%" PRId64
              "  %s\n",
              phase.c_str(), items, seconds, items / seconds,
              seconds * 1e6 / static_cast<double>(items), PeakRssKib() / 1024, u.user, u.sys,
              u.out_blocks / 2048.0, u.vcsw, u.ivcsw, note.c_str());
  std::fflush(stdout);
}

void AddRow(const std::string& phase, int64_t items, double seconds, const std::string& note = "") {
  AddRow(phase, items, seconds, note, SinceMark());
}

int Run() {
  const int n = absl::GetFlag(FLAGS_devices);
  Check(n > 0, "--devices must be positive");
  std::string parent = absl::GetFlag(FLAGS_dir);
  if (parent.empty()) {
    const char* env = getenv("FWOTA_BENCH_DIR");
    parent = env != nullptr ? env : "/tmp";
  }
  struct statfs fs;
  Check(statfs(parent.c_str(), &fs) == 0, absl::StrCat("statfs ", parent));
  constexpr long kTmpfsMagic = 0x01021994;
  if (fs.f_type == kTmpfsMagic && !absl::GetFlag(FLAGS_allow_tmpfs)) {
    std::fprintf(stderr, "%s is on tmpfs; pass --dir on a real disk (or --allow_tmpfs)\n",
                 parent.c_str());
    return 2;
  }
  const std::string root = absl::StrCat(parent, "/fwota-update-bench-", getpid());
  std::filesystem::create_directories(root);
  std::printf("data directory %s (%s), %d devices\n", root.c_str(),
              fs.f_type == kTmpfsMagic ? "tmpfs" : "not tmpfs", n);

  int64_t kib_before_stores = PeakRssKib();
  {
    auto sqlite = Must(OpenSqliteMetadataStore(root + "/metadata.db"), "open sqlite");
    auto blobs = Must(OpenFileBlobStore(root + "/blobs"), "open blobs");
    std::unique_ptr<ProfiledStore> profiled;
    MetadataStore* metadata = sqlite.get();
    if (absl::GetFlag(FLAGS_profile)) {
      profiled = std::make_unique<ProfiledStore>(*sqlite);
      metadata = profiled.get();
    }
    auto profile_phase = [&](absl::string_view phase, int64_t items) {
      if (profiled) profiled->PrintAndReset(phase, items);
      PrintSqlAndReset(phase, items);
      std::fflush(stdout);
      Mark();
    };
    CountingNotifier notifier;
    OtaServiceOptions options;
    options.metadata = metadata;
    options.blobs = blobs.get();
    options.notifier = &notifier;
    auto service = Must(OtaService::Create(options), "create service");

    // ---- Setup ----
    const Tenant tenant = Must(service->CreateTenant("bench"), "tenant");
    const TenantContext ctx{tenant.id(), "bench"};
    const DeviceProfile profile = Must(service->CreateProfile(ctx, "bench", ""), "profile");
    std::mt19937_64 rng(42);
    std::string data(64 << 10, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    std::vector<OtaPackage> packages;
    for (const char* version : {"1.0", "2.0"}) {
      PackageInfoRequest info;
      info.title = "bench-fw";
      info.version = version;
      info.type = ::fwota::v1::FIRMWARE;
      info.device_profile_id = profile.id();
      UploadRequest upload;
      upload.file_name = "fw.bin";
      data[0] = version[0];  // distinct bytes per package
      auto source = NewStringSource(data);
      packages.push_back(
          Must(service->CreatePackageWithData(ctx, info, upload, *source), "package"));
    }

    std::vector<std::string> device_ids(n), tokens(n);
    int via_service = absl::GetFlag(FLAGS_service_devices);
    if (via_service < 0 || via_service > n) via_service = n;
    profile_phase("setup: tenant, profile, packages", 0);
    {
      const auto t0 = Clock::now();
      for (int i = 0; i < via_service; ++i) {
        Device d = Must(service->CreateDevice(ctx, absl::StrFormat("device-%07d", i), profile.id()),
                        "CreateDevice");
        device_ids[i] = d.id();
        tokens[i] = d.access_token();
      }
      const auto t1 = Clock::now();
      if (via_service > 0) {
        AddRow("setup: CreateDevice (1 tx each)", via_service, Seconds(t0, t1),
               absl::StrFormat("-> %.0f s for %d", Seconds(t0, t1) / via_service * n, n));
        profile_phase("setup: CreateDevice", via_service);
      }
    }
    if (via_service < n) {
      Mark();
      const auto t0 = Clock::now();
      const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
      Must(sqlite->RunInTransaction([&](MetadataTransaction& tx) {
             for (int i = via_service; i < n; ++i) {
               Device d;
               d.set_id(RandomUuid(rng));
               d.set_tenant_id(tenant.id());
               d.set_device_profile_id(profile.id());
               d.set_name(absl::StrFormat("device-%07d", i));
               d.set_type("default");
               d.set_access_token(RandomToken(rng, 20));
               d.set_created_time(now_ms);
               absl::Status s = tx.InsertDevice(d);
               if (!s.ok()) return s;
               device_ids[i] = d.id();
               tokens[i] = d.access_token();
             }
             return absl::OkStatus();
           }),
           "insert devices");
      AddRow("setup: InsertDevice (1 tx)", n - via_service, Seconds(t0, Clock::now()));
      PrintSqlAndReset("setup: InsertDevice", n - via_service);  // not through the profiler
      Mark();
    }
    std::printf("peak RSS before opening the stores %" PRId64 " MiB\n", kib_before_stores / 1024);

    // ---- Queue: assign A, then B ----
    const OtaPackageType fw = ::fwota::v1::FIRMWARE;
    for (int round = 0; round < 2; ++round) {
      const OtaPackage& p = packages[round];
      Mark();
      const auto t0 = Clock::now();
      Must(service->AssignProfilePackage(ctx, profile.id(), fw, p.id()), "assign");
      const double s = Seconds(t0, Clock::now());
      const Usage usage = SinceMark();
      const int64_t queued = Must(service->CountQueuedNotices(), "count notices");
      Check(queued == n, absl::StrCat("queued ", queued, " notices, want ", n));
      const std::vector<int64_t> states = Must(service->CountUpdateStates(ctx, fw), "states");
      Check(states[::fwota::v1::UPDATE_STATE_QUEUED] == n,
            absl::StrCat("QUEUED ", states[::fwota::v1::UPDATE_STATE_QUEUED], ", want ", n));
      const std::string phase = round == 0 ? "assign A: queue (no status yet)"
                                           : "reassign B: queue (status exists)";
      AddRow(phase, n, s, "verified: queue = N, QUEUED = N", usage);
      profile_phase(phase, n);
    }

    // ---- Drain ----
    {
      Mark();
      const auto t0 = Clock::now();
      const DrainResult r = Must(service->DrainNotices(INT64_MAX / 2), "drain");
      const double s = Seconds(t0, Clock::now());
      const Usage usage = SinceMark();
      Check(r.sent == n && r.remaining == 0 && r.skipped == 0 && r.deletions == 0,
            absl::StrCat("drain sent ", r.sent, " skipped ", r.skipped, " remaining ",
                         r.remaining));
      Check(notifier.updates.load() == n,
            absl::StrCat("notifier got ", notifier.updates.load(), ", want ", n));
      const std::vector<int64_t> states = Must(service->CountUpdateStates(ctx, fw), "states");
      Check(states[::fwota::v1::UPDATE_STATE_INITIATED] == n, "INITIATED != N");
      AddRow("drain (unlimited): notices", n, s, "verified: sent = notified = INITIATED = N",
             usage);
      profile_phase("drain", n);
    }

    // ---- Reports ----
    std::vector<uint8_t> reports_sent(n, 0);
    std::atomic<int> cursor{0};
    // Devices report in a random order (as a fleet does), not in the order they were
    // created or queued: the tables' layout must not line up with the reports.
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(42));
    const double phase_seconds = absl::GetFlag(FLAGS_phase_seconds);
    for (const std::string& arg : absl::GetFlag(FLAGS_reporters)) {
      int threads = 0;
      Check(absl::SimpleAtoi(arg, &threads) && threads > 0, "bad --reporters");
      if (cursor.load() >= n) {
        std::printf("reports, %d reporters: skipped, every device has reported\n", threads);
        continue;
      }
      absl::Notification go;
      std::atomic<Clock::time_point::rep> deadline{0};
      std::atomic<int64_t> total{0};
      std::vector<std::vector<double>> latencies(threads);
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          go.WaitForNotification();
          const Clock::time_point end{Clock::duration(deadline.load())};
          std::vector<double>& lat = latencies[t];
          while (Clock::now() < end) {
            const int next = cursor.fetch_add(1);
            if (next >= n) break;
            const int i = order[next];
            for (const char* state : {"DOWNLOADING", "DOWNLOADED"}) {
              DeviceReport report;
              report.type = fw;
              report.state = state;
              const auto r0 = Clock::now();
              Must(service->RecordDeviceReport(tokens[i], report), "report");
              lat.push_back(Seconds(r0, Clock::now()) * 1e3);
              ++reports_sent[i];
            }
            total.fetch_add(2);
          }
        });
      }
      Mark();
      const auto t0 = Clock::now();
      deadline.store((t0 + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(phase_seconds)))
                         .time_since_epoch()
                         .count());
      go.Notify();
      for (std::thread& th : pool) th.join();
      const double acked = Seconds(t0, Clock::now());
      // The phase ends when every report is in its device's status and history: the
      // reports still in the report log are applied by the next read.
      Must(service->CountUpdateStates(ctx, fw).status(), "apply the report log");
      const double s = Seconds(t0, Clock::now());
      std::vector<double> all;
      for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
      std::sort(all.begin(), all.end());
      const auto pct = [&](double q) {
        return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(q * all.size()))];
      };
      const std::string phase = absl::StrFormat("reports, %d reporter%s", threads,
                                                threads == 1 ? "" : "s");
      AddRow(phase, total.load(), s,
             absl::StrFormat("latency ms p50 %.2f p99 %.2f max %.2f; all acknowledged after "
                             "%.3f s, applied after %.3f s",
                             pct(0.5), pct(0.99), all.empty() ? 0.0 : all.back(), acked, s));
      profile_phase(phase, total.load());
    }

    // ---- Verify the history of a sample ----
    {
      const int sample = std::min(n, std::max(1, absl::GetFlag(FLAGS_history_sample)));
      int64_t checked = 0, with_reports = 0;
      PageQuery q;
      q.page_size = 50;
      for (int k = 0; k < sample; ++k) {
        // Spread over all devices, and every reported device near the front too.
        const int i = k % 2 == 0 ? static_cast<int>(static_cast<int64_t>(k) * n / sample)
                                 : std::min(n - 1, k);
        const Page<UpdateEvent> page =
            Must(service->ListUpdateHistory(ctx, device_ids[i], fw, q), "history");
        // QUEUED (A), QUEUED (B), INITIATED (B), then one event per report.
        const int64_t want = 3 + reports_sent[i];
        Check(page.total_elements == want,
              absl::StrCat("device ", i, ": ", page.total_elements, " events, want ", want));
        for (const UpdateEvent& e : page.data) {
          Check(e.accepted(), absl::StrCat("device ", i, ": event not accepted: ", e.note()));
        }
        const UpdateStatus st = Must(service->GetUpdateStatus(ctx, device_ids[i], fw), "status");
        const UpdateState want_state = reports_sent[i] == 2 ? ::fwota::v1::UPDATE_STATE_DOWNLOADED
                                       : reports_sent[i] == 1
                                           ? ::fwota::v1::UPDATE_STATE_DOWNLOADING
                                           : ::fwota::v1::UPDATE_STATE_INITIATED;
        Check(st.state() == want_state && st.target_package_id() == packages[1].id(),
              absl::StrCat("device ", i, ": state ", st.state()));
        ++checked;
        if (reports_sent[i] > 0) ++with_reports;
      }
      const std::vector<int64_t> states = Must(service->CountUpdateStates(ctx, fw), "states");
      int64_t reported = 0;
      for (uint8_t c : reports_sent) reported += c;
      Check(states[::fwota::v1::UPDATE_STATE_DOWNLOADED] * 2 +
                    states[::fwota::v1::UPDATE_STATE_DOWNLOADING] ==
                reported,
            "state counts do not match the reports sent");
      std::printf("verified the history and status of %" PRId64 " devices (%" PRId64
                  " with reports); state counts match %" PRId64 " reports\n",
                  checked, with_reports, reported);
    }

    std::error_code ec;
    const auto db_size = std::filesystem::file_size(root + "/metadata.db", ec);
    const auto wal_size = std::filesystem::file_size(root + "/metadata.db-wal", ec);
    std::printf("metadata.db %.1f MiB, -wal %.1f MiB\n", db_size / 1048576.0,
                wal_size / 1048576.0);
  }
  std::printf("peak RSS %" PRId64 " MiB\n", PeakRssKib() / 1024);
  if (!absl::GetFlag(FLAGS_keep)) std::filesystem::remove_all(root);
  return 0;
}

}  // namespace
}  // namespace fwota

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  fwota::InstallSqliteHooks();
  fwota::Mark();
  return fwota::Run();
}
