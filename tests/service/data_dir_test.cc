// DataDir: one process at a time, data survives reopening, orphans are swept.
#include "fwota/data_dir.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace fwota {
namespace {

using ::fwota::testing::StatusCodeIs;

std::string NewTempDir() {
  std::string templ = absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                                   "/dd.XXXXXX");
  EXPECT_NE(mkdtemp(templ.data()), nullptr);
  return templ;
}

TEST(DataDirTest, SecondOpenIsRefusedWhileTheFirstHoldsIt) {
  const std::string dir = NewTempDir();
  ASSERT_OK_AND_ASSIGN(auto first, DataDir::Open(dir));
  // flock is per open file description, so a second open in this process conflicts too;
  // check it from a child process as well, as another fwota would be.
  EXPECT_THAT(DataDir::Open(dir), StatusCodeIs(absl::StatusCode::kFailedPrecondition));
  pid_t pid = fork();
  if (pid == 0) {
    auto second = DataDir::Open(dir);
    _exit(absl::IsFailedPrecondition(second.status()) ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  first.reset();
  EXPECT_OK(DataDir::Open(dir));
}

TEST(DataDirTest, DataSurvivesReopenAndOrphanBlobsAreSwept) {
  const std::string dir = NewTempDir();
  std::string package_id;
  {
    ASSERT_OK_AND_ASSIGN(auto dd, DataDir::Open(dir));
    OtaService& s = dd->service();
    ASSERT_OK_AND_ASSIGN(Tenant t, s.CreateTenant("default"));
    TenantContext ctx{t.id(), "test"};
    ASSERT_OK_AND_ASSIGN(DeviceProfile p, s.CreateProfile(ctx, "p", ""));
    PackageInfoRequest info;
    info.title = "fw";
    info.version = "1";
    info.type = ::fwota::v1::FIRMWARE;
    info.device_profile_id = p.id();
    UploadRequest upload;
    upload.file_name = "fw.bin";
    auto source = NewStringSource("persistent bytes");
    ASSERT_OK_AND_ASSIGN(OtaPackage pkg, s.CreatePackageWithData(ctx, info, upload, *source));
    package_id = pkg.id();
    // An orphan: a committed blob no package refers to (a crash between blob commit and
    // metadata commit leaves exactly this).
    ASSERT_OK_AND_ASSIGN(auto writer, dd->blobs().NewWriter());
    ASSERT_OK(writer->Append("orphan"));
    ASSERT_OK(writer->Commit(ChecksumText(::fwota::v1::SHA256, "orphan")));
    // And a temporary file of an interrupted write.
    std::ofstream(dir + "/blobs/tmp/leftover.part") << "half";
  }
  ASSERT_OK_AND_ASSIGN(auto dd, DataDir::Open(dir));
  ASSERT_OK_AND_ASSIGN(Tenant t, dd->service().FindTenant("default"));
  TenantContext ctx{t.id(), "test"};
  EXPECT_OK(dd->service().VerifyPackage(ctx, package_id));
  ASSERT_OK_AND_ASSIGN(auto keys, dd->blobs().ListKeys());
  EXPECT_EQ(keys.size(), 1u);
  struct stat st;
  EXPECT_NE(stat((dir + "/blobs/tmp/leftover.part").c_str(), &st), 0);
}

}  // namespace
}  // namespace fwota
