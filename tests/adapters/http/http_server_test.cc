// The HTTP backend over real sockets on 127.0.0.1 (port 0), driven by curl and by a raw
// socket client for what curl will not do (half bodies, stalls, garbage).
#include "adapters/http/http_server.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fwota/blob_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/adapters/http/http_server_test_util.h"
#include "tests/testing/status_matchers.h"

namespace fwota::http {
namespace {

using ::fwota::http::testing::AccessLog;
using ::fwota::http::testing::CountingReader;
using ::fwota::http::testing::Curl;
using ::fwota::http::testing::RawClient;
using ::fwota::http::testing::ReadFile;
using ::fwota::http::testing::Sha256Hex;
using ::fwota::http::testing::TempPath;
using ::fwota::http::testing::TestHandler;
using ::fwota::http::testing::WaitFor;
using ::fwota::testing::StatusCodeIs;
using ::testing::HasSubstr;

constexpr size_t kBlobSize = 5 << 20;
constexpr size_t kUploadSize = 20 << 20;

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    blob_bytes_ = new std::string(testing::RandomBytes(kBlobSize, 42));
    blob_key_ = new std::string(Sha256Hex(*blob_bytes_));
    file_store_ = std::move(OpenFileBlobStore(TempPath("blobs"))).value().release();
    memory_store_ = NewMemoryBlobStore().release();
    for (BlobStore* store : {file_store_, memory_store_}) {
      auto writer = std::move(store->NewWriter()).value();
      ASSERT_OK(writer->Append(*blob_bytes_));
      ASSERT_OK(writer->Commit(*blob_key_));
    }
    upload_path_ = new std::string(TempPath("upload.bin"));
    upload_bytes_ = new std::string(testing::RandomBytes(kUploadSize, 7));
    ASSERT_TRUE(testing::WriteFile(*upload_path_, *upload_bytes_));
  }

  void StartServer(HttpServerOptions options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    options.access_log = log_.Callback();
    handler_.file_blob = std::make_shared<CountingReader>(
        std::shared_ptr<BlobReader>(std::move(file_store_->Open(*blob_key_)).value()));
    handler_.memory_blob = std::make_shared<CountingReader>(
        std::shared_ptr<BlobReader>(std::move(memory_store_->Open(*blob_key_)).value()));
    auto server = HttpServer::Start(options, handler_.AsHandler());
    ASSERT_OK(server.status());
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
  }

  std::string Url(const std::string& path) {
    return absl::StrCat("http://127.0.0.1:", server_->port(), path);
  }

  // Asks for `path` with curl and expects a 200 with exactly `want` as the body.
  void ExpectDownload(const std::string& path, const std::string& want) {
    const std::string out = TempPath("download.bin");
    testing::CurlResult r = Curl(absl::StrCat("-o ", out, " -w '%{http_code}' '", Url(path), "'"));
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_EQ(r.out, "200");
    const std::string got = ReadFile(out);
    ASSERT_EQ(got.size(), want.size()) << path;
    EXPECT_TRUE(got == want) << path << ": bytes differ";
  }

  static std::string* blob_bytes_;
  static std::string* blob_key_;
  static BlobStore* file_store_;
  static BlobStore* memory_store_;
  static std::string* upload_path_;
  static std::string* upload_bytes_;

  TestHandler handler_;
  AccessLog log_;
  std::unique_ptr<HttpServer> server_;  // last: stops before the handler goes
};

std::string* HttpServerTest::blob_bytes_;
std::string* HttpServerTest::blob_key_;
BlobStore* HttpServerTest::file_store_;
BlobStore* HttpServerTest::memory_store_;
std::string* HttpServerTest::upload_path_;
std::string* HttpServerTest::upload_bytes_;

// ---- Requests and responses ----

TEST_F(HttpServerTest, GetAndHead) {
  StartServer();
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send("GET /echo?a=1&b=x%20y HTTP/1.1\r\nHost: t\r\nX-Echo: hi\r\n\r\n"));
  RawClient::Response get = client.ReadResponse();
  ASSERT_EQ(get.status, 200);
  EXPECT_THAT(get.body, HasSubstr("method=GET\npath=/echo\nquery a=1\nquery b=x y\nx-echo=hi\n"));
  ASSERT_NE(get.Header("server"), nullptr);
  EXPECT_EQ(*get.Header("server"), "fwota");
  ASSERT_NE(get.Header("date"), nullptr);
  EXPECT_TRUE(absl::EndsWith(*get.Header("date"), " GMT")) << *get.Header("date");
  EXPECT_EQ(*get.Header("content-type"), "text/plain");
  EXPECT_EQ(*get.Header("content-length"), std::to_string(get.body.size()));
  EXPECT_EQ(get.Header("connection"), nullptr);

  // HEAD: the same head, no body (the next response on the connection starts at once).
  ASSERT_TRUE(
      client.Send("HEAD /echo?a=1&b=x%20y HTTP/1.1\r\nHost: t\r\nX-Echo: hi\r\n\r\n"
                  "GET /status?code=204 HTTP/1.1\r\nHost: t\r\n\r\n"));
  RawClient::Response head = client.ReadResponse(/*head_only=*/true);
  ASSERT_EQ(head.status, 200);
  // ("method=HEAD" is one byte longer than "method=GET".)
  EXPECT_EQ(*head.Header("content-length"), std::to_string(get.body.size() + 1));
  RawClient::Response next = client.ReadResponse();
  EXPECT_EQ(next.status, 204);
  EXPECT_EQ(next.Header("content-length"), nullptr);

  // HEAD of a blob: the blob's length, nothing read.
  ASSERT_TRUE(client.Send("HEAD /blob/file HTTP/1.1\r\nHost: t\r\n\r\n"));
  RawClient::Response blob_head = client.ReadResponse(/*head_only=*/true);
  ASSERT_EQ(blob_head.status, 200);
  EXPECT_EQ(*blob_head.Header("content-length"), std::to_string(kBlobSize));
  EXPECT_EQ(handler_.file_blob->prepare_send_file_calls.load(), 0);
  EXPECT_EQ(handler_.file_blob->read_at_calls.load(), 0);

  testing::CurlResult curl = Curl(absl::StrCat("'", Url("/echo?x=%2Fy+z"), "'"));
  ASSERT_EQ(curl.exit_code, 0) << curl.out;
  EXPECT_THAT(curl.out, HasSubstr("query x=/y z\n"));
}

TEST_F(HttpServerTest, KeepAliveServesRequestsInTurnOnOneConnection) {
  StartServer();
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send("GET /echo/one HTTP/1.1\r\nHost: t\r\n\r\n"));
  RawClient::Response first = client.ReadResponse();
  ASSERT_EQ(first.status, 200);
  ASSERT_TRUE(client.Send("GET /echo/two HTTP/1.1\r\nHost: t\r\n\r\n"));
  RawClient::Response second = client.ReadResponse();
  ASSERT_EQ(second.status, 200);
  EXPECT_THAT(second.body, HasSubstr("path=/echo/two"));
  // Pipelined: both answered, in order.
  ASSERT_TRUE(
      client.Send("GET /echo/three HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /echo/four HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_THAT(client.ReadResponse().body, HasSubstr("path=/echo/three"));
  EXPECT_THAT(client.ReadResponse().body, HasSubstr("path=/echo/four"));
  // Same connection all along: the same remote address. (Each entry is logged just
  // after its response is written, so the last one may come a moment later.)
  ASSERT_TRUE(WaitFor([&] { return log_.Entries().size() >= 4; }, absl::Seconds(10)));
  const std::vector<AccessLogEntry> entries = log_.Entries();
  ASSERT_EQ(entries.size(), 4u);
  for (const AccessLogEntry& e : entries) {
    EXPECT_EQ(e.remote_address, entries[0].remote_address);
    EXPECT_EQ(e.status, 200);
    EXPECT_EQ(e.method, "GET");
    EXPECT_TRUE(e.error.empty()) << e.error;
    EXPECT_GT(e.response_bytes, 0);
  }
  EXPECT_EQ(entries[1].target, "/echo/two");
  EXPECT_THAT(first.body, HasSubstr("remote=" + entries[0].remote_address));
}

TEST_F(HttpServerTest, Http10AndConnectionCloseEndTheConnection) {
  StartServer();
  {
    RawClient client(server_->port());
    ASSERT_TRUE(client.Send("GET /echo HTTP/1.0\r\n\r\n"));
    RawClient::Response r = client.ReadResponse();
    ASSERT_EQ(r.status, 200);
    ASSERT_NE(r.Header("connection"), nullptr);
    EXPECT_EQ(*r.Header("connection"), "close");
    EXPECT_TRUE(client.ClosedByServer(absl::Seconds(5)));
  }
  {
    RawClient client(server_->port());
    ASSERT_TRUE(client.Send("GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    RawClient::Response r = client.ReadResponse();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(*r.Header("connection"), "close");
    EXPECT_TRUE(client.ClosedByServer(absl::Seconds(5)));
  }
}

TEST_F(HttpServerTest, PathAndQueryDecodingAndRepeatedHeaders) {
  StartServer();
  RawClient client(server_->port());
  ASSERT_TRUE(
      client.Send("GET /echo/a%20b/%C3%A9?x=1+2&y=%26&empty=&flag&x=3 HTTP/1.1\r\nHost: t\r\n"
                  "X-Echo: one\r\nx-echo: two\r\n\r\n"));
  RawClient::Response r = client.ReadResponse();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.substr(0, r.body.find("remote=")),
            "method=GET\npath=/echo/a b/\xC3\xA9\nquery x=1 2\nquery y=&\nquery empty=\n"
            "query flag=\nquery x=3\nx-echo=one, two\n");
}

TEST_F(HttpServerTest, BadRequestsGetClearAnswersAndTheServerKeepsServing) {
  HttpServerOptions options;
  options.max_header_bytes = 4096;
  StartServer(options);
  struct Case {
    std::string request;
    int status;
  };
  const std::string big_header(5000, 'a');
  std::string many_params = "/echo?";
  for (int i = 0; i < 300; ++i) absl::StrAppend(&many_params, "k", i, "=v&");
  for (const Case& c : {
           Case{absl::StrCat("GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: ", big_header, "\r\n\r\n"),
                431},
           Case{absl::StrCat("GET /", big_header, " HTTP/1.1\r\nHost: t\r\n\r\n"), 431},
           Case{"HELLO\r\n\r\n", 400},
           Case{"GET /echo HTTP/9.9\r\n\r\n", 400},
           Case{std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n", 400},
           Case{"GET /echo/a%2Fb HTTP/1.1\r\nHost: t\r\n\r\n", 400},
           Case{"GET /echo/a%2fb HTTP/1.1\r\nHost: t\r\n\r\n", 400},
           Case{"GET /echo/a%00b HTTP/1.1\r\nHost: t\r\n\r\n", 400},
           Case{"GET /echo/%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400},
           Case{"GET echo HTTP/1.1\r\nHost: t\r\n\r\n", 400},
           Case{"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400},
           Case{"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400},
           // Ambiguous framing (request smuggling shapes).
           Case{"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                "Content-Length: 6\r\n\r\nhello!",
                400},
           Case{"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                400},
           Case{"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
           Case{"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                "0\r\n\r\n",
                501},
           Case{absl::StrCat("GET ", many_params, " HTTP/1.1\r\nHost: t\r\n\r\n"), 414},
       }) {
    RawClient client(server_->port());
    ASSERT_TRUE(client.Send(c.request));
    RawClient::Response r = client.ReadResponse();
    EXPECT_EQ(r.status, c.status) << c.request.substr(0, 60);
    EXPECT_TRUE(r.Header("connection") != nullptr && *r.Header("connection") == "close");
    EXPECT_TRUE(client.ClosedByServer(absl::Seconds(5)));
  }
  EXPECT_EQ(handler_.uploads_started.load(), 0);
  EXPECT_TRUE(log_.WaitForEntry([](const AccessLogEntry& e) {
    return e.status == 431 && absl::StrContains(e.error, "Too Large");
  }));
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().status, 200);
}

// ---- Uploads ----

TEST_F(HttpServerTest, UploadsStreamWithContentLengthChunkedAndExpectContinue) {
  StartServer();
  const std::string want = absl::StrCat(kUploadSize, " ", Sha256Hex(*upload_bytes_));
  // Content-Length, no Expect.
  testing::CurlResult r =
      Curl(absl::StrCat("-H 'Expect:' --data-binary @", *upload_path_, " ", Url("/upload")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, want);
  // Chunked, from a pipe.
  r = Curl(absl::StrCat("-H 'Expect:' -T - ", Url("/upload"), " < ", *upload_path_));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, want);
  r = Curl(absl::StrCat("-H 'Transfer-Encoding: chunked' --data-binary @", *upload_path_, " ",
                        Url("/upload")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, want);
  // Expect: 100-continue (curl waits up to 1 s for the 100 before sending the body
  // anyway, so the raw test below is the one that shows the 100 is sent).
  r = Curl(absl::StrCat("-H 'Expect: 100-continue' --expect100-timeout 30 --data-binary @",
                        *upload_path_, " ", Url("/upload")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, want);
  EXPECT_EQ(handler_.upload_errors.load(), 0);
  EXPECT_TRUE(log_.WaitForEntry([](const AccessLogEntry& e) {
    return e.target == "/upload" && e.request_bytes == static_cast<int64_t>(kUploadSize) &&
           e.status == 200;
  }));
}

TEST_F(HttpServerTest, ExpectContinueIsSentBeforeTheBodyIsRead) {
  StartServer();
  RawClient client(server_->port());
  const std::string body = testing::RandomBytes(100000, 3);
  ASSERT_TRUE(client.Send(absl::StrCat("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: ",
                                       body.size(), "\r\nExpect: 100-continue\r\n\r\n")));
  RawClient::Response interim = client.ReadResponse(/*head_only=*/true);
  ASSERT_EQ(interim.status, 100);
  ASSERT_TRUE(client.Send(body));
  RawClient::Response final_response = client.ReadResponse();
  ASSERT_EQ(final_response.status, 200);
  EXPECT_EQ(final_response.body, absl::StrCat(body.size(), " ", Sha256Hex(body)));
  // Still usable: the body was read to its end.
  ASSERT_TRUE(client.Send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(client.ReadResponse().status, 200);
}

TEST_F(HttpServerTest, ChunkedBodyFromARawClient) {
  StartServer();
  RawClient client(server_->port());
  ASSERT_TRUE(
      client.Send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n"
                  "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
  RawClient::Response r = client.ReadResponse();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, absl::StrCat("11 ", Sha256Hex("hello world")));
  EXPECT_EQ(client.ReadResponse().status, 200);
  // A malformed chunk size fails the handler's Read.
  RawClient bad(server_->port());
  ASSERT_TRUE(
      bad.Send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               "zz\r\nhello\r\n0\r\n\r\n"));
  RawClient::Response rejected = bad.ReadResponse();
  EXPECT_EQ(rejected.status, 400);
  EXPECT_THAT(rejected.body, HasSubstr("malformed request body"));
  EXPECT_TRUE(bad.ClosedByServer(absl::Seconds(5)));
}

TEST_F(HttpServerTest, AnUnreadBodyClosesTheConnectionAfterTheAnswer) {
  StartServer();
  RawClient client(server_->port());
  ASSERT_TRUE(
      client.Send("POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n"));
  ASSERT_TRUE(client.Send(std::string(100000, 'x')));
  RawClient::Response r = client.ReadResponse();
  EXPECT_EQ(r.status, 413);
  ASSERT_NE(r.Header("connection"), nullptr);
  EXPECT_EQ(*r.Header("connection"), "close");
  EXPECT_TRUE(client.ClosedByServer(absl::Seconds(10)));
  // Expect: 100-continue and a handler that does not want the body: no 100, the answer,
  // and the connection closes.
  RawClient waiting(server_->port());
  ASSERT_TRUE(
      waiting.Send("POST /ignore-body HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n"
                   "Expect: 100-continue\r\n\r\n"));
  RawClient::Response direct = waiting.ReadResponse();
  EXPECT_EQ(direct.status, 413);
  EXPECT_TRUE(waiting.ClosedByServer(absl::Seconds(10)));
  // With curl: the client sees the 413.
  testing::CurlResult curl = Curl(absl::StrCat("-o /dev/null -w '%{http_code}' --data-binary @",
                                               *upload_path_, " ", Url("/ignore-body")));
  EXPECT_THAT(curl.out, HasSubstr("413"));
}

TEST_F(HttpServerTest, AClientThatDisconnectsMidBodyFailsTheReadAndTheServerGoesOn) {
  StartServer();
  {
    RawClient client(server_->port());
    ASSERT_TRUE(client.Send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"));
    ASSERT_TRUE(client.Send(std::string(500000, 'x')));
    ASSERT_TRUE(WaitFor([&] { return handler_.uploads_started.load() == 1; }, absl::Seconds(10)));
  }  // closed mid-body
  ASSERT_TRUE(WaitFor([&] { return handler_.upload_errors.load() == 1; }, absl::Seconds(10)));
  {
    absl::MutexLock lock(&handler_.mu);
    EXPECT_THAT(handler_.last_upload_error, StatusCodeIs(absl::StatusCode::kUnavailable));
  }
  EXPECT_TRUE(log_.WaitForEntry([](const AccessLogEntry& e) {
    return e.target == "/upload" && !e.error.empty() && e.request_bytes > 0 &&
           e.request_bytes < 1000000;
  }));
  // Chunked, cut in the middle of a chunk.
  {
    RawClient client(server_->port());
    ASSERT_TRUE(
        client.Send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "10000\r\n" +
                    std::string(30000, 'y')));
    ASSERT_TRUE(WaitFor([&] { return handler_.uploads_started.load() == 2; }, absl::Seconds(10)));
  }
  ASSERT_TRUE(WaitFor([&] { return handler_.upload_errors.load() == 2; }, absl::Seconds(10)));
  testing::CurlResult r = Curl(Url("/echo"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("method=GET"));
}

TEST_F(HttpServerTest, AClientThatStallsMidBodyTimesOut) {
  HttpServerOptions options;
  options.io_timeout = absl::Seconds(1);
  StartServer(options);
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"));
  ASSERT_TRUE(client.Send(std::string(500000, 'x')));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return handler_.upload_errors.load() == 1; }, absl::Seconds(20)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  absl::MutexLock lock(&handler_.mu);
  EXPECT_THAT(handler_.last_upload_error, StatusCodeIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(HttpServerTest, StalledAndIdleConnectionsAreClosed) {
  HttpServerOptions options;
  options.io_timeout = absl::Seconds(1);
  options.keep_alive_timeout = absl::Seconds(1);
  StartServer(options);
  // Half a request head, then nothing: 408 after the I/O timeout.
  RawClient partial(server_->port());
  ASSERT_TRUE(partial.Send("GET /echo HTTP/1.1\r\nHost: t\r\n"));
  // A served connection left idle: closed after the keep-alive timeout.
  RawClient idle(server_->port());
  ASSERT_TRUE(idle.Send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(idle.ReadResponse().status, 200);
  EXPECT_EQ(partial.ReadResponse().status, 408);
  EXPECT_TRUE(partial.ClosedByServer(absl::Seconds(10)));
  EXPECT_TRUE(idle.ClosedByServer(absl::Seconds(10)));
}

// ---- Blob bodies ----

TEST_F(HttpServerTest, BlobsAreServedByteExactBySendfileAndByReadAt) {
  StartServer();
  ExpectDownload("/blob/file", *blob_bytes_);
  EXPECT_GT(handler_.file_blob->prepare_send_file_calls.load(), 0);
  EXPECT_EQ(handler_.file_blob->read_at_calls.load(), 0);  // sendfile carried it all

  ExpectDownload("/blob/memory", *blob_bytes_);
  EXPECT_GT(handler_.memory_blob->read_at_calls.load(), 0);

  struct Range {
    int64_t offset;
    int64_t length;
  };
  for (const Range& r : {Range{1, 100}, Range{65535, 65537}, Range{12345, 3 << 20},
                         Range{kBlobSize - 3, 10}, Range{777777, 1}}) {
    const size_t want_len = std::min<int64_t>(r.length, kBlobSize - r.offset);
    const std::string want = blob_bytes_->substr(r.offset, want_len);
    for (const char* store : {"file", "memory"}) {
      ExpectDownload(absl::StrCat("/blob/", store, "?offset=", r.offset, "&length=", r.length),
                     want);
    }
  }
  // Past the end: an empty body.
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send(
      absl::StrCat("GET /blob/file?offset=", kBlobSize + 5, " HTTP/1.1\r\nHost: t\r\n\r\n")));
  RawClient::Response empty = client.ReadResponse();
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(*empty.Header("content-length"), "0");
  // Keep-alive after a sendfile body.
  ASSERT_TRUE(client.Send("GET /blob/file?offset=100&length=70000 HTTP/1.1\r\nHost: t\r\n\r\n"));
  RawClient::Response ranged = client.ReadResponse();
  ASSERT_EQ(ranged.status, 200);
  EXPECT_TRUE(ranged.body == blob_bytes_->substr(100, 70000));
  EXPECT_TRUE(log_.WaitForEntry([](const AccessLogEntry& e) {
    return e.target == "/blob/file" && e.response_bytes == static_cast<int64_t>(kBlobSize);
  }));
}

TEST_F(HttpServerTest, DamagedBlobs) {
  StartServer();
  // Damaged where the body starts: nothing promised yet, so a 500.
  testing::CurlResult early =
      Curl(absl::StrCat("-o /dev/null -w '%{http_code}' ", Url("/blob/damaged-early")));
  EXPECT_EQ(early.out, "500");
  // Damaged further in: the length was promised, so the connection is cut.
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send("GET /blob/damaged-late HTTP/1.1\r\nHost: t\r\n\r\n"));
  RawClient::Response cut = client.ReadResponse();
  EXPECT_EQ(cut.status, 0);  // Content-Length never reached
  EXPECT_TRUE(client.ClosedByServer(absl::Seconds(5)));
  testing::CurlResult late = Curl(absl::StrCat("-o /dev/null ", Url("/blob/damaged-late")));
  EXPECT_EQ(late.exit_code, 18) << late.out;  // "transfer closed with bytes remaining"
  EXPECT_TRUE(log_.WaitForEntry([](const AccessLogEntry& e) {
    return e.target == "/blob/damaged-late" && absl::StrContains(e.error, "damaged block");
  }));
}

// ---- Limits and lifecycle ----

TEST_F(HttpServerTest, MaxConnectionsAnswers503Beyond) {
  HttpServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  RawClient first(server_->port());
  ASSERT_TRUE(first.Send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(first.ReadResponse().status, 200);
  RawClient second(server_->port());  // connected, silent
  ASSERT_TRUE(second.connected());
  absl::SleepFor(absl::Milliseconds(200));  // let the acceptor take it
  RawClient third(server_->port());
  ASSERT_TRUE(third.Send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
  RawClient::Response rejected = third.ReadResponse();
  EXPECT_EQ(rejected.status, 503);
  EXPECT_EQ(*rejected.Header("connection"), "close");
  EXPECT_TRUE(third.ClosedByServer(absl::Seconds(5)));
  // The first two still work; once one goes, a newcomer is served.
  ASSERT_TRUE(second.Send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(second.ReadResponse().status, 200);
  first.Close();
  EXPECT_TRUE(WaitFor(
      [&] {
        RawClient next(server_->port());
        if (!next.Send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")) return false;
        return next.ReadResponse().status == 200;
      },
      absl::Seconds(10)));
}

TEST_F(HttpServerTest, ShutdownWithStalledConnectionsReturnsAfterTheGrace) {
  HttpServerOptions options;
  options.io_timeout = absl::Seconds(60);
  options.keep_alive_timeout = absl::Seconds(60);
  StartServer(options);
  RawClient idle(server_->port());
  ASSERT_TRUE(idle.Send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(idle.ReadResponse().status, 200);
  RawClient partial_head(server_->port());
  ASSERT_TRUE(partial_head.Send("GET /echo HTTP/1.1\r\n"));
  RawClient stalled_body(server_->port());
  ASSERT_TRUE(
      stalled_body.Send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"));
  ASSERT_TRUE(stalled_body.Send(std::string(1000, 'x')));
  ASSERT_TRUE(WaitFor([&] { return handler_.uploads_started.load() == 1; }, absl::Seconds(10)));

  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(1));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(900));  // the busy upload got its grace
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_EQ(handler_.upload_errors.load(), 1);
  EXPECT_TRUE(idle.ClosedByServer(absl::Seconds(2)));
  EXPECT_TRUE(partial_head.ClosedByServer(absl::Seconds(2)));
  server_->Shutdown(absl::Seconds(1));  // idempotent
  // Nothing listens any more.
  RawClient after(server_->port());
  EXPECT_FALSE(after.connected());
}

TEST_F(HttpServerTest, ShutdownLetsARequestInFlightFinish) {
  StartServer();
  RawClient client(server_->port());
  const std::string body = testing::RandomBytes(2 << 20, 5);
  ASSERT_TRUE(client.Send(absl::StrCat(
      "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: ", body.size(), "\r\n\r\n")));
  ASSERT_TRUE(client.Send(body.substr(0, 1000)));
  ASSERT_TRUE(WaitFor([&] { return handler_.uploads_started.load() == 1; }, absl::Seconds(10)));
  std::thread finisher([&] {
    absl::SleepFor(absl::Milliseconds(300));
    client.Send(body.substr(1000));
  });
  server_->Shutdown(absl::Seconds(20));
  finisher.join();
  RawClient::Response r = client.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, absl::StrCat(body.size(), " ", Sha256Hex(body)));
  EXPECT_EQ(*r.Header("connection"), "close");  // stopping: no keep-alive
}

TEST_F(HttpServerTest, PortInUseIsUnavailable) {
  StartServer();
  HttpServerOptions options;
  options.address = "127.0.0.1";
  options.port = server_->port();
  auto second = HttpServer::Start(options, handler_.AsHandler());
  EXPECT_THAT(second, StatusCodeIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("address already in use"));
}

TEST_F(HttpServerTest, BadOptionsAreInvalidArgument) {
  HttpServerOptions options;
  options.port = 0;
  options.address = "not an address";
  EXPECT_THAT(HttpServer::Start(options, handler_.AsHandler()),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  options.address = "127.0.0.1";
  options.tls_certificate_file = TempPath("no-such-cert.pem");
  EXPECT_THAT(HttpServer::Start(options, handler_.AsHandler()),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));  // key missing
  options.tls_private_key_file = TempPath("no-such-key.pem");
  EXPECT_THAT(HttpServer::Start(options, handler_.AsHandler()),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
  options = HttpServerOptions();
  options.port = 0;
  EXPECT_THAT(HttpServer::Start(options, nullptr),
              StatusCodeIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(HttpServerTest, ManyConcurrentClients) {
  StartServer();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      RawClient client(server_->port());
      for (int i = 0; i < 20; ++i) {
        if (!client.Send("GET /blob/file?offset=1000&length=65536 HTTP/1.1\r\nHost: t\r\n\r\n"))
          return;
        RawClient::Response r = client.ReadResponse();
        if (r.status == 200 && r.body == blob_bytes_->substr(1000, 65536)) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8 * 20);
}

}  // namespace
}  // namespace fwota::http
