// The CoAP mapping: ThingsBoard's CoAP device resources turned into OtaService calls and
// the response to send back. Pure: a decoded request in, a response out; no sockets and
// no libcoap, so it is unit-tested on its own. The backend (libcoap) decodes the options,
// hands the request to Handle, encodes what it returns and keeps the observations.
//
// Resources (protocol-reference.md, "CoAP"):
// - `fw/{token}` and `sw/{token}`, GET, query `title`, `version` (both optional, checked
//   when present), `size` and `chunk` (ThingsBoard's chunks: the bytes at size*chunk;
//   size absent or 0: the whole image; a chunk past the end is empty).
// - `api/v1/{token}/attributes`, GET, query `sharedKeys=a,b` (empty: all). A plain GET
//   answers `{"shared":{...}}`; a GET with Observe 0 answers the current values as one
//   flat object, the shape every later notice has (`{"fw_title":"a",...,"deleted":[..]}`),
//   and asks the backend to keep the observation.
// - `api/v1/{token}/telemetry`, POST, the fw_state / fw_error / current_fw_* reports.
// Errors carry a diagnostic payload: 4.01 no or unknown token, 4.00 title/version
// mismatch or a malformed query, 4.04 nothing assigned (or a URL package) or an unknown
// path, 4.05 a method the resource does not take.
//
// Block-wise transfer (RFC 7959) of the image or chunk (the "representation"): a request
// with Block2 NUM/SZX gets the bytes at NUM * 2^(SZX+4) of the representation, read from
// the blob store by range, with Block2 (NUM, the more flag and SZX exact), Size2 (the
// representation's length) and a strong ETag (the first 8 bytes of the image's SHA-256:
// equal bytes, equal tag), so a client may change the block size between requests,
// resume, or notice that the image changed. A request without Block2 whose
// representation does not fit one block gets block 0 of the largest size (RFC 7959 2.4).
// When the client asks for larger blocks than `max_block_size`, the answer uses that size
// and the matching block number. SZX 7 (BERT, TCP only) is 4.00; a block that starts past
// the end is 4.02 (Bad Option); the empty representation is one empty block 0.
#ifndef FWOTA_ADAPTERS_COAP_COAP_MAPPING_H_
#define FWOTA_ADAPTERS_COAP_COAP_MAPPING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "adapters/common/status_mapping.h"
#include "fwota/notifier.h"
#include "fwota/ota_service.h"

namespace fwota::coap {

// CoAP request methods (RFC 7252, RFC 8132) by their code detail.
enum class CoapMethod : uint8_t {
  kGet = 1,
  kPost = 2,
  kPut = 3,
  kDelete = 4,
  kFetch = 5,
  kPatch = 6,
  kIpatch = 7,
};

// Content-Format numbers (RFC 7252 12.3).
inline constexpr int kFormatText = 0;
inline constexpr int kFormatOctetStream = 42;
inline constexpr int kFormatJson = 50;

// A Block1 / Block2 option value (RFC 7959 2.2).
struct BlockOption {
  uint32_t num = 0;
  bool more = false;
  uint8_t szx = 6;  // block size 2^(szx+4): 0 -> 16 ... 6 -> 1024; 7 is BERT
  // The option's integer value: NUM << 4 | M << 3 | SZX.
  uint32_t Encode() const { return num << 4 | (more ? 8u : 0u) | szx; }
  // REQUIRES: value < 2^24 (the option has at most three bytes).
  static BlockOption Decode(uint32_t value) {
    return {value >> 4, (value & 8) != 0, static_cast<uint8_t>(value & 7)};
  }
};

// A request as the backend decoded it.
struct CoapRequest {
  CoapMethod method = CoapMethod::kGet;
  std::vector<std::string> path;   // Uri-Path options, in order
  std::vector<std::string> query;  // Uri-Query options, in order ("key=value" each)
  std::string payload;
  std::optional<BlockOption> block2;
  bool has_block1 = false;          // the payload is one block of a larger body
  std::optional<uint32_t> observe;  // 0: register, 1: deregister (RFC 7641)
  // The largest block the transport can carry for this client (a DTLS record holds less
  // than a UDP datagram); 16..1024, a power of two.
  int max_block_size = 1024;
};

// What to answer. The options are set only when they go into the response.
struct CoapResponse {
  adapters::CoapCode code = adapters::CoapCode::kContent;
  std::optional<int> content_format;
  std::string payload;  // the body, or a diagnostic message for errors
  std::string etag;     // empty: none
  std::optional<BlockOption> block2;
  std::optional<int64_t> size2;
  std::optional<int64_t> size1;  // with 4.13: the largest body accepted
  // Set on a successful observe registration: keep the observation of the attributes of
  // `observe_token` (only `observe_keys`; empty: all) and add the Observe option.
  bool observe = false;
  std::string observe_token;
  std::vector<std::string> observe_keys;
  // Why the request failed (for the backend's log); OK for answers in class 2.
  absl::Status status;
};

struct CoapMappingOptions {
  // The largest Block2 size sent, 16..1024 and a power of two.
  int max_block_size = 1024;
  // The largest ThingsBoard `size` a device may ask for, in bytes.
  int64_t max_chunk_size = 1 << 20;
};

// Thread-safe (it keeps no state of its own). `service` must outlive the mapping.
class CoapMapping {
 public:
  CoapMapping(OtaService& service, CoapMappingOptions options);

  // kInvalidArgument for a block size that is not a power of two in 16..1024 or a chunk
  // limit that is not positive.
  static absl::Status CheckOptions(const CoapMappingOptions& options);

  CoapResponse Handle(const CoapRequest& request);

  // Whether `request` is a telemetry POST: the one request that writes, and so waits
  // until the report is durable (a group commit, milliseconds), where every other one
  // only reads. A backend may hand it to a thread of its own.
  static bool IsReport(const CoapRequest& request);

  // The notification an observer of the notice's device gets, restricted to `keys`
  // (empty: all): the AttributeUpdateJson of the notice's keys it asked for; nullopt when
  // the notice touches none of them.
  static std::optional<std::string> NoticePayload(const AttributeNotice& notice,
                                                  const std::vector<std::string>& keys);

 private:
  CoapResponse Package(const CoapRequest& request, OtaPackageType type,
                       const std::string& token);
  CoapResponse Attributes(const CoapRequest& request, const std::string& token);
  CoapResponse Telemetry(const CoapRequest& request, const std::string& token);

  OtaService& service_;
  const CoapMappingOptions options_;
};

// The block size of an SZX: 16 << szx.
inline int64_t BlockSize(uint8_t szx) { return int64_t{16} << szx; }

}  // namespace fwota::coap

#endif  // FWOTA_ADAPTERS_COAP_COAP_MAPPING_H_
