// The mapping between the proto entities and the rows of the SQLite schema
// (sqlite_schema.cc): one Row<T> per table with its generated SQL, its Bind and its Read.
// Not API. Everything here throws SQLite::Exception; callers catch at the store boundary.
#ifndef FWOTA_STORE_METADATA_SQLITE_ROWS_H_
#define FWOTA_STORE_METADATA_SQLITE_ROWS_H_

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "fwota/metadata_store.h"

namespace fwota {
namespace metadata_internal {

// The SQL of one table, generated from its column list and its primary key (`key`, a
// subset of `columns`; {"id"} for every table with an id). Insert, upsert and update bind
// the same numbered parameters (?n is columns[n-1]), so one Bind per entity serves all
// three. by_id and remove take the key columns as ?1..?k, in the order of `key`.
struct TableSql {
  TableSql(std::string table, std::vector<std::string> columns,
           std::vector<std::string> key = {"id"});

  std::string name;
  std::string column_list;
  std::string select;
  std::string insert;
  // Inserts, or replaces every other column of the row with the same key.
  std::string upsert;
  std::string update;
  std::string by_id;
  std::string remove;
};

void BindText(SQLite::Statement& s, int index, absl::string_view text);
// An empty id (or token, or content address) is NULL in the column.
void BindOptional(SQLite::Statement& s, int index, absl::string_view text);
// NULL reads as "" (the proto's "none"); text keeps embedded NUL bytes.
std::string ReadText(SQLite::Statement& s, int index);
int64_t ReadInt64(SQLite::Statement& s, int index);

// The column order of each table, its Bind (of every column, to the numbered
// parameters ?1..?n of TableSql's insert and update) and its Read (of a row of
// TableSql's select). Keep the three in step with the schema.
template <typename T>
struct Row;

template <>
struct Row<Tenant> {
  static const TableSql& Sql();
  static void Bind(SQLite::Statement& s, const Tenant& row);
  static Tenant Read(SQLite::Statement& s);
};

template <>
struct Row<DeviceProfile> {
  static const TableSql& Sql();
  static void Bind(SQLite::Statement& s, const DeviceProfile& row);
  static DeviceProfile Read(SQLite::Statement& s);
};

template <>
struct Row<Device> {
  static const TableSql& Sql();
  static void Bind(SQLite::Statement& s, const Device& row);
  static Device Read(SQLite::Statement& s);
};

template <>
struct Row<OtaPackage> {
  static const TableSql& Sql();
  static void Bind(SQLite::Statement& s, const OtaPackage& row);
  static OtaPackage Read(SQLite::Statement& s);
};

template <>
struct Row<AuditEvent> {
  static const TableSql& Sql();
  static void Bind(SQLite::Statement& s, const AuditEvent& row);
  static AuditEvent Read(SQLite::Statement& s);
};

template <>
struct Row<ApiKey> {
  static const TableSql& Sql();
  static void Bind(SQLite::Statement& s, const ApiKey& row);
  static ApiKey Read(SQLite::Statement& s);
};

// Keyed by (device_id, type): by_id takes ?1 device_id, ?2 type.
template <>
struct Row<UpdateStatus> {
  static const TableSql& Sql();
  // Sql().update without tenant_id in its SET list, for a row whose tenant_id is ?1
  // already: SQLite checks a foreign key on every UPDATE that sets its column, whatever
  // the value, and that check cost more than the rest of the statement (about 27 us
  // a row with 100,000 statuses).
  static const std::string& UpdateSameTenantSql();
  static void Bind(SQLite::Statement& s, const UpdateStatus& row);
  static UpdateStatus Read(SQLite::Statement& s);
};

template <>
struct Row<UpdateEvent> {
  static const TableSql& Sql();
  static void Bind(SQLite::Statement& s, const UpdateEvent& row);
  static UpdateEvent Read(SQLite::Statement& s);
};

}  // namespace metadata_internal
}  // namespace fwota

#endif  // FWOTA_STORE_METADATA_SQLITE_ROWS_H_
