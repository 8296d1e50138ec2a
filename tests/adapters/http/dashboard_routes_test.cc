// The dashboard's static files through the HTTP mapping: served without an API key, with
// their content types, caching and security headers; other methods and paths refused.
#include <string>

#include "absl/strings/match.h"
#include "adapters/http/dashboard.h"
#include "tests/adapters/http/ota_http_api_test_util.h"

namespace fwota::http::testing {
namespace {

class DashboardRoutesTest : public OtaHttpApiTest {
 protected:
  // A request with no API key, as a browser loading the page sends it.
  HttpResponse Get(const std::string& target, Headers headers = {}) {
    const std::string no_key;
    return Call("GET", target, "", std::move(headers), &no_key);
  }
};

TEST_F(DashboardRoutesTest, ServesThePageWithoutAnApiKey) {
  for (const std::string path : {"/dashboard", "/dashboard/"}) {
    HttpResponse r = Get(path);
    ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(HeaderOf(r, "Content-Type"), "text/html; charset=utf-8");
    EXPECT_TRUE(absl::StartsWith(r.body, "<!doctype html>")) << r.body.substr(0, 80);
    EXPECT_TRUE(absl::StrContains(r.body, R"(<script src="/dashboard/app.js" defer></script>)"));
    EXPECT_TRUE(absl::StrContains(r.body, R"(href="/dashboard/app.css")"));
    // The count cards are announced when they change.
    EXPECT_TRUE(absl::StrContains(r.body, R"(id="counts" class="cards" aria-live="polite")"));
  }
}

TEST_F(DashboardRoutesTest, ServesScriptAndStyle) {
  HttpResponse js = Get("/dashboard/app.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(HeaderOf(js, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_TRUE(absl::StrContains(js.body, "X-Authorization"));
  EXPECT_TRUE(absl::StrContains(js.body, "sessionStorage"));

  HttpResponse css = Get("/dashboard/app.css");
  ASSERT_EQ(css.status, 200);
  EXPECT_EQ(HeaderOf(css, "Content-Type"), "text/css; charset=utf-8");
  EXPECT_TRUE(absl::StrContains(css.body, ".cards"));
}

TEST_F(DashboardRoutesTest, SendsCachingAndSecurityHeaders) {
  for (const std::string path : {"/dashboard", "/dashboard/app.js", "/dashboard/app.css"}) {
    HttpResponse r = Get(path);
    ASSERT_EQ(r.status, 200) << path;
    EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-cache") << path;
    const std::string csp = HeaderOf(r, "Content-Security-Policy");
    EXPECT_TRUE(absl::StartsWith(csp, "default-src 'self';")) << csp;
    EXPECT_TRUE(absl::StrContains(csp, "frame-ancestors 'none'")) << csp;
    EXPECT_FALSE(absl::StrContains(csp, "unsafe-inline")) << csp;
    EXPECT_EQ(HeaderOf(r, "X-Content-Type-Options"), "nosniff") << path;
    EXPECT_EQ(HeaderOf(r, "Referrer-Policy"), "no-referrer") << path;
  }
}

TEST_F(DashboardRoutesTest, EveryFileHasItsOwnETagAndRevalidatesTo304) {
  HttpResponse page = Get("/dashboard");
  HttpResponse js = Get("/dashboard/app.js");
  const std::string etag = HeaderOf(page, "ETag");
  ASSERT_NE(etag, "<none>");
  EXPECT_EQ(etag.front(), '"');
  EXPECT_NE(etag, HeaderOf(js, "ETag"));
  EXPECT_EQ(HeaderOf(Get("/dashboard/"), "ETag"), etag);  // the same file

  HttpResponse same = Get("/dashboard", {{"If-None-Match", etag}});
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());
  EXPECT_EQ(HeaderOf(same, "ETag"), etag);
  EXPECT_EQ(Get("/dashboard", {{"If-None-Match", "\"other\", W/" + etag}}).status, 304);
  EXPECT_EQ(Get("/dashboard", {{"If-None-Match", "\"other\""}}).status, 200);
}

TEST_F(DashboardRoutesTest, OtherMethodsAre405) {
  const std::string no_key;
  for (const std::string method : {"POST", "PUT", "DELETE", "HEAD"}) {
    HttpResponse r = Call(method, "/dashboard", "", {}, &no_key);
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(HeaderOf(r, "Allow"), "GET") << method;
  }
}

TEST_F(DashboardRoutesTest, OtherPathsAreStill404) {
  for (const std::string path :
       {"/", "/dashboard/index.html", "/dashboard/app.js/x", "/dashboardx", "/Dashboard",
        "/dashboard/../api/otaPackages"}) {
    HttpResponse r = Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_TRUE(absl::StrContains(r.body, "No endpoint GET")) << r.body;
  }
}

TEST_F(DashboardRoutesTest, TheApiStillNeedsItsKey) {
  EXPECT_EQ(Get("/api/ota/stats?type=FIRMWARE").status, 401);
  EXPECT_EQ(Call("GET", "/api/ota/stats?type=FIRMWARE").status, 200);
}

// The page is served by ServeDashboard alone too (the mapping only forwards to it).
TEST(ServeDashboardTest, AnswersOnlyItsOwnPaths) {
  HttpRequest request;
  request.method = "GET";
  request.path = "/dashboard/app.css";
  ASSERT_TRUE(ServeDashboard(request).has_value());
  request.path = "/api/otaPackages";
  EXPECT_FALSE(ServeDashboard(request).has_value());
}

}  // namespace
}  // namespace fwota::http::testing
