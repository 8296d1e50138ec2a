#include "lib/store/metadata/sqlite_rows.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fwota {
namespace metadata_internal {

TableSql::TableSql(std::string table, std::vector<std::string> columns,
                   std::vector<std::string> key)
    : name(std::move(table)), column_list(absl::StrJoin(columns, ", ")) {
  std::vector<std::string> params, assignments, replacements, key_by_column, key_by_position;
  for (size_t i = 0; i < columns.size(); ++i) {
    params.push_back(absl::StrCat("?", i + 1));
    const auto in_key = std::find(key.begin(), key.end(), columns[i]);
    if (in_key == key.end()) {
      assignments.push_back(absl::StrCat(columns[i], " = ?", i + 1));
      replacements.push_back(absl::StrCat(columns[i], " = excluded.", columns[i]));
    } else {
      key_by_column.push_back(absl::StrCat(columns[i], " = ?", i + 1));
    }
  }
  for (size_t i = 0; i < key.size(); ++i) {
    key_by_position.push_back(absl::StrCat(key[i], " = ?", i + 1));
  }
  select = absl::StrCat("SELECT ", column_list, " FROM ", name);
  insert = absl::StrCat("INSERT INTO ", name, " (", column_list, ") VALUES (",
                        absl::StrJoin(params, ", "), ")");
  upsert = absl::StrCat(insert, " ON CONFLICT (", absl::StrJoin(key, ", "), ") DO UPDATE SET ",
                        absl::StrJoin(replacements, ", "));
  update = absl::StrCat("UPDATE ", name, " SET ", absl::StrJoin(assignments, ", "), " WHERE ",
                        absl::StrJoin(key_by_column, " AND "));
  by_id = absl::StrCat(select, " WHERE ", absl::StrJoin(key_by_position, " AND "));
  remove = absl::StrCat("DELETE FROM ", name, " WHERE ", absl::StrJoin(key_by_position, " AND "));
}

void BindText(SQLite::Statement& s, int index, absl::string_view text) {
  s.bind(index, std::string(text));
}

void BindOptional(SQLite::Statement& s, int index, absl::string_view text) {
  if (text.empty()) {
    s.bind(index);
  } else {
    BindText(s, index, text);
  }
}

std::string ReadText(SQLite::Statement& s, int index) {
  SQLite::Column column = s.getColumn(index);
  const char* text = column.getText("");
  return std::string(text, static_cast<size_t>(column.getBytes()));
}

int64_t ReadInt64(SQLite::Statement& s, int index) { return s.getColumn(index).getInt64(); }

const TableSql& Row<Tenant>::Sql() {
  static const TableSql* sql = new TableSql("tenant", {"id", "name", "created_time"});
  return *sql;
}

void Row<Tenant>::Bind(SQLite::Statement& s, const Tenant& t) {
  BindText(s, 1, t.id());
  BindText(s, 2, t.name());
  s.bind(3, static_cast<int64_t>(t.created_time()));
}

Tenant Row<Tenant>::Read(SQLite::Statement& s) {
  Tenant t;
  t.set_id(ReadText(s, 0));
  t.set_name(ReadText(s, 1));
  t.set_created_time(ReadInt64(s, 2));
  return t;
}

const TableSql& Row<DeviceProfile>::Sql() {
  static const TableSql* sql = new TableSql(
      "device_profile",
      {"id", "tenant_id", "name", "description", "created_time", "firmware_id", "software_id"});
  return *sql;
}

void Row<DeviceProfile>::Bind(SQLite::Statement& s, const DeviceProfile& p) {
  BindText(s, 1, p.id());
  BindOptional(s, 2, p.tenant_id());
  BindText(s, 3, p.name());
  BindText(s, 4, p.description());
  s.bind(5, static_cast<int64_t>(p.created_time()));
  BindOptional(s, 6, p.firmware_id());
  BindOptional(s, 7, p.software_id());
}

DeviceProfile Row<DeviceProfile>::Read(SQLite::Statement& s) {
  DeviceProfile p;
  p.set_id(ReadText(s, 0));
  p.set_tenant_id(ReadText(s, 1));
  p.set_name(ReadText(s, 2));
  p.set_description(ReadText(s, 3));
  p.set_created_time(ReadInt64(s, 4));
  p.set_firmware_id(ReadText(s, 5));
  p.set_software_id(ReadText(s, 6));
  return p;
}

const TableSql& Row<Device>::Sql() {
  static const TableSql* sql =
      new TableSql("device", {"id", "tenant_id", "device_profile_id", "name", "type",
                              "access_token", "created_time", "firmware_id", "software_id"});
  return *sql;
}

void Row<Device>::Bind(SQLite::Statement& s, const Device& d) {
  BindText(s, 1, d.id());
  BindOptional(s, 2, d.tenant_id());
  BindOptional(s, 3, d.device_profile_id());
  BindText(s, 4, d.name());
  BindText(s, 5, d.type());
  BindOptional(s, 6, d.access_token());
  s.bind(7, static_cast<int64_t>(d.created_time()));
  BindOptional(s, 8, d.firmware_id());
  BindOptional(s, 9, d.software_id());
}

Device Row<Device>::Read(SQLite::Statement& s) {
  Device d;
  d.set_id(ReadText(s, 0));
  d.set_tenant_id(ReadText(s, 1));
  d.set_device_profile_id(ReadText(s, 2));
  d.set_name(ReadText(s, 3));
  d.set_type(ReadText(s, 4));
  d.set_access_token(ReadText(s, 5));
  d.set_created_time(ReadInt64(s, 6));
  d.set_firmware_id(ReadText(s, 7));
  d.set_software_id(ReadText(s, 8));
  return d;
}

const TableSql& Row<OtaPackage>::Sql() {
  static const TableSql* sql = new TableSql(
      "ota_package", {"id", "tenant_id", "device_profile_id", "type", "title", "version", "tag",
                      "url", "has_data", "file_name", "content_type", "checksum_algorithm",
                      "checksum", "data_size", "sha256", "additional_info_json", "created_time"});
  return *sql;
}

void Row<OtaPackage>::Bind(SQLite::Statement& s, const OtaPackage& p) {
  BindText(s, 1, p.id());
  BindOptional(s, 2, p.tenant_id());
  BindOptional(s, 3, p.device_profile_id());
  s.bind(4, static_cast<int32_t>(p.type()));
  BindText(s, 5, p.title());
  BindText(s, 6, p.version());
  BindText(s, 7, p.tag());
  BindText(s, 8, p.url());
  s.bind(9, static_cast<int32_t>(p.has_data() ? 1 : 0));
  BindText(s, 10, p.file_name());
  BindText(s, 11, p.content_type());
  s.bind(12, static_cast<int32_t>(p.checksum_algorithm()));
  BindText(s, 13, p.checksum());
  s.bind(14, static_cast<int64_t>(p.data_size()));
  BindOptional(s, 15, p.sha256());
  BindText(s, 16, p.additional_info_json());
  s.bind(17, static_cast<int64_t>(p.created_time()));
}

OtaPackage Row<OtaPackage>::Read(SQLite::Statement& s) {
  OtaPackage p;
  p.set_id(ReadText(s, 0));
  p.set_tenant_id(ReadText(s, 1));
  p.set_device_profile_id(ReadText(s, 2));
  p.set_type(static_cast<OtaPackageType>(s.getColumn(3).getInt()));
  p.set_title(ReadText(s, 4));
  p.set_version(ReadText(s, 5));
  p.set_tag(ReadText(s, 6));
  p.set_url(ReadText(s, 7));
  p.set_has_data(s.getColumn(8).getInt() != 0);
  p.set_file_name(ReadText(s, 9));
  p.set_content_type(ReadText(s, 10));
  p.set_checksum_algorithm(static_cast<::fwota::v1::ChecksumAlgorithm>(s.getColumn(11).getInt()));
  p.set_checksum(ReadText(s, 12));
  p.set_data_size(ReadInt64(s, 13));
  p.set_sha256(ReadText(s, 14));
  p.set_additional_info_json(ReadText(s, 15));
  p.set_created_time(ReadInt64(s, 16));
  return p;
}

const TableSql& Row<AuditEvent>::Sql() {
  static const TableSql* sql =
      new TableSql("audit_event", {"id", "tenant_id", "entity_type", "entity_id", "entity_name",
                                   "user_name", "action_type", "action_status", "action_data_json",
                                   "failure_details", "created_time"});
  return *sql;
}

void Row<AuditEvent>::Bind(SQLite::Statement& s, const AuditEvent& e) {
  BindText(s, 1, e.id());
  BindOptional(s, 2, e.tenant_id());
  BindText(s, 3, e.entity_type());
  BindText(s, 4, e.entity_id());
  BindText(s, 5, e.entity_name());
  BindText(s, 6, e.user_name());
  s.bind(7, static_cast<int32_t>(e.action_type()));
  s.bind(8, static_cast<int32_t>(e.action_status()));
  BindText(s, 9, e.action_data_json());
  BindText(s, 10, e.failure_details());
  s.bind(11, static_cast<int64_t>(e.created_time()));
}

AuditEvent Row<AuditEvent>::Read(SQLite::Statement& s) {
  AuditEvent e;
  e.set_id(ReadText(s, 0));
  e.set_tenant_id(ReadText(s, 1));
  e.set_entity_type(ReadText(s, 2));
  e.set_entity_id(ReadText(s, 3));
  e.set_entity_name(ReadText(s, 4));
  e.set_user_name(ReadText(s, 5));
  e.set_action_type(static_cast<::fwota::v1::AuditActionType>(s.getColumn(6).getInt()));
  e.set_action_status(static_cast<::fwota::v1::AuditActionStatus>(s.getColumn(7).getInt()));
  e.set_action_data_json(ReadText(s, 8));
  e.set_failure_details(ReadText(s, 9));
  e.set_created_time(ReadInt64(s, 10));
  return e;
}

const TableSql& Row<ApiKey>::Sql() {
  static const TableSql* sql =
      new TableSql("api_key", {"id", "tenant_id", "name", "key_hash", "created_time"});
  return *sql;
}

void Row<ApiKey>::Bind(SQLite::Statement& s, const ApiKey& k) {
  BindText(s, 1, k.id());
  BindOptional(s, 2, k.tenant_id());
  BindText(s, 3, k.name());
  BindText(s, 4, k.key_hash());
  s.bind(5, static_cast<int64_t>(k.created_time()));
}

ApiKey Row<ApiKey>::Read(SQLite::Statement& s) {
  ApiKey k;
  k.set_id(ReadText(s, 0));
  k.set_tenant_id(ReadText(s, 1));
  k.set_name(ReadText(s, 2));
  k.set_key_hash(ReadText(s, 3));
  k.set_created_time(ReadInt64(s, 4));
  return k;
}

namespace {

const std::vector<std::string>& UpdateStatusColumns() {
  static const auto* columns = new std::vector<std::string>{
      "tenant_id",      "device_id",     "type",      "state",         "target_package_id",
      "target_title",   "target_version", "target_tag", "target_ts",   "current_title",
      "current_version", "error",         "state_since", "last_activity", "notices_sent"};
  return *columns;
}

}  // namespace

const TableSql& Row<UpdateStatus>::Sql() {
  static const TableSql* sql =
      new TableSql("update_status", UpdateStatusColumns(), {"device_id", "type"});
  return *sql;
}

const std::string& Row<UpdateStatus>::UpdateSameTenantSql() {
  static const std::string* sql = [] {
    const std::vector<std::string>& columns = UpdateStatusColumns();
    std::vector<std::string> assignments;
    for (size_t i = 3; i < columns.size(); ++i) {  // after tenant_id and the key
      assignments.push_back(absl::StrCat(columns[i], " = ?", i + 1));
    }
    return new std::string(absl::StrCat("UPDATE update_status SET ",
                                        absl::StrJoin(assignments, ", "),
                                        " WHERE device_id = ?2 AND type = ?3 AND tenant_id IS ?1"));
  }();
  return *sql;
}

void Row<UpdateStatus>::Bind(SQLite::Statement& s, const UpdateStatus& u) {
  BindOptional(s, 1, u.tenant_id());
  BindOptional(s, 2, u.device_id());
  s.bind(3, static_cast<int32_t>(u.type()));
  s.bind(4, static_cast<int32_t>(u.state()));
  BindOptional(s, 5, u.target_package_id());
  BindText(s, 6, u.target_title());
  BindText(s, 7, u.target_version());
  BindText(s, 8, u.target_tag());
  s.bind(9, static_cast<int64_t>(u.target_ts()));
  BindText(s, 10, u.current_title());
  BindText(s, 11, u.current_version());
  BindText(s, 12, u.error());
  s.bind(13, static_cast<int64_t>(u.state_since()));
  s.bind(14, static_cast<int64_t>(u.last_activity()));
  s.bind(15, static_cast<int32_t>(u.notices_sent()));
}

UpdateStatus Row<UpdateStatus>::Read(SQLite::Statement& s) {
  UpdateStatus u;
  u.set_tenant_id(ReadText(s, 0));
  u.set_device_id(ReadText(s, 1));
  u.set_type(static_cast<OtaPackageType>(s.getColumn(2).getInt()));
  u.set_state(static_cast<UpdateState>(s.getColumn(3).getInt()));
  u.set_target_package_id(ReadText(s, 4));
  u.set_target_title(ReadText(s, 5));
  u.set_target_version(ReadText(s, 6));
  u.set_target_tag(ReadText(s, 7));
  u.set_target_ts(ReadInt64(s, 8));
  u.set_current_title(ReadText(s, 9));
  u.set_current_version(ReadText(s, 10));
  u.set_error(ReadText(s, 11));
  u.set_state_since(ReadInt64(s, 12));
  u.set_last_activity(ReadInt64(s, 13));
  u.set_notices_sent(s.getColumn(14).getInt());
  return u;
}

const TableSql& Row<UpdateEvent>::Sql() {
  static const TableSql* sql = new TableSql(
      "update_event", {"id", "tenant_id", "device_id", "type", "state", "package_id", "title",
                       "version", "error", "source", "accepted", "note", "created_time"});
  return *sql;
}

void Row<UpdateEvent>::Bind(SQLite::Statement& s, const UpdateEvent& e) {
  BindText(s, 1, e.id());
  BindOptional(s, 2, e.tenant_id());
  BindOptional(s, 3, e.device_id());
  s.bind(4, static_cast<int32_t>(e.type()));
  s.bind(5, static_cast<int32_t>(e.state()));
  BindOptional(s, 6, e.package_id());
  BindText(s, 7, e.title());
  BindText(s, 8, e.version());
  BindText(s, 9, e.error());
  BindText(s, 10, e.source());
  s.bind(11, static_cast<int32_t>(e.accepted() ? 1 : 0));
  BindText(s, 12, e.note());
  s.bind(13, static_cast<int64_t>(e.created_time()));
}

UpdateEvent Row<UpdateEvent>::Read(SQLite::Statement& s) {
  UpdateEvent e;
  e.set_id(ReadText(s, 0));
  e.set_tenant_id(ReadText(s, 1));
  e.set_device_id(ReadText(s, 2));
  e.set_type(static_cast<OtaPackageType>(s.getColumn(3).getInt()));
  e.set_state(static_cast<UpdateState>(s.getColumn(4).getInt()));
  e.set_package_id(ReadText(s, 5));
  e.set_title(ReadText(s, 6));
  e.set_version(ReadText(s, 7));
  e.set_error(ReadText(s, 8));
  e.set_source(ReadText(s, 9));
  e.set_accepted(s.getColumn(10).getInt() != 0);
  e.set_note(ReadText(s, 11));
  e.set_created_time(ReadInt64(s, 12));
  return e;
}

}  // namespace metadata_internal
}  // namespace fwota
