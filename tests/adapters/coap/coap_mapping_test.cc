// The CoAP mapping without a network: Block2 over the whole image at every block size,
// block size changes, the server's own block limit, ThingsBoard chunks, the error codes,
// attributes (plain and observed), telemetry and notices.
#include "adapters/coap/coap_mapping.h"

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/adapters/common/device_service_test.h"
#include "tests/testing/status_matchers.h"

namespace fwota::coap {
namespace {

using ::fwota::adapters::CoapCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr size_t kImageSize = 5000;

class CoapMappingTest : public adapters::testing::DeviceServiceTest {
 protected:
  void SetUp() override {
    SetUpService(kImageSize);
    mapping_ = std::make_unique<CoapMapping>(*service_, CoapMappingOptions());
  }

  static CoapRequest Get(std::vector<std::string> path, std::vector<std::string> query = {}) {
    CoapRequest r;
    r.path = std::move(path);
    r.query = std::move(query);
    return r;
  }

  CoapResponse Block(uint32_t num, uint8_t szx, std::vector<std::string> query = {}) {
    CoapRequest r = Get({"fw", "TOK"}, std::move(query));
    r.block2 = BlockOption{num, false, szx};
    return mapping_->Handle(r);
  }

  // The image's strong ETag: the first 8 bytes of its SHA-256.
  std::string Etag() const { return absl::HexStringToBytes(package_.sha256().substr(0, 16)); }

  std::unique_ptr<CoapMapping> mapping_;
};

TEST(CoapMappingIsReportTest, OnlyATelemetryPostWrites) {
  CoapRequest r;
  r.method = CoapMethod::kPost;
  r.path = {"api", "v1", "TOK", "telemetry"};
  EXPECT_TRUE(CoapMapping::IsReport(r));
  r.method = CoapMethod::kGet;
  EXPECT_FALSE(CoapMapping::IsReport(r));
  r.method = CoapMethod::kPost;
  for (std::vector<std::string> path :
       std::vector<std::vector<std::string>>{{"api", "v1", "", "telemetry"},
                                             {"api", "v1", "TOK", "attributes"},
                                             {"api", "v1", "telemetry"},
                                             {"api", "v2", "TOK", "telemetry"},
                                             {"fw", "TOK"},
                                             {}}) {
    r.path = path;
    EXPECT_FALSE(CoapMapping::IsReport(r)) << path.size();
  }
}

TEST_F(CoapMappingTest, WholeImageAtEveryBlockSize) {
  for (uint8_t szx = 0; szx <= 6; ++szx) {
    SCOPED_TRACE(absl::StrCat("block size ", BlockSize(szx)));
    std::string got;
    for (uint32_t num = 0;; ++num) {
      CoapResponse r = Block(num, szx);
      ASSERT_EQ(r.code, CoapCode::kContent) << r.payload;
      ASSERT_TRUE(r.block2.has_value());
      EXPECT_EQ(r.block2->num, num);
      EXPECT_EQ(r.block2->szx, szx);
      EXPECT_EQ(r.size2, int64_t{kImageSize});
      EXPECT_EQ(r.etag, Etag());
      EXPECT_EQ(r.content_format, kFormatOctetStream);
      got += r.payload;
      if (!r.block2->more) break;
      EXPECT_EQ(r.payload.size(), static_cast<size_t>(BlockSize(szx)));
    }
    EXPECT_EQ(got, data_);
  }
}

TEST_F(CoapMappingTest, WithoutBlock2ALargeImageStartsBlockwiseASmallChunkComesWhole) {
  CoapResponse first = mapping_->Handle(Get({"fw", "TOK"}));
  ASSERT_EQ(first.code, CoapCode::kContent);
  ASSERT_TRUE(first.block2.has_value());
  EXPECT_EQ(first.block2->num, 0u);
  EXPECT_TRUE(first.block2->more);
  EXPECT_EQ(first.block2->szx, 6);
  EXPECT_EQ(first.payload, data_.substr(0, 1024));

  CoapResponse small = mapping_->Handle(Get({"fw", "TOK"}, {"size=100", "chunk=3"}));
  ASSERT_EQ(small.code, CoapCode::kContent);
  EXPECT_FALSE(small.block2.has_value());
  EXPECT_FALSE(small.size2.has_value());
  EXPECT_EQ(small.payload, data_.substr(300, 100));
}

TEST_F(CoapMappingTest, BlockSizeMayChangeMidTransfer) {
  // 1024-byte block 0, then 256-byte blocks from block 4 (byte 1024), then 16-byte ones.
  std::string got = Block(0, 6).payload;
  uint32_t num = 4;
  while (got.size() < 2048) {
    CoapResponse r = Block(num++, 4);
    ASSERT_EQ(r.code, CoapCode::kContent);
    got += r.payload;
  }
  for (num = 2048 / 16;; ++num) {
    CoapResponse r = Block(num, 0);
    ASSERT_EQ(r.code, CoapCode::kContent);
    got += r.payload;
    if (!r.block2->more) break;
  }
  EXPECT_EQ(got, data_);
}

TEST_F(CoapMappingTest, LargerBlocksThanAllowedComeAtTheLimitFromTheSameOffset) {
  CoapMappingOptions options;
  options.max_block_size = 256;
  CoapMapping small(*service_, options);
  CoapRequest r = Get({"fw", "TOK"});
  r.block2 = BlockOption{2, false, 6};  // byte 2048 in 1024-byte blocks
  CoapResponse answer = small.Handle(r);
  ASSERT_EQ(answer.code, CoapCode::kContent);
  EXPECT_EQ(answer.block2->num, 8u);
  EXPECT_EQ(answer.block2->szx, 4);
  EXPECT_EQ(answer.payload, data_.substr(2048, 256));

  // The transport's own limit (a DTLS record) works the same way.
  r.max_block_size = 512;
  answer = mapping_->Handle(r);
  EXPECT_EQ(answer.block2->num, 4u);
  EXPECT_EQ(answer.block2->szx, 5);
  EXPECT_EQ(answer.payload, data_.substr(2048, 512));
}

TEST_F(CoapMappingTest, BlocksPastTheEndAndBertAreRefused) {
  // 5000 bytes: 1024-byte blocks 0..4; block 5 starts past the end.
  CoapResponse last = Block(4, 6);
  ASSERT_EQ(last.code, CoapCode::kContent);
  EXPECT_FALSE(last.block2->more);
  EXPECT_EQ(last.payload, data_.substr(4096));

  CoapResponse past = Block(5, 6);
  EXPECT_EQ(past.code, CoapCode::kBadOption);
  EXPECT_THAT(past.payload, HasSubstr("past the end of the 5000-byte representation"));
  EXPECT_EQ(Block(1000000, 0).code, CoapCode::kBadOption);
  EXPECT_EQ(Block((1u << 20) - 1, 6).code, CoapCode::kBadOption);

  CoapResponse bert = Block(0, 7);
  EXPECT_EQ(bert.code, CoapCode::kBadRequest);
  EXPECT_THAT(bert.payload, HasSubstr("BERT"));
}

TEST_F(CoapMappingTest, ThingsBoardChunksAreTheRepresentation) {
  CoapResponse chunk = mapping_->Handle(Get({"fw", "TOK"}, {"title=fw", "version=1.0",
                                                            "size=2000", "chunk=2"}));
  ASSERT_EQ(chunk.code, CoapCode::kContent);
  EXPECT_FALSE(chunk.block2.has_value());  // the 1000 bytes left fit one message
  EXPECT_EQ(chunk.payload, data_.substr(4000));
  EXPECT_EQ(chunk.etag, Etag());

  // Block-wise within a chunk: block 1 of 64 bytes of chunk 1 is byte 2064.
  CoapResponse inner = Block(1, 2, {"size=2000", "chunk=1"});
  ASSERT_EQ(inner.code, CoapCode::kContent);
  EXPECT_EQ(inner.size2, 2000);
  EXPECT_EQ(inner.payload, data_.substr(2064, 64));

  // Past the end: an empty answer (ThingsBoard clients take it as the end), never
  // silence; Block2 block 0 of it is empty too, block 1 is past the end.
  CoapResponse empty = mapping_->Handle(Get({"fw", "TOK"}, {"size=2000", "chunk=3"}));
  EXPECT_EQ(empty.code, CoapCode::kContent);
  EXPECT_THAT(empty.payload, IsEmpty());
  CoapResponse empty_block = Block(0, 6, {"size=2000", "chunk=99999999999"});
  EXPECT_EQ(empty_block.code, CoapCode::kContent);
  EXPECT_FALSE(empty_block.block2->more);
  EXPECT_EQ(empty_block.size2, 0);
  EXPECT_EQ(Block(1, 6, {"size=2000", "chunk=3"}).code, CoapCode::kBadOption);

  // size 0: the whole image, as over HTTP.
  EXPECT_EQ(mapping_->Handle(Get({"fw", "TOK"}, {"size=0", "chunk=5"})).payload,
            data_.substr(0, 1024));
}

TEST_F(CoapMappingTest, ErrorCodesAsThingsBoard) {
  auto code = [&](CoapRequest r) { return mapping_->Handle(r).code; };
  EXPECT_EQ(code(Get({"fw", "TOK"}, {"title=fw", "version=1.0"})), CoapCode::kContent);
  EXPECT_EQ(code(Get({"fw", "TOK"}, {"title=fw", "version=2.0"})), CoapCode::kBadRequest);
  EXPECT_EQ(code(Get({"fw", "TOK"}, {"title=other"})), CoapCode::kBadRequest);
  EXPECT_EQ(code(Get({"fw", "NOPE"})), CoapCode::kUnauthorized);
  EXPECT_EQ(code(Get({"fw"})), CoapCode::kUnauthorized);
  EXPECT_EQ(code(Get({"fw", ""})), CoapCode::kUnauthorized);
  EXPECT_EQ(code(Get({"sw", "TOK"})), CoapCode::kNotFound);  // no software assigned
  EXPECT_EQ(code(Get({"fw", "TOK", "extra"})), CoapCode::kNotFound);
  EXPECT_EQ(code(Get({"firmware", "TOK"})), CoapCode::kNotFound);
  EXPECT_EQ(code(Get({})), CoapCode::kNotFound);
  EXPECT_EQ(code(Get({"fw", "TOK"}, {"size=abc"})), CoapCode::kBadRequest);
  EXPECT_EQ(code(Get({"fw", "TOK"}, {"chunk=-1"})), CoapCode::kBadRequest);
  EXPECT_EQ(code(Get({"fw", "TOK"}, {"size=1", "size=2"})), CoapCode::kBadRequest);
  EXPECT_EQ(code(Get({"fw", "TOK"}, {"size=2000000"})), CoapCode::kBadRequest);
  CoapRequest post = Get({"fw", "TOK"});
  post.method = CoapMethod::kPost;
  CoapResponse refused = mapping_->Handle(post);
  EXPECT_EQ(refused.code, CoapCode::kMethodNotAllowed);
  EXPECT_EQ(refused.payload, "this resource takes only GET");
  EXPECT_EQ(code(Get({"api", "v1", "attributes"})), CoapCode::kUnauthorized);
  EXPECT_EQ(code(Get({"api", "v1", "", "telemetry"})), CoapCode::kUnauthorized);
  EXPECT_EQ(code(Get({"api", "v1", "TOK", "rpc"})), CoapCode::kNotFound);
}

TEST_F(CoapMappingTest, AttributesPlainAndObserved) {
  CoapResponse plain = mapping_->Handle(
      Get({"api", "v1", "TOK", "attributes"}, {"sharedKeys=fw_title,fw_size"}));
  ASSERT_EQ(plain.code, CoapCode::kContent);
  EXPECT_EQ(plain.content_format, kFormatJson);
  EXPECT_EQ(plain.payload, R"({"shared":{"fw_title":"fw","fw_size":5000}})");
  EXPECT_FALSE(plain.observe);

  CoapRequest observe = Get({"api", "v1", "TOK", "attributes"}, {"sharedKeys=fw_version"});
  observe.observe = 0;
  CoapResponse observed = mapping_->Handle(observe);
  ASSERT_EQ(observed.code, CoapCode::kContent);
  EXPECT_EQ(observed.payload, R"({"fw_version":"1.0"})");
  EXPECT_TRUE(observed.observe);
  EXPECT_EQ(observed.observe_token, "TOK");
  EXPECT_THAT(observed.observe_keys, ElementsAre("fw_version"));

  EXPECT_EQ(mapping_->Handle(Get({"api", "v1", "TOK", "attributes"}, {"clientKeys=a"})).payload,
            "{}");
  EXPECT_EQ(mapping_->Handle(Get({"api", "v1", "BAD", "attributes"})).code,
            CoapCode::kUnauthorized);
  observe.path[2] = "BAD";
  EXPECT_FALSE(mapping_->Handle(observe).observe);
  CoapRequest put = Get({"api", "v1", "TOK", "attributes"});
  put.method = CoapMethod::kPut;
  EXPECT_EQ(mapping_->Handle(put).code, CoapCode::kMethodNotAllowed);
}

TEST_F(CoapMappingTest, TelemetryReachesTheStatus) {
  CoapRequest post = Get({"api", "v1", "TOK", "telemetry"});
  post.method = CoapMethod::kPost;
  post.payload = R"({"fw_state":"DOWNLOADING"})";
  EXPECT_EQ(mapping_->Handle(post).code, CoapCode::kChanged);
  ASSERT_OK_AND_ASSIGN(UpdateStatus status,
                       service_->GetUpdateStatus(ctx_, device_.id(), ::fwota::v1::FIRMWARE));
  EXPECT_EQ(status.state(), ::fwota::v1::UPDATE_STATE_DOWNLOADING);

  post.payload = "{not json";
  EXPECT_EQ(mapping_->Handle(post).code, CoapCode::kBadRequest);
  post.payload = R"({"fw_state":"SLEEPING"})";
  EXPECT_EQ(mapping_->Handle(post).code, CoapCode::kBadRequest);
  post.has_block1 = true;
  CoapResponse large = mapping_->Handle(post);
  EXPECT_EQ(large.code, CoapCode::kRequestEntityTooLarge);
  EXPECT_EQ(large.size1, 1024);
  post.has_block1 = false;
  post.payload = R"({"fw_state":"DOWNLOADED"})";
  post.path[2] = "BAD";
  EXPECT_EQ(mapping_->Handle(post).code, CoapCode::kUnauthorized);
  // An unknown token is refused before the payload is judged, whatever the payload.
  for (const char* payload : {"{not json", "[]", R"({"fw_state":"SLEEPING"})",
                              R"({"fw_state":"DOWNLOADED","sw_state":"SLEEPING"})"}) {
    post.payload = payload;
    EXPECT_EQ(mapping_->Handle(post).code, CoapCode::kUnauthorized) << payload;
  }
  EXPECT_EQ(mapping_->Handle(Get({"api", "v1", "TOK", "telemetry"})).code,
            CoapCode::kMethodNotAllowed);
}

TEST_F(CoapMappingTest, NoticePayloadOnlyWithTheKeysAskedFor) {
  AttributeNotice notice;
  notice.access_token = "TOK";
  notice.updated = {{"fw_title", "fw2", 0, false}, {"fw_size", "", 42, true}};
  notice.deleted = {"fw_url"};
  EXPECT_EQ(CoapMapping::NoticePayload(notice, {}),
            R"({"fw_title":"fw2","fw_size":42,"deleted":["fw_url"]})");
  EXPECT_EQ(CoapMapping::NoticePayload(notice, {"fw_size"}), R"({"fw_size":42})");
  EXPECT_EQ(CoapMapping::NoticePayload(notice, {"fw_url"}), R"({"deleted":["fw_url"]})");
  EXPECT_EQ(CoapMapping::NoticePayload(notice, {"sw_title"}), std::nullopt);
}

TEST_F(CoapMappingTest, CheckOptions) {
  CoapMappingOptions options;
  EXPECT_OK(CoapMapping::CheckOptions(options));
  for (int bad : {0, 8, 100, 2048}) {
    options.max_block_size = bad;
    EXPECT_FALSE(CoapMapping::CheckOptions(options).ok()) << bad;
  }
  options.max_block_size = 16;
  options.max_chunk_size = 0;
  EXPECT_FALSE(CoapMapping::CheckOptions(options).ok());
}

TEST(BlockOptionTest, EncodesAsRfc7959) {
  EXPECT_EQ((BlockOption{0, false, 6}).Encode(), 6u);
  EXPECT_EQ((BlockOption{2, true, 2}).Encode(), 0x2au);
  BlockOption b = BlockOption::Decode(0xfffff6);
  EXPECT_EQ(b.num, (1u << 20) - 1);
  EXPECT_FALSE(b.more);
  EXPECT_EQ(b.szx, 6);
}

}  // namespace
}  // namespace fwota::coap
