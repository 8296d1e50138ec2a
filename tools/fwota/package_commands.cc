// OTA packages: create, upload, list, get, download, verify, delete, profile-list.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "adapters/common/tb_json.h"
#include "fwota/byte_source.h"
#include "fwota/checksum.h"
#include "fwota/json_writer.h"
#include "fwota/status_macros.h"
#include "tools/fwota/cli.h"
#include "tools/fwota/flags.h"
#include "tools/fwota/output.h"
#include "tools/fwota/progress.h"

namespace fwota::cli {
namespace {

using adapters::PackageTypeName;

constexpr size_t kDownloadBufferSize = 1 << 20;

void PrintPackageJson(const OtaPackage& package) {
  Print(absl::StrCat(adapters::PackageJson(package), "\n"));
}

void PrintPackageDetails(Context& ctx, const OtaPackage& p) {
  std::string profile = p.device_profile_id();
  absl::StatusOr<OtaService*> service = ctx.Service();
  if (service.ok()) {
    absl::StatusOr<DeviceProfile> found = (*service)->FindProfile(ctx.tenant(), profile);
    if (found.ok()) profile = absl::StrCat(found->name(), " (", found->id(), ")");
  }
  std::string data = "-";
  if (p.has_data()) {
    data = absl::StrCat(p.file_name(), ", ", p.data_size(), " bytes, ", p.content_type());
  }
  std::string checksum = "-";
  if (!p.checksum().empty()) {
    checksum = absl::StrCat(ChecksumAlgorithmName(p.checksum_algorithm()), " ", p.checksum());
  }
  Print(absl::StrCat("id:       ", p.id(), "\ntype:     ", PackageTypeName(p.type()),
                     "\ntitle:    ", p.title(), "\nversion:  ", p.version(),
                     "\ntag:      ", OrDash(p.tag()), "\nprofile:  ", profile,
                     "\nurl:      ", OrDash(p.url()), "\ndata:     ", data,
                     "\nchecksum: ", checksum, "\ninfo:     ", OrDash(p.additional_info_json()),
                     "\ncreated:  ", FormatMillis(p.created_time()), "\n"));
}

// The upload half of a request from --file, --file_name, --content_type,
// --checksum_algorithm and --checksum.
absl::StatusOr<UploadRequest> UploadFromFlags(const std::string& file) {
  UploadRequest upload;
  const std::string algorithm = absl::GetFlag(FLAGS_checksum_algorithm);
  if (!algorithm.empty()) {
    FWOTA_ASSIGN_OR_RETURN(upload.checksum_algorithm, ParseChecksumAlgorithm(algorithm));
  }
  upload.checksum = absl::GetFlag(FLAGS_checksum);
  upload.content_type = absl::GetFlag(FLAGS_content_type);
  upload.file_name = absl::GetFlag(FLAGS_file_name);
  if (upload.file_name.empty()) {
    const size_t slash = file.find_last_of('/');
    upload.file_name = file == "-" ? "stdin" : file.substr(slash == std::string::npos ? 0 : slash + 1);
  }
  return upload;
}

// Uploads go through `upload` with a progress bar on a terminal.
template <typename UploadFn>
absl::StatusOr<OtaPackage> WithProgress(const std::string& file, UploadFn upload) {
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, OpenFileSource(file));
  ProgressBar bar("upload", ShowProgress());
  absl::StatusOr<OtaPackage> result =
      upload(*source, [&bar](int64_t done, int64_t total) { bar.Update(done, total); });
  bar.Finish();
  return result;
}

absl::StatusOr<PackageSortProperty> ParseSort(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "createdtime") return PackageSortProperty::kCreatedTime;
  if (lower == "title") return PackageSortProperty::kTitle;
  if (lower == "version") return PackageSortProperty::kVersion;
  if (lower == "type") return PackageSortProperty::kType;
  if (lower == "datasize") return PackageSortProperty::kDataSize;
  return UsageError(absl::StrCat("unknown --sort \"", name,
                                 "\": expected createdTime, title, version, type or dataSize"));
}

absl::StatusOr<bool> ParseAscending(absl::string_view order) {
  const std::string upper = absl::AsciiStrToUpper(order);
  if (upper == "ASC") return true;
  if (upper == "DESC") return false;
  return UsageError(absl::StrCat("unknown --order \"", order, "\": expected ASC or DESC"));
}

void PrintPackageTable(const std::vector<OtaPackage>& packages) {
  Table table({"ID", "TYPE", "TITLE", "VERSION", "SIZE", "CHECKSUM", "CREATED"});
  for (const OtaPackage& p : packages) {
    std::string size = p.has_data() ? absl::StrCat(p.data_size()) : (p.url().empty() ? "-" : "url");
    std::string checksum =
        p.checksum().empty()
            ? "-"
            : absl::StrCat(ChecksumAlgorithmName(p.checksum_algorithm()), ":",
                           Abbreviate(p.checksum(), 19));
    table.AddRow({p.id(), std::string(PackageTypeName(p.type())), p.title(), p.version(), size,
                  checksum, FormatMillis(p.created_time())});
  }
  Print(table.Render());
}

// Closes (if owned) and removes the part file when a download fails.
class PartFile {
 public:
  PartFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PartFile() {
    if (fd_ >= 0 && !path_.empty()) {
      ::close(fd_);
      ::unlink(path_.c_str());
    }
  }
  int fd() const { return fd_; }
  // Makes the file durable and gives it its final name.
  absl::Status Publish(const std::string& final_path) {
    if (path_.empty()) return absl::OkStatus();  // standard output
    if (::fsync(fd_) != 0) return Errno("fsync", path_);
    if (::close(fd_) != 0) {
      fd_ = -1;
      ::unlink(path_.c_str());
      return Errno("close", path_);
    }
    fd_ = -1;
    if (::rename(path_.c_str(), final_path.c_str()) != 0) {
      absl::Status s = Errno("rename", path_);
      ::unlink(path_.c_str());
      return s;
    }
    // The rename is durable once the directory is.
    const size_t slash = final_path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : final_path.substr(0, slash + 1);
    int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
    return absl::OkStatus();
  }
  static absl::Status Errno(absl::string_view op, absl::string_view path) {
    const int err = errno;
    return absl::UnavailableError(absl::StrCat(op, " ", path, ": ", strerror(err)));
  }

 private:
  int fd_;
  std::string path_;  // empty: standard output, not ours to close or remove
};

absl::Status WriteAll(int fd, const char* data, size_t size, absl::string_view path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PartFile::Errno("write", path);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OtaPackage> ResolvePackage(Context& ctx, absl::string_view ref) {
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  absl::StatusOr<OtaPackage> by_id = service->GetPackage(ctx.tenant(), ref);
  const size_t at = ref.rfind('@');
  if (!absl::IsNotFound(by_id.status()) || at == absl::string_view::npos) return by_id;
  const absl::string_view title = ref.substr(0, at);
  const absl::string_view version = ref.substr(at + 1);
  PageQuery query;
  query.page_size = 100;
  query.text_search = std::string(title);
  for (bool more = true; more; ++query.page) {
    FWOTA_ASSIGN_OR_RETURN(Page<OtaPackage> page, service->ListPackages(ctx.tenant(), query));
    for (OtaPackage& p : page.data) {
      if (p.title() == title && p.version() == version) return std::move(p);
    }
    more = page.has_next;
  }
  return by_id;
}

absl::Status PackageCreate(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(
      args, 0,
      "package create --title=T --version=V --type=FIRMWARE|SOFTWARE --profile=P "
      "[--file=PATH | --url=URL]"));
  PackageInfoRequest request;
  FWOTA_ASSIGN_OR_RETURN(request.title, RequiredFlag("title", absl::GetFlag(FLAGS_title)));
  FWOTA_ASSIGN_OR_RETURN(request.version, RequiredFlag("version", absl::GetFlag(FLAGS_version)));
  FWOTA_ASSIGN_OR_RETURN(std::string type, RequiredFlag("type", absl::GetFlag(FLAGS_type)));
  FWOTA_ASSIGN_OR_RETURN(request.type, adapters::ParsePackageType(type));
  FWOTA_ASSIGN_OR_RETURN(std::string profile_ref,
                         RequiredFlag("profile", absl::GetFlag(FLAGS_profile)));
  request.tag = absl::GetFlag(FLAGS_tag);
  request.url = absl::GetFlag(FLAGS_url);
  const std::string description = absl::GetFlag(FLAGS_description);
  if (!description.empty()) {
    JsonWriter info;
    info.BeginObject().Field("description", description).EndObject();
    request.additional_info_json = info.str();
  }
  const std::string file = absl::GetFlag(FLAGS_file);
  if (file.empty() && (!absl::GetFlag(FLAGS_checksum).empty() ||
                       !absl::GetFlag(FLAGS_checksum_algorithm).empty())) {
    return UsageError("--checksum and --checksum_algorithm go with --file");
  }
  UploadRequest upload;
  if (!file.empty()) {
    FWOTA_ASSIGN_OR_RETURN(upload, UploadFromFlags(file));
  }

  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  // A profile that cannot be found is passed on as given: the service answers with
  // ThingsBoard's "OtaPackage is referencing to non-existent device profile!".
  absl::StatusOr<DeviceProfile> profile = service->FindProfile(ctx.tenant(), profile_ref);
  request.device_profile_id = profile.ok() ? profile->id() : profile_ref;

  OtaPackage package;
  if (file.empty()) {
    FWOTA_ASSIGN_OR_RETURN(package, service->SavePackageInfo(ctx.tenant(), request));
  } else {
    FWOTA_ASSIGN_OR_RETURN(
        package, WithProgress(file, [&](ByteSource& source, const UploadProgress& progress) {
          return service->CreatePackageWithData(ctx.tenant(), request, upload, source, progress);
        }));
  }
  if (ctx.json()) {
    PrintPackageJson(package);
  } else {
    Print("created package\n");
    PrintPackageDetails(ctx, package);
  }
  return absl::OkStatus();
}

absl::Status PackageUpload(Context& ctx, const std::vector<std::string>& args) {
  constexpr absl::string_view kUsage =
      "package upload PKG --file=PATH [--checksum_algorithm=ALG] [--checksum=HEX]";
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, kUsage));
  FWOTA_ASSIGN_OR_RETURN(std::string file, RequiredFlag("file", absl::GetFlag(FLAGS_file)));
  FWOTA_ASSIGN_OR_RETURN(UploadRequest upload, UploadFromFlags(file));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  absl::StatusOr<OtaPackage> found = ResolvePackage(ctx, args[0]);
  const std::string package_id = found.ok() ? found->id() : args[0];
  FWOTA_ASSIGN_OR_RETURN(
      OtaPackage package,
      WithProgress(file, [&](ByteSource& source, const UploadProgress& progress) {
        return service->UploadPackageData(ctx.tenant(), package_id, upload, source, progress);
      }));
  if (ctx.json()) {
    PrintPackageJson(package);
  } else {
    Print("uploaded package data\n");
    PrintPackageDetails(ctx, package);
  }
  return absl::OkStatus();
}

absl::Status PackageList(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(
      args, 0,
      "package list [--search=TEXT] [--page_size=N --page=K] [--sort=FIELD] [--order=ASC|DESC]"));
  PageQuery query;
  query.text_search = absl::GetFlag(FLAGS_search);
  FWOTA_ASSIGN_OR_RETURN(query.sort_property, ParseSort(absl::GetFlag(FLAGS_sort)));
  FWOTA_ASSIGN_OR_RETURN(query.ascending, ParseAscending(absl::GetFlag(FLAGS_order)));
  const int page_size = absl::GetFlag(FLAGS_page_size);
  const int page_number = absl::GetFlag(FLAGS_page);
  if (page_size < 0 || page_number < 0) {
    return UsageError("--page_size and --page must not be negative");
  }
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  Page<OtaPackage> page;
  if (page_size > 0) {
    query.page_size = page_size;
    query.page = page_number;
    FWOTA_ASSIGN_OR_RETURN(page, service->ListPackages(ctx.tenant(), query));
  } else {
    std::vector<OtaPackage> all;
    query.page_size = 1000;
    for (bool more = true; more; ++query.page) {
      FWOTA_ASSIGN_OR_RETURN(Page<OtaPackage> part, service->ListPackages(ctx.tenant(), query));
      for (OtaPackage& p : part.data) all.push_back(std::move(p));
      more = part.has_next;
    }
    page = adapters::SinglePage(std::move(all));
  }
  if (ctx.json()) {
    JsonWriter w;
    adapters::WritePage<OtaPackage>(w, page, adapters::WritePackage);
    Print(absl::StrCat(w.str(), "\n"));
    return absl::OkStatus();
  }
  PrintPackageTable(page.data);
  if (page_size > 0) {
    Print(absl::StrCat("page ", page_number, " (numbered from 0) of ", page.total_pages, ", ",
                       page.total_elements, " packages", page.has_next ? ", more follow" : "",
                       "\n"));
  }
  return absl::OkStatus();
}

absl::Status PackageGet(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "package get PKG"));
  FWOTA_ASSIGN_OR_RETURN(OtaPackage package, ResolvePackage(ctx, args[0]));
  if (ctx.json()) {
    PrintPackageJson(package);
  } else {
    PrintPackageDetails(ctx, package);
  }
  return absl::OkStatus();
}

absl::Status PackageDownload(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "package download PKG --output=PATH|-"));
  FWOTA_ASSIGN_OR_RETURN(std::string output,
                         RequiredFlag("output", absl::GetFlag(FLAGS_output)));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(OtaPackage package, ResolvePackage(ctx, args[0]));
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<BlobReader> reader,
                         service->OpenPackageData(ctx.tenant(), package.id()));
  FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<Hasher> hasher,
                         NewHasher(package.checksum_algorithm()));

  const bool to_stdout = output == "-";
  const std::string part_path = to_stdout ? "" : absl::StrCat(output, ".part");
  int fd = STDOUT_FILENO;
  if (!to_stdout) {
    fd = ::open(part_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return PartFile::Errno("open", part_path);
  } else {
    fflush(stdout);
  }
  PartFile part(fd, part_path);  // removes the part file unless published
  const absl::string_view shown = to_stdout ? absl::string_view("standard output") : part_path;

  // What is written is what is hashed: the check covers the bytes as they left the
  // store, and every ReadAt checked them against their blocks' CRCs too.
  std::unique_ptr<char[]> buffer(new char[kDownloadBufferSize]);
  ProgressBar bar("download", ShowProgress());
  int64_t offset = 0;
  while (offset < reader->size()) {
    FWOTA_ASSIGN_OR_RETURN(size_t n,
                           reader->ReadAt(offset, absl::MakeSpan(buffer.get(), kDownloadBufferSize)));
    if (n == 0) break;
    FWOTA_RETURN_IF_ERROR(WriteAll(part.fd(), buffer.get(), n, shown));
    hasher->Update(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(buffer.get()), n));
    offset += static_cast<int64_t>(n);
    bar.Update(offset, reader->size());
  }
  bar.Finish();
  const std::string checksum = ToHex(hasher->Finish());
  if (offset != package.data_size() || checksum != package.checksum()) {
    return absl::DataLossError(absl::StrCat(
        "the downloaded data of otaPackage ", package.id(), " does not match its ",
        ChecksumAlgorithmName(package.checksum_algorithm()), " checksum (got ", checksum,
        " over ", offset, " bytes, expected ", package.checksum(), " over ",
        package.data_size(), ")"));
  }
  FWOTA_RETURN_IF_ERROR(part.Publish(output));
  if (to_stdout) return absl::OkStatus();  // standard output carries the data only
  if (ctx.json()) {
    PrintPackageJson(package);
  } else {
    Print(absl::StrCat("downloaded ", package.title(), " ", package.version(), " to ", output,
                       " (", offset, " bytes, ",
                       ChecksumAlgorithmName(package.checksum_algorithm()), " verified)\n"));
  }
  return absl::OkStatus();
}

absl::Status PackageVerify(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "package verify PKG"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(OtaPackage package, ResolvePackage(ctx, args[0]));
  FWOTA_RETURN_IF_ERROR(service->VerifyPackage(ctx.tenant(), package.id()));
  if (ctx.json()) {
    PrintPackageJson(package);
  } else {
    Print(absl::StrCat("ok: ", package.title(), " ", package.version(), " (", package.id(),
                       "): ", package.data_size(), " bytes, ",
                       ChecksumAlgorithmName(package.checksum_algorithm()), " ",
                       package.checksum(), "\n"));
  }
  return absl::OkStatus();
}

absl::Status PackageDelete(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(ExpectArgs(args, 1, "package delete PKG"));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(OtaPackage package, ResolvePackage(ctx, args[0]));
  FWOTA_RETURN_IF_ERROR(service->DeletePackage(ctx.tenant(), package.id()));
  if (ctx.json()) {
    PrintPackageJson(package);
  } else {
    Print(absl::StrCat("deleted package ", package.title(), " ", package.version(), " (",
                       package.id(), ")\n"));
  }
  return absl::OkStatus();
}

absl::Status PackageProfileList(Context& ctx, const std::vector<std::string>& args) {
  FWOTA_RETURN_IF_ERROR(
      ExpectArgs(args, 0, "package profile-list --profile=P --type=FIRMWARE|SOFTWARE"));
  FWOTA_ASSIGN_OR_RETURN(std::string profile_ref,
                         RequiredFlag("profile", absl::GetFlag(FLAGS_profile)));
  FWOTA_ASSIGN_OR_RETURN(std::string type_name, RequiredFlag("type", absl::GetFlag(FLAGS_type)));
  FWOTA_ASSIGN_OR_RETURN(OtaPackageType type, adapters::ParsePackageType(type_name));
  FWOTA_ASSIGN_OR_RETURN(OtaService * service, ctx.Service());
  FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile, service->FindProfile(ctx.tenant(), profile_ref));
  FWOTA_ASSIGN_OR_RETURN(std::vector<OtaPackage> packages,
                         service->ListProfilePackages(ctx.tenant(), profile.id(), type));
  if (ctx.json()) {
    JsonWriter w;
    adapters::WritePage<OtaPackage>(w, adapters::SinglePage(std::move(packages)),
                                    adapters::WritePackage);
    Print(absl::StrCat(w.str(), "\n"));
  } else {
    PrintPackageTable(packages);
  }
  return absl::OkStatus();
}

}  // namespace fwota::cli
