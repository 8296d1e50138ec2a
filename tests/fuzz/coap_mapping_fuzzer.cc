// Fuzzes the CoAP mapping (adapters/coap/coap_mapping.h): decoded requests (method,
// Uri-Path, Uri-Query, Block2, Block1, Observe, payload, the transport's block limit) over
// a small in-memory service (tests/fuzz/fuzz_world.h), as the libcoap backend hands them
// on after decoding the options.
//
// Input: byte 0 the method code; byte 1 flags (bit 0 Block2 present, bit 1 Block1, bit 2
// Observe present, bit 3 its value 1 instead of 0); bytes 2-4 the Block2 value (24 bits,
// as the option carries at most three bytes); byte 5 the transport's block size
// (16 << (byte % 7)); then lines "/segment" (a Uri-Path option) or "?key=value" (a
// Uri-Query option) up to an empty line; the rest is the payload. @KEY@, ... are
// replaced as FuzzWorld::Expand says. The device's token is "TOK".
//
// Invariants: no crash or sanitizer report; the status is OK exactly for 2.xx answers; no
// 2.xx answer for a token that is not "TOK"; a Block2 answer has a supported SZX, no more
// bytes than its block size, and Size2 covers it; the image's bytes served are a slice of
// the image; an observe registration names the device's token.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "adapters/coap/coap_mapping.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fwota::coap;
  if (size < 6 || size > 16 * 1024) return 0;
  fwota::fuzzing::FuzzWorld world;
  CoapRequest request;
  request.method = static_cast<CoapMethod>(data[0] & 0x1f);
  const uint8_t flags = data[1];
  if (flags & 1) {
    request.block2 = BlockOption::Decode(uint32_t{data[2]} << 16 | uint32_t{data[3]} << 8 | data[4]);
  }
  request.has_block1 = (flags & 2) != 0;
  if (flags & 4) request.observe = (flags & 8) ? 1u : 0u;
  request.max_block_size = 16 << (data[5] % 7);

  const std::string text =
      world.Expand(absl::string_view(reinterpret_cast<const char*>(data) + 6, size - 6));
  absl::string_view rest = text;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    const absl::string_view line = rest.substr(0, newline);
    rest = newline == absl::string_view::npos ? absl::string_view() : rest.substr(newline + 1);
    if (line.empty()) break;
    if (line[0] == '/') request.path.emplace_back(line.substr(1));
    if (line[0] == '?') request.query.emplace_back(line.substr(1));
  }
  request.payload = std::string(rest);

  CoapMappingOptions options;
  options.max_block_size = 512;
  options.max_chunk_size = 2048;
  CoapMapping mapping(world.service(), options);
  CoapResponse response = mapping.Handle(request);

  const bool success = (static_cast<uint8_t>(response.code) >> 5) == 2;
  FUZZ_CHECK(success == response.status.ok());
  const bool device_path =
      (request.path.size() == 2 && (request.path[0] == "fw" || request.path[0] == "sw")) ||
      (request.path.size() == 4 && request.path[0] == "api" && request.path[1] == "v1");
  if (success) {
    FUZZ_CHECK(device_path);
    const std::string& token = request.path.size() == 2 ? request.path[1] : request.path[2];
    FUZZ_CHECK(token == "TOK");
  }
  if (response.block2.has_value()) {
    FUZZ_CHECK(success);
    const int limit = std::min(options.max_block_size, request.max_block_size);
    FUZZ_CHECK(BlockSize(response.block2->szx) <= limit);
    FUZZ_CHECK(response.payload.size() <= static_cast<size_t>(BlockSize(response.block2->szx)));
    FUZZ_CHECK(response.size2.has_value());
    const int64_t offset = int64_t{response.block2->num} * BlockSize(response.block2->szx);
    FUZZ_CHECK(offset + static_cast<int64_t>(response.payload.size()) <= *response.size2);
    FUZZ_CHECK(response.block2->more ==
               (offset + static_cast<int64_t>(response.payload.size()) < *response.size2));
  } else if (success && request.path.size() == 2) {
    FUZZ_CHECK(response.payload.size() <= static_cast<size_t>(std::min(512, request.max_block_size)));
  }
  if (success && request.path.size() == 2) {
    const std::string& image =
        request.path[0] == "sw" ? world.software_bytes() : world.firmware_bytes();
    FUZZ_CHECK(absl::StrContains(image, response.payload));
  }
  if (response.observe) {
    FUZZ_CHECK(success && response.observe_token == "TOK");
  }
  return 0;
}
