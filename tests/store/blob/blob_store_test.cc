// One conformance suite run against every BlobStore, plus the file store's own cases
// (integrity checks, crash leftovers).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fwota/blob_store.h"
#include "fwota/checksum.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace fwota {
namespace {

using ::fwota::testing::StatusCodeIs;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::string Sha256(absl::string_view data) { return ChecksumText(::fwota::v1::SHA256, data); }

std::string NewTempDir() {
  std::string templ = absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                                   "/blobs.XXXXXX");
  char* made = mkdtemp(templ.data());
  EXPECT_NE(made, nullptr);
  return templ;
}

// Writes `data` in pieces of `piece` bytes and commits it.
absl::StatusOr<std::string> Put(BlobStore& store, const std::string& data, size_t piece = 7777) {
  auto writer = store.NewWriter();
  if (!writer.ok()) return writer.status();
  for (size_t off = 0; off < data.size(); off += piece) {
    absl::Status s = (*writer)->Append(absl::string_view(data).substr(off, piece));
    if (!s.ok()) return s;
  }
  std::string key = Sha256(data);
  absl::Status s = (*writer)->Commit(key);
  if (!s.ok()) return s;
  return key;
}

std::string ReadAll(BlobReader& reader) {
  std::string out(static_cast<size_t>(reader.size()), '\0');
  auto n = reader.ReadAt(0, absl::MakeSpan(out));
  EXPECT_TRUE(n.ok()) << n.status();
  return out;
}

// Calls `one` `calls` times on each of 4 threads at once (thread t's generator seeded with
// seed + t) and returns how many of the calls returned false.
int FailuresOnFourThreads(int seed, int calls, const std::function<bool(std::mt19937&)>& one) {
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(seed + t);
      for (int i = 0; i < calls; ++i) {
        if (!one(rng)) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  return bad.load();
}

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<BlobStore>()> make;
};

class BlobStoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override { store_ = GetParam().make(); }
  std::unique_ptr<BlobStore> store_;
};

TEST_P(BlobStoreConformance, WriteCommitReadBack) {
  const std::string data = RandomBytes(300000, 1);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data));
  EXPECT_TRUE(store_->Contains(key));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  EXPECT_EQ(reader->size(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(ReadAll(*reader), data);
  EXPECT_OK(store_->Verify(key));
}

TEST_P(BlobStoreConformance, RangeReadsAtEveryKindOfOffset) {
  const std::string data = RandomBytes(200003, 2);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  std::mt19937 rng(3);
  for (int i = 0; i < 300; ++i) {
    int64_t offset = rng() % (data.size() + 10);
    size_t len = rng() % 70000;
    std::string out(len, '\0');
    ASSERT_OK_AND_ASSIGN(size_t n, reader->ReadAt(offset, absl::MakeSpan(out)));
    size_t expect = offset >= static_cast<int64_t>(data.size())
                        ? 0
                        : std::min(len, data.size() - static_cast<size_t>(offset));
    ASSERT_EQ(n, expect) << "offset " << offset << " len " << len;
    EXPECT_EQ(out.substr(0, n), data.substr(std::min<size_t>(offset, data.size()), n));
  }
  std::string one(1, '\0');
  EXPECT_THAT(reader->ReadAt(-1, absl::MakeSpan(one)),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  // Offsets beyond 4 GiB are plain 64-bit arithmetic: past the end, nothing.
  ASSERT_OK_AND_ASSIGN(size_t far, reader->ReadAt(int64_t{5} << 30, absl::MakeSpan(one)));
  EXPECT_EQ(far, 0u);
}

TEST_P(BlobStoreConformance, ConcurrentReaders) {
  const std::string data = RandomBytes(500000, 4);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  EXPECT_EQ(FailuresOnFourThreads(0, 200, [&](std::mt19937& rng) {
              int64_t offset = rng() % data.size();
              std::string out(4096, '\0');
              auto n = reader->ReadAt(offset, absl::MakeSpan(out));
              return n.ok() && out.substr(0, *n) == data.substr(offset, *n);
            }),
            0);
}

TEST_P(BlobStoreConformance, AbortAndDestroyLeaveNothing) {
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter());
    ASSERT_OK(writer->Append("abc"));
    writer->Abort();
    writer->Abort();  // idempotent
    EXPECT_THAT(writer->Commit(Sha256("abc")),
                StatusCodeIs(absl::StatusCode::kFailedPrecondition));
  }
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter());
    ASSERT_OK(writer->Append("abc"));
  }
  ASSERT_OK_AND_ASSIGN(auto keys, store_->ListKeys());
  EXPECT_TRUE(keys.empty());
  EXPECT_FALSE(store_->Contains(Sha256("abc")));
}

TEST_P(BlobStoreConformance, SameContentIsOneBlob) {
  ASSERT_OK_AND_ASSIGN(std::string a, Put(*store_, "same bytes"));
  ASSERT_OK_AND_ASSIGN(std::string b, Put(*store_, "same bytes"));
  EXPECT_EQ(a, b);
  ASSERT_OK_AND_ASSIGN(auto keys, store_->ListKeys());
  EXPECT_EQ(keys.size(), 1u);
}

TEST_P(BlobStoreConformance, DeleteAndListAndMissing) {
  ASSERT_OK_AND_ASSIGN(std::string a, Put(*store_, "first"));
  ASSERT_OK_AND_ASSIGN(std::string b, Put(*store_, "second"));
  ASSERT_OK_AND_ASSIGN(auto keys, store_->ListKeys());
  std::vector<std::string> expected = {a, b};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(keys, expected);
  ASSERT_OK(store_->Delete(a));
  EXPECT_THAT(store_->Delete(a), StatusCodeIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->Open(a), StatusCodeIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(store_->Contains(a));
  ASSERT_OK_AND_ASSIGN(keys, store_->ListKeys());
  EXPECT_EQ(keys, std::vector<std::string>{b});
}

TEST_P(BlobStoreConformance, RejectsBadKeys) {
  for (std::string key : {std::string(""), std::string("../../etc/passwd"),
                          std::string(64, 'g'), std::string(64, 'A'), std::string(63, 'a')}) {
    EXPECT_THAT(store_->Open(key), StatusCodeIs(absl::StatusCode::kInvalidArgument)) << key;
    EXPECT_THAT(store_->Delete(key), StatusCodeIs(absl::StatusCode::kInvalidArgument)) << key;
    ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter());
    EXPECT_THAT(writer->Commit(key), StatusCodeIs(absl::StatusCode::kInvalidArgument)) << key;
  }
}

TEST_P(BlobStoreConformance, EmptyBlob) {
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, ""));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  EXPECT_EQ(reader->size(), 0);
  std::string out(10, '\0');
  ASSERT_OK_AND_ASSIGN(size_t n, reader->ReadAt(0, absl::MakeSpan(out)));
  EXPECT_EQ(n, 0u);
}

TEST_P(BlobStoreConformance, VerifyDetectsAWrongKey) {
  // A blob committed under a key that is not its SHA-256 fails Verify.
  ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter());
  ASSERT_OK(writer->Append("content"));
  const std::string wrong = Sha256("other content");
  ASSERT_OK(writer->Commit(wrong));
  EXPECT_THAT(store_->Verify(wrong), StatusCodeIs(absl::StatusCode::kDataLoss));
}

INSTANTIATE_TEST_SUITE_P(
    AllStores, BlobStoreConformance,
    ::testing::Values(StoreFactory{"memory", [] { return NewMemoryBlobStore(); }},
                      StoreFactory{"file",
                                   [] {
                                     FileBlobStoreOptions options;
                                     options.integrity_block_size = 4096;
                                     return std::move(OpenFileBlobStore(NewTempDir(), options))
                                         .value();
                                   }},
                      StoreFactory{"file_default_blocks",
                                   [] { return std::move(OpenFileBlobStore(NewTempDir())).value(); }}),
    [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

// ---- The file store's own cases ----

class FileBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = NewTempDir();
    FileBlobStoreOptions options;
    options.integrity_block_size = 4096;
    store_ = std::move(OpenFileBlobStore(dir_, options)).value();
  }
  std::string PathOf(const std::string& key) {
    return absl::StrCat(dir_, "/", key.substr(0, 2), "/", key);
  }
  void FlipByte(const std::string& path, off_t offset) {
    int fd = open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char c;
    ASSERT_EQ(pread(fd, &c, 1, offset), 1);
    c ^= 0x5a;
    ASSERT_EQ(pwrite(fd, &c, 1, offset), 1);
    close(fd);
  }
  int CountFiles(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return 0;
    int n = 0;
    while (dirent* e = readdir(d)) {
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
    }
    closedir(d);
    return n;
  }
  std::string dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(FileBlobStoreTest, FlippedByteIsDataLossForThatBlockOnly) {
  const std::string data = RandomBytes(40000, 5);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data));
  FlipByte(PathOf(key), 10000);  // in block 2 (8192..12287)
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  std::string out(100, '\0');
  EXPECT_THAT(reader->ReadAt(9990, absl::MakeSpan(out)), StatusCodeIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(reader->ReadAt(0, absl::MakeSpan(out)), ::fwota::testing::IsOk());
  ASSERT_OK_AND_ASSIGN(size_t n, reader->ReadAt(20000, absl::MakeSpan(out)));
  EXPECT_EQ(out.substr(0, n), data.substr(20000, 100));
  EXPECT_THAT(store_->Verify(key), StatusCodeIs(absl::StatusCode::kDataLoss));
}

TEST_F(FileBlobStoreTest, TruncatedOrGrownFileIsDataLoss) {
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, RandomBytes(10000, 6)));
  ASSERT_EQ(truncate(PathOf(key).c_str(), 5000), 0);
  EXPECT_THAT(store_->Open(key), StatusCodeIs(absl::StatusCode::kDataLoss));
  ASSERT_EQ(truncate(PathOf(key).c_str(), 20000), 0);
  EXPECT_THAT(store_->Open(key), StatusCodeIs(absl::StatusCode::kDataLoss));
}

TEST_F(FileBlobStoreTest, MissingOrDamagedSidecarIsDataLoss) {
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, RandomBytes(10000, 7)));
  FlipByte(PathOf(key) + ".crc", 2);  // the magic
  EXPECT_THAT(store_->Open(key), StatusCodeIs(absl::StatusCode::kDataLoss));
  ASSERT_EQ(unlink((PathOf(key) + ".crc").c_str()), 0);
  EXPECT_THAT(store_->Open(key), StatusCodeIs(absl::StatusCode::kDataLoss));
}

TEST_F(FileBlobStoreTest, WritesInProgressLiveOnlyInTmp) {
  ASSERT_OK_AND_ASSIGN(auto writer, store_->NewWriter());
  ASSERT_OK(writer->Append(RandomBytes(100000, 8)));
  EXPECT_EQ(CountFiles(dir_ + "/tmp"), 1);
  ASSERT_OK_AND_ASSIGN(auto keys, store_->ListKeys());
  EXPECT_TRUE(keys.empty());
  // What a killed process leaves (the writer is never destroyed) is swept.
  BlobWriter* abandoned = writer.release();  // simulates the crash: never destroyed first
  ASSERT_OK(store_->RemoveIncompleteWrites());
  EXPECT_EQ(CountFiles(dir_ + "/tmp"), 0);
  delete abandoned;  // only after the sweep, so that LeakSanitizer sees no leak
}

TEST_F(FileBlobStoreTest, SidecarWithoutDataIsSwept) {
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, "x"));
  // A crash between the sidecar's rename and the data's rename leaves this state.
  ASSERT_EQ(unlink(PathOf(key).c_str()), 0);
  ASSERT_OK(store_->RemoveIncompleteWrites());
  struct stat st;
  EXPECT_NE(stat((PathOf(key) + ".crc").c_str(), &st), 0);
}

TEST_F(FileBlobStoreTest, SurvivesReopen) {
  const std::string data = RandomBytes(12345, 9);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data));
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, OpenFileBlobStore(dir_));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  EXPECT_EQ(ReadAll(*reader), data);
}

// ---- PrepareSendFile: the zero-copy path ----

std::string PReadAll(int fd, int64_t offset, size_t len) {
  std::string out(len, '\0');
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, out.data() + got, len - got, offset + got);
    if (n <= 0) break;
    got += n;
  }
  out.resize(got);
  return out;
}

TEST_F(FileBlobStoreTest, PrepareSendFileOnGoodRangesLendsTheBlobsBytes) {
  const std::string data = RandomBytes(40000, 10);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  struct Range {
    int64_t offset;
    int64_t length;
  };
  for (Range r : {Range{0, 40000}, Range{5000, 100}, Range{4095, 2}, Range{8192, 4096},
                  Range{39999, 1000}, Range{0, 0}}) {
    ASSERT_OK_AND_ASSIGN(int fd, reader->PrepareSendFile(r.offset, r.length));
    ASSERT_GE(fd, 0);
    const size_t want = std::min<int64_t>(r.length, data.size() - r.offset);
    EXPECT_EQ(PReadAll(fd, r.offset, want), data.substr(r.offset, want))
        << r.offset << "+" << r.length;
  }
  // Past the end there is nothing to check.
  EXPECT_OK(reader->PrepareSendFile(50000, 10).status());
  EXPECT_OK(reader->PrepareSendFile(int64_t{5} << 30, int64_t{1} << 40).status());
  EXPECT_THAT(reader->PrepareSendFile(-1, 10), StatusCodeIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(reader->PrepareSendFile(0, -1), StatusCodeIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(FileBlobStoreTest, PrepareSendFileOnADamagedBlockIsDataLoss) {
  const std::string data = RandomBytes(40000, 11);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data));
  FlipByte(PathOf(key), 10000);  // in block 2 (8192..12287)
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  EXPECT_THAT(reader->PrepareSendFile(9990, 100), StatusCodeIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(reader->PrepareSendFile(0, 40000), StatusCodeIs(absl::StatusCode::kDataLoss));
  // A damaged block is never remembered as good.
  EXPECT_THAT(reader->PrepareSendFile(12287, 1), StatusCodeIs(absl::StatusCode::kDataLoss));
  // The blocks around it are fine.
  EXPECT_OK(reader->PrepareSendFile(0, 8192).status());
  EXPECT_OK(reader->PrepareSendFile(12288, 40000).status());
}

TEST_F(FileBlobStoreTest, PrepareSendFileChecksEachBlockOncePerReaderUntilTheFileChanges) {
  const std::string data = RandomBytes(40000, 12);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  ASSERT_OK(reader->PrepareSendFile(0, 20000).status());
  // The blocks stay checked while the file is untouched (the point of the bitmap: a hot
  // chunk is not re-read for every request). A write to the file (past the kernel's
  // coarse timestamp tick, a few ms) changes its ctime: every block is checked again and
  // the damage is found, by this reader as by a new one, and by ReadAt.
  absl::SleepFor(absl::Milliseconds(20));
  FlipByte(PathOf(key), 10000);
  EXPECT_THAT(reader->PrepareSendFile(8192, 4096), StatusCodeIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(reader->PrepareSendFile(0, 40000), StatusCodeIs(absl::StatusCode::kDataLoss));
  EXPECT_OK(reader->PrepareSendFile(0, 8192).status());
  std::string out(10, '\0');
  EXPECT_THAT(reader->ReadAt(10000, absl::MakeSpan(out)), StatusCodeIs(absl::StatusCode::kDataLoss));
  ASSERT_OK_AND_ASSIGN(auto fresh, store_->Open(key));
  EXPECT_THAT(fresh->PrepareSendFile(9000, 10), StatusCodeIs(absl::StatusCode::kDataLoss));
}

TEST_F(FileBlobStoreTest, PrepareSendFileFromManyThreads) {
  const std::string data = RandomBytes(1 << 20, 13);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data, 1 << 16));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<BlobReader> reader, store_->Open(key));
  EXPECT_EQ(FailuresOnFourThreads(100, 200, [&](std::mt19937& rng) {
              int64_t offset = rng() % data.size();
              int64_t length = rng() % 100000;
              auto fd = reader->PrepareSendFile(offset, length);
              if (!fd.ok()) return false;
              size_t want = std::min<int64_t>(length, data.size() - offset);
              return PReadAll(*fd, offset, want) == data.substr(offset, want);
            }),
            0);
}

// Reads of parts of a block (CoAP's blocks, small MQTT chunks) are served from a checked
// copy of the block; a write to the file drops the copies, so damage is still found.
TEST_F(FileBlobStoreTest, PartialReadsAfterTheFileChangedAreCheckedAgain) {
  const std::string data = RandomBytes(40000, 14);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data));
  ASSERT_OK_AND_ASSIGN(auto reader, store_->Open(key));
  for (int64_t offset = 8192; offset < 12288; offset += 100) {
    std::string out(100, '\0');
    ASSERT_OK_AND_ASSIGN(size_t n, reader->ReadAt(offset, absl::MakeSpan(out)));
    ASSERT_EQ(out.substr(0, n), data.substr(offset, n)) << offset;
  }
  std::string last(1000, '\0');  // the short last block, to its end
  ASSERT_OK_AND_ASSIGN(size_t n, reader->ReadAt(39500, absl::MakeSpan(last)));
  EXPECT_EQ(last.substr(0, n), data.substr(39500));
  absl::SleepFor(absl::Milliseconds(20));  // past the coarse ctime tick
  FlipByte(PathOf(key), 10000);
  std::string out(10, '\0');
  EXPECT_THAT(reader->ReadAt(9000, absl::MakeSpan(out)), StatusCodeIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(reader->ReadAt(12000, absl::MakeSpan(out)), StatusCodeIs(absl::StatusCode::kDataLoss));
  ASSERT_OK_AND_ASSIGN(n, reader->ReadAt(100, absl::MakeSpan(out)));
  EXPECT_EQ(out.substr(0, n), data.substr(100, 10));
}

TEST_F(FileBlobStoreTest, PartialReadsFromManyThreadsAcrossManyBlocks) {
  const std::string data = RandomBytes(1 << 20, 15);
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store_, data, 1 << 16));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<BlobReader> reader, store_->Open(key));
  EXPECT_EQ(FailuresOnFourThreads(200, 2000, [&](std::mt19937& rng) {
              const int64_t offset = rng() % data.size();
              std::string out(1 + rng() % 1024, '\0');
              absl::StatusOr<size_t> n = reader->ReadAt(offset, absl::MakeSpan(out));
              return n.ok() && out.substr(0, *n) == data.substr(offset, out.size());
            }),
            0);
}

TEST(MemoryBlobStoreTest, PrepareSendFileIsUnimplemented) {
  auto store = NewMemoryBlobStore();
  ASSERT_OK_AND_ASSIGN(std::string key, Put(*store, "bytes"));
  ASSERT_OK_AND_ASSIGN(auto reader, store->Open(key));
  EXPECT_THAT(reader->PrepareSendFile(0, 5), StatusCodeIs(absl::StatusCode::kUnimplemented));
}

}  // namespace
}  // namespace fwota
