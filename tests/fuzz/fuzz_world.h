// What the fuzz targets of the device-facing mappings share: a small OtaService over
// in-memory stores, built fresh for every input so that each input is reproducible on
// its own. Tenant "t" with an API key, profile "p", device "d" with access token "TOK",
// a firmware package "fw" 1.0 (3,000 bytes) assigned to the device, and a software
// package "sw" 2.0 (100 bytes) as the profile's default.
#ifndef FWOTA_TESTS_FUZZ_FUZZ_WORLD_H_
#define FWOTA_TESTS_FUZZ_FUZZ_WORLD_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "fwota/blob_store.h"
#include "tests/testing/fake_clock.h"
#include "fwota/metadata_store.h"
#include "fwota/ota_service.h"

namespace fwota::fuzzing {

// Not thread-safe; one per input.
class FuzzWorld {
 public:
  // Aborts when the fixture cannot be built (a broken harness, not a finding).
  FuzzWorld();

  OtaService& service() { return *service_; }
  const TenantContext& ctx() const { return ctx_; }
  const std::string& api_key() const { return api_key_; }
  const Device& device() const { return device_; }
  const DeviceProfile& profile() const { return profile_; }
  const OtaPackage& firmware() const { return firmware_; }
  const OtaPackage& software() const { return software_; }
  // The packages' bytes.
  const std::string& firmware_bytes() const { return firmware_bytes_; }
  const std::string& software_bytes() const { return software_bytes_; }

  // `text` with the placeholders @KEY@, @DEV@, @PRF@, @FW@ and @SW@ replaced by the API
  // key's secret and the ids of the device, profile and packages: lets a corpus reach
  // what lies behind authentication and id checks.
  std::string Expand(absl::string_view text) const;

 private:
  ::fwota::testing::FakeClock clock_;
  std::unique_ptr<MetadataStore> metadata_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<OtaService> service_;
  TenantContext ctx_;
  std::string api_key_;
  DeviceProfile profile_;
  Device device_;
  OtaPackage firmware_;
  OtaPackage software_;
  std::string firmware_bytes_;
  std::string software_bytes_;
};

}  // namespace fwota::fuzzing

#endif  // FWOTA_TESTS_FUZZ_FUZZ_WORLD_H_
