// BlobStore over files. Layout under the store's directory:
//   <ab>/<key>        the bytes of blob <key> (key = lowercase hex SHA-256, ab = key[0:2])
//   <ab>/<key>.crc    integrity sidecar: header + one CRC32 per integrity block
//   tmp/<random>.*    writes in progress (deleted by RemoveIncompleteWrites)
// Commit order: data fsynced, sidecar written and fsynced, sidecar renamed, data renamed,
// directory fsynced. A blob exists when its data file does; a sidecar without data (a
// crash between the two renames) is swept as incomplete.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "fwota/blob_store.h"
#include "fwota/checksum.h"
#include "fwota/status_macros.h"
#include "lib/checksum/crc32.h"
#include "lib/store/blob/blob_key.h"
#include "lib/store/blob/posix_file.h"
#include "lib/util/random.h"

namespace fwota {
namespace {

using checksum_internal::Crc32Update;
using internal::ErrnoStatus;
using internal::FsyncDir;
using internal::FsyncFd;
using internal::MakeDirs;
using internal::OpenFile;
using internal::PReadFull;
using internal::UniqueFd;
using internal::ValidateBlobKey;
using internal::WriteAll;

constexpr char kSidecarMagic[8] = {'F', 'W', 'O', 'T', 'A', 'C', 'R', '1'};
constexpr size_t kSidecarHeaderSize = 8 + 8 + 8;  // magic, size, block size
// Start write-back every this many bytes, so the final fsync of a large blob is short
// and dirty pages do not pile up.
constexpr int64_t kWritebackInterval = 16 << 20;

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// The integrity check of one block: zlib's CRC32, computed in place (no hasher object on
// the read path). The sidecar keeps it little-endian.
uint32_t Crc32Of(absl::Span<const char> data) {
  return Crc32Update(0, reinterpret_cast<const uint8_t*>(data.data()), data.size());
}

class FileBlobStore;

class FileBlobReader : public BlobReader {
 public:
  FileBlobReader(std::string path, UniqueFd fd, int64_t size, int64_t block_size,
                 std::vector<uint32_t> crcs)
      : path_(std::move(path)),
        fd_(std::move(fd)),
        size_(size),
        block_size_(block_size),
        crcs_(std::move(crcs)),
        verified_((crcs_.size() + 63) / 64) {
    for (auto& word : verified_) word.store(0, std::memory_order_relaxed);
  }

  int64_t size() const override { return size_; }

  // Checks every block of the range once per reader (the bitmap remembers the good
  // ones; a damaged block is never marked, so it fails every time), then lends out the
  // descriptor. A blob file never changes once committed: when its status change time
  // or size moved since the blocks were checked, someone wrote to it, and every block is
  // checked again. Thread-safe: two threads may verify the same block, which is harmless.
  absl::StatusOr<int> PrepareSendFile(int64_t offset, int64_t length) override {
    if (offset < 0 || length < 0) {
      return absl::InvalidArgumentError("negative blob offset or length");
    }
    if (offset >= size_ || length == 0) return fd_.get();  // nothing to check
    FWOTA_RETURN_IF_ERROR(ForgetChecksIfChanged());
    const int64_t end = offset + std::min(length, size_ - offset);
    std::unique_ptr<char[]> scratch;
    for (int64_t block = offset / block_size_; block * block_size_ < end; ++block) {
      std::atomic<uint64_t>& word = verified_[block / 64];
      const uint64_t bit = uint64_t{1} << (block % 64);
      if (word.load(std::memory_order_acquire) & bit) continue;
      if (!scratch) scratch.reset(new char[block_size_]);
      FWOTA_RETURN_IF_ERROR(CheckBlock(block, scratch.get()));
      word.fetch_or(bit, std::memory_order_release);
    }
    return fd_.get();
  }

  // Whole integrity blocks are read straight into `out` and checked there. A part of a
  // block (CoAP's 16..1024-byte blocks, small MQTT chunks) comes from a checked copy of
  // its block kept in memory, so a transfer reading one block in small pieces reads and
  // checks it once, not once per piece; the copies are dropped when the file's ctime or
  // size moves (a write to it), as PrepareSendFile's bitmap is. Bytes that go out have
  // passed their block's check either way.
  absl::StatusOr<size_t> ReadAt(int64_t offset, absl::Span<char> out) override {
    if (offset < 0) return absl::InvalidArgumentError("negative blob offset");
    if (offset >= size_ || out.empty()) return 0;
    const int64_t end = std::min<int64_t>(size_, offset + static_cast<int64_t>(out.size()));
    size_t copied = 0;
    for (int64_t block = offset / block_size_; block * block_size_ < end; ++block) {
      const int64_t block_start = block * block_size_;
      const int64_t block_len = std::min(block_size_, size_ - block_start);
      const int64_t want_start = std::max(block_start, offset);
      const int64_t want_end = std::min(block_start + block_len, end);
      if (want_start == block_start && want_end == block_start + block_len) {
        FWOTA_RETURN_IF_ERROR(CheckBlock(block, out.data() + (block_start - offset)));
      } else {
        FWOTA_ASSIGN_OR_RETURN(std::shared_ptr<const std::string> bytes, CheckedBlock(block));
        std::memcpy(out.data() + (want_start - offset), bytes->data() + (want_start - block_start),
                    want_end - want_start);
      }
      copied += want_end - want_start;
    }
    return copied;
  }

 private:
  // Clears the bitmap and the checked copies when the file's ctime or size is not what it
  // was at the last look. Looks at most once a millisecond (a CoAP transfer asks for
  // tens of thousands of blocks a second; the kernel's ctime moves in ticks of a few
  // milliseconds anyway).
  absl::Status ForgetChecksIfChanged() {
    const int64_t now = absl::GetCurrentTimeNanos();
    if (now < next_look_ns_.load(std::memory_order_relaxed)) return absl::OkStatus();
    next_look_ns_.store(now + 1000000, std::memory_order_relaxed);
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) {
      return absl::InternalError(absl::StrCat("cannot stat blob ", path_, ": ", strerror(errno)));
    }
    const int64_t stamp = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 +
                          st.st_ctim.tv_nsec;
    absl::MutexLock lock(&stamp_mu_);
    if (stamp == ctime_ns_ && st.st_size == file_size_) return absl::OkStatus();
    if (ctime_ns_ != -1) {
      for (auto& word : verified_) word.store(0, std::memory_order_release);
      for (CachedBlock& c : cached_) c = CachedBlock();
    }
    ctime_ns_ = stamp;
    file_size_ = st.st_size;
    return absl::OkStatus();
  }

  // Block `block`, checked: the copy kept in memory while the file is unchanged, or read
  // and checked now (and kept, in place of the copy used longest ago).
  absl::StatusOr<std::shared_ptr<const std::string>> CheckedBlock(int64_t block) {
    FWOTA_RETURN_IF_ERROR(ForgetChecksIfChanged());
    {
      absl::MutexLock lock(&stamp_mu_);
      for (CachedBlock& c : cached_) {
        if (c.block == block) {
          c.used = ++use_clock_;
          return c.bytes;
        }
      }
    }
    auto bytes = std::make_shared<std::string>(
        static_cast<size_t>(std::min(block_size_, size_ - block * block_size_)), '\0');
    FWOTA_RETURN_IF_ERROR(CheckBlock(block, bytes->data()));
    absl::MutexLock lock(&stamp_mu_);
    CachedBlock* oldest = &cached_[0];
    for (CachedBlock& c : cached_) {
      if (c.used < oldest->used) oldest = &c;
    }
    *oldest = CachedBlock{block, ++use_clock_, bytes};
    return bytes;
  }

  // Reads block `block` into `scratch` (room for the block) and checks its CRC32.
  absl::Status CheckBlock(int64_t block, char* scratch) const {
    const int64_t block_start = block * block_size_;
    const int64_t block_len = std::min(block_size_, size_ - block_start);
    FWOTA_ASSIGN_OR_RETURN(
        size_t got, PReadFull(fd_.get(), block_start, absl::MakeSpan(scratch, block_len), path_));
    if (static_cast<int64_t>(got) != block_len) {
      return absl::DataLossError(
          absl::StrCat("blob ", path_, " is shorter than recorded (", size_, " bytes)"));
    }
    if (Crc32Of(absl::MakeConstSpan(scratch, block_len)) != crcs_[block]) {
      return absl::DataLossError(absl::StrCat(
          "blob ", path_, " is damaged: integrity check failed at byte ", block_start));
    }
    return absl::OkStatus();
  }

  const std::string path_;
  const UniqueFd fd_;
  const int64_t size_;
  const int64_t block_size_;
  const std::vector<uint32_t> crcs_;
  // Bit b of word w: block 64 * w + b passed its check in PrepareSendFile.
  std::vector<std::atomic<uint64_t>> verified_;
  // The file's status change time (ns) and size when verified_ was last trusted; -1:
  // not looked at yet.
  absl::Mutex stamp_mu_;
  std::atomic<int64_t> next_look_ns_{0};  // no fstat before this time (ns since the epoch)
  int64_t ctime_ns_ ABSL_GUARDED_BY(stamp_mu_) = -1;
  int64_t file_size_ ABSL_GUARDED_BY(stamp_mu_) = -1;
  // Checked copies of the blocks partial reads asked for last (block -1: empty). A few,
  // for transfers of the same blob at different places.
  struct CachedBlock {
    int64_t block = -1;
    uint64_t used = 0;
    std::shared_ptr<const std::string> bytes;
  };
  static constexpr int kCachedBlocks = 4;
  CachedBlock cached_[kCachedBlocks] ABSL_GUARDED_BY(stamp_mu_);
  uint64_t use_clock_ ABSL_GUARDED_BY(stamp_mu_) = 0;
};

class FileBlobWriter : public BlobWriter {
 public:
  FileBlobWriter(std::string root, std::string tmp_path, UniqueFd fd, int64_t block_size)
      : root_(std::move(root)),
        tmp_path_(std::move(tmp_path)),
        fd_(std::move(fd)),
        block_size_(block_size) {}

  ~FileBlobWriter() override { Abort(); }

  absl::Status Append(absl::Span<const char> data) override {
    if (done_) return absl::FailedPreconditionError("blob writer already finished");
    FWOTA_RETURN_IF_ERROR(WriteAll(fd_.get(), data, tmp_path_));
    // Per-block CRCs for the sidecar.
    size_t pos = 0;
    while (pos < data.size()) {
      size_t take = std::min<size_t>(data.size() - pos, block_size_ - in_block_);
      block_crc_ =
          Crc32Update(block_crc_, reinterpret_cast<const uint8_t*>(data.data() + pos), take);
      in_block_ += take;
      pos += take;
      if (in_block_ == block_size_) FinishBlock();
    }
    size_ += static_cast<int64_t>(data.size());
    if (size_ - synced_ >= kWritebackInterval) {
      // Asynchronous write-back of what is written so far; errors surface at fsync.
      sync_file_range(fd_.get(), synced_, size_ - synced_, SYNC_FILE_RANGE_WRITE);
      synced_ = size_;
    }
    return absl::OkStatus();
  }

  int64_t size() const override { return size_; }

  absl::Status Commit(absl::string_view key) override {
    if (done_) return absl::FailedPreconditionError("blob writer already finished");
    FWOTA_RETURN_IF_ERROR(ValidateBlobKey(key));
    if (in_block_ > 0) FinishBlock();
    absl::Status status = CommitFiles(key);
    if (!status.ok()) Abort();
    done_ = true;
    return status;
  }

  void Abort() override {
    if (done_) return;
    done_ = true;
    fd_.Close().IgnoreError();
    ::unlink(tmp_path_.c_str());
    ::unlink(SidecarTmpPath().c_str());
  }

 private:
  std::string SidecarTmpPath() const { return tmp_path_ + ".crc"; }

  void FinishBlock() {
    for (int i = 0; i < 4; ++i) crc_bytes_.push_back(static_cast<char>(block_crc_ >> (8 * i)));
    block_crc_ = 0;
    in_block_ = 0;
  }

  absl::Status CommitFiles(absl::string_view key) {
    FWOTA_RETURN_IF_ERROR(FsyncFd(fd_.get(), tmp_path_));
    FWOTA_RETURN_IF_ERROR(fd_.Close());

    const std::string subdir = absl::StrCat(root_, "/", key.substr(0, 2));
    const std::string final_path = absl::StrCat(subdir, "/", key);
    struct stat st;
    if (::stat(final_path.c_str(), &st) == 0) {
      // Same key, same bytes: keep the existing blob.
      ::unlink(tmp_path_.c_str());
      return absl::OkStatus();
    }

    std::string sidecar(kSidecarMagic, sizeof(kSidecarMagic));
    PutU64(sidecar, static_cast<uint64_t>(size_));
    PutU64(sidecar, static_cast<uint64_t>(block_size_));
    sidecar += crc_bytes_;
    {
      FWOTA_ASSIGN_OR_RETURN(UniqueFd crc_fd,
                             OpenFile(SidecarTmpPath(), O_WRONLY | O_CREAT | O_TRUNC));
      FWOTA_RETURN_IF_ERROR(WriteAll(crc_fd.get(), sidecar, SidecarTmpPath()));
      FWOTA_RETURN_IF_ERROR(FsyncFd(crc_fd.get(), SidecarTmpPath()));
      FWOTA_RETURN_IF_ERROR(crc_fd.Close());
    }
    bool new_subdir = ::stat(subdir.c_str(), &st) != 0;
    FWOTA_RETURN_IF_ERROR(MakeDirs(subdir));
    if (new_subdir) FWOTA_RETURN_IF_ERROR(FsyncDir(root_));
    const std::string final_crc = final_path + ".crc";
    if (::rename(SidecarTmpPath().c_str(), final_crc.c_str()) != 0) {
      return ErrnoStatus("rename", final_crc, errno);
    }
    if (::rename(tmp_path_.c_str(), final_path.c_str()) != 0) {
      absl::Status status = ErrnoStatus("rename", final_path, errno);
      ::unlink(final_crc.c_str());
      return status;
    }
    return FsyncDir(subdir);
  }

  const std::string root_;
  const std::string tmp_path_;
  UniqueFd fd_;
  const int64_t block_size_;
  uint32_t block_crc_ = 0;  // CRC32 of the current block so far
  int64_t in_block_ = 0;
  std::string crc_bytes_;
  int64_t size_ = 0;
  int64_t synced_ = 0;
  bool done_ = false;
};

// Thread-safe: it keeps no mutable state; the file system serializes.
class FileBlobStore : public BlobStore {
 public:
  FileBlobStore(std::string root, FileBlobStoreOptions options)
      : root_(std::move(root)), options_(options) {}

  absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter() override {
    std::string path = absl::StrCat(TmpDir(), "/", internal::RandomHex(16), ".part");
    FWOTA_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_WRONLY | O_CREAT | O_EXCL, 0644));
    return std::unique_ptr<BlobWriter>(new FileBlobWriter(
        root_, std::move(path), std::move(fd), options_.integrity_block_size));
  }

  absl::StatusOr<std::unique_ptr<BlobReader>> Open(absl::string_view key) override {
    FWOTA_RETURN_IF_ERROR(ValidateBlobKey(key));
    const std::string path = PathOf(key);
    auto fd = OpenFile(path, O_RDONLY);
    if (!fd.ok()) {
      if (absl::IsNotFound(fd.status())) {
        return absl::NotFoundError(absl::StrCat("blob ", key, " not found"));
      }
      return fd.status();
    }
    struct stat st;
    if (::fstat(fd->get(), &st) != 0) return ErrnoStatus("fstat", path, errno);

    const std::string crc_path = path + ".crc";
    auto crc_fd = OpenFile(crc_path, O_RDONLY);
    if (!crc_fd.ok()) {
      return absl::DataLossError(absl::StrCat("blob ", key, " has lost its integrity data: ",
                                              crc_fd.status().message()));
    }
    struct stat crc_st;
    if (::fstat(crc_fd->get(), &crc_st) != 0) return ErrnoStatus("fstat", crc_path, errno);
    std::string sidecar(static_cast<size_t>(crc_st.st_size), '\0');
    FWOTA_ASSIGN_OR_RETURN(size_t got,
                           PReadFull(crc_fd->get(), 0, absl::MakeSpan(sidecar), crc_path));
    sidecar.resize(got);
    if (sidecar.size() < kSidecarHeaderSize ||
        std::memcmp(sidecar.data(), kSidecarMagic, sizeof(kSidecarMagic)) != 0) {
      return absl::DataLossError(absl::StrCat("blob ", key, ": integrity data is damaged"));
    }
    const int64_t size = static_cast<int64_t>(GetU64(sidecar.data() + 8));
    const int64_t block_size = static_cast<int64_t>(GetU64(sidecar.data() + 16));
    if (block_size <= 0 || size < 0) {
      return absl::DataLossError(absl::StrCat("blob ", key, ": integrity data is damaged"));
    }
    const int64_t blocks = (size + block_size - 1) / block_size;
    if (static_cast<int64_t>(sidecar.size() - kSidecarHeaderSize) != blocks * 4) {
      return absl::DataLossError(absl::StrCat("blob ", key, ": integrity data is damaged"));
    }
    if (st.st_size != size) {
      return absl::DataLossError(absl::StrCat("blob ", key, " is damaged: ", st.st_size,
                                              " bytes on disk, ", size, " written"));
    }
    std::vector<uint32_t> crcs(blocks);
    for (int64_t i = 0; i < blocks; ++i) {
      crcs[i] = GetU32(sidecar.data() + kSidecarHeaderSize + 4 * i);
    }
    return std::unique_ptr<BlobReader>(
        new FileBlobReader(path, std::move(fd).value(), size, block_size, std::move(crcs)));
  }

  bool Contains(absl::string_view key) override {
    if (!ValidateBlobKey(key).ok()) return false;
    struct stat st;
    return ::stat(PathOf(key).c_str(), &st) == 0;
  }

  absl::Status Delete(absl::string_view key) override {
    FWOTA_RETURN_IF_ERROR(ValidateBlobKey(key));
    const std::string path = PathOf(key);
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("blob ", key, " not found"));
      return ErrnoStatus("unlink", path, errno);
    }
    ::unlink((path + ".crc").c_str());
    return FsyncDir(path.substr(0, path.find_last_of('/')));
  }

  absl::StatusOr<std::vector<std::string>> ListKeys() override {
    std::vector<std::string> keys;
    FWOTA_RETURN_IF_ERROR(ForEachBlobFile([&](const std::string&, const std::string& name) {
      if (ValidateBlobKey(name).ok()) keys.push_back(name);
    }));
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  absl::Status RemoveIncompleteWrites() override {
    FWOTA_RETURN_IF_ERROR(ForEachEntry(TmpDir(), [&](const std::string& name) {
      ::unlink(absl::StrCat(TmpDir(), "/", name).c_str());
    }));
    // A sidecar whose data file never got renamed into place.
    return ForEachBlobFile([&](const std::string& dir, const std::string& name) {
      if (!absl::EndsWith(name, ".crc")) return;
      std::string data = absl::StrCat(dir, "/", name.substr(0, name.size() - 4));
      struct stat st;
      if (::stat(data.c_str(), &st) != 0) ::unlink(absl::StrCat(dir, "/", name).c_str());
    });
  }

  absl::Status Verify(absl::string_view key) override {
    FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader, Open(key));
    FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<Hasher> sha, NewHasher(::fwota::v1::SHA256));
    std::vector<char> buf(1 << 20);
    for (int64_t off = 0; off < reader->size();) {
      FWOTA_ASSIGN_OR_RETURN(size_t n, reader->ReadAt(off, absl::MakeSpan(buf)));
      if (n == 0) break;
      sha->Update(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(buf.data()), n));
      off += static_cast<int64_t>(n);
    }
    if (ToHex(sha->Finish()) != key) {
      return absl::DataLossError(
          absl::StrCat("blob ", key, " is damaged: its SHA-256 no longer matches"));
    }
    return absl::OkStatus();
  }

  absl::Status Init() {
    FWOTA_RETURN_IF_ERROR(MakeDirs(root_));
    return MakeDirs(TmpDir());
  }

 private:
  std::string TmpDir() const { return root_ + "/tmp"; }
  std::string PathOf(absl::string_view key) const {
    return absl::StrCat(root_, "/", key.substr(0, 2), "/", key);
  }

  template <typename Fn>
  absl::Status ForEachEntry(const std::string& dir, Fn fn) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return absl::OkStatus();
      return ErrnoStatus("opendir", dir, errno);
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    for (const std::string& name : names) fn(name);
    return absl::OkStatus();
  }

  // Calls fn(subdir path, file name) for every file in the two-hex-digit subdirectories.
  template <typename Fn>
  absl::Status ForEachBlobFile(Fn fn) {
    std::vector<std::string> subdirs;
    FWOTA_RETURN_IF_ERROR(ForEachEntry(root_, [&](const std::string& name) {
      if (name.size() == 2 && absl::ascii_isxdigit(name[0]) && absl::ascii_isxdigit(name[1])) {
        subdirs.push_back(name);
      }
    }));
    for (const std::string& sub : subdirs) {
      std::string dir = absl::StrCat(root_, "/", sub);
      FWOTA_RETURN_IF_ERROR(ForEachEntry(dir, [&](const std::string& name) { fn(dir, name); }));
    }
    return absl::OkStatus();
  }

  const std::string root_;
  const FileBlobStoreOptions options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> OpenFileBlobStore(
    const std::string& dir, const FileBlobStoreOptions& options) {
  if (options.integrity_block_size <= 0) {
    return absl::InvalidArgumentError("integrity_block_size must be positive");
  }
  auto store = std::make_unique<FileBlobStore>(dir, options);
  FWOTA_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace fwota
