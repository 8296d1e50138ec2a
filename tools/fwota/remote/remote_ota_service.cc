#include "tools/fwota/remote/remote_ota_service.h"

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "adapters/common/tb_json.h"
#include "fwota/checksum.h"
#include "fwota/json_writer.h"
#include "fwota/status_macros.h"
#include "tools/fwota/remote/http_client.h"
#include "tools/fwota/remote/http_status.h"
#include "tools/fwota/remote/json_value.h"
#include "tools/fwota/remote/tb_json_reader.h"

namespace fwota::cli::remote {
namespace {

using adapters::PackageTypeName;
using adapters::WriteEntityId;

constexpr char kNotFoundMessage[] = "Requested item wasn't found!";
constexpr char kNilUuid[] = "00000000-0000-0000-0000-000000000000";
// Listings that gather everything ask for pages this large (as embedded mode does).
constexpr int kListPageSize = 1000;
// Name lookups page through textSearch matches in pages this large.
constexpr int kSearchPageSize = 100;
// Uploads and downloads move the data in pieces this large.
constexpr size_t kPieceSize = 1 << 20;
// Error answers of a download are read up to this size.
constexpr size_t kMaxErrorBody = 64 * 1024;

bool IsUuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
    } else if (!absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

// A path segment or query value, percent-encoded (RFC 3986 unreserved kept).
std::string Escape(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// A reference for the server: itself when it is a UUID, else the nil UUID (see the
// header: the server then answers with the core's message).
std::string AsUuid(absl::string_view ref) { return IsUuid(ref) ? std::string(ref) : kNilUuid; }

// The filename parameter of a Content-Disposition header: a quoted string, plus
// RFC 5987's filename* when the name is not plain printable ASCII.
std::string FileNameParameters(absl::string_view name) {
  bool plain = true;
  std::string quoted = "\"";
  for (unsigned char c : name) {
    if (c < 0x20 || c >= 0x7f) {
      plain = false;
      quoted.push_back('_');
      continue;
    }
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(static_cast<char>(c));
  }
  quoted.push_back('"');
  if (plain) return absl::StrCat("filename=", quoted);
  return absl::StrCat("filename=", quoted, "; filename*=UTF-8''", Escape(name));
}

std::string NewBoundary() {
  std::random_device random;
  std::string out = "fwota-";
  for (int i = 0; i < 4; ++i) absl::StrAppendFormat(&out, "%08x", random());
  return out;
}

absl::string_view SortPropertyName(PackageSortProperty property) {
  switch (property) {
    case PackageSortProperty::kTitle:
      return "title";
    case PackageSortProperty::kVersion:
      return "version";
    case PackageSortProperty::kType:
      return "type";
    case PackageSortProperty::kDataSize:
      return "dataSize";
    case PackageSortProperty::kCreatedTime:
    default:
      return "createdTime";
  }
}

absl::Status Unsupported(absl::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat(what, " works on a data directory only, not with --server"));
}

// The SHA-256 an ETag carries ("<hex>" or W/"<hex>"), or "".
std::string Sha256OfEtag(absl::string_view etag) {
  absl::ConsumePrefix(&etag, "W/");
  if (!absl::ConsumePrefix(&etag, "\"") || !absl::ConsumeSuffix(&etag, "\"")) return "";
  if (etag.size() != 64) return "";
  for (char c : etag) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return "";
  }
  return absl::AsciiStrToLower(etag);
}

// A package's bytes as the server sends them, read in order (a read elsewhere reopens
// the download with a Range). Not thread-safe.
class RemoteBlobReader : public BlobReader {
 public:
  RemoteBlobReader(HttpClient& client, std::string target, std::string package_id,
                   std::unique_ptr<ResponseStream> stream, int64_t size)
      : client_(client),
        target_(std::move(target)),
        package_id_(std::move(package_id)),
        stream_(std::move(stream)),
        size_(size),
        etag_(stream_->header("ETag")) {}

  int64_t size() const override { return size_; }
  const std::string& etag() const { return etag_; }

  absl::StatusOr<size_t> ReadAt(int64_t offset, absl::Span<char> out) override {
    if (offset < 0) return absl::InvalidArgumentError("negative offset");
    if (offset >= size_ || out.empty()) return 0;
    if (stream_ == nullptr || offset != position_) FWOTA_RETURN_IF_ERROR(Reopen(offset));
    const size_t wanted = static_cast<size_t>(std::min<int64_t>(out.size(), size_ - offset));
    size_t filled = 0;
    while (filled < wanted) {
      absl::StatusOr<size_t> n = stream_->Read(out.subspan(filled, wanted - filled));
      if (!n.ok() && !absl::IsAborted(n.status())) {
        stream_.reset();
        return n.status();
      }
      if (!n.ok() || *n == 0) {
        stream_.reset();
        return CutShort();
      }
      filled += *n;
      position_ += static_cast<int64_t>(*n);
    }
    return filled;
  }

 private:
  absl::Status CutShort() const {
    return absl::DataLossError(absl::StrCat(
        "the server cut the data of otaPackage ", package_id_, " short after ", position_,
        " of ", size_, " bytes (fwotad does so when the stored data is damaged)"));
  }

  absl::Status Reopen(int64_t offset) {
    stream_.reset();
    FWOTA_ASSIGN_OR_RETURN(
        stream_, client_.Open(target_, {{"Range", absl::StrCat("bytes=", offset, "-")}}));
    const int status = stream_->status();
    if (status != 206 && !(status == 200 && offset == 0)) {
      absl::StatusOr<std::string> body = stream_->ReadRest(kMaxErrorBody);
      stream_.reset();
      if (status == 200) {
        return absl::UnavailableError("the server does not resume downloads (no Range support)");
      }
      return StatusFromHttp(status, body.ok() ? *body : "");
    }
    position_ = offset;
    return absl::OkStatus();
  }

  HttpClient& client_;
  const std::string target_;
  const std::string package_id_;
  std::unique_ptr<ResponseStream> stream_;
  const int64_t size_;
  const std::string etag_;
  int64_t position_ = 0;
};

class RemoteOtaService : public OtaService {
 public:
  explicit RemoteOtaService(HttpClientOptions options) : client_(std::move(options)) {}

  // ---- Tenants and API keys: embedded only ----

  absl::StatusOr<Tenant> CreateTenant(absl::string_view) override {
    return Unsupported("tenant create");
  }
  absl::StatusOr<Tenant> FindTenant(absl::string_view) override {
    return Unsupported("finding a tenant");
  }
  absl::StatusOr<std::vector<Tenant>> ListTenants() override { return Unsupported("tenant list"); }
  absl::StatusOr<NewApiKey> CreateApiKey(const TenantContext&, absl::string_view) override {
    return Unsupported("apikey create");
  }
  absl::StatusOr<TenantContext> AuthenticateApiKey(absl::string_view) override {
    return Unsupported("authenticating an API key");
  }
  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(const TenantContext&) override {
    return Unsupported("apikey list");
  }
  absl::Status DeleteApiKey(const TenantContext&, absl::string_view) override {
    return Unsupported("apikey delete");
  }

  // ---- Device profiles ----

  absl::StatusOr<DeviceProfile> CreateProfile(const TenantContext&, absl::string_view name,
                                              absl::string_view description) override {
    JsonWriter w;
    w.BeginObject().Field("name", name);
    if (!description.empty()) w.Field("description", description);
    w.EndObject();
    FWOTA_ASSIGN_OR_RETURN(JsonValue json, Call("POST", "/api/deviceProfile", w.str()));
    return ReadDeviceProfile(json);
  }

  absl::StatusOr<DeviceProfile> FindProfile(const TenantContext&,
                                            absl::string_view id_or_name) override {
    return FindByIdOrName<DeviceProfile>("/api/deviceProfile/", "/api/deviceProfiles", id_or_name,
                                         ReadDeviceProfile,
                                         [](const DeviceProfile& p) { return p.name(); });
  }

  absl::StatusOr<std::vector<DeviceProfile>> ListProfiles(const TenantContext&) override {
    return ListAll<DeviceProfile>("/api/deviceProfiles", "", ReadDeviceProfile);
  }

  absl::Status DeleteProfile(const TenantContext&, absl::string_view id) override {
    return Call("DELETE", absl::StrCat("/api/deviceProfile/", AsUuid(id))).status();
  }

  // ---- Devices ----

  absl::StatusOr<Device> CreateDevice(const TenantContext&, absl::string_view name,
                                      absl::string_view profile_id_or_name,
                                      absl::string_view access_token) override {
    JsonWriter w;
    w.BeginObject().Field("name", name);
    if (IsUuid(profile_id_or_name)) {
      w.Key("deviceProfileId");
      WriteEntityId(w, "DEVICE_PROFILE", profile_id_or_name);
    } else {
      w.Field("type", profile_id_or_name);  // ThingsBoard's profile-by-name field
    }
    w.EndObject();
    std::string target = "/api/device";
    if (!access_token.empty()) absl::StrAppend(&target, "?accessToken=", Escape(access_token));
    FWOTA_ASSIGN_OR_RETURN(JsonValue json, Call("POST", target, w.str()));
    FWOTA_ASSIGN_OR_RETURN(Device device, ReadDevice(json));
    FWOTA_RETURN_IF_ERROR(AddAccessToken(device));
    return device;
  }

  absl::StatusOr<Device> FindDevice(const TenantContext&, absl::string_view id_or_name) override {
    FWOTA_ASSIGN_OR_RETURN(
        Device device,
        FindByIdOrName<Device>("/api/device/", "/api/tenant/devices", id_or_name, ReadDevice,
                               [](const Device& d) { return d.name(); }));
    FWOTA_RETURN_IF_ERROR(AddAccessToken(device));
    return device;
  }

  absl::StatusOr<std::vector<Device>> ListDevices(const TenantContext&) override {
    return ListAll<Device>("/api/tenant/devices", "", ReadDevice);
  }

  absl::Status DeleteDevice(const TenantContext&, absl::string_view id) override {
    return Call("DELETE", absl::StrCat("/api/device/", AsUuid(id))).status();
  }

  absl::StatusOr<Device> AuthenticateDevice(absl::string_view) override {
    return Unsupported("device authentication");
  }

  // ---- OTA packages ----

  absl::StatusOr<OtaPackage> SavePackageInfo(const TenantContext&,
                                             const PackageInfoRequest& request) override {
    JsonWriter w;
    w.BeginObject();
    if (!request.id.empty()) {
      w.Key("id");
      WriteEntityId(w, "OTA_PACKAGE", AsUuid(request.id));
    }
    w.Field("title", request.title).Field("version", request.version);
    w.Field("type", PackageTypeName(request.type));
    if (!request.device_profile_id.empty()) {
      w.Key("deviceProfileId");
      WriteEntityId(w, "DEVICE_PROFILE", AsUuid(request.device_profile_id));
    }
    if (!request.tag.empty()) w.Field("tag", request.tag);
    if (!request.url.empty()) w.Field("url", request.url);
    if (!request.additional_info_json.empty()) {
      w.Key("additionalInfo").Raw(request.additional_info_json);
    }
    w.EndObject();
    FWOTA_ASSIGN_OR_RETURN(JsonValue json, Call("POST", "/api/otaPackage", w.str()));
    return ReadPackage(json);
  }

  absl::StatusOr<OtaPackage> UploadPackageData(const TenantContext&,
                                               absl::string_view package_id,
                                               const UploadRequest& upload, ByteSource& data,
                                               const UploadProgress& progress) override {
    if (!IsUuid(package_id)) return absl::NotFoundError(kNotFoundMessage);
    std::string target = absl::StrCat("/api/otaPackage/", package_id);
    absl::string_view separator = "?";
    if (upload.checksum_algorithm != ::fwota::v1::CHECKSUM_ALGORITHM_UNSPECIFIED) {
      absl::StrAppend(&target, separator, "checksumAlgorithm=",
                      ChecksumAlgorithmName(upload.checksum_algorithm));
      separator = "&";
    }
    if (!upload.checksum.empty()) {
      absl::StrAppend(&target, separator, "checksum=", Escape(upload.checksum));
    }
    const std::string boundary = NewBoundary();
    const std::string head = absl::StrCat(
        "--", boundary, "\r\nContent-Disposition: form-data; name=\"file\"; ",
        FileNameParameters(upload.file_name), "\r\nContent-Type: ",
        upload.content_type.empty() ? "application/octet-stream" : upload.content_type,
        "\r\n\r\n");
    const std::string tail = absl::StrCat("\r\n--", boundary, "--\r\n");
    const int64_t size = data.SizeHint();
    const int64_t content_length =
        size < 0 ? -1 : static_cast<int64_t>(head.size() + tail.size()) + size;

    std::unique_ptr<char[]> buffer(new char[kPieceSize]);
    const BodyWriter body = [&](const BodySink& sink) -> absl::Status {
      FWOTA_RETURN_IF_ERROR(sink(head));
      int64_t done = 0;
      for (;;) {
        FWOTA_ASSIGN_OR_RETURN(size_t n, data.Read(absl::MakeSpan(buffer.get(), kPieceSize)));
        if (n == 0) break;
        if (size >= 0 && done + static_cast<int64_t>(n) > size) break;  // grew: caught below
        FWOTA_RETURN_IF_ERROR(sink(absl::string_view(buffer.get(), n)));
        done += static_cast<int64_t>(n);
        if (progress) progress(done, size);
      }
      if (size >= 0 && done != size) {
        return absl::AbortedError(absl::StrCat("the file changed size during the upload (",
                                               size, " bytes expected)"));
      }
      return sink(tail);
    };
    FWOTA_ASSIGN_OR_RETURN(
        HttpAnswer answer,
        client_.SendStreaming("POST", target,
                              absl::StrCat("multipart/form-data; boundary=", boundary),
                              content_length, body));
    FWOTA_ASSIGN_OR_RETURN(JsonValue json, Interpret(answer));
    return ReadPackage(json);
  }

  absl::StatusOr<OtaPackage> CreatePackageWithData(const TenantContext& ctx,
                                                   const PackageInfoRequest& request,
                                                   const UploadRequest& upload, ByteSource& data,
                                                   const UploadProgress& progress) override {
    FWOTA_ASSIGN_OR_RETURN(OtaPackage info, SavePackageInfo(ctx, request));
    absl::StatusOr<OtaPackage> uploaded =
        UploadPackageData(ctx, info.id(), upload, data, progress);
    if (uploaded.ok()) return uploaded;
    // All or nothing: the info goes again.
    absl::Status undo = DeletePackage(ctx, info.id());
    if (undo.ok()) return uploaded;
    absl::Status failed(uploaded.status().code(),
                        absl::StrCat(uploaded.status().message(), " (and the package info ",
                                     info.id(), " could not be removed: ", undo.message(), ")"));
    return failed;
  }

  absl::StatusOr<OtaPackage> GetPackage(const TenantContext&, absl::string_view id) override {
    // The embedded lookup answers "not found" for what is no id at all.
    if (!IsUuid(id)) return absl::NotFoundError(kNotFoundMessage);
    FWOTA_ASSIGN_OR_RETURN(JsonValue json, Call("GET", absl::StrCat("/api/otaPackage/info/", id)));
    return ReadPackage(json);
  }

  absl::StatusOr<Page<OtaPackage>> ListPackages(const TenantContext&,
                                                const PageQuery& query) override {
    std::string target = absl::StrCat("/api/otaPackages?pageSize=", query.page_size,
                                      "&page=", query.page);
    if (!query.text_search.empty()) {
      absl::StrAppend(&target, "&textSearch=", Escape(query.text_search));
    }
    absl::StrAppend(&target, "&sortProperty=", SortPropertyName(query.sort_property),
                    "&sortOrder=", query.ascending ? "ASC" : "DESC");
    FWOTA_ASSIGN_OR_RETURN(JsonValue json, Call("GET", target));
    return ReadPage<OtaPackage>(json, ReadPackage);
  }

  absl::StatusOr<std::vector<OtaPackage>> ListProfilePackages(const TenantContext&,
                                                              absl::string_view profile_id,
                                                              OtaPackageType type) override {
    return ListAll<OtaPackage>(
        absl::StrCat("/api/otaPackages/", AsUuid(profile_id), "/", PackageTypeName(type)), "",
        ReadPackage);
  }

  absl::StatusOr<std::unique_ptr<BlobReader>> OpenPackageData(const TenantContext&,
                                                              absl::string_view id) override {
    FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<RemoteBlobReader> reader, OpenReader(id));
    return std::unique_ptr<BlobReader>(std::move(reader));
  }

  absl::Status VerifyPackage(const TenantContext& ctx, absl::string_view id) override {
    FWOTA_ASSIGN_OR_RETURN(OtaPackage package, GetPackage(ctx, id));
    FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<RemoteBlobReader> reader, OpenReader(id));
    auto damaged = [&](absl::string_view what) {
      return absl::DataLossError(
          absl::StrCat("The data of otaPackage ", package.id(), " is damaged: ", what));
    };
    if (reader->size() != package.data_size()) return damaged("it has the wrong size");
    FWOTA_ASSIGN_OR_RETURN(
        std::unique_ptr<MultiHasher> hasher,
        MultiHasher::Create({::fwota::v1::SHA256, package.checksum_algorithm()}));
    std::unique_ptr<char[]> buffer(new char[kPieceSize]);
    for (int64_t offset = 0; offset < reader->size();) {
      FWOTA_ASSIGN_OR_RETURN(size_t n,
                             reader->ReadAt(offset, absl::MakeSpan(buffer.get(), kPieceSize)));
      if (n == 0) break;
      hasher->Update(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(buffer.get()), n));
      offset += static_cast<int64_t>(n);
    }
    const std::string etag_sha256 = Sha256OfEtag(reader->etag());
    for (const auto& [algorithm, text] : hasher->Finish()) {
      const bool is_checksum = algorithm == package.checksum_algorithm();
      const std::string expected = is_checksum ? package.checksum() : etag_sha256;
      if (!expected.empty() && text != expected) {
        return damaged(absl::StrCat("its ", ChecksumAlgorithmName(algorithm),
                                    " no longer matches"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status DeletePackage(const TenantContext&, absl::string_view id) override {
    return Call("DELETE", absl::StrCat("/api/otaPackage/", AsUuid(id))).status();
  }

  // ---- Assignment ----

  absl::StatusOr<Device> AssignDevicePackage(const TenantContext&, absl::string_view device_id,
                                             OtaPackageType type,
                                             absl::string_view package_id) override {
    FWOTA_ASSIGN_OR_RETURN(JsonValue current,
                           Call("GET", absl::StrCat("/api/device/", AsUuid(device_id))));
    FWOTA_ASSIGN_OR_RETURN(Device device, ReadDevice(current));
    FWOTA_RETURN_IF_ERROR(SetAssigned(device, type, package_id));
    FWOTA_ASSIGN_OR_RETURN(JsonValue saved, Call("POST", "/api/device", adapters::DeviceJson(device)));
    return ReadDevice(saved);
  }

  absl::StatusOr<DeviceProfile> AssignProfilePackage(const TenantContext&,
                                                     absl::string_view profile_id,
                                                     OtaPackageType type,
                                                     absl::string_view package_id) override {
    FWOTA_ASSIGN_OR_RETURN(JsonValue current,
                           Call("GET", absl::StrCat("/api/deviceProfile/", AsUuid(profile_id))));
    FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile, ReadDeviceProfile(current));
    FWOTA_RETURN_IF_ERROR(SetAssigned(profile, type, package_id));
    FWOTA_ASSIGN_OR_RETURN(JsonValue saved, Call("POST", "/api/deviceProfile",
                                                 adapters::DeviceProfileJson(profile)));
    return ReadDeviceProfile(saved);
  }

  absl::StatusOr<Explanation> Explain(const TenantContext&, absl::string_view device_id,
                                      OtaPackageType type) override {
    FWOTA_ASSIGN_OR_RETURN(
        JsonValue json,
        Call("GET", absl::StrCat("/api/explain?deviceId=", AsUuid(device_id),
                                 "&type=", PackageTypeName(type))));
    return ReadExplanation(json);
  }

  // ---- Device-facing calls: not the command line's ----

  absl::StatusOr<DevicePackage> OpenDevicePackage(absl::string_view, OtaPackageType,
                                                  absl::string_view, absl::string_view) override {
    return Unsupported("the device API");
  }
  absl::StatusOr<std::vector<SharedAttribute>> DeviceSharedAttributes(
      absl::string_view, const std::vector<std::string>&) override {
    return Unsupported("the device API");
  }
  absl::Status RecordDeviceReport(absl::string_view, const DeviceReport&) override {
    return Unsupported("the device API");
  }
  absl::StatusOr<UpdateStatus> GetUpdateStatus(const TenantContext&, absl::string_view device_id,
                                               OtaPackageType type) override {
    FWOTA_ASSIGN_OR_RETURN(JsonValue json,
                           Call("GET", absl::StrCat("/api/device/", AsUuid(device_id),
                                                    "/otaStatus?type=", PackageTypeName(type))));
    return ReadUpdateStatus(json);
  }
  absl::StatusOr<Page<UpdateEvent>> ListUpdateHistory(const TenantContext&,
                                                      absl::string_view device_id,
                                                      OtaPackageType type,
                                                      const PageQuery& query) override {
    FWOTA_ASSIGN_OR_RETURN(
        JsonValue json,
        Call("GET", absl::StrCat("/api/device/", AsUuid(device_id), "/otaHistory?type=",
                                 PackageTypeName(type), "&pageSize=", query.page_size,
                                 "&page=", query.page)));
    return ReadPage<UpdateEvent>(json, ReadUpdateEvent);
  }
  absl::StatusOr<std::vector<int64_t>> CountUpdateStates(const TenantContext&,
                                                         OtaPackageType type) override {
    FWOTA_ASSIGN_OR_RETURN(JsonValue json,
                           Call("GET", absl::StrCat("/api/ota/stats?type=", PackageTypeName(type))));
    return ReadUpdateStats(json);
  }
  absl::StatusOr<Page<UpdateStatus>> ListUpdateStatuses(const TenantContext&, OtaPackageType type,
                                                        UpdateState state,
                                                        const PageQuery& query) override {
    std::string target = absl::StrCat("/api/ota/devices?type=", PackageTypeName(type),
                                      "&pageSize=", query.page_size, "&page=", query.page);
    if (state != ::fwota::v1::UPDATE_STATE_UNSPECIFIED) {
      absl::StrAppend(&target, "&state=", UpdateStateName(state));
    }
    if (!query.text_search.empty()) {
      absl::StrAppend(&target, "&textSearch=", Escape(query.text_search));
    }
    FWOTA_ASSIGN_OR_RETURN(JsonValue json, Call("GET", target));
    return ReadPage<UpdateStatus>(json, ReadUpdateStatus);
  }

  // ---- Audit ----

  absl::StatusOr<Page<AuditEvent>> ListAudit(const TenantContext&,
                                             const PageQuery& query) override {
    FWOTA_ASSIGN_OR_RETURN(JsonValue json,
                           Call("GET", absl::StrCat("/api/audit/logs?pageSize=", query.page_size,
                                                    "&page=", query.page)));
    return ReadPage<AuditEvent>(json, ReadAuditEvent);
  }

 private:
  template <typename T>
  using Reader = absl::StatusOr<T> (*)(const JsonValue&);

  // The answer of a 2xx as JSON (null for an empty body), else its error.
  static absl::StatusOr<JsonValue> Interpret(const HttpAnswer& answer) {
    if (answer.status == 401) {
      absl::Status refused = StatusFromHttp(answer.status, answer.body);
      return absl::Status(refused.code(), absl::StrCat(refused.message(),
                                                       ": the server refused the API key"));
    }
    if (answer.status / 100 != 2) return StatusFromHttp(answer.status, answer.body);
    if (absl::StripAsciiWhitespace(answer.body).empty()) return JsonValue();
    absl::StatusOr<JsonValue> json = JsonValue::Parse(answer.body);
    if (!json.ok()) return UnexpectedAnswer(json.status().message());
    return json;
  }

  // One JSON call; `json_body` empty: none.
  absl::StatusOr<JsonValue> Call(absl::string_view method, absl::string_view target,
                                 absl::string_view json_body = "") {
    FWOTA_ASSIGN_OR_RETURN(
        HttpAnswer answer,
        client_.Send(method, target, json_body.empty() ? "" : "application/json", json_body));
    return Interpret(answer);
  }

  // Every element of a paged listing at `path` (`query` appended to the paging).
  template <typename T>
  absl::StatusOr<std::vector<T>> ListAll(absl::string_view path, absl::string_view query,
                                         Reader<T> read, int page_size = kListPageSize) {
    std::vector<T> all;
    for (int page = 0;; ++page) {
      FWOTA_ASSIGN_OR_RETURN(
          JsonValue json,
          Call("GET", absl::StrCat(path, "?pageSize=", page_size, "&page=", page, query)));
      FWOTA_ASSIGN_OR_RETURN(Page<T> part, ReadPage<T>(json, read));
      for (T& item : part.data) all.push_back(std::move(item));
      if (!part.has_next || part.data.empty()) return all;
    }
  }

  // By id (GET `by_id` + id) when `ref` is a UUID, else (or when no such id) by exact
  // name among the textSearch matches of `listing`.
  template <typename T, typename NameFn>
  absl::StatusOr<T> FindByIdOrName(absl::string_view by_id, absl::string_view listing,
                                   absl::string_view ref, Reader<T> read, NameFn name) {
    if (IsUuid(ref)) {
      absl::StatusOr<JsonValue> json = Call("GET", absl::StrCat(by_id, ref));
      if (json.ok()) return read(*json);
      if (!absl::IsNotFound(json.status())) return json.status();
    }
    if (ref.empty()) return absl::NotFoundError(kNotFoundMessage);
    FWOTA_ASSIGN_OR_RETURN(
        std::vector<T> matches,
        ListAll<T>(listing, absl::StrCat("&textSearch=", Escape(ref)), read, kSearchPageSize));
    for (T& item : matches) {
      if (name(item) == ref) return std::move(item);
    }
    return absl::NotFoundError(kNotFoundMessage);
  }

  absl::Status AddAccessToken(Device& device) {
    FWOTA_ASSIGN_OR_RETURN(JsonValue json,
                           Call("GET", absl::StrCat("/api/device/", device.id(), "/credentials")));
    FWOTA_ASSIGN_OR_RETURN(std::string token, ReadAccessToken(json));
    device.set_access_token(std::move(token));
    return absl::OkStatus();
  }

  // Sets the firmware or software id of `entity` ("" unassigns).
  template <typename Entity>
  static absl::Status SetAssigned(Entity& entity, OtaPackageType type,
                                  absl::string_view package_id) {
    const std::string id = package_id.empty() ? std::string() : AsUuid(package_id);
    if (type == ::fwota::v1::FIRMWARE) {
      entity.set_firmware_id(id);
    } else if (type == ::fwota::v1::SOFTWARE) {
      entity.set_software_id(id);
    } else {
      return absl::InvalidArgumentError("Type should be specified!");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<RemoteBlobReader>> OpenReader(absl::string_view id) {
    if (!IsUuid(id)) return absl::NotFoundError(kNotFoundMessage);
    std::string target = absl::StrCat("/api/otaPackage/", id, "/download");
    FWOTA_ASSIGN_OR_RETURN(std::unique_ptr<ResponseStream> stream, client_.Open(target, {}));
    if (stream->status() != 200) {
      absl::StatusOr<std::string> body = stream->ReadRest(kMaxErrorBody);
      return StatusFromHttp(stream->status(), body.ok() ? *body : "");
    }
    int64_t size = stream->content_length();
    if (size < 0) {
      FWOTA_ASSIGN_OR_RETURN(OtaPackage package, GetPackage(TenantContext(), id));
      size = package.data_size();
    }
    return std::make_unique<RemoteBlobReader>(client_, std::move(target), std::string(id),
                                              std::move(stream), size);
  }

  HttpClient client_;

  // The update process runs in the server.
  absl::StatusOr<DrainResult> DrainNotices(int64_t) override {
    return Unsupported("draining notices");
  }
  absl::StatusOr<StallSweepResult> SweepStalls(const StallPolicy&) override {
    return Unsupported("the stall detector");
  }
  absl::StatusOr<int64_t> CountQueuedNotices() override { return Unsupported("the notice queue"); }
  absl::StatusOr<Device> MoveDevice(const TenantContext& ctx, absl::string_view device_id,
                                    absl::string_view profile_id_or_name) override {
    FWOTA_ASSIGN_OR_RETURN(DeviceProfile profile, FindProfile(ctx, profile_id_or_name));
    FWOTA_ASSIGN_OR_RETURN(JsonValue current,
                           Call("GET", absl::StrCat("/api/device/", AsUuid(device_id))));
    FWOTA_ASSIGN_OR_RETURN(Device device, ReadDevice(current));
    device.set_device_profile_id(profile.id());
    FWOTA_ASSIGN_OR_RETURN(JsonValue saved,
                           Call("POST", "/api/device", adapters::DeviceJson(device)));
    return ReadDevice(saved);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<OtaService>> NewRemoteOtaService(RemoteServiceOptions options) {
  HttpClientOptions client;
  FWOTA_ASSIGN_OR_RETURN(client.server, ParseServerUrl(options.server_url));
  client.insecure = options.insecure;
  if (options.timeout_seconds < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --timeout ", options.timeout_seconds, ": seconds, 0 or more (0: no limit)"));
  }
  client.timeout_seconds = options.timeout_seconds;
  client.headers.emplace_back("X-Authorization", absl::StrCat("Bearer ", options.api_key));
  return std::unique_ptr<OtaService>(new RemoteOtaService(std::move(client)));
}

}  // namespace fwota::cli::remote
