#include "tests/store/metadata/metadata_store_conformance.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fwota/status_macros.h"

namespace fwota {
namespace metadata_test {

using ::fwota::v1::ADDED;
using ::fwota::v1::FIRMWARE;
using ::fwota::v1::SHA256;
using ::fwota::v1::SOFTWARE;
using ::fwota::v1::SUCCESS;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

Tenant MakeTenant(const std::string& id, const std::string& name, int64_t created_time) {
  Tenant t;
  t.set_id(id);
  t.set_name(name);
  t.set_created_time(created_time);
  return t;
}

DeviceProfile MakeProfile(const std::string& id, const std::string& tenant_id,
                          const std::string& name, int64_t created_time) {
  DeviceProfile p;
  p.set_id(id);
  p.set_tenant_id(tenant_id);
  p.set_name(name);
  p.set_description("profile " + name);
  p.set_created_time(created_time);
  return p;
}

Device MakeDevice(const std::string& id, const std::string& tenant_id,
                  const std::string& profile_id, const std::string& name,
                  const std::string& access_token, int64_t created_time) {
  Device d;
  d.set_id(id);
  d.set_tenant_id(tenant_id);
  d.set_device_profile_id(profile_id);
  d.set_name(name);
  d.set_type("default");
  d.set_access_token(access_token);
  d.set_created_time(created_time);
  return d;
}

OtaPackage MakePackage(const std::string& id, const std::string& tenant_id,
                       const std::string& profile_id, OtaPackageType type, const std::string& title,
                       const std::string& version, int64_t created_time) {
  OtaPackage p;
  p.set_id(id);
  p.set_tenant_id(tenant_id);
  p.set_device_profile_id(profile_id);
  p.set_type(type);
  p.set_title(title);
  p.set_version(version);
  p.set_tag(title + " " + version);
  p.set_has_data(true);
  p.set_file_name(title + ".bin");
  p.set_content_type("application/octet-stream");
  p.set_checksum_algorithm(SHA256);
  p.set_checksum("abcdef");
  p.set_data_size(100);
  p.set_sha256("blob-" + id);
  p.set_additional_info_json(R"({"description":"test"})");
  p.set_created_time(created_time);
  return p;
}

AuditEvent MakeAudit(const std::string& id, const std::string& tenant_id,
                     const std::string& entity_name, int64_t created_time) {
  AuditEvent e;
  e.set_id(id);
  e.set_tenant_id(tenant_id);
  e.set_entity_type("OTA_PACKAGE");
  e.set_entity_id("entity-" + id);
  e.set_entity_name(entity_name);
  e.set_user_name("admin");
  e.set_action_type(ADDED);
  e.set_action_status(SUCCESS);
  e.set_action_data_json("{}");
  e.set_created_time(created_time);
  return e;
}

ApiKey MakeApiKey(const std::string& id, const std::string& tenant_id, const std::string& name,
                  const std::string& key_hash, int64_t created_time) {
  ApiKey k;
  k.set_id(id);
  k.set_tenant_id(tenant_id);
  k.set_name(name);
  k.set_key_hash(key_hash);
  k.set_created_time(created_time);
  return k;
}

UpdateStatus MakeUpdateStatus(const std::string& tenant_id, const std::string& device_id,
                              OtaPackageType type, UpdateState state, int64_t state_since) {
  UpdateStatus s;
  s.set_tenant_id(tenant_id);
  s.set_device_id(device_id);
  s.set_type(type);
  s.set_state(state);
  s.set_target_package_id("pkg-" + device_id);
  s.set_target_title("fw");
  s.set_target_version("2.0");
  s.set_target_tag("fw 2.0");
  s.set_target_ts(state_since - 10);
  s.set_current_title("fw");
  s.set_current_version("1.0");
  s.set_error(state == ::fwota::v1::UPDATE_STATE_FAILED ? "checksum mismatch" : "");
  s.set_state_since(state_since);
  s.set_last_activity(state_since + 5);
  return s;
}

UpdateEvent MakeUpdateEvent(const std::string& id, const std::string& tenant_id,
                            const std::string& device_id, OtaPackageType type, UpdateState state,
                            int64_t created_time) {
  UpdateEvent e;
  e.set_id(id);
  e.set_tenant_id(tenant_id);
  e.set_device_id(device_id);
  e.set_type(type);
  e.set_state(state);
  e.set_package_id("pkg-" + device_id);
  e.set_title("fw");
  e.set_version("2.0");
  e.set_error(state == ::fwota::v1::UPDATE_STATE_FAILED ? "checksum mismatch" : "");
  e.set_source("device");
  e.set_accepted(true);
  e.set_note("note " + id);
  e.set_created_time(created_time);
  return e;
}

void MetadataStoreConformanceTest::SetUp() {
  store_ = GetParam().make();
  ASSERT_NE(store_, nullptr) << "the factory could not make a store";
}

void MetadataStoreConformanceTest::InTransaction(
    const std::function<void(MetadataTransaction&)>& body) {
  FWOTA_EXPECT_OK(store().RunInTransaction([&](MetadataTransaction& tx) {
    body(tx);
    return absl::OkStatus();
  }));
}

void MetadataStoreConformanceTest::AddTenantsAndProfiles() {
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertTenant(MakeTenant("t1", "Tenant One")));
    FWOTA_EXPECT_OK(tx.InsertTenant(MakeTenant("t2", "Tenant Two")));
    FWOTA_EXPECT_OK(tx.InsertProfile(MakeProfile("p1", "t1", "thermostat")));
    FWOTA_EXPECT_OK(tx.InsertProfile(MakeProfile("p2", "t1", "gateway")));
    FWOTA_EXPECT_OK(tx.InsertProfile(MakeProfile("p9", "t2", "thermostat")));
  });
}

namespace {

PageQuery Query(int page_size, int page = 0) {
  PageQuery query;
  query.page_size = page_size;
  query.page = page;
  return query;
}

// ----- Tenants --------------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, TenantInsertGetFindList) {
  const Tenant b = MakeTenant("id-b", "Beta", 20);
  const Tenant a = MakeTenant("id-a", "Alpha", 10);
  InTransaction([&](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertTenant(b));
    FWOTA_EXPECT_OK(tx.InsertTenant(a));
  });
  InTransaction([&](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.GetTenant("id-b")), EqualsProto(b));
    EXPECT_THAT(Must(tx.FindTenantByName("Alpha")), EqualsProto(a));
    EXPECT_THAT(Ids(Must(tx.ListTenants())), ElementsAre("id-a", "id-b"));  // by name
  });
}

TEST_P(MetadataStoreConformanceTest, TenantDuplicates) {
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertTenant(MakeTenant("t1", "One")));
    FWOTA_EXPECT_CODE(tx.InsertTenant(MakeTenant("t1", "Other name")), kAlreadyExists);
    FWOTA_EXPECT_CODE(tx.InsertTenant(MakeTenant("t9", "One")), kAlreadyExists);
    EXPECT_THAT(Ids(Must(tx.ListTenants())), ElementsAre("t1"));
    EXPECT_EQ(Must(tx.GetTenant("t1")).name(), "One");
  });
}

TEST_P(MetadataStoreConformanceTest, DuplicateMessagesNameTheKey) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    absl::Status s = tx.InsertTenant(MakeTenant("t3", "Tenant One"));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("Tenant One"));
    s = tx.InsertProfile(MakeProfile("p1", "t1", "new"));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("id 'p1'"));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "dev", "secret-token")));
    s = tx.InsertDevice(MakeDevice("d2", "t1", "p1", "dev2", "secret-token"));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("access token"));
    // The token is a credential: it never appears in a message.
    EXPECT_THAT(std::string(s.message()), ::testing::Not(::testing::HasSubstr("secret-token")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1.0")));
    s = tx.InsertPackage(MakePackage("k2", "t1", "p1", FIRMWARE, "fw", "1.0"));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("title 'fw' and version '1.0'"));
  });
}

TEST_P(MetadataStoreConformanceTest, TenantLookupsThatMiss) {
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.GetTenant("nope"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindTenantByName("nope"), kNotFound);
    EXPECT_THAT(Must(tx.ListTenants()), IsEmpty());
  });
}

TEST_P(MetadataStoreConformanceTest, EmptyIdsAreInvalid) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.InsertTenant(MakeTenant("", "x")), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.InsertProfile(MakeProfile("", "t1", "x")), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.InsertDevice(MakeDevice("", "t1", "p1", "x", "tok")), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.InsertPackage(MakePackage("", "t1", "p1", FIRMWARE, "x", "1")),
                      kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.AppendAudit(MakeAudit("", "t1", "x", 1)), kInvalidArgument);
  });
}

TEST_P(MetadataStoreConformanceTest, RoundTripKeepsEveryField) {
  AddTenantsAndProfiles();
  OtaPackage package = MakePackage("k1", "t1", "p1", SOFTWARE, "Ünïcödé ✓", "v'1\"; --");
  package.set_url("");
  package.set_data_size(int64_t{5} << 40);  // beyond 32 bits
  package.set_created_time(-1);             // before the epoch: still just a number
  package.set_checksum_algorithm(::fwota::v1::MURMUR3_128);
  package.set_tag(std::string("nul\0inside", 10));
  Device device = MakeDevice("d1", "t1", "p1", "name with spaces", "tok");
  device.set_firmware_id("k1");
  device.set_software_id("k1");
  device.set_type("sensor");
  AuditEvent event = MakeAudit("a1", "t1", "k1", 99);
  event.set_action_type(::fwota::v1::UNASSIGNED);
  event.set_action_status(::fwota::v1::FAILURE);
  event.set_failure_details("it broke");
  InTransaction([&](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(package));
    FWOTA_EXPECT_OK(tx.InsertDevice(device));
    FWOTA_EXPECT_OK(tx.AppendAudit(event));
  });
  InTransaction([&](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.GetPackage("k1")), EqualsProto(package));
    EXPECT_THAT(Must(tx.GetDevice("d1")), EqualsProto(device));
    EXPECT_THAT(Must(tx.GetProfile("p1")), EqualsProto(MakeProfile("p1", "t1", "thermostat")));
    Page<AuditEvent> audit = Must(tx.ListAudit("t1", Query(10)));
    ASSERT_EQ(audit.data.size(), 1u);
    EXPECT_THAT(audit.data[0], EqualsProto(event));
  });
}

// ----- Device profiles ------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, ProfileInsertGetFindList) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.GetProfile("p2")), EqualsProto(MakeProfile("p2", "t1", "gateway")));
    EXPECT_EQ(Must(tx.FindProfileByName("t1", "thermostat")).id(), "p1");
    EXPECT_EQ(Must(tx.FindProfileByName("t2", "thermostat")).id(), "p9");
    EXPECT_THAT(Ids(Must(tx.ListProfiles("t1"))), ElementsAre("p2", "p1"));  // by name
    EXPECT_THAT(Ids(Must(tx.ListProfiles("t2"))), ElementsAre("p9"));
    EXPECT_THAT(Must(tx.ListProfiles("unknown")), IsEmpty());
    FWOTA_EXPECT_CODE(tx.GetProfile("nope"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindProfileByName("t1", "nope"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindProfileByName("t2", "gateway"), kNotFound);
  });
}

TEST_P(MetadataStoreConformanceTest, ProfileDuplicates) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.InsertProfile(MakeProfile("p1", "t2", "other")), kAlreadyExists);
    FWOTA_EXPECT_CODE(tx.InsertProfile(MakeProfile("p5", "t1", "gateway")), kAlreadyExists);
    // The same name in another tenant is fine.
    FWOTA_EXPECT_OK(tx.InsertProfile(MakeProfile("p5", "t2", "gateway")));
    EXPECT_THAT(Ids(Must(tx.ListProfiles("t1"))), ElementsAre("p2", "p1"));
  });
}

TEST_P(MetadataStoreConformanceTest, ProfileReferencesMustExist) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.InsertProfile(MakeProfile("p5", "t404", "x")), kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.InsertProfile(MakeProfile("p5", "", "x")), kFailedPrecondition);
    DeviceProfile with_fw = MakeProfile("p5", "t1", "x");
    with_fw.set_firmware_id("k404");
    FWOTA_EXPECT_CODE(tx.InsertProfile(with_fw), kFailedPrecondition);
    DeviceProfile with_sw = MakeProfile("p5", "t1", "x");
    with_sw.set_software_id("k404");
    FWOTA_EXPECT_CODE(tx.InsertProfile(with_sw), kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.GetProfile("p5"), kNotFound);
    // With the package in place the same row goes in.
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k404", "t1", "p1", FIRMWARE, "fw", "1")));
    FWOTA_EXPECT_OK(tx.InsertProfile(with_fw));
  });
}

TEST_P(MetadataStoreConformanceTest, ProfileUpdate) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1")));
    DeviceProfile p1 = MakeProfile("p1", "t1", "renamed", 77);
    p1.set_description("new description");
    p1.set_firmware_id("k1");
    FWOTA_EXPECT_OK(tx.UpdateProfile(p1));
    EXPECT_THAT(Must(tx.GetProfile("p1")), EqualsProto(p1));
    EXPECT_EQ(Must(tx.FindProfileByName("t1", "renamed")).id(), "p1");
    FWOTA_EXPECT_CODE(tx.FindProfileByName("t1", "thermostat"), kNotFound);
    // Keeping its own name is no collision; taking another's is.
    FWOTA_EXPECT_OK(tx.UpdateProfile(p1));
    FWOTA_EXPECT_CODE(tx.UpdateProfile(MakeProfile("p1", "t1", "gateway")), kAlreadyExists);
    DeviceProfile bad = p1;
    bad.set_software_id("k404");
    FWOTA_EXPECT_CODE(tx.UpdateProfile(bad), kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.UpdateProfile(MakeProfile("p404", "t1", "x")), kNotFound);
    EXPECT_THAT(Must(tx.GetProfile("p1")), EqualsProto(p1));
  });
}

TEST_P(MetadataStoreConformanceTest, ProfileDeleteRestrictedByDevicesAndPackages) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "dev", "tok")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p2", FIRMWARE, "fw", "1")));
  });
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.DeleteProfile("p1"), kFailedPrecondition);  // a device's
    FWOTA_EXPECT_CODE(tx.DeleteProfile("p2"), kFailedPrecondition);  // a package's
    FWOTA_EXPECT_OK(tx.GetProfile("p1"));
    FWOTA_EXPECT_OK(tx.GetProfile("p2"));
    FWOTA_EXPECT_CODE(tx.DeleteProfile("p404"), kNotFound);
  });
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.DeleteDevice("d1"));
    FWOTA_EXPECT_OK(tx.DeletePackage("k1"));
    FWOTA_EXPECT_OK(tx.DeleteProfile("p1"));
    FWOTA_EXPECT_OK(tx.DeleteProfile("p2"));
    FWOTA_EXPECT_CODE(tx.GetProfile("p1"), kNotFound);
    FWOTA_EXPECT_CODE(tx.DeleteProfile("p1"), kNotFound);
    EXPECT_THAT(Must(tx.ListProfiles("t1")), IsEmpty());
  });
}

// ----- Devices --------------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, DeviceInsertGetFindList) {
  AddTenantsAndProfiles();
  const Device d1 = MakeDevice("d1", "t1", "p1", "zeta", "tok-1");
  InTransaction([&](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertDevice(d1));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d2", "t1", "p2", "alpha", "tok-2")));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d3", "t1", "p1", "mid", "tok-3")));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d4", "t2", "p9", "zeta", "tok-4")));
  });
  InTransaction([&](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.GetDevice("d1")), EqualsProto(d1));
    EXPECT_EQ(Must(tx.FindDeviceByName("t1", "zeta")).id(), "d1");
    EXPECT_EQ(Must(tx.FindDeviceByName("t2", "zeta")).id(), "d4");
    EXPECT_EQ(Must(tx.FindDeviceByAccessToken("tok-3")).id(), "d3");
    EXPECT_THAT(Ids(Must(tx.ListDevices("t1", ""))), ElementsAre("d2", "d3", "d1"));
    EXPECT_THAT(Ids(Must(tx.ListDevices("t1", "p1"))), ElementsAre("d3", "d1"));
    EXPECT_THAT(Ids(Must(tx.ListDevices("t2", ""))), ElementsAre("d4"));
    EXPECT_THAT(Must(tx.ListDevices("t2", "p1")), IsEmpty());
    EXPECT_EQ(Must(tx.CountDevicesInProfile("p1")), 2);
    EXPECT_EQ(Must(tx.CountDevicesInProfile("p2")), 1);
    EXPECT_EQ(Must(tx.CountDevicesInProfile("p404")), 0);
    FWOTA_EXPECT_CODE(tx.GetDevice("nope"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindDeviceByName("t2", "alpha"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindDeviceByAccessToken("TOK-1"), kNotFound);  // case matters
    FWOTA_EXPECT_CODE(tx.FindDeviceByAccessToken(""), kNotFound);
  });
}

TEST_P(MetadataStoreConformanceTest, DeviceDuplicates) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "dev", "tok")));
    FWOTA_EXPECT_CODE(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "dev2", "tok2")),
                      kAlreadyExists);
    FWOTA_EXPECT_CODE(tx.InsertDevice(MakeDevice("d2", "t1", "p2", "dev", "tok2")), kAlreadyExists);
    // Access tokens are unique across tenants.
    FWOTA_EXPECT_CODE(tx.InsertDevice(MakeDevice("d2", "t2", "p9", "other", "tok")),
                      kAlreadyExists);
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d2", "t2", "p9", "dev", "tok2")));
    EXPECT_THAT(Ids(Must(tx.ListDevices("t1", ""))), ElementsAre("d1"));
  });
}

TEST_P(MetadataStoreConformanceTest, DevicesWithoutTokenDoNotCollide) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "a", "")));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d2", "t1", "p1", "b", "")));
    FWOTA_EXPECT_CODE(tx.FindDeviceByAccessToken(""), kNotFound);
    EXPECT_EQ(Must(tx.GetDevice("d2")).access_token(), "");
  });
}

TEST_P(MetadataStoreConformanceTest, DeviceReferencesMustExist) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.InsertDevice(MakeDevice("d1", "t404", "p1", "dev", "tok")),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.InsertDevice(MakeDevice("d1", "", "p1", "dev", "tok")),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.InsertDevice(MakeDevice("d1", "t1", "p404", "dev", "tok")),
                      kFailedPrecondition);
    Device with_fw = MakeDevice("d1", "t1", "p1", "dev", "tok");
    with_fw.set_firmware_id("k404");
    FWOTA_EXPECT_CODE(tx.InsertDevice(with_fw), kFailedPrecondition);
    Device with_sw = MakeDevice("d1", "t1", "p1", "dev", "tok");
    with_sw.set_software_id("k404");
    FWOTA_EXPECT_CODE(tx.InsertDevice(with_sw), kFailedPrecondition);
    absl::Status s = tx.InsertDevice(with_sw);
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("k404"));
    FWOTA_EXPECT_CODE(tx.GetDevice("d1"), kNotFound);
    // No profile at all is allowed: the store keeps rows, the service decides.
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "", "dev", "tok")));
    EXPECT_EQ(Must(tx.GetDevice("d1")).device_profile_id(), "");
  });
}

TEST_P(MetadataStoreConformanceTest, DeviceUpdate) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p2", FIRMWARE, "fw", "1")));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "dev", "tok")));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d2", "t1", "p1", "dev2", "tok2")));
  });
  InTransaction([](MetadataTransaction& tx) {
    Device d1 = MakeDevice("d1", "t1", "p2", "renamed", "new-token", 50);
    d1.set_firmware_id("k1");
    FWOTA_EXPECT_OK(tx.UpdateDevice(d1));
    EXPECT_THAT(Must(tx.GetDevice("d1")), EqualsProto(d1));
    EXPECT_EQ(Must(tx.FindDeviceByAccessToken("new-token")).id(), "d1");
    FWOTA_EXPECT_CODE(tx.FindDeviceByAccessToken("tok"), kNotFound);
    EXPECT_EQ(Must(tx.CountDevicesInProfile("p2")), 1);

    FWOTA_EXPECT_CODE(tx.UpdateDevice(MakeDevice("d1", "t1", "p2", "dev2", "new-token")),
                      kAlreadyExists);
    FWOTA_EXPECT_CODE(tx.UpdateDevice(MakeDevice("d1", "t1", "p2", "renamed", "tok2")),
                      kAlreadyExists);
    FWOTA_EXPECT_CODE(tx.UpdateDevice(MakeDevice("d1", "t1", "p404", "renamed", "x")),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.UpdateDevice(MakeDevice("d404", "t1", "p1", "x", "y")), kNotFound);
    EXPECT_THAT(Must(tx.GetDevice("d1")), EqualsProto(d1));
  });
}

TEST_P(MetadataStoreConformanceTest, DeviceDelete) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "dev", "tok")));
  });
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.DeleteDevice("d1"));
    FWOTA_EXPECT_CODE(tx.GetDevice("d1"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindDeviceByAccessToken("tok"), kNotFound);
    FWOTA_EXPECT_CODE(tx.DeleteDevice("d1"), kNotFound);
    // Name and token are free again.
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d2", "t1", "p1", "dev", "tok")));
  });
}

// ----- OTA packages ---------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, PackageInsertGetFind) {
  AddTenantsAndProfiles();
  const OtaPackage k1 = MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1.0");
  InTransaction([&](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(k1));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k2", "t1", "p1", FIRMWARE, "fw", "1.1")));
  });
  InTransaction([&](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.GetPackage("k1")), EqualsProto(k1));
    EXPECT_EQ(Must(tx.FindPackageByTitleVersion("t1", "fw", "1.1")).id(), "k2");
    FWOTA_EXPECT_CODE(tx.GetPackage("k404"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindPackageByTitleVersion("t1", "fw", "2.0"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindPackageByTitleVersion("t2", "fw", "1.0"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindPackageByTitleVersion("t1", "FW", "1.0"), kNotFound);
  });
}

TEST_P(MetadataStoreConformanceTest, PackageDuplicates) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1.0")));
    FWOTA_EXPECT_CODE(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "x", "9")),
                      kAlreadyExists);
    // Title and version collide regardless of type or profile.
    FWOTA_EXPECT_CODE(tx.InsertPackage(MakePackage("k2", "t1", "p2", SOFTWARE, "fw", "1.0")),
                      kAlreadyExists);
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k2", "t2", "p9", FIRMWARE, "fw", "1.0")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k3", "t1", "p1", FIRMWARE, "fw", "1.0.1")));
    EXPECT_EQ(Must(tx.ListPackages("t1", Query(10))).total_elements, 2);
  });
}

TEST_P(MetadataStoreConformanceTest, PackageReferencesMustExist) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.InsertPackage(MakePackage("k1", "t404", "p1", FIRMWARE, "fw", "1")),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.InsertPackage(MakePackage("k1", "", "p1", FIRMWARE, "fw", "1")),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.InsertPackage(MakePackage("k1", "t1", "p404", FIRMWARE, "fw", "1")),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.GetPackage("k1"), kNotFound);
  });
}

TEST_P(MetadataStoreConformanceTest, PackageUpdate) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k2", "t1", "p1", FIRMWARE, "fw", "2")));
  });
  InTransaction([](MetadataTransaction& tx) {
    OtaPackage k1 = MakePackage("k1", "t1", "p2", SOFTWARE, "fw", "1");
    k1.set_additional_info_json(R"({"description":"changed"})");
    k1.set_has_data(false);
    k1.set_sha256("");
    k1.set_url("https://example.com/fw.bin");
    FWOTA_EXPECT_OK(tx.UpdatePackage(k1));
    EXPECT_THAT(Must(tx.GetPackage("k1")), EqualsProto(k1));
    FWOTA_EXPECT_CODE(tx.UpdatePackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "2")),
                      kAlreadyExists);
    FWOTA_EXPECT_CODE(tx.UpdatePackage(MakePackage("k1", "t1", "p404", FIRMWARE, "fw", "1")),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.UpdatePackage(MakePackage("k404", "t1", "p1", FIRMWARE, "x", "1")),
                      kNotFound);
    EXPECT_THAT(Must(tx.GetPackage("k1")), EqualsProto(k1));
  });
}

TEST_P(MetadataStoreConformanceTest, PackageDeleteRestrictedByReferences) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    for (const char* id : {"k1", "k2", "k3", "k4", "k5"}) {
      FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage(id, "t1", "p1", FIRMWARE, "fw", id)));
    }
    Device d1 = MakeDevice("d1", "t1", "p1", "dev1", "tok1");
    d1.set_firmware_id("k1");
    FWOTA_EXPECT_OK(tx.InsertDevice(d1));
    Device d2 = MakeDevice("d2", "t1", "p1", "dev2", "tok2");
    d2.set_software_id("k2");
    FWOTA_EXPECT_OK(tx.InsertDevice(d2));
    DeviceProfile p2 = MakeProfile("p2", "t1", "gateway");
    p2.set_firmware_id("k3");
    p2.set_software_id("k4");
    FWOTA_EXPECT_OK(tx.UpdateProfile(p2));
  });
  InTransaction([](MetadataTransaction& tx) {
    for (const char* id : {"k1", "k2", "k3", "k4"}) {
      FWOTA_EXPECT_CODE(tx.DeletePackage(id), kFailedPrecondition) << id;
      FWOTA_EXPECT_OK(tx.GetPackage(id)) << id;
    }
    FWOTA_EXPECT_OK(tx.DeletePackage("k5"));
    FWOTA_EXPECT_CODE(tx.GetPackage("k5"), kNotFound);
    FWOTA_EXPECT_CODE(tx.DeletePackage("k5"), kNotFound);
  });
  // Once nothing refers to them they go.
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.DeleteDevice("d1"));
    FWOTA_EXPECT_OK(tx.DeleteDevice("d2"));
    FWOTA_EXPECT_OK(tx.UpdateProfile(MakeProfile("p2", "t1", "gateway")));
    for (const char* id : {"k1", "k2", "k3", "k4"}) FWOTA_EXPECT_OK(tx.DeletePackage(id)) << id;
    EXPECT_EQ(Must(tx.ListPackages("t1", Query(10))).total_elements, 0);
  });
}

TEST_P(MetadataStoreConformanceTest, CountPackageReferences) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k2", "t1", "p1", SOFTWARE, "sw", "1")));
    Device both = MakeDevice("d1", "t1", "p1", "dev1", "tok1");
    both.set_firmware_id("k1");
    both.set_software_id("k1");  // counted once
    FWOTA_EXPECT_OK(tx.InsertDevice(both));
    Device fw = MakeDevice("d2", "t1", "p1", "dev2", "tok2");
    fw.set_firmware_id("k1");
    fw.set_software_id("k2");
    FWOTA_EXPECT_OK(tx.InsertDevice(fw));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d3", "t1", "p1", "dev3", "tok3")));
    DeviceProfile p2 = MakeProfile("p2", "t1", "gateway");
    p2.set_software_id("k1");
    FWOTA_EXPECT_OK(tx.UpdateProfile(p2));
  });
  InTransaction([](MetadataTransaction& tx) {
    PackageReferences k1 = Must(tx.CountPackageReferences("k1"));
    EXPECT_EQ(k1.devices, 2);
    EXPECT_EQ(k1.profiles, 1);
    PackageReferences k2 = Must(tx.CountPackageReferences("k2"));
    EXPECT_EQ(k2.devices, 1);
    EXPECT_EQ(k2.profiles, 0);
    PackageReferences none = Must(tx.CountPackageReferences("k404"));
    EXPECT_EQ(none.devices, 0);
    EXPECT_EQ(none.profiles, 0);
    PackageReferences empty = Must(tx.CountPackageReferences(""));
    EXPECT_EQ(empty.devices, 0);
    EXPECT_EQ(empty.profiles, 0);
  });
}

TEST_P(MetadataStoreConformanceTest, CountPackagesInProfile) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k2", "t1", "p1", SOFTWARE, "sw", "1")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k3", "t1", "p2", FIRMWARE, "fw", "2")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k4", "t1", "", FIRMWARE, "fw", "3")));
    EXPECT_EQ(Must(tx.CountPackagesInProfile("p1")), 2);
    EXPECT_EQ(Must(tx.CountPackagesInProfile("p2")), 1);
    EXPECT_EQ(Must(tx.CountPackagesInProfile("p9")), 0);
    EXPECT_EQ(Must(tx.CountPackagesInProfile("")), 0);
    EXPECT_EQ(Must(tx.CountDevicesInProfile("")), 0);
  });
}

TEST_P(MetadataStoreConformanceTest, BlobKeys) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.ListBlobKeys()), IsEmpty());
    OtaPackage a = MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1");
    a.set_sha256("bbbb");
    OtaPackage b = MakePackage("k2", "t2", "p9", FIRMWARE, "fw", "1");
    b.set_sha256("bbbb");  // the same content in another tenant
    OtaPackage c = MakePackage("k3", "t1", "p1", FIRMWARE, "fw", "2");
    c.set_sha256("aaaa");
    OtaPackage url = MakePackage("k4", "t1", "p1", FIRMWARE, "fw", "3");
    url.set_has_data(false);
    url.set_sha256("");
    url.set_url("https://example.com/x");
    for (const OtaPackage& p : {a, b, c, url}) FWOTA_EXPECT_OK(tx.InsertPackage(p));
    EXPECT_EQ(Must(tx.CountPackagesWithBlob("bbbb")), 2);
    EXPECT_EQ(Must(tx.CountPackagesWithBlob("aaaa")), 1);
    EXPECT_EQ(Must(tx.CountPackagesWithBlob("cccc")), 0);
    EXPECT_EQ(Must(tx.CountPackagesWithBlob("")), 0);
    EXPECT_THAT(Must(tx.ListBlobKeys()), ElementsAre("aaaa", "bbbb"));
    FWOTA_EXPECT_OK(tx.DeletePackage("k1"));
    EXPECT_EQ(Must(tx.CountPackagesWithBlob("bbbb")), 1);
    FWOTA_EXPECT_OK(tx.DeletePackage("k2"));
    EXPECT_THAT(Must(tx.ListBlobKeys()), ElementsAre("aaaa"));
  });
}

TEST_P(MetadataStoreConformanceTest, ListProfilePackages) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "b", "2")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k2", "t1", "p1", FIRMWARE, "b", "10")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k3", "t1", "p1", FIRMWARE, "a", "9")));
    OtaPackage url = MakePackage("k4", "t1", "p1", FIRMWARE, "c", "1");
    url.set_has_data(false);
    url.set_sha256("");
    url.set_url("https://example.com/c");
    FWOTA_EXPECT_OK(tx.InsertPackage(url));
    OtaPackage empty = MakePackage("k5", "t1", "p1", FIRMWARE, "d", "1");
    empty.set_has_data(false);  // neither data nor URL: not offered
    empty.set_sha256("");
    FWOTA_EXPECT_OK(tx.InsertPackage(empty));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k6", "t1", "p1", SOFTWARE, "a", "1")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k7", "t1", "p2", FIRMWARE, "a", "2")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k8", "t2", "p9", FIRMWARE, "a", "1")));
  });
  InTransaction([](MetadataTransaction& tx) {
    // By title, then version (as text: "10" before "2").
    EXPECT_THAT(Ids(Must(tx.ListProfilePackages("t1", "p1", FIRMWARE))),
                ElementsAre("k3", "k2", "k1", "k4"));
    EXPECT_THAT(Ids(Must(tx.ListProfilePackages("t1", "p1", SOFTWARE))), ElementsAre("k6"));
    EXPECT_THAT(Ids(Must(tx.ListProfilePackages("t1", "p2", FIRMWARE))), ElementsAre("k7"));
    EXPECT_THAT(Ids(Must(tx.ListProfilePackages("t2", "p9", FIRMWARE))), ElementsAre("k8"));
    // Another tenant's profile id finds nothing.
    EXPECT_THAT(Must(tx.ListProfilePackages("t2", "p1", FIRMWARE)), IsEmpty());
    EXPECT_THAT(Must(tx.ListProfilePackages("t1", "p404", FIRMWARE)), IsEmpty());
    EXPECT_THAT(Must(tx.ListProfilePackages("t1", "", FIRMWARE)), IsEmpty());
  });
}

// ----- Listing: paging, search, sorting -------------------------------------------------

// 165 packages of t1 (inserted in a scrambled order, created_time with ties) and a few
// of t2 that must never show.
void Add165Packages(MetadataStore& store) {
  FWOTA_EXPECT_OK(store.RunInTransaction([](MetadataTransaction& tx) {
    for (int n = 0; n < 165; ++n) {
      const int i = (n * 7) % 165;  // 7 is coprime to 165: a permutation
      FWOTA_RETURN_IF_ERROR(
          tx.InsertPackage(MakePackage(absl::StrFormat("pkg-%03d", i), "t1", "p1", FIRMWARE, "fw",
                                       absl::StrCat("1.", i), /*created_time=*/1000 + i / 2)));
    }
    for (int i = 0; i < 3; ++i) {
      FWOTA_RETURN_IF_ERROR(tx.InsertPackage(MakePackage(absl::StrCat("other-", i), "t2", "p9",
                                                         FIRMWARE, "fw", absl::StrCat("1.", i))));
    }
    return absl::OkStatus();
  }));
}

TEST_P(MetadataStoreConformanceTest, PagingVisitsEveryPackageOnce) {
  AddTenantsAndProfiles();
  Add165Packages(store());
  for (int page_size : {24, 16}) {
    for (bool ascending : {false, true}) {
      SCOPED_TRACE(absl::StrCat("page size ", page_size, ascending ? " ascending" : ""));
      const int expected_pages = (165 + page_size - 1) / page_size;
      std::vector<OtaPackage> seen;
      int page_number = 0;
      for (bool more = true; more; ++page_number) {
        ASSERT_LT(page_number, 100) << "has_next never became false";
        PageQuery query = Query(page_size, page_number);
        query.ascending = ascending;
        Page<OtaPackage> page;
        FWOTA_ASSERT_OK(store().RunInTransaction([&](MetadataTransaction& tx) {
          FWOTA_ASSIGN_OR_RETURN(page, tx.ListPackages("t1", query));
          return absl::OkStatus();
        }));
        EXPECT_EQ(page.total_elements, 165);
        EXPECT_EQ(page.total_pages, expected_pages);
        EXPECT_EQ(page.has_next, page_number + 1 < expected_pages);
        const int remaining = 165 - page_number * page_size;
        EXPECT_EQ(static_cast<int>(page.data.size()), std::min(page_size, remaining));
        seen.insert(seen.end(), page.data.begin(), page.data.end());
        more = page.has_next;
      }
      EXPECT_EQ(page_number, expected_pages);
      const std::vector<std::string> seen_ids = Ids(seen);
      const std::set<std::string> ids(seen_ids.begin(), seen_ids.end());
      EXPECT_EQ(seen.size(), 165u);
      EXPECT_EQ(ids.size(), 165u);
      EXPECT_EQ(*ids.begin(), "pkg-000");
      EXPECT_EQ(*ids.rbegin(), "pkg-164");
      // Across pages the order is one total order: created_time, then id.
      for (size_t i = 1; i < seen.size(); ++i) {
        auto prev = std::make_tuple(seen[i - 1].created_time(), seen[i - 1].id());
        auto next = std::make_tuple(seen[i].created_time(), seen[i].id());
        EXPECT_TRUE(ascending ? prev < next : next < prev) << i;
      }
    }
  }
}

TEST_P(MetadataStoreConformanceTest, PageBeyondTheEndIsEmpty) {
  AddTenantsAndProfiles();
  Add165Packages(store());
  InTransaction([](MetadataTransaction& tx) {
    Page<OtaPackage> page = Must(tx.ListPackages("t1", Query(24, 7)));
    EXPECT_THAT(page.data, IsEmpty());
    EXPECT_EQ(page.total_elements, 165);
    EXPECT_EQ(page.total_pages, 7);
    EXPECT_FALSE(page.has_next);
    Page<OtaPackage> none = Must(tx.ListPackages("t404", Query(24)));
    EXPECT_THAT(none.data, IsEmpty());
    EXPECT_EQ(none.total_elements, 0);
    EXPECT_EQ(none.total_pages, 0);
    EXPECT_FALSE(none.has_next);
    Page<OtaPackage> exact = Must(tx.ListPackages("t1", Query(165)));
    EXPECT_EQ(exact.data.size(), 165u);
    EXPECT_EQ(exact.total_pages, 1);
    EXPECT_FALSE(exact.has_next);
  });
}

TEST_P(MetadataStoreConformanceTest, InvalidPageQueries) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.ListPackages("t1", Query(0)), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.ListPackages("t1", Query(10, -1)), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.ListAudit("t1", Query(0)), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.ListAudit("t1", Query(10, -1)), kInvalidArgument);
    const UpdateState all = ::fwota::v1::UPDATE_STATE_UNSPECIFIED;
    FWOTA_EXPECT_CODE(tx.ListUpdateStatuses("t1", FIRMWARE, all, Query(0)), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.ListUpdateStatuses("t1", FIRMWARE, all, Query(10, -1)), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.ListUpdateEvents("d1", FIRMWARE, Query(0)), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.ListUpdateEvents("d1", FIRMWARE, Query(10, -1)), kInvalidArgument);
  });
}

std::vector<std::string> SearchTitles(MetadataTransaction& tx, const std::string& text) {
  PageQuery query = Query(100);
  query.text_search = text;
  query.sort_property = PackageSortProperty::kTitle;
  query.ascending = true;
  Page<OtaPackage> page = Must(tx.ListPackages("t1", query));
  std::vector<std::string> titles;
  for (const OtaPackage& p : page.data) titles.push_back(p.title());
  EXPECT_EQ(page.total_elements, static_cast<int64_t>(titles.size())) << text;
  return titles;
}

TEST_P(MetadataStoreConformanceTest, SearchIsCaseInsensitiveSubstring) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    int n = 0;
    for (const char* title : {"Alpha", "ALPHA-2", "my alphabet", "Beta", "gamma"}) {
      FWOTA_EXPECT_OK(
          tx.InsertPackage(MakePackage(absl::StrCat("k", n++), "t1", "p1", FIRMWARE, title, "1")));
    }
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("x1", "t2", "p9", FIRMWARE, "alpha", "1")));
  });
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_THAT(SearchTitles(tx, "alpha"), ElementsAre("ALPHA-2", "Alpha", "my alphabet"));
    EXPECT_THAT(SearchTitles(tx, "ALPHA"), ElementsAre("ALPHA-2", "Alpha", "my alphabet"));
    EXPECT_THAT(SearchTitles(tx, "pHa-"), ElementsAre("ALPHA-2"));
    EXPECT_THAT(SearchTitles(tx, "ET"), ElementsAre("Beta", "my alphabet"));
    EXPECT_THAT(SearchTitles(tx, "zzz"), IsEmpty());
    EXPECT_EQ(SearchTitles(tx, "").size(), 5u);
    // Search narrows the version too? No: the title only.
    EXPECT_THAT(SearchTitles(tx, "1"), IsEmpty());
  });
}

TEST_P(MetadataStoreConformanceTest, SearchTreatsPercentAndUnderscoreLiterally) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    int n = 0;
    for (const char* title :
         {"50% off", "500 off", "a_b", "axb", "back\\slash", "[x]", "it's", "x*y"}) {
      FWOTA_EXPECT_OK(
          tx.InsertPackage(MakePackage(absl::StrCat("k", n++), "t1", "p1", FIRMWARE, title, "1")));
    }
  });
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_THAT(SearchTitles(tx, "50%"), ElementsAre("50% off"));
    EXPECT_THAT(SearchTitles(tx, "%"), ElementsAre("50% off"));
    EXPECT_THAT(SearchTitles(tx, "_"), ElementsAre("a_b"));
    EXPECT_THAT(SearchTitles(tx, "a_b"), ElementsAre("a_b"));
    EXPECT_THAT(SearchTitles(tx, "\\"), ElementsAre("back\\slash"));
    EXPECT_THAT(SearchTitles(tx, "[x"), ElementsAre("[x]"));
    EXPECT_THAT(SearchTitles(tx, "'"), ElementsAre("it's"));
    EXPECT_THAT(SearchTitles(tx, "*"), ElementsAre("x*y"));
  });
}

TEST_P(MetadataStoreConformanceTest, SearchWithPaging) {
  AddTenantsAndProfiles();
  Add165Packages(store());
  InTransaction([](MetadataTransaction& tx) {
    // Versions are "1.<i>", titles all "fw": search by title matches all 165.
    PageQuery query = Query(50, 3);
    query.text_search = "FW";
    Page<OtaPackage> page = Must(tx.ListPackages("t1", query));
    EXPECT_EQ(page.total_elements, 165);
    EXPECT_EQ(page.data.size(), 15u);
    EXPECT_EQ(page.total_pages, 4);
    EXPECT_FALSE(page.has_next);
    query.text_search = "nothing";
    query.page = 0;
    page = Must(tx.ListPackages("t1", query));
    EXPECT_EQ(page.total_elements, 0);
    EXPECT_EQ(page.total_pages, 0);
    EXPECT_FALSE(page.has_next);
  });
}

TEST_P(MetadataStoreConformanceTest, SortByEachPropertyBothDirections) {
  AddTenantsAndProfiles();
  // 12 packages with ties in every sort key, inserted in a scrambled order.
  InTransaction([](MetadataTransaction& tx) {
    const char* titles[] = {"beta", "Alpha", "gamma"};
    const char* versions[] = {"2.0", "10.0", "1.0", "1.5"};
    for (int n = 0; n < 12; ++n) {
      const int i = (n * 5) % 12;
      OtaPackage p =
          MakePackage(absl::StrFormat("k%02d", i), "t1", "p1", i % 2 == 0 ? FIRMWARE : SOFTWARE,
                      titles[i % 3], versions[i / 3], /*created_time=*/100 + i % 5);
      p.set_data_size((i % 4) * 1000);
      FWOTA_EXPECT_OK(tx.InsertPackage(p));
    }
  });
  struct Case {
    PackageSortProperty property;
    std::function<std::string(const OtaPackage&)> key;  // comparable as text
  };
  const Case cases[] = {
      {PackageSortProperty::kCreatedTime,
       [](const OtaPackage& p) { return absl::StrFormat("%020d", p.created_time()); }},
      {PackageSortProperty::kTitle, [](const OtaPackage& p) { return p.title(); }},
      {PackageSortProperty::kVersion, [](const OtaPackage& p) { return p.version(); }},
      {PackageSortProperty::kType,
       [](const OtaPackage& p) { return absl::StrCat(static_cast<int>(p.type())); }},
      {PackageSortProperty::kDataSize,
       [](const OtaPackage& p) { return absl::StrFormat("%020d", p.data_size()); }},
  };
  for (const Case& c : cases) {
    std::vector<std::string> ascending_ids;
    for (bool ascending : {true, false}) {
      SCOPED_TRACE(absl::StrCat("property ", static_cast<int>(c.property),
                                ascending ? " ascending" : " descending"));
      PageQuery query = Query(5);
      query.sort_property = c.property;
      query.ascending = ascending;
      std::vector<OtaPackage> all;
      for (int page = 0; page < 3; ++page) {  // through pages: ties must not wobble
        query.page = page;
        InTransaction([&](MetadataTransaction& tx) {
          Page<OtaPackage> p = Must(tx.ListPackages("t1", query));
          all.insert(all.end(), p.data.begin(), p.data.end());
        });
      }
      ASSERT_EQ(all.size(), 12u);
      for (size_t i = 1; i < all.size(); ++i) {
        auto prev = std::make_tuple(c.key(all[i - 1]), all[i - 1].id());
        auto next = std::make_tuple(c.key(all[i]), all[i].id());
        EXPECT_TRUE(ascending ? prev < next : next < prev)
            << all[i - 1].ShortDebugString() << " then " << all[i].ShortDebugString();
      }
      if (ascending) {
        ascending_ids = Ids(all);
      } else {
        std::vector<std::string> reversed = Ids(all);
        std::reverse(reversed.begin(), reversed.end());
        EXPECT_EQ(reversed, ascending_ids);
      }
    }
  }
}

TEST_P(MetadataStoreConformanceTest, TitleSortIsByteOrder) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    int n = 0;
    for (const char* title : {"b", "B", "a", "A", "é", "_"}) {
      FWOTA_EXPECT_OK(
          tx.InsertPackage(MakePackage(absl::StrCat("k", n++), "t1", "p1", FIRMWARE, title, "1")));
    }
    EXPECT_THAT(SearchTitles(tx, ""), ElementsAre("A", "B", "_", "a", "b", "é"));
  });
}

// ----- Audit ----------------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, AuditPagingNewestFirst) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    for (int n = 0; n < 30; ++n) {
      const int i = (n * 7) % 30;
      FWOTA_EXPECT_OK(tx.AppendAudit(
          MakeAudit(absl::StrFormat("a%02d", i), "t1", "pkg", /*created_time=*/i / 3)));
    }
    for (int i = 0; i < 4; ++i) {
      FWOTA_EXPECT_OK(tx.AppendAudit(MakeAudit(absl::StrCat("b", i), "t2", "pkg", 100)));
    }
    FWOTA_EXPECT_OK(tx.AppendAudit(MakeAudit("c0", "", "tenant", 5)));
  });
  std::vector<AuditEvent> seen;
  for (int page_number = 0;; ++page_number) {
    ASSERT_LT(page_number, 10);
    Page<AuditEvent> page;
    InTransaction(
        [&](MetadataTransaction& tx) { page = Must(tx.ListAudit("t1", Query(7, page_number))); });
    EXPECT_EQ(page.total_elements, 30);
    EXPECT_EQ(page.total_pages, 5);
    seen.insert(seen.end(), page.data.begin(), page.data.end());
    if (!page.has_next) break;
  }
  ASSERT_EQ(seen.size(), 30u);
  EXPECT_EQ(seen.front().id(), "a29");
  EXPECT_EQ(seen.back().id(), "a00");
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GT(std::make_tuple(seen[i - 1].created_time(), seen[i - 1].id()),
              std::make_tuple(seen[i].created_time(), seen[i].id()));
  }
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_EQ(Must(tx.ListAudit("t2", Query(10))).total_elements, 4);
    // Events of no tenant are listed under the empty tenant id.
    EXPECT_THAT(Ids(Must(tx.ListAudit("", Query(10))).data), ElementsAre("c0"));
    PageQuery oldest_first = Query(3);
    oldest_first.ascending = true;
    EXPECT_THAT(Ids(Must(tx.ListAudit("t1", oldest_first)).data), ElementsAre("a00", "a01", "a02"));
  });
}

TEST_P(MetadataStoreConformanceTest, AuditDuplicatesReferencesAndSearch) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.AppendAudit(MakeAudit("a1", "t1", "Firmware A", 1)));
    FWOTA_EXPECT_OK(tx.AppendAudit(MakeAudit("a2", "t1", "firmware b", 2)));
    FWOTA_EXPECT_OK(tx.AppendAudit(MakeAudit("a3", "t1", "gateway", 3)));
    FWOTA_EXPECT_CODE(tx.AppendAudit(MakeAudit("a1", "t1", "again", 4)), kAlreadyExists);
    FWOTA_EXPECT_CODE(tx.AppendAudit(MakeAudit("a4", "t404", "x", 4)), kFailedPrecondition);
    PageQuery query = Query(10);
    query.text_search = "FIRMWARE";
    EXPECT_THAT(Ids(Must(tx.ListAudit("t1", query)).data), ElementsAre("a2", "a1"));
    EXPECT_EQ(Must(tx.ListAudit("t1", Query(10))).total_elements, 3);
  });
}

// ----- API keys -------------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, ApiKeyInsertFindListDelete) {
  AddTenantsAndProfiles();
  const ApiKey ci = MakeApiKey("key-1", "t1", "ci", "aaaa", 10);
  InTransaction([&](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertApiKey(ci));
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-2", "t1", "admin", "bbbb")));
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-3", "t1", "Zed", "cccc")));
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-4", "t2", "admin", "dddd")));
  });
  InTransaction([&](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.FindApiKeyByHash("aaaa")), EqualsProto(ci));
    EXPECT_EQ(Must(tx.FindApiKeyByHash("dddd")).tenant_id(), "t2");
    FWOTA_EXPECT_CODE(tx.FindApiKeyByHash("AAAA"), kNotFound);  // exact, as stored
    FWOTA_EXPECT_CODE(tx.FindApiKeyByHash("aaa"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindApiKeyByHash(""), kNotFound);
    // By name, in byte order.
    EXPECT_THAT(Ids(Must(tx.ListApiKeys("t1"))), ElementsAre("key-3", "key-2", "key-1"));
    EXPECT_THAT(Ids(Must(tx.ListApiKeys("t2"))), ElementsAre("key-4"));
    EXPECT_THAT(Must(tx.ListApiKeys("t404")), IsEmpty());
    EXPECT_THAT(Must(tx.ListApiKeys("")), IsEmpty());
  });
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.DeleteApiKey("key-1"));
    FWOTA_EXPECT_CODE(tx.FindApiKeyByHash("aaaa"), kNotFound);
    FWOTA_EXPECT_CODE(tx.DeleteApiKey("key-1"), kNotFound);
    FWOTA_EXPECT_CODE(tx.DeleteApiKey("key-404"), kNotFound);
    EXPECT_THAT(Ids(Must(tx.ListApiKeys("t1"))), ElementsAre("key-3", "key-2"));
    // Its id, name and hash are free again.
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-1", "t1", "ci", "aaaa")));
  });
}

TEST_P(MetadataStoreConformanceTest, ApiKeyDuplicates) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-1", "t1", "ci", "secret-hash")));
    FWOTA_EXPECT_CODE(tx.InsertApiKey(MakeApiKey("key-1", "t2", "other", "other-hash")),
                      kAlreadyExists);
    // The hash is unique across tenants, the name within one.
    absl::Status s = tx.InsertApiKey(MakeApiKey("key-2", "t2", "other", "secret-hash"));
    FWOTA_EXPECT_CODE(s, kAlreadyExists);
    EXPECT_THAT(std::string(s.message()), HasSubstr("key hash"));
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("secret-hash")));
    s = tx.InsertApiKey(MakeApiKey("key-2", "t1", "ci", "other-hash"));
    FWOTA_EXPECT_CODE(s, kAlreadyExists);
    EXPECT_THAT(std::string(s.message()), HasSubstr("named 'ci'"));
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-2", "t2", "ci", "other-hash")));
    EXPECT_THAT(Ids(Must(tx.ListApiKeys("t1"))), ElementsAre("key-1"));
    EXPECT_EQ(Must(tx.FindApiKeyByHash("secret-hash")).id(), "key-1");
  });
}

TEST_P(MetadataStoreConformanceTest, ApiKeyNeedsIdHashAndTenant) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.InsertApiKey(MakeApiKey("", "t1", "ci", "h")), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.InsertApiKey(MakeApiKey("key-1", "t1", "ci", "")), kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.InsertApiKey(MakeApiKey("key-1", "t404", "ci", "h")), kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.InsertApiKey(MakeApiKey("key-1", "", "ci", "h")), kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.FindApiKeyByHash("h"), kNotFound);
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-1", "t1", "ci", "h")));
  });
}

// ----- Update status --------------------------------------------------------------------

// Devices d1..d3 of t1 and d9 of t2.
void AddDevices(MetadataStore& store) {
  FWOTA_EXPECT_OK(store.RunInTransaction([](MetadataTransaction& tx) {
    FWOTA_RETURN_IF_ERROR(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "Kitchen Sensor", "tok1")));
    FWOTA_RETURN_IF_ERROR(tx.InsertDevice(MakeDevice("d2", "t1", "p1", "kitchen-gateway", "tok2")));
    FWOTA_RETURN_IF_ERROR(tx.InsertDevice(MakeDevice("d3", "t1", "p2", "Garage 50%", "tok3")));
    return tx.InsertDevice(MakeDevice("d9", "t2", "p9", "Kitchen Sensor", "tok9"));
  }));
}

TEST_P(MetadataStoreConformanceTest, UpdateStatusPutGetReplace) {
  AddTenantsAndProfiles();
  AddDevices(store());
  UpdateStatus fw =
      MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_DOWNLOADING, 100);
  fw.set_target_title("Ünïcödé ✓");
  fw.set_target_tag(std::string("nul\0inside", 10));
  fw.set_target_ts(int64_t{5} << 40);
  UpdateStatus sw = MakeUpdateStatus("t1", "d1", SOFTWARE, ::fwota::v1::UPDATE_STATE_FAILED, 200);
  sw.set_target_package_id("");  // none assigned
  InTransaction([&](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d1", FIRMWARE), kNotFound);
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(fw));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(sw));
  });
  InTransaction([&](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.GetUpdateStatus("d1", FIRMWARE)), EqualsProto(fw));
    EXPECT_THAT(Must(tx.GetUpdateStatus("d1", SOFTWARE)), EqualsProto(sw));
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d2", FIRMWARE), kNotFound);
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d404", FIRMWARE), kNotFound);
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("", FIRMWARE), kNotFound);
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d1", ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED),
                      kNotFound);
    // A second put replaces every field of the (device, type) row, and only that row.
    UpdateStatus updated =
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UPDATED, 300);
    updated.set_current_version("2.0");
    updated.set_target_package_id("");
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(updated));
    EXPECT_THAT(Must(tx.GetUpdateStatus("d1", FIRMWARE)), EqualsProto(updated));
    EXPECT_THAT(Must(tx.GetUpdateStatus("d1", SOFTWARE)), EqualsProto(sw));
    // The tenant too (the SQLite store writes a status of the same tenant another way).
    UpdateStatus moved = updated;
    moved.set_tenant_id("t2");
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(moved));
    EXPECT_THAT(Must(tx.GetUpdateStatus("d1", FIRMWARE)), EqualsProto(moved));
    UpdateStatus unknown_tenant = updated;
    unknown_tenant.set_tenant_id("t404");
    unknown_tenant.set_current_version("3.0");
    FWOTA_EXPECT_CODE(tx.PutUpdateStatus(unknown_tenant), kFailedPrecondition);
    EXPECT_THAT(Must(tx.GetUpdateStatus("d1", FIRMWARE)), EqualsProto(moved));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(updated));
    EXPECT_THAT(Must(tx.GetUpdateStatus("d1", FIRMWARE)), EqualsProto(updated));
    EXPECT_EQ(Must(tx.ListUpdateStatuses("t1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UNSPECIFIED,
                                         Query(10)))
                  .total_elements,
              1);
  });
}

TEST_P(MetadataStoreConformanceTest, UpdateStatusRefusals) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.PutUpdateStatus(MakeUpdateStatus("t1", "d404", FIRMWARE,
                                                          ::fwota::v1::UPDATE_STATE_QUEUED, 1)),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.PutUpdateStatus(MakeUpdateStatus("t1", "", FIRMWARE,
                                                          ::fwota::v1::UPDATE_STATE_QUEUED, 1)),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.PutUpdateStatus(MakeUpdateStatus("t404", "d1", FIRMWARE,
                                                          ::fwota::v1::UPDATE_STATE_QUEUED, 1)),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(
        tx.PutUpdateStatus(MakeUpdateStatus("t1", "d1", ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED,
                                            ::fwota::v1::UPDATE_STATE_QUEUED, 1)),
        kInvalidArgument);
    FWOTA_EXPECT_CODE(
        tx.PutUpdateStatus(MakeUpdateStatus("t1", "d1", static_cast<OtaPackageType>(7),
                                            ::fwota::v1::UPDATE_STATE_QUEUED, 1)),
        kInvalidArgument);
    FWOTA_EXPECT_CODE(
        tx.PutUpdateStatus(MakeUpdateStatus("t1", "d1", FIRMWARE, static_cast<UpdateState>(42), 1)),
        kInvalidArgument);
    absl::Status s = tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d404", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 1));
    EXPECT_THAT(std::string(s.message()), HasSubstr("d404"));
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d1", FIRMWARE), kNotFound);
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d404", FIRMWARE), kNotFound);
    EXPECT_THAT(Must(tx.CountUpdateStates("t1", FIRMWARE)), Each(0));
    // The same row with its device in place goes in.
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 1)));
  });
}

TEST_P(MetadataStoreConformanceTest, UpdateStatusKeepsItsTargetWhenThePackageGoes) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "2.0")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k2", "t1", "p1", FIRMWARE, "fw", "3.0")));
    UpdateStatus status =
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UPDATED, 10);
    status.set_target_package_id("k1");
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(status));
    UpdateEvent event =
        MakeUpdateEvent("e1", "t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UPDATED, 10);
    event.set_package_id("k1");
    FWOTA_EXPECT_OK(tx.AppendUpdateEvent(event));
    Device d2 = MakeDevice("d2", "t1", "p1", "kitchen-gateway", "tok2");
    d2.set_firmware_id("k2");
    FWOTA_EXPECT_OK(tx.UpdateDevice(d2));
  });
  InTransaction([](MetadataTransaction& tx) {
    // Statuses and events are no references: the package goes, the history stays.
    EXPECT_EQ(Must(tx.CountPackageReferences("k1")).devices, 0);
    FWOTA_EXPECT_OK(tx.DeletePackage("k1"));
    UpdateStatus status = Must(tx.GetUpdateStatus("d1", FIRMWARE));
    EXPECT_EQ(status.target_package_id(), "k1");
    EXPECT_EQ(status.target_version(), "2.0");
    EXPECT_THAT(Ids(Must(tx.ListUpdateEvents("d1", FIRMWARE, Query(10))).data), ElementsAre("e1"));
    // A device's own assignment still restricts as before.
    FWOTA_EXPECT_CODE(tx.DeletePackage("k2"), kFailedPrecondition);
  });
}

std::vector<std::string> DeviceIds(const std::vector<UpdateStatus>& statuses) {
  std::vector<std::string> ids;
  for (const UpdateStatus& s : statuses) ids.push_back(s.device_id());
  return ids;
}

TEST_P(MetadataStoreConformanceTest, ListUpdateStatusesFiltersAndSorts) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d4", "t1", "p1", "d4", "tok4")));
    using ::fwota::v1::UPDATE_STATE_DOWNLOADING;
    using ::fwota::v1::UPDATE_STATE_FAILED;
    using ::fwota::v1::UPDATE_STATE_UPDATED;
    // d2 and d3 tie in state_since: the device id breaks the tie.
    FWOTA_EXPECT_OK(
        tx.PutUpdateStatus(MakeUpdateStatus("t1", "d1", FIRMWARE, UPDATE_STATE_DOWNLOADING, 30)));
    FWOTA_EXPECT_OK(
        tx.PutUpdateStatus(MakeUpdateStatus("t1", "d3", FIRMWARE, UPDATE_STATE_FAILED, 20)));
    FWOTA_EXPECT_OK(
        tx.PutUpdateStatus(MakeUpdateStatus("t1", "d2", FIRMWARE, UPDATE_STATE_DOWNLOADING, 20)));
    FWOTA_EXPECT_OK(
        tx.PutUpdateStatus(MakeUpdateStatus("t1", "d4", FIRMWARE, UPDATE_STATE_UPDATED, 40)));
    FWOTA_EXPECT_OK(
        tx.PutUpdateStatus(MakeUpdateStatus("t1", "d1", SOFTWARE, UPDATE_STATE_DOWNLOADING, 99)));
    FWOTA_EXPECT_OK(
        tx.PutUpdateStatus(MakeUpdateStatus("t2", "d9", FIRMWARE, UPDATE_STATE_DOWNLOADING, 50)));
  });
  InTransaction([](MetadataTransaction& tx) {
    auto list = [&tx](const std::string& tenant, OtaPackageType type, UpdateState state,
                      bool ascending = false) {
      PageQuery query = Query(100);
      query.ascending = ascending;
      Page<UpdateStatus> page = Must(tx.ListUpdateStatuses(tenant, type, state, query));
      EXPECT_EQ(page.total_elements, static_cast<int64_t>(page.data.size()));
      return DeviceIds(page.data);
    };
    const UpdateState all = ::fwota::v1::UPDATE_STATE_UNSPECIFIED;
    // Newest state first; ties by device id in the same direction.
    EXPECT_THAT(list("t1", FIRMWARE, all), ElementsAre("d4", "d1", "d3", "d2"));
    EXPECT_THAT(list("t1", FIRMWARE, all, true), ElementsAre("d2", "d3", "d1", "d4"));
    EXPECT_THAT(list("t1", FIRMWARE, ::fwota::v1::UPDATE_STATE_DOWNLOADING),
                ElementsAre("d1", "d2"));
    EXPECT_THAT(list("t1", FIRMWARE, ::fwota::v1::UPDATE_STATE_FAILED), ElementsAre("d3"));
    EXPECT_THAT(list("t1", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED), IsEmpty());
    EXPECT_THAT(list("t1", SOFTWARE, all), ElementsAre("d1"));
    EXPECT_THAT(list("t2", FIRMWARE, all), ElementsAre("d9"));
    EXPECT_THAT(list("t2", SOFTWARE, all), IsEmpty());
    EXPECT_THAT(list("t404", FIRMWARE, all), IsEmpty());
    EXPECT_THAT(list("t1", ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED, all), IsEmpty());
  });
}

TEST_P(MetadataStoreConformanceTest, ListUpdateStatusesSearchesTheDeviceName) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    int since = 0;
    for (const char* device : {"d1", "d2", "d3"}) {
      UpdateStatus status =
          MakeUpdateStatus("t1", device, FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, ++since);
      status.set_target_title("kitchen firmware");  // never searched
      FWOTA_EXPECT_OK(tx.PutUpdateStatus(status));
    }
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t2", "d9", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 9)));
  });
  auto search = [this](const std::string& text) {
    std::vector<std::string> ids;
    InTransaction([&](MetadataTransaction& tx) {
      PageQuery query = Query(100);
      query.text_search = text;
      Page<UpdateStatus> page =
          Must(tx.ListUpdateStatuses("t1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UNSPECIFIED, query));
      EXPECT_EQ(page.total_elements, static_cast<int64_t>(page.data.size())) << text;
      ids = DeviceIds(page.data);
    });
    return ids;
  };
  EXPECT_THAT(search("KITCHEN"), ElementsAre("d2", "d1"));
  EXPECT_THAT(search("sensor"), ElementsAre("d1"));
  EXPECT_THAT(search("n-g"), ElementsAre("d2"));
  EXPECT_THAT(search("50%"), ElementsAre("d3"));
  EXPECT_THAT(search("%"), ElementsAre("d3"));
  EXPECT_THAT(search("_"), IsEmpty());
  EXPECT_THAT(search("firmware"), IsEmpty());  // the target's title is not the device name
  EXPECT_THAT(search("d1"), IsEmpty());        // nor is the device id
  EXPECT_THAT(search(""), ElementsAre("d3", "d2", "d1"));
  // The search follows a renamed device.
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.UpdateDevice(MakeDevice("d3", "t1", "p2", "Kitchen Boiler", "tok3")));
  });
  EXPECT_THAT(search("kitchen"), ElementsAre("d3", "d2", "d1"));
}

TEST_P(MetadataStoreConformanceTest, ListUpdateStatusesPaging) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    for (int n = 0; n < 23; ++n) {
      const int i = (n * 5) % 23;  // a permutation
      const std::string id = absl::StrFormat("dev-%02d", i);
      FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice(id, "t1", "p1", id, "tok-" + id)));
      FWOTA_EXPECT_OK(tx.PutUpdateStatus(MakeUpdateStatus(
          "t1", id, FIRMWARE,
          i % 2 == 0 ? ::fwota::v1::UPDATE_STATE_QUEUED : ::fwota::v1::UPDATE_STATE_UPDATED,
          /*state_since=*/100 + i / 3)));
    }
  });
  for (bool ascending : {false, true}) {
    SCOPED_TRACE(ascending ? "ascending" : "descending");
    std::vector<UpdateStatus> seen;
    for (int page_number = 0;; ++page_number) {
      ASSERT_LT(page_number, 10);
      PageQuery query = Query(5, page_number);
      query.ascending = ascending;
      Page<UpdateStatus> page;
      InTransaction([&](MetadataTransaction& tx) {
        page = Must(
            tx.ListUpdateStatuses("t1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UNSPECIFIED, query));
      });
      EXPECT_EQ(page.total_elements, 23);
      EXPECT_EQ(page.total_pages, 5);
      EXPECT_EQ(page.has_next, page_number < 4);
      seen.insert(seen.end(), page.data.begin(), page.data.end());
      if (!page.has_next) break;
    }
    ASSERT_EQ(seen.size(), 23u);
    for (size_t i = 1; i < seen.size(); ++i) {
      auto prev = std::make_tuple(seen[i - 1].state_since(), seen[i - 1].device_id());
      auto next = std::make_tuple(seen[i].state_since(), seen[i].device_id());
      EXPECT_TRUE(ascending ? prev < next : next < prev) << i;
    }
  }
  InTransaction([](MetadataTransaction& tx) {
    Page<UpdateStatus> queued =
        Must(tx.ListUpdateStatuses("t1", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, Query(5, 2)));
    EXPECT_EQ(queued.total_elements, 12);
    EXPECT_EQ(queued.total_pages, 3);
    EXPECT_EQ(queued.data.size(), 2u);
    EXPECT_FALSE(queued.has_next);
    Page<UpdateStatus> beyond = Must(
        tx.ListUpdateStatuses("t1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UNSPECIFIED, Query(5, 9)));
    EXPECT_THAT(beyond.data, IsEmpty());
    EXPECT_EQ(beyond.total_elements, 23);
    EXPECT_FALSE(beyond.has_next);
  });
}

TEST_P(MetadataStoreConformanceTest, CountUpdateStates) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    const std::vector<int64_t> none = Must(tx.CountUpdateStates("t1", FIRMWARE));
    EXPECT_EQ(none.size(), 9u);
    EXPECT_THAT(none, Each(0));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d4", "t1", "p1", "d4", "tok4")));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_FAILED, 1)));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d2", FIRMWARE, ::fwota::v1::UPDATE_STATE_FAILED, 1)));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d3", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 1)));
    // A state of UNSPECIFIED is stored and counted at index 0.
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d4", FIRMWARE, ::fwota::v1::UPDATE_STATE_UNSPECIFIED, 1)));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d1", SOFTWARE, ::fwota::v1::UPDATE_STATE_UPDATED, 1)));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t2", "d9", FIRMWARE, ::fwota::v1::UPDATE_STATE_FAILED, 1)));
    EXPECT_THAT(Must(tx.CountUpdateStates("t1", FIRMWARE)), ElementsAre(1, 1, 0, 0, 0, 0, 0, 0, 2));
    EXPECT_THAT(Must(tx.CountUpdateStates("t1", SOFTWARE)), ElementsAre(0, 0, 0, 0, 0, 0, 0, 1, 0));
    EXPECT_THAT(Must(tx.CountUpdateStates("t2", FIRMWARE)), ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 1));
    EXPECT_THAT(Must(tx.CountUpdateStates("t404", FIRMWARE)),
                ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 0));
    // Moving a device to another state moves its count.
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UPDATED, 2)));
    EXPECT_THAT(Must(tx.CountUpdateStates("t1", FIRMWARE)), ElementsAre(1, 1, 0, 0, 0, 0, 0, 1, 1));
  });
}

// ----- Update events --------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, UpdateEventsNewestFirstWithPaging) {
  AddTenantsAndProfiles();
  AddDevices(store());
  UpdateEvent rejected =
      MakeUpdateEvent("e-x", "t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_FAILED, 1000);
  rejected.set_accepted(false);
  rejected.set_package_id("");
  rejected.set_source("server");
  rejected.set_note("Ünïcödé ✓ 'quoted'");
  InTransaction([&](MetadataTransaction& tx) {
    for (int n = 0; n < 17; ++n) {
      const int i = (n * 7) % 17;
      FWOTA_EXPECT_OK(tx.AppendUpdateEvent(MakeUpdateEvent(
          absl::StrFormat("e%02d", i), "t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_DOWNLOADING,
          /*created_time=*/i / 2)));
    }
    FWOTA_EXPECT_OK(tx.AppendUpdateEvent(rejected));
    FWOTA_EXPECT_OK(tx.AppendUpdateEvent(
        MakeUpdateEvent("s1", "t1", "d1", SOFTWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 5000)));
    FWOTA_EXPECT_OK(tx.AppendUpdateEvent(
        MakeUpdateEvent("o1", "t1", "d2", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 5000)));
  });
  std::vector<UpdateEvent> seen;
  for (int page_number = 0;; ++page_number) {
    ASSERT_LT(page_number, 10);
    Page<UpdateEvent> page;
    InTransaction([&](MetadataTransaction& tx) {
      page = Must(tx.ListUpdateEvents("d1", FIRMWARE, Query(4, page_number)));
    });
    EXPECT_EQ(page.total_elements, 18);
    EXPECT_EQ(page.total_pages, 5);
    seen.insert(seen.end(), page.data.begin(), page.data.end());
    if (!page.has_next) break;
  }
  ASSERT_EQ(seen.size(), 18u);
  EXPECT_THAT(seen.front(), EqualsProto(rejected));
  EXPECT_EQ(seen[1].id(), "e16");
  EXPECT_EQ(seen.back().id(), "e00");
  for (size_t i = 1; i < seen.size(); ++i) {
    // Ties in created_time (e.g. e02 and e03) by id, newest (largest) first.
    EXPECT_GT(std::make_tuple(seen[i - 1].created_time(), seen[i - 1].id()),
              std::make_tuple(seen[i].created_time(), seen[i].id()));
  }
  InTransaction([](MetadataTransaction& tx) {
    PageQuery oldest_first = Query(3);
    oldest_first.ascending = true;
    EXPECT_THAT(Ids(Must(tx.ListUpdateEvents("d1", FIRMWARE, oldest_first)).data),
                ElementsAre("e00", "e01", "e02"));
    EXPECT_THAT(Ids(Must(tx.ListUpdateEvents("d1", SOFTWARE, Query(10))).data), ElementsAre("s1"));
    EXPECT_THAT(Ids(Must(tx.ListUpdateEvents("d2", FIRMWARE, Query(10))).data), ElementsAre("o1"));
    Page<UpdateEvent> none = Must(tx.ListUpdateEvents("d404", FIRMWARE, Query(10)));
    EXPECT_THAT(none.data, IsEmpty());
    EXPECT_EQ(none.total_elements, 0);
    EXPECT_EQ(none.total_pages, 0);
    EXPECT_EQ(Must(tx.ListUpdateEvents("d1", FIRMWARE, Query(4, 9))).total_elements, 18);
  });
}

TEST_P(MetadataStoreConformanceTest, UpdateEventSearchMatchesTheTitle) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    int n = 0;
    for (const char* title : {"Main FW", "main-fw-beta", "bootloader"}) {
      UpdateEvent event = MakeUpdateEvent(absl::StrCat("e", n), "t1", "d1", FIRMWARE,
                                          ::fwota::v1::UPDATE_STATE_QUEUED, /*created_time=*/n);
      ++n;
      event.set_title(title);
      FWOTA_EXPECT_OK(tx.AppendUpdateEvent(event));
    }
    PageQuery query = Query(10);
    query.text_search = "MAIN";
    Page<UpdateEvent> page = Must(tx.ListUpdateEvents("d1", FIRMWARE, query));
    EXPECT_THAT(Ids(page.data), ElementsAre("e1", "e0"));
    EXPECT_EQ(page.total_elements, 2);
    query.text_search = "note";  // the note is not searched
    EXPECT_THAT(Must(tx.ListUpdateEvents("d1", FIRMWARE, query)).data, IsEmpty());
  });
}

TEST_P(MetadataStoreConformanceTest, UpdateEventRefusals) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.AppendUpdateEvent(
        MakeUpdateEvent("e1", "t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 1)));
    FWOTA_EXPECT_CODE(tx.AppendUpdateEvent(MakeUpdateEvent("e1", "t1", "d2", FIRMWARE,
                                                           ::fwota::v1::UPDATE_STATE_UPDATED, 2)),
                      kAlreadyExists);
    FWOTA_EXPECT_CODE(tx.AppendUpdateEvent(MakeUpdateEvent("e2", "t1", "d404", FIRMWARE,
                                                           ::fwota::v1::UPDATE_STATE_QUEUED, 2)),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.AppendUpdateEvent(MakeUpdateEvent("e2", "t1", "", FIRMWARE,
                                                           ::fwota::v1::UPDATE_STATE_QUEUED, 2)),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.AppendUpdateEvent(MakeUpdateEvent("e2", "t404", "d1", FIRMWARE,
                                                           ::fwota::v1::UPDATE_STATE_QUEUED, 2)),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.AppendUpdateEvent(MakeUpdateEvent("", "t1", "d1", FIRMWARE,
                                                           ::fwota::v1::UPDATE_STATE_QUEUED, 2)),
                      kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.AppendUpdateEvent(MakeUpdateEvent(
                          "e2", "t1", "d1", ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED,
                          ::fwota::v1::UPDATE_STATE_QUEUED, 2)),
                      kInvalidArgument);
    FWOTA_EXPECT_CODE(tx.AppendUpdateEvent(MakeUpdateEvent("e2", "t1", "d1", FIRMWARE,
                                                           static_cast<UpdateState>(-1), 2)),
                      kInvalidArgument);
    EXPECT_THAT(Ids(Must(tx.ListUpdateEvents("d1", FIRMWARE, Query(10))).data), ElementsAre("e1"));
    EXPECT_THAT(Must(tx.ListUpdateEvents("d2", FIRMWARE, Query(10))).data, IsEmpty());
  });
}

// ----- Device deletion takes its history ------------------------------------------------

TEST_P(MetadataStoreConformanceTest, DeleteDeviceDeletesItsStatusesAndEvents) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    for (const char* device : {"d1", "d2"}) {
      for (OtaPackageType type : {FIRMWARE, SOFTWARE}) {
        FWOTA_EXPECT_OK(tx.PutUpdateStatus(
            MakeUpdateStatus("t1", device, type, ::fwota::v1::UPDATE_STATE_FAILED, 1)));
        for (int i = 0; i < 3; ++i) {
          FWOTA_EXPECT_OK(tx.AppendUpdateEvent(
              MakeUpdateEvent(absl::StrCat(device, "-", static_cast<int>(type), "-", i), "t1",
                              device, type, ::fwota::v1::UPDATE_STATE_QUEUED, i)));
        }
      }
    }
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-1", "t1", "ci", "h")));
  });
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.DeleteDevice("d1"));
    for (OtaPackageType type : {FIRMWARE, SOFTWARE}) {
      FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d1", type), kNotFound);
      EXPECT_EQ(Must(tx.ListUpdateEvents("d1", type, Query(10))).total_elements, 0);
      // The other device keeps its history.
      FWOTA_EXPECT_OK(tx.GetUpdateStatus("d2", type));
      EXPECT_EQ(Must(tx.ListUpdateEvents("d2", type, Query(10))).total_elements, 3);
    }
    EXPECT_THAT(Must(tx.CountUpdateStates("t1", FIRMWARE)), ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 1));
    EXPECT_THAT(
        DeviceIds(Must(tx.ListUpdateStatuses("t1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UNSPECIFIED,
                                             Query(10)))
                      .data),
        ElementsAre("d2"));
    FWOTA_EXPECT_OK(tx.FindApiKeyByHash("h"));
  });
  // A new device under the old id starts without history, and event ids are free again.
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "Kitchen Sensor", "tok1")));
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d1", FIRMWARE), kNotFound);
    EXPECT_EQ(Must(tx.ListUpdateEvents("d1", FIRMWARE, Query(10))).total_elements, 0);
    FWOTA_EXPECT_OK(tx.AppendUpdateEvent(
        MakeUpdateEvent("d1-1-0", "t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 7)));
  });
}

TEST_P(MetadataStoreConformanceTest, RollbackUndoesApiKeysStatusesAndEvents) {
  AddTenantsAndProfiles();
  AddDevices(store());
  const UpdateStatus before =
      MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 1);
  InTransaction([&](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-1", "t1", "ci", "h1")));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(before));
    FWOTA_EXPECT_OK(tx.AppendUpdateEvent(
        MakeUpdateEvent("e1", "t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 1)));
  });
  const absl::Status failure = absl::AbortedError("changed my mind");
  EXPECT_EQ(store().RunInTransaction([&](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertApiKey(MakeApiKey("key-2", "t1", "deploy", "h2")));
    FWOTA_EXPECT_OK(tx.DeleteApiKey("key-1"));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_UPDATED, 2)));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d2", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 2)));
    FWOTA_EXPECT_OK(tx.AppendUpdateEvent(
        MakeUpdateEvent("e2", "t1", "d2", FIRMWARE, ::fwota::v1::UPDATE_STATE_QUEUED, 2)));
    FWOTA_EXPECT_OK(tx.DeleteDevice("d1"));  // cascades, inside the transaction
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d1", FIRMWARE), kNotFound);
    return failure;
  }),
            failure);
  InTransaction([&](MetadataTransaction& tx) {
    EXPECT_THAT(Ids(Must(tx.ListApiKeys("t1"))), ElementsAre("key-1"));
    FWOTA_EXPECT_CODE(tx.FindApiKeyByHash("h2"), kNotFound);
    FWOTA_EXPECT_OK(tx.GetDevice("d1"));
    EXPECT_THAT(Must(tx.GetUpdateStatus("d1", FIRMWARE)), EqualsProto(before));
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d2", FIRMWARE), kNotFound);
    EXPECT_THAT(Ids(Must(tx.ListUpdateEvents("d1", FIRMWARE, Query(10))).data), ElementsAre("e1"));
    EXPECT_EQ(Must(tx.ListUpdateEvents("d2", FIRMWARE, Query(10))).total_elements, 0);
  });
}

// ----- Transactions ---------------------------------------------------------------------

TEST_P(MetadataStoreConformanceTest, RollbackWhenBodyFails) {
  AddTenantsAndProfiles();
  const absl::Status failure = absl::AbortedError("changed my mind");
  absl::Status result = store().RunInTransaction([&](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertTenant(MakeTenant("t3", "Three")));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t3", "", "dev", "tok")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1")));
    FWOTA_EXPECT_OK(tx.AppendAudit(MakeAudit("a1", "t1", "x", 1)));
    // Visible inside the transaction...
    FWOTA_EXPECT_OK(tx.GetTenant("t3"));
    EXPECT_EQ(Must(tx.FindDeviceByAccessToken("tok")).id(), "d1");
    return failure;
  });
  EXPECT_EQ(result, failure);  // the body's status, as it was
  // ...and gone after.
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.GetTenant("t3"), kNotFound);
    FWOTA_EXPECT_CODE(tx.GetDevice("d1"), kNotFound);
    FWOTA_EXPECT_CODE(tx.FindDeviceByAccessToken("tok"), kNotFound);
    FWOTA_EXPECT_CODE(tx.GetPackage("k1"), kNotFound);
    EXPECT_EQ(Must(tx.ListAudit("t1", Query(10))).total_elements, 0);
    EXPECT_THAT(Must(tx.ListBlobKeys()), IsEmpty());
    EXPECT_EQ(Must(tx.ListTenants()).size(), 2u);
  });
}

TEST_P(MetadataStoreConformanceTest, RollbackUndoesUpdatesAndDeletes) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "dev", "tok")));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1")));
  });
  EXPECT_THAT(store().RunInTransaction([](MetadataTransaction& tx) {
    FWOTA_RETURN_IF_ERROR(tx.UpdateDevice(MakeDevice("d1", "t1", "p2", "moved", "tok2")));
    FWOTA_RETURN_IF_ERROR(tx.UpdateProfile(MakeProfile("p1", "t1", "renamed")));
    FWOTA_RETURN_IF_ERROR(tx.DeletePackage("k1"));
    FWOTA_RETURN_IF_ERROR(tx.DeleteDevice("d1"));
    return tx.InsertTenant(MakeTenant("t9", "Tenant One"));  // duplicate name: fails
  }),
              HasCode(absl::StatusCode::kAlreadyExists));
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.GetDevice("d1")), EqualsProto(MakeDevice("d1", "t1", "p1", "dev", "tok")));
    EXPECT_EQ(Must(tx.GetProfile("p1")).name(), "thermostat");
    FWOTA_EXPECT_OK(tx.GetPackage("k1"));
    FWOTA_EXPECT_CODE(tx.GetTenant("t9"), kNotFound);
  });
}

TEST_P(MetadataStoreConformanceTest, BodyMayRecoverFromAFailedCall) {
  AddTenantsAndProfiles();
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertTenant(MakeTenant("t3", "Three")));
    FWOTA_EXPECT_CODE(tx.InsertTenant(MakeTenant("t4", "Three")), kAlreadyExists);
    FWOTA_EXPECT_CODE(tx.InsertDevice(MakeDevice("d1", "t1", "p404", "dev", "tok")),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.DeleteProfile("p404"), kNotFound);
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d1", "t1", "p1", "dev", "tok")));
  });
  // The failed calls left nothing behind; the good ones were committed.
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.GetTenant("t3"));
    FWOTA_EXPECT_CODE(tx.GetTenant("t4"), kNotFound);
    EXPECT_EQ(Must(tx.GetDevice("d1")).device_profile_id(), "p1");
  });
}

TEST_P(MetadataStoreConformanceTest, ExceptionInBodyRollsBackAndPropagates) {
  AddTenantsAndProfiles();
  EXPECT_THROW(store()
                   .RunInTransaction([](MetadataTransaction& tx) -> absl::Status {
                     FWOTA_EXPECT_OK(tx.InsertTenant(MakeTenant("t3", "Three")));
                     throw std::runtime_error("the caller's own failure");
                   })
                   .IgnoreError(),
               std::runtime_error);
  // Nothing of it stayed, and the store works on.
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.GetTenant("t3"), kNotFound);
    FWOTA_EXPECT_OK(tx.InsertTenant(MakeTenant("t3", "Three")));
  });
  InTransaction([](MetadataTransaction& tx) { FWOTA_EXPECT_OK(tx.GetTenant("t3")); });
}

TEST_P(MetadataStoreConformanceTest, ConcurrentTransactionsLoseNoUpdates) {
  AddTenantsAndProfiles();
  constexpr int kThreads = 4;
  constexpr int kIncrements = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &failures] {
      for (int i = 0; i < kIncrements; ++i) {
        // Read, modify, write: the profile's created_time serves as a counter.
        absl::Status s = store().RunInTransaction([&](MetadataTransaction& tx) {
          FWOTA_ASSIGN_OR_RETURN(DeviceProfile p, tx.GetProfile("p1"));
          p.set_created_time(p.created_time() + 1);
          FWOTA_RETURN_IF_ERROR(tx.UpdateProfile(p));
          return tx.AppendAudit(MakeAudit(absl::StrCat("a-", t, "-", i), "t1", "p1", i));
        });
        if (!s.ok()) {
          ++failures;
          ADD_FAILURE() << s;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_EQ(Must(tx.GetProfile("p1")).created_time(), 2 + kThreads * kIncrements);
    EXPECT_EQ(Must(tx.ListAudit("t1", Query(10))).total_elements, kThreads * kIncrements);
  });
}

// ----- Notice queue and silent statuses ---------------------------------------------------

Notice MakeNotice(const std::string& tenant_id, const std::string& device_id, OtaPackageType type,
                  const std::string& package_id, int64_t created_time) {
  Notice n;
  n.set_tenant_id(tenant_id);
  n.set_device_id(device_id);
  n.set_type(type);
  n.set_package_id(package_id);
  n.set_reason(package_id.empty() ? "unassigned" : "assigned");
  n.set_created_time(created_time);
  return n;
}

std::vector<std::string> NoticeKeys(const std::vector<Notice>& notices) {
  std::vector<std::string> keys;
  for (const Notice& n : notices) {
    keys.push_back(absl::StrCat(n.device_id(), "/", static_cast<int>(n.type()), "/",
                                n.package_id()));
  }
  return keys;
}

TEST_P(MetadataStoreConformanceTest, NoticeQueueIsFifoWithOneNoticePerDeviceAndType) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_EQ(Must(tx.CountNotices()), 0);
    EXPECT_THAT(Must(tx.ListNotices(10, false)), ElementsAre());
    FWOTA_EXPECT_OK(tx.PutNotice(MakeNotice("t1", "d1", FIRMWARE, "k1", 1)));
    FWOTA_EXPECT_OK(tx.PutNotice(MakeNotice("t1", "d2", FIRMWARE, "k1", 2)));
    FWOTA_EXPECT_OK(tx.PutNotice(MakeNotice("t1", "d1", SOFTWARE, "", 3)));
    FWOTA_EXPECT_OK(tx.PutNotice(MakeNotice("t2", "d9", FIRMWARE, "k9", 4)));
  });
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_EQ(Must(tx.CountNotices()), 4);
    EXPECT_THAT(NoticeKeys(Must(tx.ListNotices(10, false))),
                ElementsAre("d1/1/k1", "d2/1/k1", "d1/2/", "d9/1/k9"));
    EXPECT_THAT(NoticeKeys(Must(tx.ListNotices(2, false))), ElementsAre("d1/1/k1", "d2/1/k1"));
    EXPECT_THAT(NoticeKeys(Must(tx.ListNotices(10, true))), ElementsAre("d1/2/"));
    EXPECT_THAT(Must(tx.ListNotices(0, false)), ElementsAre());
    // A newer notice for d1's firmware replaces the old one and goes to the back.
    FWOTA_EXPECT_OK(tx.PutNotice(MakeNotice("t1", "d1", FIRMWARE, "k2", 5)));
    std::vector<Notice> all = Must(tx.ListNotices(10, false));
    EXPECT_THAT(NoticeKeys(all), ElementsAre("d2/1/k1", "d1/2/", "d9/1/k9", "d1/1/k2"));
    for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].seq(), all[i].seq());
    EXPECT_EQ(all.back().reason(), "assigned");
    EXPECT_EQ(all.back().created_time(), 5);
    EXPECT_EQ(all.back().tenant_id(), "t1");
    // Deleting by seq removes exactly that notice, once.
    FWOTA_EXPECT_OK(tx.DeleteNotice(all[0].seq()));
    FWOTA_EXPECT_CODE(tx.DeleteNotice(all[0].seq()), kNotFound);
    FWOTA_EXPECT_CODE(tx.DeleteNotice(-1), kNotFound);
    EXPECT_EQ(Must(tx.CountNotices()), 3);
  });
}

TEST_P(MetadataStoreConformanceTest, NoticeRefusalsAndRollback) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.PutNotice(MakeNotice("t1", "", FIRMWARE, "k1", 1)), kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.PutNotice(MakeNotice("t1", "d404", FIRMWARE, "k1", 1)),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.PutNotice(MakeNotice("t404", "d1", FIRMWARE, "k1", 1)),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(
        tx.PutNotice(MakeNotice("t1", "d1", ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED, "k1", 1)),
        kInvalidArgument);
    EXPECT_EQ(Must(tx.CountNotices()), 0);
  });
  absl::Status failed = store().RunInTransaction([](MetadataTransaction& tx) {
    FWOTA_RETURN_IF_ERROR(tx.PutNotice(MakeNotice("t1", "d1", FIRMWARE, "k1", 1)));
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  InTransaction([](MetadataTransaction& tx) { EXPECT_EQ(Must(tx.CountNotices()), 0); });
}

TEST_P(MetadataStoreConformanceTest, DeleteDeviceDeletesItsNotices) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.PutNotice(MakeNotice("t1", "d1", FIRMWARE, "k1", 1)));
    FWOTA_EXPECT_OK(tx.PutNotice(MakeNotice("t1", "d1", SOFTWARE, "k3", 2)));
    FWOTA_EXPECT_OK(tx.PutNotice(MakeNotice("t1", "d2", FIRMWARE, "k1", 3)));
  });
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.DeleteDevice("d1"));
    EXPECT_THAT(NoticeKeys(Must(tx.ListNotices(10, false))), ElementsAre("d2/1/k1"));
  });
}

TEST_P(MetadataStoreConformanceTest, SilentStatusesAndTouch) {
  AddTenantsAndProfiles();
  AddDevices(store());
  const UpdateState downloading = ::fwota::v1::UPDATE_STATE_DOWNLOADING;
  InTransaction([&](MetadataTransaction& tx) {
    // MakeUpdateStatus sets last_activity = state_since + 5.
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(MakeUpdateStatus("t1", "d1", FIRMWARE, downloading, 100)));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(MakeUpdateStatus("t1", "d2", FIRMWARE, downloading, 50)));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(MakeUpdateStatus("t1", "d3", SOFTWARE, downloading, 70)));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t2", "d9", FIRMWARE, ::fwota::v1::UPDATE_STATE_INITIATED, 10)));
  });
  InTransaction([&](MetadataTransaction& tx) {
    // Silent since before 106: all three downloading ones, oldest first, any tenant/type.
    EXPECT_THAT(DeviceIds(Must(tx.ListSilentStatuses(downloading, 106, 10))),
                ElementsAre("d2", "d3", "d1"));
    EXPECT_THAT(DeviceIds(Must(tx.ListSilentStatuses(downloading, 106, 2))),
                ElementsAre("d2", "d3"));
    // Before 105: d1's last activity (105) is not earlier.
    EXPECT_THAT(DeviceIds(Must(tx.ListSilentStatuses(downloading, 105, 10))),
                ElementsAre("d2", "d3"));
    EXPECT_THAT(DeviceIds(Must(tx.ListSilentStatuses(::fwota::v1::UPDATE_STATE_INITIATED, 1000,
                                                     10))),
                ElementsAre("d9"));
    EXPECT_THAT(Must(tx.ListSilentStatuses(::fwota::v1::UPDATE_STATE_UPDATING, 1000, 10)),
                ElementsAre());
    // Touch moves last_activity forward only, and only of that row.
    FWOTA_EXPECT_OK(tx.TouchUpdateStatus("d2", FIRMWARE, 200));
    FWOTA_EXPECT_OK(tx.TouchUpdateStatus("d3", SOFTWARE, 1));
    FWOTA_EXPECT_OK(tx.TouchUpdateStatus("d1", SOFTWARE, 500));  // no such status: no-op
    FWOTA_EXPECT_OK(tx.TouchUpdateStatus("d404", FIRMWARE, 500));
    EXPECT_EQ(Must(tx.GetUpdateStatus("d2", FIRMWARE)).last_activity(), 200);
    EXPECT_EQ(Must(tx.GetUpdateStatus("d3", SOFTWARE)).last_activity(), 75);
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d1", SOFTWARE), kNotFound);
    EXPECT_THAT(DeviceIds(Must(tx.ListSilentStatuses(downloading, 106, 10))),
                ElementsAre("d3", "d1"));
  });
}

TEST_P(MetadataStoreConformanceTest, RetargetProfileMembersInBulk) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k1", "t1", "p1", FIRMWARE, "fw", "1.0", 1)));
    FWOTA_EXPECT_OK(tx.InsertPackage(MakePackage("k2", "t1", "p1", FIRMWARE, "fw", "2.0", 2)));
    FWOTA_EXPECT_OK(tx.InsertDevice(MakeDevice("d4", "t1", "p1", "Attic", "tok4")));
    Device d2 = Must(tx.GetDevice("d2"));
    d2.set_firmware_id("k1");  // its own package: the profile does not touch it
    FWOTA_EXPECT_OK(tx.UpdateDevice(d2));
    FWOTA_EXPECT_OK(tx.PutUpdateStatus(
        MakeUpdateStatus("t1", "d1", FIRMWARE, ::fwota::v1::UPDATE_STATE_DOWNLOADING, 100)));
  });
  UpdateStatus target;
  target.set_state(::fwota::v1::UPDATE_STATE_QUEUED);
  target.set_target_package_id("k2");
  target.set_target_title("fw");
  target.set_target_version("2.0");
  target.set_target_tag("fw 2.0");
  target.set_target_ts(500);
  target.set_state_since(500);
  UpdateEvent event;
  event.set_id("01890000-0000-7000-8000-00000000ffff");
  event.set_type(FIRMWARE);
  event.set_state(::fwota::v1::UPDATE_STATE_QUEUED);
  event.set_package_id("k2");
  event.set_title("fw");
  event.set_version("2.0");
  event.set_source("server");
  event.set_accepted(true);
  event.set_note("assigned through the profile");
  event.set_created_time(500);
  Notice notice;
  notice.set_type(FIRMWARE);
  notice.set_package_id("k2");
  notice.set_reason("assigned");
  notice.set_created_time(500);
  InTransaction([&](MetadataTransaction& tx) {
    // d1 and d4 follow p1; d2 has its own package; d3 is in p2; d9 is another tenant's.
    EXPECT_EQ(Must(tx.RetargetProfileMembers("p1", FIRMWARE, target, event, notice)), 2);
    UpdateStatus d1 = Must(tx.GetUpdateStatus("d1", FIRMWARE));
    EXPECT_EQ(d1.state(), ::fwota::v1::UPDATE_STATE_QUEUED);
    EXPECT_EQ(d1.target_package_id(), "k2");
    EXPECT_EQ(d1.target_version(), "2.0");
    EXPECT_EQ(d1.target_ts(), 500);
    EXPECT_EQ(d1.state_since(), 500);
    EXPECT_EQ(d1.error(), "");
    EXPECT_EQ(d1.current_version(), "1.0");  // kept
    EXPECT_EQ(d1.last_activity(), 105);      // kept
    UpdateStatus d4 = Must(tx.GetUpdateStatus("d4", FIRMWARE));
    EXPECT_EQ(d4.tenant_id(), "t1");
    EXPECT_EQ(d4.state(), ::fwota::v1::UPDATE_STATE_QUEUED);
    EXPECT_EQ(d4.target_tag(), "fw 2.0");
    EXPECT_EQ(d4.current_title(), "");
    EXPECT_EQ(d4.last_activity(), 0);
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d2", FIRMWARE), kNotFound);
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d3", FIRMWARE), kNotFound);
    // One event each, ids in device id order after the base's first 24 characters.
    std::vector<UpdateEvent> attic = Must(tx.ListUpdateEvents("d4", FIRMWARE, Query(10))).data;
    ASSERT_EQ(attic.size(), 1u);
    EXPECT_EQ(attic[0].id(), "01890000-0000-7000-8000-000000000001");
    EXPECT_EQ(attic[0].tenant_id(), "t1");
    EXPECT_EQ(attic[0].note(), "assigned through the profile");
    EXPECT_EQ(attic[0].created_time(), 500);
    std::vector<UpdateEvent> kitchen = Must(tx.ListUpdateEvents("d1", FIRMWARE, Query(10))).data;
    ASSERT_EQ(kitchen.size(), 1u);
    EXPECT_EQ(kitchen[0].id(), "01890000-0000-7000-8000-000000000000");
    EXPECT_EQ(Must(tx.ListUpdateEvents("d2", FIRMWARE, Query(10))).total_elements, 0);
    // Notices in device id order, tenant and device filled in.
    std::vector<Notice> queued = Must(tx.ListNotices(10, false));
    EXPECT_THAT(NoticeKeys(queued), ElementsAre("d1/1/k2", "d4/1/k2"));
    EXPECT_EQ(queued[0].tenant_id(), "t1");
    EXPECT_EQ(queued[0].reason(), "assigned");
  });
  // Unassigning: statuses lose their target, only existing ones get an event, every
  // member gets a deletion notice (replacing its queued one).
  UpdateStatus none;
  none.set_target_ts(600);
  none.set_state_since(600);
  event.set_id("01890000-0001-7000-8000-000000000000");
  event.set_state(::fwota::v1::UPDATE_STATE_UNSPECIFIED);
  event.set_package_id("");
  event.set_title("");
  event.set_version("");
  event.set_note("unassigned through the profile");
  notice.set_package_id("");
  notice.set_reason("unassigned");
  InTransaction([&](MetadataTransaction& tx) {
    EXPECT_EQ(Must(tx.RetargetProfileMembers("p1", FIRMWARE, none, event, notice)), 2);
    UpdateStatus d1 = Must(tx.GetUpdateStatus("d1", FIRMWARE));
    EXPECT_EQ(d1.state(), ::fwota::v1::UPDATE_STATE_UNSPECIFIED);
    EXPECT_EQ(d1.target_package_id(), "");
    EXPECT_EQ(d1.target_title(), "");
    EXPECT_EQ(d1.state_since(), 600);
    EXPECT_EQ(Must(tx.ListUpdateEvents("d1", FIRMWARE, Query(10))).total_elements, 2);
    EXPECT_THAT(NoticeKeys(Must(tx.ListNotices(10, true))), ElementsAre("d1/1/", "d4/1/"));
    EXPECT_EQ(Must(tx.CountNotices()), 2);
    // Software: nobody has a status, so none is created and no event written.
    event.set_id("01890000-0002-7000-8000-000000000000");
    event.set_type(SOFTWARE);
    notice.set_type(SOFTWARE);
    EXPECT_EQ(Must(tx.RetargetProfileMembers("p1", SOFTWARE, none, event, notice)), 3);
    FWOTA_EXPECT_CODE(tx.GetUpdateStatus("d2", SOFTWARE), kNotFound);
    EXPECT_EQ(Must(tx.ListUpdateEvents("d2", SOFTWARE, Query(10))).total_elements, 0);
    EXPECT_EQ(Must(tx.CountNotices()), 5);
    // Bad input.
    FWOTA_EXPECT_CODE(tx.RetargetProfileMembers(
                          "p1", ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED, none, event, notice),
                      kInvalidArgument);
    EXPECT_EQ(Must(tx.RetargetProfileMembers("p404", FIRMWARE, target, event, notice)), 0);
  });
}

LoggedReport MakeLoggedReport(const std::string& device_id, OtaPackageType type,
                              const std::string& state, int64_t created_time) {
  LoggedReport r;
  r.tenant_id = "t1";
  r.device_id = device_id;
  r.type = type;
  r.state = state;
  r.error = state == "FAILED" ? "flash write error" : "";
  r.current_title = "fw";
  r.current_version = "1.0";
  r.created_time = created_time;
  return r;
}

// "<device>/<type>/<state>" of each entry, in the listed order.
std::vector<std::string> ReportKeys(const std::vector<LoggedReport>& reports) {
  std::vector<std::string> out;
  for (const LoggedReport& r : reports) {
    out.push_back(absl::StrCat(r.device_id, "/", static_cast<int>(r.type), "/", r.state));
  }
  return out;
}

TEST_P(MetadataStoreConformanceTest, ReportLogKeepsArrivalOrderUntilDeleted) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_THAT(Must(tx.ListReports(10)), IsEmpty());
    LoggedReport first = MakeLoggedReport("d2", FIRMWARE, "DOWNLOADING", 7);
    first.seq = 1000;  // ignored: the store numbers the entries
    FWOTA_EXPECT_OK(tx.AppendReport(first));
    FWOTA_EXPECT_OK(tx.AppendReport(MakeLoggedReport("d1", SOFTWARE, "", 8)));
    FWOTA_EXPECT_OK(tx.AppendReport(MakeLoggedReport("d2", FIRMWARE, "FAILED", 9)));
  });
  int64_t second_seq = 0;
  InTransaction([&](MetadataTransaction& tx) {
    std::vector<LoggedReport> all = Must(tx.ListReports(10));
    EXPECT_THAT(ReportKeys(all), ElementsAre("d2/1/DOWNLOADING", "d1/2/", "d2/1/FAILED"));
    ASSERT_EQ(all.size(), 3u);
    for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].seq, all[i].seq);
    const LoggedReport& failed = all[2];
    EXPECT_EQ(failed.tenant_id, "t1");
    EXPECT_EQ(failed.error, "flash write error");
    EXPECT_EQ(failed.current_title, "fw");
    EXPECT_EQ(failed.current_version, "1.0");
    EXPECT_EQ(failed.created_time, 9);
    EXPECT_THAT(ReportKeys(Must(tx.ListReports(2))), ElementsAre("d2/1/DOWNLOADING", "d1/2/"));
    EXPECT_THAT(Must(tx.ListReports(0)), IsEmpty());
    second_seq = all[1].seq;
    // Deletes the oldest two only; a later append is numbered after every entry left.
    FWOTA_EXPECT_OK(tx.DeleteReportsThrough(second_seq));
    FWOTA_EXPECT_OK(tx.AppendReport(MakeLoggedReport("d3", FIRMWARE, "UPDATED", 10)));
    std::vector<LoggedReport> left = Must(tx.ListReports(10));
    EXPECT_THAT(ReportKeys(left), ElementsAre("d2/1/FAILED", "d3/1/UPDATED"));
    ASSERT_EQ(left.size(), 2u);
    EXPECT_LT(left[0].seq, left[1].seq);
    FWOTA_EXPECT_OK(tx.DeleteReportsThrough(left[1].seq));
    EXPECT_THAT(Must(tx.ListReports(10)), IsEmpty());
  });
}

TEST_P(MetadataStoreConformanceTest, ReportLogRefusalsRollbackAndDeletedDevices) {
  AddTenantsAndProfiles();
  AddDevices(store());
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_CODE(tx.AppendReport(MakeLoggedReport("", FIRMWARE, "DOWNLOADING", 1)),
                      kFailedPrecondition);
    FWOTA_EXPECT_CODE(tx.AppendReport(MakeLoggedReport(
                          "d1", ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED, "DOWNLOADING", 1)),
                      kInvalidArgument);
    EXPECT_THAT(Must(tx.ListReports(10)), IsEmpty());
  });
  absl::Status failed = store().RunInTransaction([](MetadataTransaction& tx) {
    FWOTA_RETURN_IF_ERROR(tx.AppendReport(MakeLoggedReport("d1", FIRMWARE, "DOWNLOADING", 1)));
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  InTransaction([](MetadataTransaction& tx) { EXPECT_THAT(Must(tx.ListReports(10)), IsEmpty()); });
  // The device id is no checked reference: an entry outlives its device (the service
  // skips it), and deleting the device is not refused because of it.
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.AppendReport(MakeLoggedReport("d1", FIRMWARE, "DOWNLOADING", 1)));
    FWOTA_EXPECT_OK(tx.AppendReport(MakeLoggedReport("d404", FIRMWARE, "DOWNLOADING", 2)));
  });
  InTransaction([](MetadataTransaction& tx) {
    FWOTA_EXPECT_OK(tx.DeleteDevice("d1"));
    EXPECT_THAT(ReportKeys(Must(tx.ListReports(10))),
                ElementsAre("d1/1/DOWNLOADING", "d404/1/DOWNLOADING"));
  });
}

TEST_P(MetadataStoreConformanceTest, ReportLogAppendsReadsAfterAndTruncates) {
  ReportLog& log = store().report_log();
  EXPECT_THAT(Must(log.ReadAfter(0, 10)), IsEmpty());
  std::vector<LoggedReport> batch = {MakeLoggedReport("d2", FIRMWARE, "DOWNLOADING", 7),
                                     MakeLoggedReport("d1", SOFTWARE, "", 8),
                                     MakeLoggedReport("d2", FIRMWARE, "FAILED", 9)};
  batch[0].seq = 1000;  // ignored: the log numbers the entries
  FWOTA_ASSERT_OK(log.Append(batch));
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_GT(batch[0].seq, 0);
  EXPECT_LT(batch[0].seq, batch[1].seq);
  EXPECT_LT(batch[1].seq, batch[2].seq);
  std::vector<LoggedReport> all = Must(log.ReadAfter(0, 10));
  EXPECT_THAT(ReportKeys(all), ElementsAre("d2/1/DOWNLOADING", "d1/2/", "d2/1/FAILED"));
  ASSERT_EQ(all.size(), 3u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].seq, batch[i].seq);
  const LoggedReport& failed = all[2];
  EXPECT_EQ(failed.tenant_id, "t1");
  EXPECT_EQ(failed.error, "flash write error");
  EXPECT_EQ(failed.current_title, "fw");
  EXPECT_EQ(failed.current_version, "1.0");
  EXPECT_EQ(failed.created_time, 9);
  EXPECT_THAT(ReportKeys(Must(log.ReadAfter(batch[0].seq, 10))), ElementsAre("d1/2/", "d2/1/FAILED"));
  EXPECT_THAT(ReportKeys(Must(log.ReadAfter(0, 2))), ElementsAre("d2/1/DOWNLOADING", "d1/2/"));
  EXPECT_THAT(Must(log.ReadAfter(0, 0)), IsEmpty());
  EXPECT_THAT(Must(log.ReadAfter(batch[2].seq, 10)), IsEmpty());
  // Truncating drops the applied entries only; reading after an older seq finds none of
  // them.
  FWOTA_EXPECT_OK(log.Truncate(batch[1].seq));
  EXPECT_THAT(ReportKeys(Must(log.ReadAfter(0, 10))), ElementsAre("d2/1/FAILED"));
  // A seq is never given twice, not even once every entry is gone.
  FWOTA_EXPECT_OK(log.Truncate(batch[2].seq));
  EXPECT_THAT(Must(log.ReadAfter(0, 10)), IsEmpty());
  std::vector<LoggedReport> next = {MakeLoggedReport("d3", FIRMWARE, "UPDATED", 10)};
  FWOTA_ASSERT_OK(log.Append(next));
  EXPECT_GT(next[0].seq, batch[2].seq);
  // SkipThrough moves the numbering up, never down.
  FWOTA_EXPECT_OK(log.SkipThrough(next[0].seq + 1000));
  FWOTA_EXPECT_OK(log.SkipThrough(1));
  std::vector<LoggedReport> after_skip = {MakeLoggedReport("d1", FIRMWARE, "UPDATING", 11)};
  FWOTA_ASSERT_OK(log.Append(after_skip));
  EXPECT_GT(after_skip[0].seq, next[0].seq + 1000);
  EXPECT_THAT(ReportKeys(Must(log.ReadAfter(0, 10))), ElementsAre("d3/1/UPDATED", "d1/1/UPDATING"));
  std::vector<LoggedReport> none;
  FWOTA_EXPECT_OK(log.Append(none));
}

TEST_P(MetadataStoreConformanceTest, ReportLogRefusesABadBatchWhole) {
  ReportLog& log = store().report_log();
  std::vector<LoggedReport> no_device = {MakeLoggedReport("d1", FIRMWARE, "DOWNLOADING", 1),
                                         MakeLoggedReport("", FIRMWARE, "DOWNLOADING", 2)};
  FWOTA_EXPECT_CODE(log.Append(no_device), kFailedPrecondition);
  std::vector<LoggedReport> no_type = {
      MakeLoggedReport("d1", FIRMWARE, "DOWNLOADING", 1),
      MakeLoggedReport("d1", ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED, "DOWNLOADING", 2)};
  FWOTA_EXPECT_CODE(log.Append(no_type), kInvalidArgument);
  EXPECT_THAT(Must(log.ReadAfter(0, 10)), IsEmpty());
}

TEST_P(MetadataStoreConformanceTest, ReportsAppliedMarkIsTransactional) {
  InTransaction([](MetadataTransaction& tx) {
    EXPECT_EQ(Must(tx.GetReportsAppliedThrough()), 0);
    FWOTA_EXPECT_CODE(tx.SetReportsAppliedThrough(-1), kInvalidArgument);
    FWOTA_EXPECT_OK(tx.SetReportsAppliedThrough(7));
    EXPECT_EQ(Must(tx.GetReportsAppliedThrough()), 7);
  });
  absl::Status failed = store().RunInTransaction([](MetadataTransaction& tx) {
    FWOTA_RETURN_IF_ERROR(tx.SetReportsAppliedThrough(9));
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  InTransaction([](MetadataTransaction& tx) { EXPECT_EQ(Must(tx.GetReportsAppliedThrough()), 7); });
}

TEST_P(MetadataStoreConformanceTest, ReadTransactionSeesWhatWasCommitted) {
  AddTenantsAndProfiles();
  AddDevices(store());
  FWOTA_EXPECT_OK(store().RunInReadTransaction([](MetadataTransaction& tx) {
    absl::StatusOr<Device> device = tx.FindDeviceByAccessToken("tok1");
    EXPECT_TRUE(device.ok()) << device.status();
    if (device.ok()) {
      EXPECT_EQ(device->id(), "d1");
    }
    EXPECT_THAT(tx.FindDeviceByAccessToken("nope"), HasCode(absl::StatusCode::kNotFound));
    return absl::OkStatus();
  }));
}

}  // namespace
}  // namespace metadata_test
}  // namespace fwota
