// A small streaming JSON writer (RFC 8259), used for ThingsBoard-shaped output and audit
// details. Not thread-safe: one writer per document.
#ifndef FWOTA_JSON_WRITER_H_
#define FWOTA_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace fwota {

// Usage: JsonWriter w; w.BeginObject(); w.Key("a"); w.Int(1); w.EndObject(); w.str().
// Commas are inserted automatically. Misuse (a value where a key is due) is not checked.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Inserts already-serialized JSON (e.g. a stored JSON object) as a value.
  JsonWriter& Raw(absl::string_view json);

  // Shorthands: Key(k) then the value.
  JsonWriter& Field(absl::string_view key, absl::string_view value) {
    return Key(key).String(value);
  }
  JsonWriter& Field(absl::string_view key, const char* value) {
    return Key(key).String(value);
  }
  JsonWriter& Field(absl::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonWriter& Field(absl::string_view key, int value) { return Key(key).Int(value); }
  JsonWriter& Field(absl::string_view key, bool value) { return Key(key).Bool(value); }

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();
  std::string out_;
  // Per open container: whether it has had an element yet.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

// `value` as a JSON string literal, quotes included; control characters, quotes and
// backslashes escaped, invalid UTF-8 bytes replaced by U+FFFD.
std::string JsonQuote(absl::string_view value);

}  // namespace fwota

#endif  // FWOTA_JSON_WRITER_H_
