// What the device-transport tests (MQTT, CoAP, telemetry) share: an OtaService over in-memory stores with a tenant, a device
// with access token "TOK" and a firmware package of `data_` assigned to it.
#ifndef FWOTA_TESTS_ADAPTERS_COMMON_DEVICE_SERVICE_TEST_H_
#define FWOTA_TESTS_ADAPTERS_COMMON_DEVICE_SERVICE_TEST_H_

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "fwota/metadata_stores.h"
#include "fwota/ota_service.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace fwota::adapters::testing {

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

class DeviceServiceTest : public ::testing::Test {
 protected:
  // Builds the service (notices to `notifier`, if any) and the device with `data_size`
  // random bytes of firmware "fw" 1.0 assigned.
  void SetUpService(size_t data_size, Notifier* notifier = nullptr) {
    metadata_ = NewMemoryMetadataStore();
    if (wrap_metadata_) metadata_ = wrap_metadata_(std::move(metadata_));
    blobs_ = NewMemoryBlobStore();
    OtaServiceOptions options;
    options.metadata = metadata_.get();
    options.blobs = blobs_.get();
    options.clock = &clock_;
    options.notifier = notifier;
    options.upload_buffer_size = 4096;
    ASSERT_OK_AND_ASSIGN(service_, OtaService::Create(options));
    ASSERT_OK_AND_ASSIGN(Tenant t, service_->CreateTenant("t"));
    ctx_ = {t.id(), "admin"};
    ASSERT_OK_AND_ASSIGN(profile_, service_->CreateProfile(ctx_, "p", ""));
    ASSERT_OK_AND_ASSIGN(device_, service_->CreateDevice(ctx_, "d", profile_.id(), "TOK"));
    data_ = RandomBytes(data_size, 1);
    package_ = Package("fw", "1.0", data_);
    ASSERT_OK(service_->AssignDevicePackage(ctx_, device_.id(), ::fwota::v1::FIRMWARE,
                                            package_.id()));
  }

  // A firmware package of the device's profile with `bytes`.
  OtaPackage Package(const std::string& title, const std::string& version,
                     const std::string& bytes) {
    PackageInfoRequest info;
    info.title = title;
    info.version = version;
    info.type = ::fwota::v1::FIRMWARE;
    info.device_profile_id = profile_.id();
    UploadRequest upload;
    upload.file_name = "fw.bin";
    auto source = NewStringSource(bytes);
    absl::StatusOr<OtaPackage> p = service_->CreatePackageWithData(ctx_, info, upload, *source);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.value_or(OtaPackage());
  }

  // Set before SetUpService to put a store of the test's around the in-memory one.
  std::function<std::unique_ptr<MetadataStore>(std::unique_ptr<MetadataStore>)> wrap_metadata_;
  ::fwota::testing::FakeClock clock_;
  std::unique_ptr<MetadataStore> metadata_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<OtaService> service_;
  TenantContext ctx_;
  DeviceProfile profile_;
  Device device_;
  std::string data_;
  OtaPackage package_;
};

}  // namespace fwota::adapters::testing

#endif  // FWOTA_TESTS_ADAPTERS_COMMON_DEVICE_SERVICE_TEST_H_
