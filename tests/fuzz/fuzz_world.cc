#include "tests/fuzz/fuzz_world.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/str_replace.h"
#include "fwota/byte_source.h"
#include "fwota/metadata_stores.h"

namespace fwota::fuzzing {
namespace {

template <typename T>
T Must(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "fuzz fixture: %s: %s\n", what, value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

std::string Pattern(size_t n, char seed) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(seed + i * 7);
  return out;
}

}  // namespace

FuzzWorld::FuzzWorld() {
  metadata_ = NewMemoryMetadataStore();
  blobs_ = NewMemoryBlobStore();
  OtaServiceOptions options;
  options.metadata = metadata_.get();
  options.blobs = blobs_.get();
  options.clock = &clock_;
  options.upload_buffer_size = 4096;
  options.max_package_size = 64 << 10;  // uploads a fuzzer sends stay small
  service_ = Must(OtaService::Create(options), "service");
  Tenant tenant = Must(service_->CreateTenant("t"), "tenant");
  ctx_ = {tenant.id(), "admin"};
  api_key_ = Must(service_->CreateApiKey(ctx_, "fuzz"), "api key").secret;
  profile_ = Must(service_->CreateProfile(ctx_, "p", ""), "profile");
  device_ = Must(service_->CreateDevice(ctx_, "d", profile_.id(), "TOK"), "device");
  auto package = [&](const char* title, const char* version, OtaPackageType type,
                     std::string bytes) {
    PackageInfoRequest info;
    info.title = title;
    info.version = version;
    info.type = type;
    info.device_profile_id = profile_.id();
    UploadRequest upload;
    upload.file_name = "image.bin";
    auto source = NewStringSource(bytes);
    return Must(service_->CreatePackageWithData(ctx_, info, upload, *source), "package");
  };
  firmware_bytes_ = Pattern(3000, 'a');
  software_bytes_ = Pattern(100, 'b');
  firmware_ = package("fw", "1.0", ::fwota::v1::FIRMWARE, firmware_bytes_);
  software_ = package("sw", "2.0", ::fwota::v1::SOFTWARE, software_bytes_);
  device_ = Must(service_->AssignDevicePackage(ctx_, device_.id(), ::fwota::v1::FIRMWARE,
                                               firmware_.id()),
                 "assign firmware");
  profile_ = Must(service_->AssignProfilePackage(ctx_, profile_.id(), ::fwota::v1::SOFTWARE,
                                                 software_.id()),
                  "assign software");
}

std::string FuzzWorld::Expand(absl::string_view text) const {
  return absl::StrReplaceAll(text, {{"@KEY@", api_key_},
                                    {"@DEV@", device_.id()},
                                    {"@PRF@", profile_.id()},
                                    {"@FW@", firmware_.id()},
                                    {"@SW@", software_.id()}});
}

}  // namespace fwota::fuzzing
