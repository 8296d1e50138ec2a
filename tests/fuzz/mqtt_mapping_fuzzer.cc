// Fuzzes the MQTT mapping (adapters/mqtt/mqtt_mapping.h): MqttMapping::Handle over a
// small in-memory service (tests/fuzz/fuzz_world.h), with a few messages per input so
// that remembered chunk sizes and their eviction are exercised.
//
// Input: up to 8 messages separated by "\n===\n"; in each, the topic is the text before
// the first '\n' and the payload the rest. @KEY@, @DEV@, ... are replaced as
// FuzzWorld::Expand says. The device's token is "TOK" and the prefix "fwota".
//
// Invariants: no crash or sanitizer report; nothing is published for a topic whose token
// is not "TOK" (there is no device to answer) and every published topic is the device's
// own, without wildcards; a chunk answer is a slice of the device's image, no larger than
// the chunk limit; a message that was answered with an error has a non-OK status.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "adapters/mqtt/mqtt_mapping.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fwota::mqtt;
  if (size > 64 * 1024) return 0;
  fwota::fuzzing::FuzzWorld world;
  const std::string input =
      world.Expand(absl::string_view(reinterpret_cast<const char*>(data), size));
  MqttMappingOptions options;
  options.max_chunk_size = 2048;
  options.max_remembered_requests = 3;
  MqttMapping mapping(world.service(), options);

  std::vector<absl::string_view> messages = absl::StrSplit(input, "\n===\n");
  if (messages.size() > 8) messages.resize(8);
  for (absl::string_view message : messages) {
    const size_t newline = message.find('\n');
    const absl::string_view topic = message.substr(0, newline);
    const absl::string_view payload =
        newline == absl::string_view::npos ? absl::string_view() : message.substr(newline + 1);
    MqttResult result = mapping.Handle(topic, payload);
    if (!absl::StartsWith(topic, "fwota/TOK/")) FUZZ_CHECK(result.publish.empty());
    for (const MqttMessage& out : result.publish) {
      FUZZ_CHECK(absl::StartsWith(out.topic, "fwota/TOK/"));
      FUZZ_CHECK(out.topic.find_first_of("+#") == std::string::npos);
      const bool error = absl::EndsWith(out.topic, "/error");
      if (error) FUZZ_CHECK(!result.status.ok());
      if (absl::StrContains(out.topic, "/response/") && absl::StrContains(out.topic, "/chunk/")) {
        FUZZ_CHECK(out.payload.size() <= static_cast<size_t>(options.max_chunk_size));
        const std::string& image = absl::StartsWith(out.topic, "fwota/TOK/v2/sw/")
                                       ? world.software_bytes()
                                       : world.firmware_bytes();
        FUZZ_CHECK(absl::StrContains(image, out.payload));
      }
    }
  }
  return 0;
}
