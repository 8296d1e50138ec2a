// A parsed JSON document (RFC 8259) for reading fwotad's answers. Every value keeps the
// exact text it was parsed from (raw()), so stored JSON the server passes through
// (additionalInfo, actionData) is printed again byte for byte. Not thread-safe to
// mutate; const access is.
#ifndef FWOTA_TOOLS_FWOTA_REMOTE_JSON_VALUE_H_
#define FWOTA_TOOLS_FWOTA_REMOTE_JSON_VALUE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fwota::cli::remote {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  // `text` as one JSON value (surrounding whitespace allowed). kInvalidArgument naming
  // the offset for malformed text, nesting deeper than 64 levels included.
  static absl::StatusOr<JsonValue> Parse(absl::string_view text);

  JsonValue() = default;  // null

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_string() const { return kind_ == Kind::kString; }

  // The value's text exactly as it appeared in the document.
  const std::string& raw() const { return raw_; }

  // The decoded string of a kString; "" for every other kind.
  const std::string& string() const { return string_; }
  // True only for the literal `true`.
  bool boolean() const { return kind_ == Kind::kBool && raw_ == "true"; }
  // A kNumber that is an integer within int64; `fallback` otherwise.
  int64_t Int(int64_t fallback = 0) const;

  // Elements of a kArray (empty for other kinds).
  const std::vector<JsonValue>& items() const { return items_; }
  // Members of a kObject in document order (empty for other kinds).
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
  // The first member named `key` of a kObject; nullptr when absent or not an object.
  const JsonValue* Find(absl::string_view key) const;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  std::string raw_ = "null";
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

}  // namespace fwota::cli::remote

#endif  // FWOTA_TOOLS_FWOTA_REMOTE_JSON_VALUE_H_
