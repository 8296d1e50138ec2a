#include "tools/fwota/args.h"

#include <algorithm>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fwota::cli {
namespace {

constexpr absl::string_view kRepeatable = "algorithm";

bool IsFlag(absl::string_view arg) { return arg.size() >= 2 && arg[0] == '-'; }

// "--name=value" / "-name" -> name, value, whether '=' was present.
void SplitFlag(absl::string_view arg, absl::string_view& name, absl::string_view& value,
               bool& has_value) {
  absl::string_view body = arg.substr(arg[1] == '-' ? 2 : 1);
  const size_t eq = body.find('=');
  has_value = eq != absl::string_view::npos;
  name = has_value ? body.substr(0, eq) : body;
  value = has_value ? body.substr(eq + 1) : absl::string_view();
}

absl::Status CheckValue(absl::CommandLineFlag& flag, absl::string_view value) {
  std::string error;
  // Setting it now is harmless: ParseCommandLine sets the same value again.
  if (!flag.ParseFrom(value, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid value \"", value, "\" for --", flag.Name(), ": ", error));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareArgs(int argc, char** argv, PreparedArgs& out) {
  out.args_.clear();
  out.args_.emplace_back(argc > 0 ? argv[0] : "fwota");
  std::vector<std::string> repeated;
  bool rest_positional = false;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (rest_positional || !IsFlag(arg)) {
      out.args_.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      rest_positional = true;
      out.args_.emplace_back(arg);
      continue;
    }
    absl::string_view name, value;
    bool has_value;
    SplitFlag(arg, name, value, has_value);
    if (name == kRepeatable) {
      if (!has_value) {
        if (i + 1 >= argc) {
          return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
        }
        value = argv[++i];
      }
      repeated.emplace_back(value);
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool negated = false;
    if (flag == nullptr && absl::StartsWith(name, "no")) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      negated = flag != nullptr && flag->IsOfType<bool>();
      if (!negated) flag = nullptr;
    }
    if (flag == nullptr || flag->IsRetired()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (flag->IsOfType<bool>()) {
      if (negated && has_value) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " takes no value"));
      }
      if (has_value) {
        absl::Status s = CheckValue(*flag, value);
        if (!s.ok()) return s;
      }
      out.args_.emplace_back(arg);
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
      absl::Status s = CheckValue(*flag, argv[i + 1]);
      if (!s.ok()) return s;
      out.args_.emplace_back(arg);
      out.args_.emplace_back(argv[++i]);
      continue;
    }
    absl::Status s = CheckValue(*flag, value);
    if (!s.ok()) return s;
    out.args_.emplace_back(arg);
  }
  if (!repeated.empty()) {
    // Before any "--", so that Abseil still reads it as a flag.
    std::string merged = absl::StrCat("--", kRepeatable, "=", absl::StrJoin(repeated, ","));
    auto dashdash = std::find(out.args_.begin() + 1, out.args_.end(), "--");
    out.args_.insert(dashdash, std::move(merged));
  }
  out.pointers_.clear();
  for (std::string& a : out.args_) out.pointers_.push_back(a.data());
  out.pointers_.push_back(nullptr);
  return absl::OkStatus();
}

bool WantsJson(int argc, char** argv) {
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--json" || arg == "-json" || arg == "--json=true" || arg == "-json=true" ||
        arg == "--json=1") {
      json = true;
    } else if (arg == "--nojson" || arg == "-nojson" || arg == "--json=false" ||
               arg == "--json=0") {
      json = false;
    }
  }
  return json;
}

}  // namespace fwota::cli
