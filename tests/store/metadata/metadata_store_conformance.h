// The conformance suite every MetadataStore implementation passes: a value-parameterized
// gtest over a factory. An implementation's test instantiates it:
//
//   INSTANTIATE_TEST_SUITE_P(
//       Memory, MetadataStoreConformanceTest,
//       ::testing::Values(MetadataStoreFactory{"memory", [] { return NewMemoryMetadataStore(); }}),
//       MetadataStoreFactoryName);
#ifndef FWOTA_TESTS_STORE_METADATA_METADATA_STORE_CONFORMANCE_H_
#define FWOTA_TESTS_STORE_METADATA_METADATA_STORE_CONFORMANCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fwota/metadata_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fwota {
namespace metadata_test {

// Makes a fresh, empty store for each test; returns null (after reporting why with
// ADD_FAILURE) when it cannot.
struct MetadataStoreFactory {
  std::string name;  // a gtest parameter name: letters, digits, underscores
  std::function<std::unique_ptr<MetadataStore>()> make;
};

// gtest prints a parameter by this name instead of its bytes.
inline void PrintTo(const MetadataStoreFactory& factory, std::ostream* os) { *os << factory.name; }

inline std::string MetadataStoreFactoryName(
    const ::testing::TestParamInfo<MetadataStoreFactory>& info) {
  return info.param.name;
}

// --- Status matchers (Debian's Abseil 20220623 ships none). ---

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER_P(HasCode, code, std::string("has code ") + absl::StatusCodeToString(code)) {
  const absl::Status& s = StatusOf(arg);
  *result_listener << "status is " << s;
  return s.code() == code;
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = StatusOf(arg);
  *result_listener << "status is " << s;
  return s.ok();
}

// The value of `result`, or a default one after failing the test.
template <typename T>
T Must(absl::StatusOr<T> result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : T();
}

template <typename T>
std::vector<std::string> Ids(const std::vector<T>& rows) {
  std::vector<std::string> ids;
  for (const T& row : rows) ids.push_back(row.id());
  return ids;
}

// --- Entity builders: every field set, so that round trips check every column. ---

Tenant MakeTenant(const std::string& id, const std::string& name, int64_t created_time = 1);
DeviceProfile MakeProfile(const std::string& id, const std::string& tenant_id,
                          const std::string& name, int64_t created_time = 2);
Device MakeDevice(const std::string& id, const std::string& tenant_id,
                  const std::string& profile_id, const std::string& name,
                  const std::string& access_token, int64_t created_time = 3);
// A package with uploaded data (has_data, sha256 "blob-<id>", data_size 100).
OtaPackage MakePackage(const std::string& id, const std::string& tenant_id,
                       const std::string& profile_id, OtaPackageType type, const std::string& title,
                       const std::string& version, int64_t created_time = 4);
AuditEvent MakeAudit(const std::string& id, const std::string& tenant_id,
                     const std::string& entity_name, int64_t created_time);
ApiKey MakeApiKey(const std::string& id, const std::string& tenant_id, const std::string& name,
                  const std::string& key_hash, int64_t created_time = 5);
// A status whose target is the (not necessarily existing) package "pkg-<device_id>".
UpdateStatus MakeUpdateStatus(const std::string& tenant_id, const std::string& device_id,
                              OtaPackageType type, UpdateState state, int64_t state_since);
UpdateEvent MakeUpdateEvent(const std::string& id, const std::string& tenant_id,
                            const std::string& device_id, OtaPackageType type, UpdateState state,
                            int64_t created_time);

// Protobuf equality with a readable difference.
MATCHER_P(EqualsProto, expected, "equals " + expected.ShortDebugString()) {
  if (arg.SerializeAsString() == expected.SerializeAsString()) return true;
  *result_listener << "is " << arg.ShortDebugString();
  return false;
}

class MetadataStoreConformanceTest : public ::testing::TestWithParam<MetadataStoreFactory> {
 protected:
  void SetUp() override;

  MetadataStore& store() { return *store_; }

  // Runs `body` in one transaction that commits, expecting the commit to succeed.
  void InTransaction(const std::function<void(MetadataTransaction&)>& body);

  // The standard fixture rows: tenants t1 and t2, profile p1 (t1), p2 (t1), p9 (t2).
  void AddTenantsAndProfiles();

  std::unique_ptr<MetadataStore> store_;
};

}  // namespace metadata_test
}  // namespace fwota

#define FWOTA_EXPECT_OK(expr) EXPECT_THAT((expr), ::fwota::metadata_test::IsOk())
#define FWOTA_ASSERT_OK(expr) ASSERT_THAT((expr), ::fwota::metadata_test::IsOk())
#define FWOTA_EXPECT_CODE(expr, code) \
  EXPECT_THAT((expr), ::fwota::metadata_test::HasCode(absl::StatusCode::code))

#endif  // FWOTA_TESTS_STORE_METADATA_METADATA_STORE_CONFORMANCE_H_
