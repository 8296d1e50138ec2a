#include "tools/fwota/args.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "gtest/gtest.h"
#include "tools/fwota/flags.h"

namespace fwota::cli {
namespace {

// argv over owned strings.
class Argv {
 public:
  Argv(std::initializer_list<std::string> args) : args_(args) {
    for (std::string& a : args_) pointers_.push_back(a.data());
    pointers_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(args_.size()); }
  char** argv() { return pointers_.data(); }

 private:
  std::vector<std::string> args_;
  std::vector<char*> pointers_;
};

std::vector<std::string> Words(PreparedArgs& prepared) {
  std::vector<std::string> out;
  for (int i = 0; i < prepared.argc(); ++i) out.emplace_back(prepared.argv()[i]);
  return out;
}

TEST(PrepareArgsTest, PassesKnownFlagsAndWordsThrough) {
  Argv argv({"fwota", "package", "--json", "list", "--page_size", "5", "--search=fw"});
  PreparedArgs prepared;
  ASSERT_TRUE(PrepareArgs(argv.argc(), argv.argv(), prepared).ok());
  EXPECT_EQ(Words(prepared), (std::vector<std::string>{"fwota", "package", "--json", "list",
                                                       "--page_size", "5", "--search=fw"}));
  EXPECT_EQ(prepared.argv()[prepared.argc()], nullptr);
}

TEST(PrepareArgsTest, RejectsUnknownFlags) {
  Argv argv({"fwota", "--bogus=1", "package", "list"});
  PreparedArgs prepared;
  absl::Status s = PrepareArgs(argv.argc(), argv.argv(), prepared);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "unknown flag --bogus");
}

TEST(PrepareArgsTest, RejectsBadValuesAndMissingValues) {
  {
    Argv argv({"fwota", "package", "list", "--page_size=abc"});
    PreparedArgs prepared;
    absl::Status s = PrepareArgs(argv.argc(), argv.argv(), prepared);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("--page_size"), absl::string_view::npos) << s;
  }
  {
    Argv argv({"fwota", "package", "get", "--output"});
    PreparedArgs prepared;
    EXPECT_EQ(PrepareArgs(argv.argc(), argv.argv(), prepared).message(),
              "flag --output needs a value");
  }
  {
    Argv argv({"fwota", "--nojson=1", "tenant", "list"});
    PreparedArgs prepared;
    EXPECT_FALSE(PrepareArgs(argv.argc(), argv.argv(), prepared).ok());
  }
}

TEST(PrepareArgsTest, BoolFlagsAndNegation) {
  Argv argv({"fwota", "--nojson", "-json", "--json=false", "tenant", "list"});
  PreparedArgs prepared;
  EXPECT_TRUE(PrepareArgs(argv.argc(), argv.argv(), prepared).ok());
}

TEST(PrepareArgsTest, MergesRepeatedAlgorithms) {
  Argv argv({"fwota", "checksum", "--algorithm=SHA256", "-algorithm", "MD5,CRC32",
             "--algorithm=MURMUR3_32", "file", "--", "--not-a-flag"});
  PreparedArgs prepared;
  ASSERT_TRUE(PrepareArgs(argv.argc(), argv.argv(), prepared).ok());
  EXPECT_EQ(Words(prepared),
            (std::vector<std::string>{"fwota", "checksum", "file",
                                      "--algorithm=SHA256,MD5,CRC32,MURMUR3_32", "--",
                                      "--not-a-flag"}));
  std::vector<char*> positional = absl::ParseCommandLine(prepared.argc(), prepared.argv());
  EXPECT_EQ(absl::GetFlag(FLAGS_algorithm),
            (std::vector<std::string>{"SHA256", "MD5", "CRC32", "MURMUR3_32"}));
  ASSERT_EQ(positional.size(), 4u);
  EXPECT_STREQ(positional[1], "checksum");
  EXPECT_STREQ(positional[2], "file");
  EXPECT_STREQ(positional[3], "--not-a-flag");
}

TEST(WantsJsonTest, LastOneWins) {
  Argv yes({"fwota", "tenant", "--json", "list"});
  EXPECT_TRUE(WantsJson(yes.argc(), yes.argv()));
  Argv no({"fwota", "--json", "--nojson", "tenant", "list"});
  EXPECT_FALSE(WantsJson(no.argc(), no.argv()));
  Argv after({"fwota", "checksum", "--", "--json"});
  EXPECT_FALSE(WantsJson(after.argc(), after.argv()));
}

}  // namespace
}  // namespace fwota::cli
