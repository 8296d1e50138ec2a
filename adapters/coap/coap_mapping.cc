#include "adapters/coap/coap_mapping.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "adapters/common/device_payloads.h"
#include "fwota/checksum.h"
#include "fwota/status_macros.h"

namespace fwota::coap {
namespace {

using adapters::CoapCode;

// The largest NUM a Block option can carry (three bytes, four bits for M and SZX).
constexpr uint32_t kMaxBlockNum = (1u << 20) - 1;

CoapResponse Error(CoapCode code, absl::Status status) {
  CoapResponse r;
  r.code = code;
  r.payload = std::string(status.message());
  r.status = std::move(status);
  return r;
}

CoapResponse Error(absl::Status status) {
  const CoapCode code = adapters::CoapCodeFor(status);
  return Error(code, std::move(status));
}

CoapResponse MethodNotAllowed(absl::string_view allowed) {
  return Error(CoapCode::kMethodNotAllowed,
               absl::InvalidArgumentError(absl::StrCat("this resource takes only ", allowed)));
}

// The Uri-Query options as key -> value; kInvalidArgument for a key given twice, so
// that `size=1&size=2` is refused instead of guessed at.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    const std::vector<std::string>& query) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& item : query) {
    const size_t eq = item.find('=');
    std::string key = item.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    for (const auto& seen : out) {
      if (seen.first == key) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter '", key, "' is given more than once"));
      }
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

const std::string* Find(const std::vector<std::pair<std::string, std::string>>& query,
                        absl::string_view key) {
  for (const auto& item : query) {
    if (item.first == key) return &item.second;
  }
  return nullptr;
}

// A non-negative integer parameter; absent or empty: 0.
absl::StatusOr<int64_t> NonNegative(const std::vector<std::pair<std::string, std::string>>& query,
                                    absl::string_view key) {
  const std::string* text = Find(query, key);
  if (text == nullptr || text->empty()) return 0;
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "query parameter '", key, "' must be a non-negative integer, not \"",
        text->substr(0, 32), "\""));
  }
  return value;
}

uint8_t SzxOf(int block_size) {
  uint8_t szx = 0;
  while ((16 << szx) < block_size) ++szx;
  return szx;
}

// Fills `out` with `length` bytes at `offset` of the representation.
using RangeReader = std::function<absl::Status(int64_t offset, int64_t length, std::string& out)>;

// Answers the request with its part of a representation of `total` bytes (see the
// header: whole when it fits one block and no block was asked for, else one block).
CoapResponse ServeRepresentation(const CoapRequest& request, int max_block_size, int64_t total,
                                 const RangeReader& read, CoapResponse response) {
  const uint8_t max_szx = SzxOf(max_block_size);
  std::optional<BlockOption> block;
  if (request.block2.has_value()) {
    block = *request.block2;
    block->more = false;
    if (block->szx == 7) {
      return Error(CoapCode::kBadRequest,
                   absl::InvalidArgumentError("Block2 SZX 7 (BERT) is only for CoAP over TCP"));
    }
    if (block->szx > max_szx) {
      // Smaller blocks than asked for: the same offset under the smaller size.
      const uint64_t num = uint64_t{block->num} << (block->szx - max_szx);
      if (num > kMaxBlockNum) {
        return Error(CoapCode::kBadOption,
                     absl::OutOfRangeError(absl::StrCat(
                         "Block2 offset ", BlockSize(block->szx) * block->num,
                         " is past what ", max_block_size, "-byte blocks can number")));
      }
      block->num = static_cast<uint32_t>(num);
      block->szx = max_szx;
    }
  } else if (total > BlockSize(max_szx)) {
    block = BlockOption{0, false, max_szx};
  }
  int64_t offset = 0;
  int64_t length = total;
  if (block.has_value()) {
    const int64_t size = BlockSize(block->szx);
    offset = int64_t{block->num} * size;
    if (offset > total || (offset == total && total > 0)) {
      return Error(CoapCode::kBadOption,
                   absl::OutOfRangeError(absl::StrCat(
                       "Block2 block ", block->num, " of ", size, " bytes starts at byte ", offset,
                       ", past the end of the ", total, "-byte representation")));
    }
    length = std::min(size, total - offset);
    block->more = offset + length < total;
    response.block2 = block;
    response.size2 = total;
  }
  if (absl::Status s = read(offset, length, response.payload); !s.ok()) return Error(s);
  return response;
}

// The strong ETag of bytes with this lowercase hex SHA-256: its first 8 bytes (the most
// an ETag option holds).
std::string EtagOfSha256(absl::string_view sha256_hex) {
  return absl::HexStringToBytes(sha256_hex.substr(0, 16));
}

}  // namespace

CoapMapping::CoapMapping(OtaService& service, CoapMappingOptions options)
    : service_(service), options_(std::move(options)) {}

absl::Status CoapMapping::CheckOptions(const CoapMappingOptions& options) {
  const int b = options.max_block_size;
  if (b < 16 || b > 1024 || (b & (b - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CoAP max_block_size ", b, " must be a power of two from 16 to 1024"));
  }
  if (options.max_chunk_size < 1) {
    return absl::InvalidArgumentError("CoAP max_chunk_size must be positive");
  }
  return absl::OkStatus();
}

CoapResponse CoapMapping::Handle(const CoapRequest& request) {
  const std::vector<std::string>& path = request.path;
  if (!path.empty() && (path[0] == "fw" || path[0] == "sw")) {
    if (path.size() == 1 || (path.size() == 2 && path[1].empty())) {
      return Error(absl::UnauthenticatedError("no device access token in the path"));
    }
    if (path.size() == 2) {
      return Package(request, path[0] == "sw" ? ::fwota::v1::SOFTWARE : ::fwota::v1::FIRMWARE,
                     path[1]);
    }
  }
  if (path.size() >= 3 && path[0] == "api" && path[1] == "v1") {
    const std::string& resource = path.back();
    if (path.size() == 3 && (resource == "attributes" || resource == "telemetry")) {
      return Error(absl::UnauthenticatedError("no device access token in the path"));
    }
    if (path.size() == 4 && path[2].empty()) {
      return Error(absl::UnauthenticatedError("no device access token in the path"));
    }
    if (path.size() == 4 && resource == "attributes") return Attributes(request, path[2]);
    if (path.size() == 4 && resource == "telemetry") return Telemetry(request, path[2]);
  }
  std::string shown;
  for (const std::string& p : path) absl::StrAppend(&shown, "/", p.substr(0, 64));
  return Error(absl::NotFoundError(absl::StrCat("no such resource: ", shown.empty() ? "/" : shown)));
}

bool CoapMapping::IsReport(const CoapRequest& request) {
  const std::vector<std::string>& path = request.path;
  return request.method == CoapMethod::kPost && path.size() == 4 && path[0] == "api" &&
         path[1] == "v1" && !path[2].empty() && path[3] == "telemetry";
}

CoapResponse CoapMapping::Package(const CoapRequest& request, OtaPackageType type,
                                  const std::string& token) {
  if (request.method != CoapMethod::kGet) return MethodNotAllowed("GET");
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> query =
      ParseQuery(request.query);
  if (!query.ok()) return Error(query.status());
  absl::StatusOr<int64_t> size = NonNegative(*query, "size");
  if (!size.ok()) return Error(size.status());
  absl::StatusOr<int64_t> chunk = NonNegative(*query, "chunk");
  if (!chunk.ok()) return Error(chunk.status());
  if (*size > options_.max_chunk_size) {
    return Error(absl::InvalidArgumentError(absl::StrCat(
        "Requested chunk size ", *size, " exceeds the limit of ", options_.max_chunk_size,
        " bytes")));
  }
  const std::string* title = Find(*query, "title");
  const std::string* version = Find(*query, "version");
  absl::StatusOr<DevicePackage> found = service_.OpenDevicePackage(
      token, type, title == nullptr ? "" : *title, version == nullptr ? "" : *version);
  if (!found.ok()) return Error(found.status());

  // The representation: the whole image, or ThingsBoard's chunk (empty past the end).
  const int64_t total = found->data->size();
  int64_t first = 0;
  int64_t length = total;
  if (*size > 0) {
    if (*chunk > 0 && *chunk > (total - 1) / *size) {
      first = total;
    } else {
      first = *size * *chunk;
    }
    length = std::min(*size, total - first);
  }
  std::shared_ptr<BlobReader> reader = std::move(found->data);
  RangeReader read = [&](int64_t offset, int64_t n, std::string& out) -> absl::Status {
    out.resize(static_cast<size_t>(n));
    for (int64_t done = 0; done < n;) {
      FWOTA_ASSIGN_OR_RETURN(
          size_t got, reader->ReadAt(first + offset + done,
                                     absl::MakeSpan(out.data() + done, static_cast<size_t>(n - done))));
      if (got == 0) return absl::DataLossError("the stored package ended early");
      done += static_cast<int64_t>(got);
    }
    return absl::OkStatus();
  };
  CoapResponse response;
  response.content_format = kFormatOctetStream;
  response.etag = EtagOfSha256(found->package.sha256());
  return ServeRepresentation(request,
                             std::min(options_.max_block_size, request.max_block_size), length,
                             read, std::move(response));
}

CoapResponse CoapMapping::Attributes(const CoapRequest& request, const std::string& token) {
  if (request.method != CoapMethod::kGet) return MethodNotAllowed("GET");
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> query =
      ParseQuery(request.query);
  if (!query.ok()) return Error(query.status());
  const std::string* shared = Find(*query, "sharedKeys");
  std::vector<std::string> keys =
      shared == nullptr ? std::vector<std::string>() : adapters::ParseAttributeKeys(*shared);
  absl::StatusOr<std::vector<SharedAttribute>> attributes;
  if (shared == nullptr && Find(*query, "clientKeys") != nullptr) {
    // Only client attributes were asked for, and fwota keeps none (as over HTTP); the
    // token still has to be a device's.
    absl::StatusOr<Device> device = service_.AuthenticateDevice(token);
    if (!device.ok()) return Error(device.status());
    attributes = std::vector<SharedAttribute>();
  } else {
    attributes = service_.DeviceSharedAttributes(token, keys);
  }
  if (!attributes.ok()) return Error(attributes.status());

  CoapResponse response;
  response.content_format = kFormatJson;
  std::string body;
  if (request.observe == 0u) {
    AttributeNotice current;
    current.updated = *std::move(attributes);
    body = adapters::AttributeUpdateJson(current);
    response.observe = true;
    response.observe_token = token;
    response.observe_keys = std::move(keys);
  } else {
    body = adapters::SharedAttributesResponseJson(*attributes);
  }
  response.etag = EtagOfSha256(ChecksumText(::fwota::v1::SHA256, body));
  RangeReader read = [&body](int64_t offset, int64_t n, std::string& out) {
    out.assign(body, static_cast<size_t>(offset), static_cast<size_t>(n));
    return absl::OkStatus();
  };
  return ServeRepresentation(request,
                             std::min(options_.max_block_size, request.max_block_size),
                             static_cast<int64_t>(body.size()), read, std::move(response));
}

CoapResponse CoapMapping::Telemetry(const CoapRequest& request, const std::string& token) {
  if (request.method != CoapMethod::kPost) return MethodNotAllowed("POST");
  if (request.has_block1) {
    // Update reports are a few dozen bytes: one datagram always holds them.
    CoapResponse r = Error(
        CoapCode::kRequestEntityTooLarge,
        absl::ResourceExhaustedError("telemetry must fit one message (no Block1 transfer)"));
    r.size1 = request.max_block_size;
    return r;
  }
  absl::Status recorded = adapters::RecordOtaTelemetry(service_, token, request.payload);
  if (!recorded.ok()) return Error(recorded);
  CoapResponse response;
  response.code = CoapCode::kChanged;
  return response;
}

std::optional<std::string> CoapMapping::NoticePayload(const AttributeNotice& notice,
                                                      const std::vector<std::string>& keys) {
  if (keys.empty()) return adapters::AttributeUpdateJson(notice);
  auto wanted = [&keys](const std::string& key) {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  AttributeNotice mine;
  for (const SharedAttribute& a : notice.updated) {
    if (wanted(a.key)) mine.updated.push_back(a);
  }
  for (const std::string& key : notice.deleted) {
    if (wanted(key)) mine.deleted.push_back(key);
  }
  if (mine.updated.empty() && mine.deleted.empty()) return std::nullopt;
  return adapters::AttributeUpdateJson(mine);
}

}  // namespace fwota::coap
