// OtaService against every store combination: ThingsBoard's validation, assignment and
// deletion-guard rules with their exact messages, uploads, paging, audit and tenant
// isolation.
#include "fwota/ota_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <random>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include <map>
#include "fwota/metadata_stores.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace fwota {
namespace {

using ::fwota::testing::FakeClock;
using ::fwota::testing::StatusCodeIs;
using ::fwota::testing::StatusIs;
using ::fwota::v1::FIRMWARE;
using ::fwota::v1::SOFTWARE;
using Code = absl::StatusCode;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::string NewTempDir() {
  std::string templ = absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                                   "/svc.XXXXXX");
  EXPECT_NE(mkdtemp(templ.data()), nullptr);
  return templ;
}

struct Stores {
  std::string name;
  std::function<void(std::unique_ptr<MetadataStore>&, std::unique_ptr<BlobStore>&)> make;
};

void PrintTo(const Stores& stores, std::ostream* os) { *os << stores.name; }

class OtaServiceTest : public ::testing::TestWithParam<Stores> {
 protected:
  void SetUp() override {
    GetParam().make(metadata_, blobs_);
    clock_.set_auto_advance(1);
    OtaServiceOptions options;
    options.metadata = metadata_.get();
    options.blobs = blobs_.get();
    options.clock = &clock_;
    options.max_package_size = 1 << 20;
    options.upload_buffer_size = 4096;
    ASSERT_OK_AND_ASSIGN(service_, OtaService::Create(options));
    ASSERT_OK_AND_ASSIGN(Tenant t1, service_->CreateTenant("tenant-one"));
    ASSERT_OK_AND_ASSIGN(Tenant t2, service_->CreateTenant("tenant-two"));
    a_ = {t1.id(), "alice"};
    b_ = {t2.id(), "bob"};
    ASSERT_OK_AND_ASSIGN(profile_, service_->CreateProfile(a_, "thermostats", ""));
    ASSERT_OK_AND_ASSIGN(other_profile_, service_->CreateProfile(a_, "gateways", ""));
    ASSERT_OK_AND_ASSIGN(device_, service_->CreateDevice(a_, "t-1", profile_.id()));
  }

  PackageInfoRequest Info(std::string title, std::string version,
                          OtaPackageType type = FIRMWARE, std::string profile_id = "") {
    PackageInfoRequest r;
    r.title = std::move(title);
    r.version = std::move(version);
    r.type = type;
    r.device_profile_id = profile_id.empty() ? profile_.id() : profile_id;
    return r;
  }

  absl::StatusOr<OtaPackage> CreateWithData(const TenantContext& ctx, PackageInfoRequest info,
                                            const std::string& data,
                                            UploadRequest upload = {}) {
    if (upload.file_name.empty()) upload.file_name = "fw.bin";
    auto source = NewStringSource(data);
    return service_->CreatePackageWithData(ctx, info, upload, *source);
  }

  int64_t BlobCount() { return static_cast<int64_t>(blobs_->ListKeys()->size()); }

  FakeClock clock_;
  std::unique_ptr<MetadataStore> metadata_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<OtaService> service_;
  TenantContext a_, b_;
  DeviceProfile profile_, other_profile_;
  Device device_;
};

// ---- Package info rules ----

TEST_P(OtaServiceTest, RequiredFieldsWithThingsBoardMessages) {
  PackageInfoRequest r = Info("", "1.0");
  EXPECT_THAT(service_->SavePackageInfo(a_, r),
              StatusIs(Code::kInvalidArgument, "OtaPackage title should be specified!"));
  r = Info("fw", "");
  EXPECT_THAT(service_->SavePackageInfo(a_, r),
              StatusIs(Code::kInvalidArgument, "OtaPackage version should be specified!"));
  r = Info("fw", "1.0", ::fwota::v1::OTA_PACKAGE_TYPE_UNSPECIFIED);
  EXPECT_THAT(service_->SavePackageInfo(a_, r),
              StatusIs(Code::kInvalidArgument, "Type should be specified!"));
  r = Info("fw", "1.0");
  r.device_profile_id = "";
  EXPECT_THAT(service_->SavePackageInfo(a_, r),
              StatusIs(Code::kInvalidArgument, "OtaPackage deviceProfileId should be specified!"));
}

TEST_P(OtaServiceTest, LengthsAndNul) {
  EXPECT_THAT(service_->SavePackageInfo(a_, Info(std::string(256, 't'), "1")),
              StatusIs(Code::kInvalidArgument,
                       "The length of title should be equal or shorter than 255"));
  EXPECT_THAT(service_->SavePackageInfo(a_, Info("t", std::string(256, 'v'))),
              StatusIs(Code::kInvalidArgument,
                       "The length of version should be equal or shorter than 255"));
  PackageInfoRequest r = Info("t", "1");
  r.tag = std::string(256, 'g');
  EXPECT_THAT(service_->SavePackageInfo(a_, r),
              StatusIs(Code::kInvalidArgument, "The length of tag should be equal or shorter than 255"));
  EXPECT_THAT(service_->SavePackageInfo(a_, Info(std::string("a\0b", 3), "1")),
              StatusIs(Code::kInvalidArgument, "OtaPackage title should not contain 0x00 symbol!"));
  EXPECT_THAT(service_->SavePackageInfo(a_, Info("t", std::string("1\0", 2))),
              StatusIs(Code::kInvalidArgument, "OtaPackage version should not contain 0x00 symbol!"));
  // 255 is allowed.
  EXPECT_OK(service_->SavePackageInfo(a_, Info(std::string(255, 't'), std::string(255, 'v'))));
}

TEST_P(OtaServiceTest, TitleVersionUniquePerTenant) {
  ASSERT_OK(service_->SavePackageInfo(a_, Info("fw", "1.0")));
  EXPECT_THAT(service_->SavePackageInfo(a_, Info("fw", "1.0")),
              StatusIs(Code::kAlreadyExists, "OtaPackage with such title and version already exists!"));
  EXPECT_OK(service_->SavePackageInfo(a_, Info("fw", "1.1")));
  EXPECT_OK(service_->SavePackageInfo(a_, Info("fw", "1.0", SOFTWARE)).status().code() ==
                    Code::kAlreadyExists
                ? absl::OkStatus()
                : absl::InternalError("SOFTWARE with the same title/version must collide too"));
  // Another tenant may use the same title and version.
  ASSERT_OK_AND_ASSIGN(DeviceProfile bp, service_->CreateProfile(b_, "b-profile", ""));
  EXPECT_OK(service_->SavePackageInfo(b_, Info("fw", "1.0", FIRMWARE, bp.id())));
}

TEST_P(OtaServiceTest, TagDefaultsToTitleAndVersion) {
  ASSERT_OK_AND_ASSIGN(OtaPackage p, service_->SavePackageInfo(a_, Info("fw", "2.0")));
  EXPECT_EQ(p.tag(), "fw 2.0");
  EXPECT_EQ(p.additional_info_json(), "{}");
  EXPECT_FALSE(p.has_data());
}

TEST_P(OtaServiceTest, ProfileMustExistInTheTenant) {
  EXPECT_THAT(service_->SavePackageInfo(a_, Info("fw", "1", FIRMWARE, "no-such-profile")),
              StatusIs(Code::kInvalidArgument,
                       "OtaPackage is referencing to non-existent device profile!"));
  ASSERT_OK_AND_ASSIGN(DeviceProfile bp, service_->CreateProfile(b_, "b-profile", ""));
  EXPECT_THAT(service_->SavePackageInfo(a_, Info("fw", "1", FIRMWARE, bp.id())),
              StatusIs(Code::kInvalidArgument,
                       "OtaPackage is referencing to non-existent device profile!"));
}

TEST_P(OtaServiceTest, OnlyAdditionalInfoMayChange) {
  PackageInfoRequest r = Info("fw", "1.0");
  r.url = "https://example.invalid/fw.bin";
  ASSERT_OK_AND_ASSIGN(OtaPackage p, service_->SavePackageInfo(a_, r));
  PackageInfoRequest u = r;
  u.id = p.id();
  u.tag = p.tag();
  u.additional_info_json = R"({"description":"new text"})";
  ASSERT_OK_AND_ASSIGN(OtaPackage updated, service_->SavePackageInfo(a_, u));
  EXPECT_EQ(updated.additional_info_json(), R"({"description":"new text"})");
  EXPECT_EQ(updated.id(), p.id());

  struct Case {
    std::function<void(PackageInfoRequest&)> change;
    std::string message;
  };
  std::vector<Case> cases = {
      {[](auto& x) { x.type = SOFTWARE; }, "Updating type is prohibited!"},
      {[](auto& x) { x.title = "other"; }, "Updating otaPackage title is prohibited!"},
      {[](auto& x) { x.version = "9"; }, "Updating otaPackage version is prohibited!"},
      {[](auto& x) { x.tag = "other tag"; }, "Updating otaPackage tag is prohibited!"},
      {[&](auto& x) { x.device_profile_id = other_profile_.id(); },
       "Updating otaPackage deviceProfile is prohibited!"},
      {[](auto& x) { x.url = "https://elsewhere.invalid"; }, "Updating otaPackage URL is prohibited!"},
  };
  for (const Case& c : cases) {
    PackageInfoRequest x = u;
    c.change(x);
    EXPECT_THAT(service_->SavePackageInfo(a_, x), StatusIs(Code::kInvalidArgument, c.message));
  }
  u.additional_info_json = "[1,2]";
  EXPECT_THAT(service_->SavePackageInfo(a_, u), StatusCodeIs(Code::kInvalidArgument));
}

// ---- Uploads ----

TEST_P(OtaServiceTest, UploadComputesSha256ByDefault) {
  const std::string data = RandomBytes(50000, 1);
  ASSERT_OK_AND_ASSIGN(OtaPackage p, CreateWithData(a_, Info("fw", "1"), data));
  EXPECT_TRUE(p.has_data());
  EXPECT_EQ(p.checksum_algorithm(), ::fwota::v1::SHA256);
  EXPECT_EQ(p.checksum(), ChecksumText(::fwota::v1::SHA256, data));
  EXPECT_EQ(p.data_size(), 50000);
  EXPECT_EQ(p.file_name(), "fw.bin");
  EXPECT_EQ(p.content_type(), "application/octet-stream");
  ASSERT_OK_AND_ASSIGN(auto reader, service_->OpenPackageData(a_, p.id()));
  std::string back(data.size(), '\0');
  ASSERT_OK(reader->ReadAt(0, absl::MakeSpan(back)).status());
  EXPECT_EQ(back, data);
  EXPECT_OK(service_->VerifyPackage(a_, p.id()));
}

TEST_P(OtaServiceTest, UploadComputesTheChosenAlgorithm) {
  const std::string data = RandomBytes(9999, 2);
  int i = 0;
  for (ChecksumAlgorithm alg : AllChecksumAlgorithms()) {
    UploadRequest u;
    u.checksum_algorithm = alg;
    ASSERT_OK_AND_ASSIGN(OtaPackage p,
                         CreateWithData(a_, Info("fw", absl::StrCat("v", i++)), data, u));
    EXPECT_EQ(p.checksum_algorithm(), alg);
    EXPECT_EQ(p.checksum(), ChecksumText(alg, data)) << ChecksumAlgorithmName(alg);
    EXPECT_EQ(p.sha256(), ChecksumText(::fwota::v1::SHA256, data));
    EXPECT_OK(service_->VerifyPackage(a_, p.id()));
  }
  // All seven share one blob: same content.
  EXPECT_EQ(BlobCount(), 1);
}

TEST_P(OtaServiceTest, GivenChecksumIsVerified) {
  const std::string data = "123456789";
  UploadRequest u;
  u.checksum_algorithm = ::fwota::v1::CRC32;
  u.checksum = "2639f4cb";  // ThingsBoard's little-endian text
  ASSERT_OK_AND_ASSIGN(OtaPackage p, CreateWithData(a_, Info("fw", "le"), data, u));
  EXPECT_EQ(p.checksum(), "2639f4cb");
  u.checksum = "CBF43926";  // zlib's big-endian form, upper case: accepted, stored as TB's
  ASSERT_OK_AND_ASSIGN(p, CreateWithData(a_, Info("fw", "be"), data, u));
  EXPECT_EQ(p.checksum(), "2639f4cb");
  u.checksum = "2639f4cc";
  EXPECT_THAT(CreateWithData(a_, Info("fw", "bad"), data, u),
              StatusIs(Code::kInvalidArgument, "Wrong otaPackage file!"));
  EXPECT_THAT(service_->GetPackage(a_, "bad"), StatusCodeIs(Code::kNotFound));
  ASSERT_OK_AND_ASSIGN(auto page, service_->ListPackages(a_, PageQuery{100, 0}));
  EXPECT_EQ(page.total_elements, 2);

  // A mismatch on a fresh blob leaves no blob behind.
  const int64_t blobs_before = BlobCount();
  UploadRequest sha;
  sha.checksum_algorithm = ::fwota::v1::SHA256;
  sha.checksum = std::string(64, 'a');
  EXPECT_THAT(CreateWithData(a_, Info("fw", "bad2"), RandomBytes(5000, 3), sha),
              StatusIs(Code::kInvalidArgument, "Wrong otaPackage file!"));
  EXPECT_EQ(BlobCount(), blobs_before);
}

TEST_P(OtaServiceTest, SizeLimitIsEnforcedWhileStreaming) {
  // The limit is 1 MiB in this fixture.
  EXPECT_THAT(CreateWithData(a_, Info("fw", "big"), RandomBytes((1 << 20) + 1, 4)),
              StatusCodeIs(Code::kResourceExhausted));
  EXPECT_EQ(BlobCount(), 0);
  ASSERT_OK_AND_ASSIGN(auto page, service_->ListPackages(a_, PageQuery{100, 0}));
  EXPECT_EQ(page.total_elements, 0);
  EXPECT_OK(CreateWithData(a_, Info("fw", "exact"), RandomBytes(1 << 20, 4)));
}

// A source that does not know its size (a socket): the limit still holds.
class EndlessSource : public ByteSource {
 public:
  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    std::fill(out.begin(), out.end(), 'x');
    read_ += out.size();
    return out.size();
  }
  size_t read_ = 0;
};

TEST_P(OtaServiceTest, SizeLimitStopsAnEndlessStream) {
  EndlessSource source;
  UploadRequest u;
  u.file_name = "endless";
  EXPECT_THAT(service_->CreatePackageWithData(a_, Info("fw", "endless"), u, source),
              StatusCodeIs(Code::kResourceExhausted));
  EXPECT_LT(source.read_, size_t{2} << 20);
  EXPECT_EQ(BlobCount(), 0);
}

class FailingSource : public ByteSource {
 public:
  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    if (reads_++ == 3) return absl::UnavailableError("connection reset by peer");
    std::fill(out.begin(), out.end(), 'y');
    return out.size();
  }
  int reads_ = 0;
};

TEST_P(OtaServiceTest, BrokenSourceLeavesNothing) {
  ASSERT_OK_AND_ASSIGN(OtaPackage p, service_->SavePackageInfo(a_, Info("fw", "1")));
  FailingSource source;
  UploadRequest u;
  u.file_name = "fw.bin";
  EXPECT_THAT(service_->UploadPackageData(a_, p.id(), u, source),
              StatusCodeIs(Code::kUnavailable));
  EXPECT_EQ(BlobCount(), 0);
  ASSERT_OK_AND_ASSIGN(OtaPackage still, service_->GetPackage(a_, p.id()));
  EXPECT_FALSE(still.has_data());
}

TEST_P(OtaServiceTest, DataXorUrl) {
  PackageInfoRequest r = Info("fw", "url");
  r.url = "https://example.invalid/fw.bin";
  EXPECT_THAT(CreateWithData(a_, r, "bytes"),
              StatusIs(Code::kInvalidArgument, "File can't be saved if URL present!"));
  ASSERT_OK_AND_ASSIGN(OtaPackage p, service_->SavePackageInfo(a_, r));
  auto source = NewStringSource("bytes");
  UploadRequest u;
  u.file_name = "fw.bin";
  EXPECT_THAT(service_->UploadPackageData(a_, p.id(), u, *source),
              StatusIs(Code::kInvalidArgument, "File can't be saved if URL present!"));
}

TEST_P(OtaServiceTest, TwoStepUploadThenNoSecondUpload) {
  ASSERT_OK_AND_ASSIGN(OtaPackage p, service_->SavePackageInfo(a_, Info("fw", "1")));
  UploadRequest u;
  u.file_name = "fw.bin";
  u.content_type = "application/x-firmware";
  auto source = NewStringSource("firmware bytes");
  ASSERT_OK_AND_ASSIGN(OtaPackage with_data, service_->UploadPackageData(a_, p.id(), u, *source));
  EXPECT_TRUE(with_data.has_data());
  EXPECT_EQ(with_data.content_type(), "application/x-firmware");
  auto again = NewStringSource("other bytes");
  EXPECT_THAT(service_->UploadPackageData(a_, p.id(), u, *again),
              StatusIs(Code::kFailedPrecondition, "Updating otaPackage data is prohibited!"));
  auto empty = NewStringSource("");
  ASSERT_OK_AND_ASSIGN(OtaPackage q, service_->SavePackageInfo(a_, Info("fw", "2")));
  EXPECT_THAT(service_->UploadPackageData(a_, q.id(), u, *empty),
              StatusIs(Code::kInvalidArgument, "OtaPackage data should be specified!"));
  u.file_name = "";
  EXPECT_THAT(service_->UploadPackageData(a_, q.id(), u, *source),
              StatusIs(Code::kInvalidArgument, "OtaPackage file name should be specified!"));
}

TEST_P(OtaServiceTest, DamagedBlobIsDataLoss) {
  // Commit a blob under the right key with the wrong bytes, as a disk fault would leave
  // it, by writing a package and then swapping its blob.
  const std::string data = RandomBytes(20000, 5);
  ASSERT_OK_AND_ASSIGN(OtaPackage p, CreateWithData(a_, Info("fw", "1"), data));
  ASSERT_OK(blobs_->Delete(p.sha256()));
  ASSERT_OK_AND_ASSIGN(auto writer, blobs_->NewWriter());
  std::string damaged = data;
  damaged[12345] ^= 1;
  ASSERT_OK(writer->Append(damaged));
  ASSERT_OK(writer->Commit(p.sha256()));
  EXPECT_THAT(service_->VerifyPackage(a_, p.id()), StatusCodeIs(Code::kDataLoss));
  ASSERT_OK(blobs_->Delete(p.sha256()));
  EXPECT_THAT(service_->OpenPackageData(a_, p.id()), StatusCodeIs(Code::kDataLoss));
}

// ---- Listing ----

TEST_P(OtaServiceTest, Paging165PackagesIn24And16) {
  for (int i = 0; i < 165; ++i) {
    ASSERT_OK(service_->SavePackageInfo(a_, Info(absl::StrCat("Package ", i), "1.0")));
  }
  for (int page_size : {24, 16}) {
    std::set<std::string> seen;
    PageQuery q;
    q.page_size = page_size;
    for (q.page = 0;; ++q.page) {
      ASSERT_OK_AND_ASSIGN(auto page, service_->ListPackages(a_, q));
      EXPECT_EQ(page.total_elements, 165);
      EXPECT_EQ(page.total_pages, (165 + page_size - 1) / page_size);
      for (const auto& p : page.data) EXPECT_TRUE(seen.insert(p.id()).second);
      if (!page.has_next) {
        EXPECT_EQ(q.page, page.total_pages - 1);
        break;
      }
      EXPECT_EQ(static_cast<int>(page.data.size()), page_size);
    }
    EXPECT_EQ(seen.size(), 165u);
  }
  PageQuery q;
  q.page_size = 0;
  EXPECT_THAT(service_->ListPackages(a_, q), StatusCodeIs(Code::kInvalidArgument));
  q.page_size = 10;
  q.page = -1;
  EXPECT_THAT(service_->ListPackages(a_, q), StatusCodeIs(Code::kInvalidArgument));
}

TEST_P(OtaServiceTest, SearchAndSort) {
  ASSERT_OK(CreateWithData(a_, Info("Alpha Sensor", "1"), std::string(300, 'a')));
  ASSERT_OK(CreateWithData(a_, Info("beta SENSOR", "2"), std::string(100, 'b')));
  ASSERT_OK(service_->SavePackageInfo(a_, Info("gamma", "3")));
  PageQuery q;
  q.text_search = "sensor";
  ASSERT_OK_AND_ASSIGN(auto page, service_->ListPackages(a_, q));
  EXPECT_EQ(page.total_elements, 2);
  q.text_search = "";
  q.sort_property = PackageSortProperty::kDataSize;
  q.ascending = false;
  ASSERT_OK_AND_ASSIGN(page, service_->ListPackages(a_, q));
  ASSERT_EQ(page.data.size(), 3u);
  EXPECT_EQ(page.data[0].title(), "Alpha Sensor");
  q.sort_property = PackageSortProperty::kTitle;
  q.ascending = true;
  ASSERT_OK_AND_ASSIGN(page, service_->ListPackages(a_, q));
  EXPECT_EQ(page.data[2].title(), "gamma");
}

TEST_P(OtaServiceTest, ProfilePackagesOfOneTypeWithDataOrUrl) {
  ASSERT_OK(CreateWithData(a_, Info("with data", "1"), "bytes"));
  PackageInfoRequest url = Info("with url", "1");
  url.url = "https://example.invalid/x";
  ASSERT_OK(service_->SavePackageInfo(a_, url));
  ASSERT_OK(service_->SavePackageInfo(a_, Info("empty", "1")));
  ASSERT_OK(CreateWithData(a_, Info("software", "1", SOFTWARE), "sw"));
  ASSERT_OK(CreateWithData(a_, Info("other profile", "1", FIRMWARE, other_profile_.id()), "x"));
  ASSERT_OK_AND_ASSIGN(auto list, service_->ListProfilePackages(a_, profile_.id(), FIRMWARE));
  std::set<std::string> titles;
  for (const auto& p : list) titles.insert(p.title());
  EXPECT_EQ(titles, (std::set<std::string>{"with data", "with url"}));
  ASSERT_OK_AND_ASSIGN(list, service_->ListProfilePackages(a_, profile_.id(), SOFTWARE));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_THAT(service_->ListProfilePackages(b_, profile_.id(), FIRMWARE),
              StatusCodeIs(Code::kPermissionDenied));
}

// ---- Assignment ----

TEST_P(OtaServiceTest, AssignmentChecksWithThingsBoardMessages) {
  ASSERT_OK_AND_ASSIGN(OtaPackage fw, CreateWithData(a_, Info("fw", "1"), "fw"));
  ASSERT_OK_AND_ASSIGN(OtaPackage sw, CreateWithData(a_, Info("sw", "1", SOFTWARE), "sw"));
  ASSERT_OK_AND_ASSIGN(OtaPackage empty, service_->SavePackageInfo(a_, Info("fw", "empty")));
  ASSERT_OK_AND_ASSIGN(OtaPackage other,
                       CreateWithData(a_, Info("fw", "gw", FIRMWARE, other_profile_.id()), "gw"));
  ASSERT_OK_AND_ASSIGN(DeviceProfile bp, service_->CreateProfile(b_, "b-profile", ""));
  ASSERT_OK_AND_ASSIGN(OtaPackage foreign,
                       CreateWithData(b_, Info("fw", "b", FIRMWARE, bp.id()), "b"));

  EXPECT_THAT(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, "nope"),
              StatusIs(Code::kNotFound, "Can't assign non-existent firmware!"));
  EXPECT_THAT(service_->AssignDevicePackage(a_, device_.id(), SOFTWARE, "nope"),
              StatusIs(Code::kNotFound, "Can't assign non-existent software!"));
  EXPECT_THAT(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, foreign.id()),
              StatusIs(Code::kPermissionDenied, "Can't assign firmware from different tenant!"));
  EXPECT_THAT(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, sw.id()),
              StatusIs(Code::kInvalidArgument, "Can't assign firmware with type: SOFTWARE"));
  EXPECT_THAT(service_->AssignDevicePackage(a_, device_.id(), SOFTWARE, fw.id()),
              StatusIs(Code::kInvalidArgument, "Can't assign software with type: FIRMWARE"));
  EXPECT_THAT(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, empty.id()),
              StatusIs(Code::kFailedPrecondition, "Can't assign firmware with empty data!"));
  EXPECT_THAT(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, other.id()),
              StatusIs(Code::kFailedPrecondition,
                       "Can't assign firmware with different deviceProfile!"));
  // Same checks for a profile.
  EXPECT_THAT(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, other.id()),
              StatusIs(Code::kFailedPrecondition,
                       "Can't assign firmware with different deviceProfile!"));
  EXPECT_THAT(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, empty.id()),
              StatusIs(Code::kFailedPrecondition, "Can't assign firmware with empty data!"));
  // Nothing changed.
  ASSERT_OK_AND_ASSIGN(Device d, service_->FindDevice(a_, device_.id()));
  EXPECT_EQ(d.firmware_id(), "");
  // A URL package is assignable.
  PackageInfoRequest url = Info("fw", "url");
  url.url = "https://example.invalid/fw";
  ASSERT_OK_AND_ASSIGN(OtaPackage by_url, service_->SavePackageInfo(a_, url));
  EXPECT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, by_url.id()));
}

TEST_P(OtaServiceTest, DeviceOverrideWinsOverProfile) {
  ASSERT_OK_AND_ASSIGN(OtaPackage v1, CreateWithData(a_, Info("fw", "1"), "one"));
  ASSERT_OK_AND_ASSIGN(OtaPackage v2, CreateWithData(a_, Info("fw", "2"), "two"));
  ASSERT_OK_AND_ASSIGN(Explanation e, service_->Explain(a_, device_.id(), FIRMWARE));
  EXPECT_EQ(e.source, Explanation::Source::kNone);
  EXPECT_FALSE(e.package.has_value());

  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, v1.id()));
  ASSERT_OK_AND_ASSIGN(e, service_->Explain(a_, device_.id(), FIRMWARE));
  EXPECT_EQ(e.source, Explanation::Source::kProfileDefault);
  EXPECT_EQ(e.package->id(), v1.id());

  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, v2.id()));
  ASSERT_OK_AND_ASSIGN(e, service_->Explain(a_, device_.id(), FIRMWARE));
  EXPECT_EQ(e.source, Explanation::Source::kDeviceOverride);
  EXPECT_EQ(e.package->id(), v2.id());
  EXPECT_NE(e.reason.find("wins"), std::string::npos) << e.reason;

  // Software is separate.
  ASSERT_OK_AND_ASSIGN(e, service_->Explain(a_, device_.id(), SOFTWARE));
  EXPECT_EQ(e.source, Explanation::Source::kNone);

  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, ""));
  ASSERT_OK_AND_ASSIGN(e, service_->Explain(a_, device_.id(), FIRMWARE));
  EXPECT_EQ(e.source, Explanation::Source::kProfileDefault);
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, ""));
  ASSERT_OK_AND_ASSIGN(e, service_->Explain(a_, device_.id(), FIRMWARE));
  EXPECT_EQ(e.source, Explanation::Source::kNone);
}

// ---- Deletion guards ----

TEST_P(OtaServiceTest, DeletionGuards) {
  ASSERT_OK_AND_ASSIGN(OtaPackage fw, CreateWithData(a_, Info("fw", "1"), "fw bytes"));
  ASSERT_OK_AND_ASSIGN(OtaPackage sw, CreateWithData(a_, Info("sw", "1", SOFTWARE), "sw bytes"));
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, fw.id()));
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), SOFTWARE, sw.id()));
  EXPECT_THAT(service_->DeletePackage(a_, fw.id()),
              StatusIs(Code::kFailedPrecondition,
                       "The otaPackage referenced by the devices cannot be deleted!"));
  EXPECT_THAT(service_->DeletePackage(a_, sw.id()),
              StatusIs(Code::kFailedPrecondition,
                       "The software referenced by the devices cannot be deleted!"));
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, ""));
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), SOFTWARE, ""));
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw.id()));
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), SOFTWARE, sw.id()));
  EXPECT_THAT(service_->DeletePackage(a_, fw.id()),
              StatusIs(Code::kFailedPrecondition,
                       "The otaPackage referenced by the device profile cannot be deleted!"));
  EXPECT_THAT(service_->DeletePackage(a_, sw.id()),
              StatusIs(Code::kFailedPrecondition,
                       "The software referenced by the device profile cannot be deleted!"));
  // Nothing deleted in part: package and blob are intact.
  EXPECT_OK(service_->VerifyPackage(a_, fw.id()));
  EXPECT_EQ(BlobCount(), 2);

  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, ""));
  ASSERT_OK(service_->DeletePackage(a_, fw.id()));
  EXPECT_THAT(service_->GetPackage(a_, fw.id()),
              StatusIs(Code::kNotFound, "Requested item wasn't found!"));
  EXPECT_EQ(BlobCount(), 1);
}

TEST_P(OtaServiceTest, SharedBlobSurvivesDeletingOneOfItsPackages) {
  ASSERT_OK_AND_ASSIGN(OtaPackage a, CreateWithData(a_, Info("fw", "1"), "same"));
  ASSERT_OK_AND_ASSIGN(OtaPackage b, CreateWithData(a_, Info("fw", "2"), "same"));
  ASSERT_OK(service_->DeletePackage(a_, a.id()));
  EXPECT_OK(service_->VerifyPackage(a_, b.id()));
  ASSERT_OK(service_->DeletePackage(a_, b.id()));
  EXPECT_EQ(BlobCount(), 0);
}

TEST_P(OtaServiceTest, ProfileWithDevicesOrPackagesCannotBeDeleted) {
  EXPECT_THAT(service_->DeleteProfile(a_, profile_.id()),
              StatusIs(Code::kFailedPrecondition,
                       "The device profile referenced by the devices cannot be deleted!"));
  ASSERT_OK(service_->DeleteDevice(a_, device_.id()));
  ASSERT_OK_AND_ASSIGN(OtaPackage p, service_->SavePackageInfo(a_, Info("fw", "1")));
  EXPECT_THAT(service_->DeleteProfile(a_, profile_.id()),
              StatusIs(Code::kFailedPrecondition,
                       "The device profile referenced by the OTA packages cannot be deleted!"));
  ASSERT_OK(service_->DeletePackage(a_, p.id()));
  ASSERT_OK(service_->DeleteProfile(a_, profile_.id()));
  EXPECT_THAT(service_->FindProfile(a_, profile_.id()), StatusCodeIs(Code::kNotFound));
}

// ---- Devices and profiles ----

TEST_P(OtaServiceTest, DevicesGetUniqueTokens) {
  std::set<std::string> tokens = {device_.access_token()};
  EXPECT_EQ(device_.access_token().size(), 20u);
  for (int i = 0; i < 50; ++i) {
    ASSERT_OK_AND_ASSIGN(Device d, service_->CreateDevice(a_, absl::StrCat("d", i), "thermostats"));
    EXPECT_TRUE(tokens.insert(d.access_token()).second);
  }
  ASSERT_OK_AND_ASSIGN(Device found, service_->AuthenticateDevice(device_.access_token()));
  EXPECT_EQ(found.id(), device_.id());
  EXPECT_THAT(service_->AuthenticateDevice("wrong"), StatusCodeIs(Code::kUnauthenticated));
  EXPECT_THAT(service_->AuthenticateDevice(""), StatusCodeIs(Code::kUnauthenticated));
  EXPECT_THAT(service_->CreateDevice(a_, "t-1", profile_.id()),
              StatusIs(Code::kAlreadyExists, "Device with such name already exists!"));
  EXPECT_THAT(service_->CreateDevice(a_, "t-x", profile_.id(), device_.access_token()),
              StatusIs(Code::kAlreadyExists,
                       "Device credentials are already assigned to another device!"));
  EXPECT_THAT(service_->CreateDevice(a_, "t-y", profile_.id(), "a/b"),
              StatusCodeIs(Code::kInvalidArgument));
  EXPECT_THAT(service_->CreateDevice(a_, "", profile_.id()),
              StatusIs(Code::kInvalidArgument, "Device name should be specified!"));
  EXPECT_THAT(service_->CreateDevice(a_, "t-z", "no such profile"),
              StatusIs(Code::kInvalidArgument,
                       "Device is referencing to non-existent device profile!"));
  ASSERT_OK_AND_ASSIGN(Device own, service_->CreateDevice(a_, "own-token", profile_.id(), "MyToken1"));
  EXPECT_EQ(own.access_token(), "MyToken1");
}

TEST_P(OtaServiceTest, ProfilesByNameAndId) {
  ASSERT_OK_AND_ASSIGN(DeviceProfile by_name, service_->FindProfile(a_, "thermostats"));
  EXPECT_EQ(by_name.id(), profile_.id());
  EXPECT_THAT(service_->CreateProfile(a_, "thermostats", ""),
              StatusIs(Code::kAlreadyExists, "Device profile with such name already exists!"));
  EXPECT_THAT(service_->CreateProfile(a_, " ", ""),
              StatusIs(Code::kInvalidArgument, "Device profile name should be specified!"));
  // Another tenant may reuse the name.
  EXPECT_OK(service_->CreateProfile(b_, "thermostats", ""));
  ASSERT_OK_AND_ASSIGN(auto list, service_->ListProfiles(a_));
  EXPECT_EQ(list.size(), 2u);
}

// ---- Tenant isolation: every operation with another tenant's ids ----

TEST_P(OtaServiceTest, TenantIsolation) {
  ASSERT_OK_AND_ASSIGN(OtaPackage p, CreateWithData(a_, Info("fw", "1"), "bytes"));
  const auto denied = StatusIs(Code::kPermissionDenied,
                               "You don't have permission to perform this operation!");
  EXPECT_THAT(service_->GetPackage(b_, p.id()), denied);
  EXPECT_THAT(service_->OpenPackageData(b_, p.id()), denied);
  EXPECT_THAT(service_->VerifyPackage(b_, p.id()), denied);
  EXPECT_THAT(service_->DeletePackage(b_, p.id()), denied);
  PackageInfoRequest update = Info("fw", "1");
  update.id = p.id();
  update.tag = p.tag();
  EXPECT_THAT(service_->SavePackageInfo(b_, update), denied);
  auto source = NewStringSource("x");
  UploadRequest u;
  u.file_name = "f";
  EXPECT_THAT(service_->UploadPackageData(b_, p.id(), u, *source), denied);
  EXPECT_THAT(service_->FindDevice(b_, device_.id()), denied);
  EXPECT_THAT(service_->DeleteDevice(b_, device_.id()), denied);
  EXPECT_THAT(service_->FindProfile(b_, profile_.id()), denied);
  EXPECT_THAT(service_->DeleteProfile(b_, profile_.id()), denied);
  EXPECT_THAT(service_->AssignDevicePackage(b_, device_.id(), FIRMWARE, p.id()), denied);
  EXPECT_THAT(service_->AssignProfilePackage(b_, profile_.id(), FIRMWARE, p.id()), denied);
  EXPECT_THAT(service_->Explain(b_, device_.id(), FIRMWARE), denied);
  EXPECT_THAT(service_->CreateDevice(b_, "steal", profile_.id()), denied);
  // Names resolve only within the tenant.
  EXPECT_THAT(service_->FindDevice(b_, "t-1"), StatusCodeIs(Code::kNotFound));
  EXPECT_THAT(service_->FindProfile(b_, "thermostats"), StatusCodeIs(Code::kNotFound));
  // Listings show nothing of tenant one.
  ASSERT_OK_AND_ASSIGN(auto page, service_->ListPackages(b_, PageQuery{}));
  EXPECT_EQ(page.total_elements, 0);
  ASSERT_OK_AND_ASSIGN(auto devices, service_->ListDevices(b_));
  EXPECT_TRUE(devices.empty());
  ASSERT_OK_AND_ASSIGN(auto profiles, service_->ListProfiles(b_));
  EXPECT_TRUE(profiles.empty());
  // Tenant two's log holds only its own failed attempt to create a device; nothing of
  // tenant one's entities.
  ASSERT_OK_AND_ASSIGN(auto audit, service_->ListAudit(b_, PageQuery{}));
  ASSERT_EQ(audit.total_elements, 1);
  EXPECT_EQ(audit.data[0].entity_name(), "steal");
  EXPECT_EQ(audit.data[0].action_status(), ::fwota::v1::FAILURE);
  // And tenant one's things are untouched.
  EXPECT_OK(service_->VerifyPackage(a_, p.id()));
  // An unknown tenant can create nothing.
  TenantContext ghost{"no-such-tenant", "ghost"};
  EXPECT_THAT(service_->CreateProfile(ghost, "p", ""), StatusCodeIs(Code::kPermissionDenied));
}

// ---- Audit ----

TEST_P(OtaServiceTest, AuditRecordsSuccessesAndFailures) {
  ASSERT_OK_AND_ASSIGN(OtaPackage p, CreateWithData(a_, Info("fw", "1"), "bytes"));
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, p.id()));
  EXPECT_FALSE(service_->DeletePackage(a_, p.id()).ok());
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, ""));
  ASSERT_OK(service_->DeletePackage(a_, p.id()));
  PageQuery q;
  q.page_size = 100;
  ASSERT_OK_AND_ASSIGN(auto log, service_->ListAudit(a_, q));
  // Newest first: DELETED, UNASSIGNED, DELETED (failed), ASSIGNED, ADDED (package),
  // ADDED (device), ADDED x2 (profiles).
  ASSERT_GE(log.data.size(), 5u);
  EXPECT_EQ(log.data[0].action_type(), ::fwota::v1::DELETED);
  EXPECT_EQ(log.data[0].action_status(), ::fwota::v1::SUCCESS);
  EXPECT_EQ(log.data[0].entity_type(), "OTA_PACKAGE");
  EXPECT_EQ(log.data[0].user_name(), "alice");
  EXPECT_EQ(log.data[1].action_type(), ::fwota::v1::UNASSIGNED);
  EXPECT_EQ(log.data[2].action_type(), ::fwota::v1::DELETED);
  EXPECT_EQ(log.data[2].action_status(), ::fwota::v1::FAILURE);
  EXPECT_EQ(log.data[2].failure_details(),
            "The otaPackage referenced by the devices cannot be deleted!");
  EXPECT_EQ(log.data[3].action_type(), ::fwota::v1::ASSIGNED);
  EXPECT_NE(log.data[3].action_data_json().find(p.id()), std::string::npos);
  EXPECT_EQ(log.data[4].action_type(), ::fwota::v1::ADDED);
  EXPECT_EQ(log.data[4].entity_name(), "fw 1");
  for (size_t i = 1; i < log.data.size(); ++i) {
    EXPECT_GE(log.data[i - 1].created_time(), log.data[i].created_time());
  }
}

// ---- API keys ----

TEST_P(OtaServiceTest, ApiKeysAuthenticateTheirTenantOnly) {
  ASSERT_OK_AND_ASSIGN(NewApiKey key, service_->CreateApiKey(a_, "ci"));
  EXPECT_TRUE(absl::StartsWith(key.secret, "fwota_"));
  EXPECT_EQ(key.secret.size(), 46u);
  EXPECT_EQ(key.key.key_hash(), ChecksumText(::fwota::v1::SHA256, key.secret));
  EXPECT_EQ(key.key.key_hash().find(key.secret), std::string::npos);
  ASSERT_OK_AND_ASSIGN(TenantContext ctx, service_->AuthenticateApiKey(key.secret));
  EXPECT_EQ(ctx.tenant_id, a_.tenant_id);
  EXPECT_EQ(ctx.user_name, "apikey:ci");
  std::string wrong = key.secret;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_THAT(service_->AuthenticateApiKey(wrong), StatusCodeIs(Code::kUnauthenticated));
  EXPECT_THAT(service_->AuthenticateApiKey(""), StatusCodeIs(Code::kUnauthenticated));
  EXPECT_THAT(service_->AuthenticateApiKey(key.key.key_hash()), StatusCodeIs(Code::kUnauthenticated));
  EXPECT_THAT(service_->CreateApiKey(a_, "ci"),
              StatusIs(Code::kAlreadyExists, "API key with such name already exists!"));
  ASSERT_OK_AND_ASSIGN(NewApiKey other, service_->CreateApiKey(b_, "ci"));
  ASSERT_OK_AND_ASSIGN(auto keys, service_->ListApiKeys(a_));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_THAT(service_->DeleteApiKey(b_, keys[0].id()), StatusCodeIs(Code::kNotFound));
  ASSERT_OK(service_->DeleteApiKey(a_, keys[0].id()));
  EXPECT_THAT(service_->AuthenticateApiKey(key.secret), StatusCodeIs(Code::kUnauthenticated));
  EXPECT_OK(service_->AuthenticateApiKey(other.secret));
}

// ---- Device-facing calls ----

TEST_P(OtaServiceTest, DeviceDownloadsItsEffectivePackage) {
  const std::string data = RandomBytes(30000, 11);
  ASSERT_OK_AND_ASSIGN(OtaPackage fw, CreateWithData(a_, Info("fw", "1.0"), data));
  const std::string token = device_.access_token();
  EXPECT_THAT(service_->OpenDevicePackage("nope", FIRMWARE, "", ""),
              StatusCodeIs(Code::kUnauthenticated));
  EXPECT_THAT(service_->OpenDevicePackage(token, FIRMWARE, "", ""),
              StatusCodeIs(Code::kNotFound));
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw.id()));
  ASSERT_OK_AND_ASSIGN(DevicePackage got, service_->OpenDevicePackage(token, FIRMWARE, "fw", "1.0"));
  EXPECT_EQ(got.package.id(), fw.id());
  std::string back(data.size(), '\0');
  ASSERT_OK(got.data->ReadAt(0, absl::MakeSpan(back)).status());
  EXPECT_EQ(back, data);
  EXPECT_OK(service_->OpenDevicePackage(token, FIRMWARE, "", ""));
  EXPECT_THAT(service_->OpenDevicePackage(token, FIRMWARE, "fw", "2.0"),
              StatusCodeIs(Code::kInvalidArgument));
  EXPECT_THAT(service_->OpenDevicePackage(token, FIRMWARE, "other", "1.0"),
              StatusCodeIs(Code::kInvalidArgument));
  EXPECT_THAT(service_->OpenDevicePackage(token, SOFTWARE, "", ""), StatusCodeIs(Code::kNotFound));
  // Two downloads of the same bytes share one reader.
  ASSERT_OK_AND_ASSIGN(DevicePackage again, service_->OpenDevicePackage(token, FIRMWARE, "", ""));
  EXPECT_EQ(again.data.get(), got.data.get());
  // A URL package cannot be downloaded from us.
  PackageInfoRequest url = Info("fw", "url");
  url.url = "https://example.invalid/fw.bin";
  ASSERT_OK_AND_ASSIGN(OtaPackage by_url, service_->SavePackageInfo(a_, url));
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, by_url.id()));
  EXPECT_THAT(service_->OpenDevicePackage(token, FIRMWARE, "", ""), StatusCodeIs(Code::kNotFound));
}

TEST_P(OtaServiceTest, SharedAttributesOfEffectivePackages) {
  ASSERT_OK_AND_ASSIGN(auto none, service_->DeviceSharedAttributes(device_.access_token(), {}));
  EXPECT_TRUE(none.empty());
  UploadRequest u;
  u.checksum_algorithm = ::fwota::v1::CRC32;
  ASSERT_OK_AND_ASSIGN(OtaPackage fw, CreateWithData(a_, Info("fw", "1.0"), "123456789", u));
  PackageInfoRequest url = Info("app", "3", SOFTWARE);
  url.url = "https://example.invalid/app";
  ASSERT_OK_AND_ASSIGN(OtaPackage sw, service_->SavePackageInfo(a_, url));
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw.id()));
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), SOFTWARE, sw.id()));
  ASSERT_OK_AND_ASSIGN(auto all, service_->DeviceSharedAttributes(device_.access_token(), {}));
  std::map<std::string, std::string> got;
  for (const auto& a : all) got[a.key] = a.is_number ? absl::StrCat("#", a.number) : a.text;
  std::map<std::string, std::string> want = {
      {"fw_title", "fw"},           {"fw_version", "1.0"},
      {"fw_tag", "fw 1.0"},         {"fw_size", "#9"},
      {"fw_checksum_algorithm", "CRC32"}, {"fw_checksum", "2639f4cb"},
      {"sw_title", "app"},          {"sw_version", "3"},
      {"sw_tag", "app 3"},          {"sw_url", "https://example.invalid/app"}};
  EXPECT_EQ(got, want);
  ASSERT_OK_AND_ASSIGN(auto some, service_->DeviceSharedAttributes(device_.access_token(),
                                                                   {"fw_version", "nope"}));
  ASSERT_EQ(some.size(), 1u);
  EXPECT_EQ(some[0].text, "1.0");
  EXPECT_THAT(service_->DeviceSharedAttributes("bad token", {}),
              StatusCodeIs(Code::kUnauthenticated));
}

TEST_P(OtaServiceTest, DeviceReportsBecomeStatusAndHistory) {
  const std::string token = device_.access_token();
  DeviceReport r;
  r.type = FIRMWARE;
  r.state = "DOWNLOADING";
  ASSERT_OK(service_->RecordDeviceReport(token, r));
  clock_.Advance(1000);
  r.state = "FAILED";
  r.error = "flash write error";
  ASSERT_OK(service_->RecordDeviceReport(token, r));
  r = DeviceReport{};
  r.type = FIRMWARE;
  r.state = "EXPLODED";
  // Not a state at all: refused, and nothing is recorded.
  EXPECT_THAT(service_->RecordDeviceReport(token, r),
              StatusIs(Code::kInvalidArgument, "unknown OTA state \"EXPLODED\""));
  r = DeviceReport{};
  r.type = FIRMWARE;
  r.current_title = "fw";
  r.current_version = "0.9";
  ASSERT_OK(service_->RecordDeviceReport(token, r));
  // No package was ever assigned: the states are recorded, not accepted; the versions
  // the device reports are kept.
  ASSERT_OK_AND_ASSIGN(UpdateStatus status, service_->GetUpdateStatus(a_, device_.id(), FIRMWARE));
  EXPECT_EQ(status.state(), ::fwota::v1::UPDATE_STATE_UNSPECIFIED);
  EXPECT_EQ(status.error(), "");
  EXPECT_EQ(status.current_title(), "fw");
  EXPECT_EQ(status.current_version(), "0.9");
  ASSERT_OK_AND_ASSIGN(auto history, service_->ListUpdateHistory(a_, device_.id(), FIRMWARE, PageQuery{}));
  ASSERT_EQ(history.total_elements, 3);
  EXPECT_EQ(history.data[0].accepted(), true);
  EXPECT_EQ(history.data[0].version(), "0.9");
  EXPECT_EQ(history.data[1].state(), ::fwota::v1::UPDATE_STATE_FAILED);
  EXPECT_EQ(history.data[1].accepted(), false);
  EXPECT_EQ(history.data[1].note(), "no package assigned");
  EXPECT_EQ(history.data[1].error(), "flash write error");
  EXPECT_EQ(history.data[2].state(), ::fwota::v1::UPDATE_STATE_DOWNLOADING);
  EXPECT_EQ(history.data[2].accepted(), false);
  EXPECT_EQ(history.data[2].note(), "no package assigned");
  EXPECT_THAT(service_->RecordDeviceReport("bad token", r), StatusCodeIs(Code::kUnauthenticated));
  EXPECT_THAT(service_->GetUpdateStatus(b_, device_.id(), FIRMWARE),
              StatusCodeIs(Code::kPermissionDenied));
  EXPECT_THAT(service_->ListUpdateHistory(b_, device_.id(), FIRMWARE, PageQuery{}),
              StatusCodeIs(Code::kPermissionDenied));
  EXPECT_THAT(service_->GetUpdateStatus(a_, device_.id(), SOFTWARE), StatusCodeIs(Code::kNotFound));
  // The history goes with the device.
  ASSERT_OK(service_->DeleteDevice(a_, device_.id()));
  EXPECT_THAT(service_->GetUpdateStatus(a_, device_.id(), FIRMWARE), StatusCodeIs(Code::kNotFound));
}

TEST_P(OtaServiceTest, AssignedPackageIsTheTargetOfTheFirstReport) {
  ASSERT_OK_AND_ASSIGN(OtaPackage fw, CreateWithData(a_, Info("fw", "3.0"), "image"));
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, fw.id()));
  DeviceReport r;
  r.type = FIRMWARE;
  r.state = "DOWNLOADING";
  ASSERT_OK(service_->RecordDeviceReport(device_.access_token(), r));
  ASSERT_OK_AND_ASSIGN(UpdateStatus status, service_->GetUpdateStatus(a_, device_.id(), FIRMWARE));
  EXPECT_EQ(status.state(), ::fwota::v1::UPDATE_STATE_DOWNLOADING);
  EXPECT_EQ(status.target_package_id(), fw.id());
  EXPECT_EQ(status.target_version(), "3.0");
  ASSERT_OK_AND_ASSIGN(auto history,
                       service_->ListUpdateHistory(a_, device_.id(), FIRMWARE, PageQuery{}));
  ASSERT_EQ(history.total_elements, 2);  // QUEUED by the assignment, then the report
  EXPECT_TRUE(history.data[0].accepted());
  EXPECT_EQ(history.data[0].package_id(), fw.id());
  EXPECT_EQ(history.data[1].state(), ::fwota::v1::UPDATE_STATE_QUEUED);
  EXPECT_EQ(history.data[1].source(), "server");
  // Nothing assigned for software: the report is kept but moves nothing.
  r.type = SOFTWARE;
  ASSERT_OK(service_->RecordDeviceReport(device_.access_token(), r));
  ASSERT_OK_AND_ASSIGN(auto sw, service_->ListUpdateHistory(a_, device_.id(), SOFTWARE, PageQuery{}));
  ASSERT_EQ(sw.total_elements, 1);
  EXPECT_FALSE(sw.data[0].accepted());
}

TEST_P(OtaServiceTest, AssignmentChangesQueueTheDevicesTheyReach) {
  ASSERT_OK_AND_ASSIGN(OtaPackage v1, CreateWithData(a_, Info("fw", "1"), "one"));
  ASSERT_OK_AND_ASSIGN(OtaPackage v2, CreateWithData(a_, Info("fw", "2"), "two"));
  ASSERT_OK_AND_ASSIGN(Device pinned, service_->CreateDevice(a_, "pinned", profile_.id()));
  ASSERT_OK(service_->AssignDevicePackage(a_, pinned.id(), FIRMWARE, v2.id()));
  auto status = [&](const Device& d) { return service_->GetUpdateStatus(a_, d.id(), FIRMWARE); };
  auto events = [&](const Device& d) {
    return service_->ListUpdateHistory(a_, d.id(), FIRMWARE, PageQuery{}).value().total_elements;
  };
  ASSERT_OK_AND_ASSIGN(UpdateStatus s, status(pinned));
  EXPECT_EQ(s.state(), ::fwota::v1::UPDATE_STATE_QUEUED);
  EXPECT_EQ(s.target_package_id(), v2.id());
  EXPECT_THAT(status(device_), StatusCodeIs(Code::kNotFound));

  // A profile change reaches the devices without their own assignment only.
  clock_.Advance(5000);
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, v1.id()));
  ASSERT_OK_AND_ASSIGN(s, status(device_));
  EXPECT_EQ(s.state(), ::fwota::v1::UPDATE_STATE_QUEUED);
  EXPECT_EQ(s.target_title(), "fw");
  EXPECT_EQ(s.target_version(), "1");
  EXPECT_EQ(s.target_tag(), "fw 1");
  EXPECT_GT(s.target_ts(), 0);
  EXPECT_EQ(events(pinned), 1);
  ASSERT_OK_AND_ASSIGN(s, status(pinned));
  EXPECT_EQ(s.target_package_id(), v2.id());

  // The device moves on, then is reassigned: QUEUED again with the new target, error gone.
  DeviceReport r;
  r.type = FIRMWARE;
  r.state = "FAILED";
  r.error = "no space";
  ASSERT_OK(service_->RecordDeviceReport(device_.access_token(), r));
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, v2.id()));
  ASSERT_OK_AND_ASSIGN(s, status(device_));
  EXPECT_EQ(s.state(), ::fwota::v1::UPDATE_STATE_QUEUED);
  EXPECT_EQ(s.target_package_id(), v2.id());
  EXPECT_EQ(s.error(), "");
  EXPECT_EQ(events(device_), 3);

  // Giving the device its own assignment to the same package changes nothing.
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, v2.id()));
  EXPECT_EQ(events(device_), 3);

  // Unassigning everything: no target, no state.
  ASSERT_OK(service_->AssignDevicePackage(a_, device_.id(), FIRMWARE, ""));
  EXPECT_EQ(events(device_), 3);  // still the profile's v2
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, ""));
  ASSERT_OK_AND_ASSIGN(s, status(device_));
  EXPECT_EQ(s.state(), ::fwota::v1::UPDATE_STATE_UNSPECIFIED);
  EXPECT_EQ(s.target_package_id(), "");
  EXPECT_EQ(events(device_), 4);
  // A failed assignment queues nothing.
  EXPECT_FALSE(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, "nope").ok());
  EXPECT_EQ(events(device_), 4);
}

TEST_P(OtaServiceTest, StateCountsAndListingsStayInTheTenant) {
  ASSERT_OK_AND_ASSIGN(OtaPackage v1, CreateWithData(a_, Info("fw", "1"), "one"));
  ASSERT_OK_AND_ASSIGN(Device d2, service_->CreateDevice(a_, "t-2", profile_.id()));
  ASSERT_OK(service_->AssignProfilePackage(a_, profile_.id(), FIRMWARE, v1.id()));
  DeviceReport r;
  r.type = FIRMWARE;
  r.state = "FAILED";
  r.error = "checksum mismatch";
  ASSERT_OK(service_->RecordDeviceReport(d2.access_token(), r));
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> counts, service_->CountUpdateStates(a_, FIRMWARE));
  ASSERT_GE(counts.size(), 9u);
  EXPECT_EQ(counts[::fwota::v1::UPDATE_STATE_QUEUED], 1);
  EXPECT_EQ(counts[::fwota::v1::UPDATE_STATE_FAILED], 1);
  ASSERT_OK_AND_ASSIGN(auto failed, service_->ListUpdateStatuses(
                                        a_, FIRMWARE, ::fwota::v1::UPDATE_STATE_FAILED, PageQuery{}));
  ASSERT_EQ(failed.total_elements, 1);
  EXPECT_EQ(failed.data[0].device_id(), d2.id());
  EXPECT_EQ(failed.data[0].error(), "checksum mismatch");
  PageQuery by_name;
  by_name.text_search = "T-2";
  ASSERT_OK_AND_ASSIGN(auto named, service_->ListUpdateStatuses(
                                       a_, FIRMWARE, ::fwota::v1::UPDATE_STATE_UNSPECIFIED, by_name));
  EXPECT_EQ(named.total_elements, 1);
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> other, service_->CountUpdateStates(b_, FIRMWARE));
  for (int64_t n : other) EXPECT_EQ(n, 0);
  ASSERT_OK_AND_ASSIGN(auto none, service_->ListUpdateStatuses(
                                      b_, FIRMWARE, ::fwota::v1::UPDATE_STATE_UNSPECIFIED, PageQuery{}));
  EXPECT_EQ(none.total_elements, 0);
}

TEST_P(OtaServiceTest, DeviceReportsWithATargetFollowTheStateMachine) {
  ASSERT_OK_AND_ASSIGN(OtaPackage target, CreateWithData(a_, Info("fw", "2.0"), "new image"));
  // Set the target directly (until assignment writes QUEUED itself).
  UpdateStatus queued;
  queued.set_tenant_id(a_.tenant_id);
  queued.set_device_id(device_.id());
  queued.set_type(FIRMWARE);
  queued.set_state(::fwota::v1::UPDATE_STATE_QUEUED);
  queued.set_target_package_id(target.id());
  queued.set_target_title("fw");
  queued.set_target_version("2.0");
  queued.set_target_tag("fw 2.0");
  queued.set_target_ts(clock_.NowMillis());
  queued.set_state_since(queued.target_ts());
  ASSERT_OK(metadata_->RunInTransaction(
      [&](MetadataTransaction& tx) { return tx.PutUpdateStatus(queued); }));

  const std::string token = device_.access_token();
  auto report = [&](std::string state, std::string error = "", std::string title = "",
                    std::string version = "") {
    DeviceReport r;
    r.type = FIRMWARE;
    r.state = std::move(state);
    r.error = std::move(error);
    r.current_title = std::move(title);
    r.current_version = std::move(version);
    clock_.Advance(1000);
    return service_->RecordDeviceReport(token, r);
  };
  auto status = [&]() { return service_->GetUpdateStatus(a_, device_.id(), FIRMWARE).value(); };
  auto newest = [&]() {
    return service_->ListUpdateHistory(a_, device_.id(), FIRMWARE, PageQuery{}).value().data[0];
  };

  for (const char* state : {"DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATING", "UPDATED"}) {
    ASSERT_OK(report(state));
    EXPECT_EQ(UpdateStateName(status().state()), state);
    EXPECT_TRUE(newest().accepted()) << state;
    EXPECT_EQ(newest().package_id(), target.id());
  }
  const int64_t updated_since = status().state_since();

  // A state from the past: recorded, refused, the status keeps UPDATED.
  ASSERT_OK(report("VERIFIED"));
  EXPECT_EQ(status().state(), ::fwota::v1::UPDATE_STATE_UPDATED);
  EXPECT_EQ(status().state_since(), updated_since);
  EXPECT_EQ(newest().state(), ::fwota::v1::UPDATE_STATE_VERIFIED);
  EXPECT_FALSE(newest().accepted());
  EXPECT_EQ(newest().note(), "state from the past: VERIFIED after UPDATED");

  // A restart, then FAILED with the error.
  ASSERT_OK(report("DOWNLOADING"));
  EXPECT_EQ(status().state(), ::fwota::v1::UPDATE_STATE_DOWNLOADING);
  EXPECT_TRUE(newest().accepted());
  ASSERT_OK(report("DOWNLOADING"));  // progress: same state, same since
  const int64_t downloading_since = status().state_since();
  EXPECT_LT(downloading_since, status().last_activity());
  ASSERT_OK(report("FAILED", "flash write error"));
  EXPECT_EQ(status().state(), ::fwota::v1::UPDATE_STATE_FAILED);
  EXPECT_EQ(status().error(), "flash write error");
  EXPECT_EQ(newest().error(), "flash write error");
  ASSERT_OK(report("UPDATING"));  // FAILED is final until a new attempt
  EXPECT_EQ(status().state(), ::fwota::v1::UPDATE_STATE_FAILED);
  EXPECT_FALSE(newest().accepted());

  // A new attempt clears the error; back after a reboot with the target version: UPDATED.
  ASSERT_OK(report("INITIATED"));
  EXPECT_EQ(status().state(), ::fwota::v1::UPDATE_STATE_INITIATED);
  EXPECT_EQ(status().error(), "");
  ASSERT_OK(report("", "", "fw", "2.0"));
  EXPECT_EQ(status().state(), ::fwota::v1::UPDATE_STATE_UPDATED);
  EXPECT_EQ(status().current_version(), "2.0");
  EXPECT_TRUE(newest().accepted());
  EXPECT_EQ(newest().state(), ::fwota::v1::UPDATE_STATE_UPDATED);
  EXPECT_EQ(newest().note(), "device reports the target version");

  ASSERT_OK_AND_ASSIGN(auto history, service_->ListUpdateHistory(a_, device_.id(), FIRMWARE, PageQuery{}));
  EXPECT_EQ(history.total_elements, 12);  // every report, accepted or not
}

INSTANTIATE_TEST_SUITE_P(
    AllStores, OtaServiceTest,
    ::testing::Values(
        Stores{"memory",
               [](std::unique_ptr<MetadataStore>& m, std::unique_ptr<BlobStore>& b) {
                 m = NewMemoryMetadataStore();
                 b = NewMemoryBlobStore();
               }},
        Stores{"sqlite_and_files",
               [](std::unique_ptr<MetadataStore>& m, std::unique_ptr<BlobStore>& b) {
                 std::string dir = NewTempDir();
                 m = std::move(OpenSqliteMetadataStore(dir + "/fwota.db")).value();
                 b = std::move(OpenFileBlobStore(dir + "/blobs")).value();
               }}),
    [](const ::testing::TestParamInfo<Stores>& info) { return info.param.name; });

}  // namespace
}  // namespace fwota
