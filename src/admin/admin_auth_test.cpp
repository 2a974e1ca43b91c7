// The admin API's bearer-token check: parsing Authorization, which requests need the token,
// and the handler's 401/403 refusals with their metric.
#include "admin/admin_auth.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "admin/admin_api.h"
#include "config/config.h"
#include "http/parser.h"
#include "proxy/shared_state.h"

namespace sg::admin {
namespace {

constexpr const char* kToken = "s3cr3t-t0ken-0123456789";

struct Parsed {
  std::string raw;
  http::RequestHead head;
};

// A parsed request with the given extra header lines ("Name: value").
std::unique_ptr<Parsed> request(const std::string& method, const std::string& target,
                                const std::vector<std::string>& headers = {}) {
  auto parsed = std::make_unique<Parsed>();
  parsed->raw = method + " " + target + " HTTP/1.1\r\nHost: admin\r\n";
  for (const std::string& header : headers) parsed->raw += header + "\r\n";
  parsed->raw += "\r\n";
  http::ParseError error = http::ParseError::kNone;
  EXPECT_EQ(http::parseRequestHead(parsed->raw, {}, &parsed->head, &error),
            http::ParseStatus::kComplete)
      << parsed->raw;
  return parsed;
}

std::optional<std::string> credentialOf(const std::vector<std::string>& headers) {
  auto parsed = request("GET", "/metrics", headers);
  auto credential = bearerCredential(parsed->head);
  if (!credential) return std::nullopt;
  return std::string(*credential);
}

TEST(BearerCredential, SchemeIsCaseInsensitive) {
  for (const char* scheme : {"Bearer", "bearer", "BEARER", "bEaReR"}) {
    SCOPED_TRACE(scheme);
    EXPECT_EQ(credentialOf({std::string("Authorization: ") + scheme + " abc"}), "abc");
  }
}

TEST(BearerCredential, HeaderNameIsCaseInsensitive) {
  EXPECT_EQ(credentialOf({"authorization: Bearer abc"}), "abc");
  EXPECT_EQ(credentialOf({"AUTHORIZATION: Bearer abc"}), "abc");
}

TEST(BearerCredential, SpacesAroundTheToken) {
  EXPECT_EQ(credentialOf({"Authorization: Bearer    abc"}), "abc");
  EXPECT_EQ(credentialOf({"Authorization:    Bearer abc   "}), "abc");
}

TEST(BearerCredential, NoUsableCredential) {
  const std::vector<std::string> refused = {
      "Authorization: Bearer",              // empty token
      "Authorization: Bearer   ",           // only spaces (trimmed away)
      "Authorization:",                     // empty header
      "Authorization: Basic YWJjOmRlZg==",  // another scheme
      "Authorization: Token abc",
      "Authorization: Bearerabc",    // no separator: not the Bearer scheme
      "Authorization: Bearer\tabc",  // the separator is a space (RFC 9110 1*SP)
      "Authorization: abc",
      "X-Authorization: Bearer abc",  // another header
  };
  for (const std::string& header : refused) {
    SCOPED_TRACE(header);
    EXPECT_EQ(credentialOf({header}), std::nullopt);
  }
  EXPECT_EQ(credentialOf({}), std::nullopt);
}

TEST(BearerCredential, TwoAuthorizationHeadersAreRefused) {
  EXPECT_EQ(credentialOf({"Authorization: Bearer abc", "Authorization: Bearer abc"}), std::nullopt);
}

TEST(NeedsToken, MutatingMethodsAlways) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"}) {
    SCOPED_TRACE(method);
    EXPECT_TRUE(needsToken(method, "/admin/cache", false));
    EXPECT_TRUE(needsToken(method, "/admin/cache", true));
    EXPECT_TRUE(needsToken(method, "/dashboard", true));
  }
}

TEST(NeedsToken, ReadsUnlessPublicRead) {
  for (const char* method : {"GET", "HEAD"}) {
    EXPECT_TRUE(needsToken(method, "/metrics", false));
    EXPECT_FALSE(needsToken(method, "/metrics", true));
    EXPECT_TRUE(needsToken(method, "/admin/upstreams", false));
  }
}

TEST(NeedsToken, DashboardPageIsExempt) {
  for (const char* path : {"/dashboard", "/dashboard/", "/dashboard/app.js", "/dashboard/a/b.css"})
    EXPECT_FALSE(needsToken("GET", path, false)) << path;
  for (const char* path : {"/dashboardx", "/dashboard/../metrics", "/dashboard/%2e%2e/metrics",
                           "/dashboard//admin", "/admin/dashboard"})
    EXPECT_TRUE(needsToken("GET", path, false)) << path;
}

constexpr const char* kConfigHead = R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - upstream: users
upstreams:
  users:
    servers:
      - address: 127.0.0.1:3001
admin:
  address: 127.0.0.1:0
)";

class AdminAuthHandler : public ::testing::Test {
 protected:
  // A handler over a gateway whose admin section has `admin_lines` added.
  ServiceHandler handlerWith(const std::string& admin_lines) {
    auto result = config::loadConfigString(kConfigHead + admin_lines, "admin_auth_test.yaml");
    EXPECT_TRUE(result.errors.empty());
    if (result.config == nullptr) return {};
    shared_ = std::make_unique<proxy::SharedState>(result.config, 1);
    return makeAdminHandler({shared_.get()});
  }

  static ServiceResponse call(const ServiceHandler& handler, const std::string& method,
                              const std::string& target,
                              const std::vector<std::string>& headers = {}) {
    auto parsed = request(method, target, headers);
    return handler(parsed->head, {});
  }

  std::string metricsText() { return shared_->registry().renderPrometheus(); }

  std::unique_ptr<proxy::SharedState> shared_;
};

const std::string kRight = std::string("Authorization: Bearer ") + kToken;

TEST_F(AdminAuthHandler, MissingTokenIs401WithChallenge) {
  ServiceHandler handler = handlerWith(std::string("  token: ") + kToken + "\n");
  ServiceResponse response = call(handler, "GET", "/metrics");
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_NE(response.body.find("\"error\":"), std::string::npos) << response.body;
  ASSERT_EQ(response.headers.size(), 1u);
  EXPECT_EQ(response.headers[0].first, "WWW-Authenticate");
  EXPECT_EQ(response.headers[0].second, "Bearer realm=\"scalegate\"");
  EXPECT_EQ(call(handler, "POST", "/admin/cache/warm", {"Authorization: Basic eDp5"}).status, 401);
}

TEST_F(AdminAuthHandler, WrongTokenIs403) {
  ServiceHandler handler = handlerWith(std::string("  token: ") + kToken + "\n");
  const std::string right(kToken);
  for (const std::string& wrong : {std::string("nope"), right.substr(0, right.size() - 1),
                                   right + "x", "S" + right.substr(1)}) {
    SCOPED_TRACE(wrong);
    ServiceResponse response = call(handler, "GET", "/health", {"Authorization: Bearer " + wrong});
    EXPECT_EQ(response.status, 403);
    EXPECT_TRUE(response.headers.empty());
    EXPECT_NE(response.body.find("\"error\":"), std::string::npos);
    EXPECT_EQ(response.body.find(kToken), std::string::npos);
  }
}

TEST_F(AdminAuthHandler, RightTokenReachesTheEndpoint) {
  ServiceHandler handler = handlerWith(std::string("  token: ") + kToken + "\n");
  EXPECT_EQ(call(handler, "GET", "/metrics", {kRight}).status, 200);
  EXPECT_EQ(
      call(handler, "GET", "/health", {"authorization: bearer " + std::string(kToken)}).status,
      200);
  // Past the check, dispatch answers as it always did.
  EXPECT_EQ(call(handler, "POST", "/metrics", {kRight}).status, 405);
  EXPECT_EQ(call(handler, "GET", "/nope", {kRight}).status, 404);
}

TEST_F(AdminAuthHandler, RefusalsAreCountedByReason) {
  ServiceHandler handler = handlerWith(std::string("  token: ") + kToken + "\n");
  call(handler, "GET", "/metrics");
  call(handler, "DELETE", "/admin/cache");
  call(handler, "GET", "/metrics", {"Authorization: Bearer wrong-token"});
  call(handler, "GET", "/metrics", {kRight});
  const std::string text = metricsText();
  EXPECT_NE(text.find("scalegate_admin_auth_failures_total{reason=\"missing\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("scalegate_admin_auth_failures_total{reason=\"wrong\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(kToken), std::string::npos);
}

TEST_F(AdminAuthHandler, PublicReadOpensReadsOnly) {
  ServiceHandler handler =
      handlerWith(std::string("  token: ") + kToken + "\n  public_read: true\n");
  EXPECT_EQ(call(handler, "GET", "/metrics").status, 200);
  EXPECT_EQ(call(handler, "HEAD", "/health").status, 200);
  EXPECT_EQ(call(handler, "POST", "/admin/upstreams/users/servers/127.0.0.1:3001/drain").status,
            401);
  EXPECT_EQ(call(handler, "PUT", "/admin/upstreams/users/servers/127.0.0.1:3001/weight",
                 {"Authorization: Bearer wrong-token"})
                .status,
            403);
}

TEST_F(AdminAuthHandler, DashboardShellNeedsNoToken) {
  ServiceHandler handler = handlerWith(std::string("  token: ") + kToken + "\n");
  // Not a refusal: whatever serves the page (or 404 where none does) answers.
  EXPECT_NE(call(handler, "GET", "/dashboard").status, 401);
  EXPECT_NE(call(handler, "GET", "/dashboard/app.js").status, 401);
  EXPECT_EQ(call(handler, "POST", "/dashboard").status, 401);
}

TEST_F(AdminAuthHandler, NoTokenConfiguredLetsEverythingThrough) {
  ServiceHandler handler = handlerWith("");
  EXPECT_EQ(call(handler, "GET", "/metrics").status, 200);
  EXPECT_EQ(call(handler, "POST", "/admin/upstreams/users/servers/127.0.0.1:3001/drain").status,
            200);
  const std::string text = metricsText();
  EXPECT_NE(text.find("scalegate_admin_auth_failures_total{reason=\"missing\"} 0\n"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace sg::admin
