#include "tools/fwota/progress.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace fwota::cli {
namespace {

std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(FormatBytesTest, DecimalUnits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBytes(1000), "1.0 kB");
  EXPECT_EQ(FormatBytes(1500000), "1.5 MB");
  EXPECT_EQ(FormatBytes(int64_t{2} << 30), "2.1 GB");
  EXPECT_EQ(FormatBytes(int64_t{3000} * 1000 * 1000 * 1000), "3.0 TB");
}

TEST(ProgressFrameTest, KnownTotal) {
  EXPECT_EQ(ProgressBar::Frame("upload", 50000000, 100000000, 2.0),
            "upload [##########..........]  50%  50.0 MB / 100.0 MB  25.0 MB/s");
  EXPECT_EQ(ProgressBar::Frame("download", 100, 100, 0.0),
            "download [####################] 100%  100 B / 100 B");
}

TEST(ProgressFrameTest, UnknownTotal) {
  EXPECT_EQ(ProgressBar::Frame("upload", 3000000, -1, 1.0), "upload  3.0 MB  3.0 MB/s");
}

TEST(ProgressFrameTest, NeverMoreThanFull) {
  EXPECT_EQ(ProgressBar::Frame("x", 200, 100, 0.0), "x [####################] 100%  200 B / 100 B");
}

class ProgressBarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe2(fds_, O_CLOEXEC), 0);
  }
  void TearDown() override {
    if (fds_[0] >= 0) ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  std::string CloseAndRead() {
    ::close(fds_[1]);
    fds_[1] = -1;
    return Drain(fds_[0]);
  }
  int fds_[2] = {-1, -1};
};

TEST_F(ProgressBarTest, DisabledDrawsNothing) {
  {
    ProgressBar bar("upload", /*enabled=*/false, fds_[1]);
    for (int i = 0; i <= 100; ++i) bar.Update(i, 100);
    bar.Finish();
  }
  EXPECT_EQ(CloseAndRead(), "");
}

TEST_F(ProgressBarTest, ThrottlesRedrawsAndEndsTheLine) {
  {
    ProgressBar bar("upload", /*enabled=*/true, fds_[1]);
    // A burst of updates within far less than 100 ms: the first draws, the rest wait.
    for (int i = 1; i <= 1000; ++i) bar.Update(i, 1000);
    bar.Finish();
    bar.Finish();  // idempotent
  }
  const std::string out = CloseAndRead();
  size_t frames = 0;
  for (char c : out) frames += c == '\r';
  EXPECT_GE(frames, 2u);
  EXPECT_LE(frames, 3u);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out.find("100%"), std::string::npos);
  EXPECT_NE(out.find("1.0 kB / 1.0 kB"), std::string::npos);
}

TEST_F(ProgressBarTest, NothingReportedDrawsNothing) {
  { ProgressBar bar("upload", /*enabled=*/true, fds_[1]); }
  EXPECT_EQ(CloseAndRead(), "");
}

}  // namespace
}  // namespace fwota::cli
