#include "proxy/router.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace sg::proxy {
namespace {

// Builds Routes the way SharedState does (lower-case host, "*.x" stored as ".x"), over
// RouteConfig objects the fixture owns (a deque keeps their addresses stable).
class RouterTest : public ::testing::Test {
 protected:
  const config::RouteConfig& addRoute(const std::string& name, const std::string& prefix,
                                      const std::string& host = "",
                                      std::vector<std::string> methods = {}) {
    config::RouteConfig& config = configs_.emplace_back();
    config.name = name;
    config.match.prefix = prefix;
    config.match.host = host;
    config.match.methods = std::move(methods);
    Route route;
    route.config = &config;
    std::string lowered;
    for (char c : host) lowered.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
    if (lowered.rfind("*.", 0) == 0) {
      route.host_wildcard = true;
      lowered.erase(0, 1);
    }
    route.host = lowered;
    router_.add(std::move(route));
    return config;
  }

  // Name of the matching route's config, or "<none>".
  std::string match(std::string_view host, std::string_view path, std::string_view method = "GET") {
    const Route* route = router_.match(host, path, method);
    return route == nullptr ? "<none>" : route->config->name;
  }

  std::deque<config::RouteConfig> configs_;
  Router router_;
};

TEST_F(RouterTest, EmptyRouterMatchesNothing) {
  EXPECT_EQ(match("example.com", "/"), "<none>");
}

TEST_F(RouterTest, FirstMatchInFileOrderWins) {
  addRoute("broad", "/api");
  addRoute("narrow", "/api/users");  // never reached: "broad" comes first
  addRoute("root", "/");
  EXPECT_EQ(match("h", "/api/users/7"), "broad");
  EXPECT_EQ(match("h", "/api"), "broad");
  EXPECT_EQ(match("h", "/other"), "root");
}

TEST_F(RouterTest, NarrowRouteFirstIsPreferred) {
  addRoute("narrow", "/api/users");
  addRoute("broad", "/api");
  EXPECT_EQ(match("h", "/api/users/7"), "narrow");
  EXPECT_EQ(match("h", "/api/orders"), "broad");
}

TEST_F(RouterTest, ReturnsPointerIntoRouteList) {
  addRoute("a", "/a");
  addRoute("b", "/b");
  const Route* route = router_.match("h", "/b/x", "GET");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route, &router_.routes()[1]);
}

TEST_F(RouterTest, PrefixIsPlainStringPrefix) {
  addRoute("api", "/api");
  EXPECT_EQ(match("h", "/api"), "api");
  EXPECT_EQ(match("h", "/api/"), "api");
  EXPECT_EQ(match("h", "/apiary"), "api");  // plain prefix, as nginx matches it
  EXPECT_EQ(match("h", "/ap"), "<none>");
  EXPECT_EQ(match("h", "/API"), "<none>");  // paths are case-sensitive
  EXPECT_EQ(match("h", "/v1/api"), "<none>");
  EXPECT_EQ(match("h", ""), "<none>");
}

TEST_F(RouterTest, NoMatchReturnsNull) {
  addRoute("a", "/a", "a.example.com", {"GET"});
  EXPECT_EQ(router_.match("b.example.com", "/a", "GET"), nullptr);
  EXPECT_EQ(router_.match("a.example.com", "/b", "GET"), nullptr);
  EXPECT_EQ(router_.match("a.example.com", "/a", "POST"), nullptr);
  EXPECT_NE(router_.match("a.example.com", "/a", "GET"), nullptr);
}

TEST_F(RouterTest, ExactHostIsCaseInsensitive) {
  addRoute("users", "/", "Example.COM");
  EXPECT_EQ(match("example.com", "/"), "users");
  EXPECT_EQ(match("EXAMPLE.COM", "/"), "users");
  EXPECT_EQ(match("eXample.Com", "/"), "users");
  EXPECT_EQ(match("example.org", "/"), "<none>");
  EXPECT_EQ(match("www.example.com", "/"), "<none>");
  EXPECT_EQ(match("example.com.evil", "/"), "<none>");
  EXPECT_EQ(match("", "/"), "<none>");
}

TEST_F(RouterTest, PortInHostHeaderIsIgnored) {
  addRoute("users", "/", "example.com");
  EXPECT_EQ(match("example.com:8080", "/"), "users");
  EXPECT_EQ(match("Example.com:80", "/"), "users");
  EXPECT_EQ(match("example.com:", "/"), "users");
  EXPECT_EQ(match("example.org:8080", "/"), "<none>");
}

TEST_F(RouterTest, Ipv6HostWithPort) {
  addRoute("v6", "/", "[::1]");
  addRoute("v4", "/", "127.0.0.1");
  EXPECT_EQ(match("[::1]:80", "/"), "v6");
  EXPECT_EQ(match("[::1]", "/"), "v6");
  EXPECT_EQ(match("[::2]:80", "/"), "<none>");
  EXPECT_EQ(match("127.0.0.1:8080", "/"), "v4");
}

TEST_F(RouterTest, HostWithoutPort) {
  EXPECT_EQ(hostWithoutPort("Example.com:8080"), "Example.com");
  EXPECT_EQ(hostWithoutPort("example.com"), "example.com");
  EXPECT_EQ(hostWithoutPort("[::1]:80"), "[::1]");
  EXPECT_EQ(hostWithoutPort("[::1]"), "[::1]");
  EXPECT_EQ(hostWithoutPort("[2001:db8::7]:443"), "[2001:db8::7]");
  EXPECT_EQ(hostWithoutPort("[::1"), "[::1");  // unterminated: left as is
  EXPECT_EQ(hostWithoutPort("1.2.3.4:5"), "1.2.3.4");
  EXPECT_EQ(hostWithoutPort(""), "");
}

TEST_F(RouterTest, EqualsIgnoreCase) {
  EXPECT_TRUE(equalsIgnoreCase("Host", "hOST"));
  EXPECT_TRUE(equalsIgnoreCase("", ""));
  EXPECT_FALSE(equalsIgnoreCase("Host", "Hosts"));
  EXPECT_FALSE(equalsIgnoreCase("a", "b"));
  EXPECT_FALSE(equalsIgnoreCase("[", "{"));  // only ASCII letters fold
  EXPECT_FALSE(equalsIgnoreCase("@", "`"));
}

TEST_F(RouterTest, WildcardMatchesSubdomainsOnly) {
  addRoute("wild", "/", "*.example.com");
  EXPECT_EQ(match("a.example.com", "/"), "wild");
  EXPECT_EQ(match("A.Example.COM", "/"), "wild");
  EXPECT_EQ(match("a.b.example.com", "/"), "wild");
  EXPECT_EQ(match("a.example.com:8443", "/"), "wild");
  EXPECT_EQ(match("example.com", "/"), "<none>");
  EXPECT_EQ(match(".example.com", "/"), "<none>");
  EXPECT_EQ(match("badexample.com", "/"), "<none>");
  EXPECT_EQ(match("a.example.com.evil", "/"), "<none>");
  EXPECT_EQ(match("example.com:80", "/"), "<none>");
}

TEST_F(RouterTest, WildcardAndExactHostsInOrder) {
  addRoute("exact", "/", "api.example.com");
  addRoute("wild", "/", "*.example.com");
  addRoute("any", "/");
  EXPECT_EQ(match("api.example.com", "/"), "exact");
  EXPECT_EQ(match("www.example.com", "/"), "wild");
  EXPECT_EQ(match("example.com", "/"), "any");
  EXPECT_EQ(match("", "/"), "any");  // HTTP/1.0 without Host
}

TEST_F(RouterTest, MethodsList) {
  addRoute("writes", "/items", "", {"POST", "PUT"});
  addRoute("reads", "/items", "", {"GET", "HEAD"});
  EXPECT_EQ(match("h", "/items", "POST"), "writes");
  EXPECT_EQ(match("h", "/items", "PUT"), "writes");
  EXPECT_EQ(match("h", "/items", "GET"), "reads");
  EXPECT_EQ(match("h", "/items", "HEAD"), "reads");
  EXPECT_EQ(match("h", "/items", "DELETE"), "<none>");
  EXPECT_EQ(match("h", "/items", "post"), "<none>");  // methods are case-sensitive
  EXPECT_EQ(match("h", "/items", "POS"), "<none>");
}

TEST_F(RouterTest, EmptyMethodsMatchAnyMethod) {
  addRoute("any", "/");
  EXPECT_EQ(match("h", "/", "GET"), "any");
  EXPECT_EQ(match("h", "/", "PATCH"), "any");
  EXPECT_EQ(match("h", "/", "OPTIONS"), "any");
}

TEST_F(RouterTest, AllCriteriaMustMatch) {
  addRoute("specific", "/api", "a.example.com", {"GET"});
  addRoute("fallback", "/");
  EXPECT_EQ(match("a.example.com", "/api/x", "GET"), "specific");
  EXPECT_EQ(match("a.example.com", "/api/x", "POST"), "fallback");
  EXPECT_EQ(match("b.example.com", "/api/x", "GET"), "fallback");
  EXPECT_EQ(match("a.example.com", "/x", "GET"), "fallback");
}

TEST_F(RouterTest, ConnectMatchesOnlyRoutesListingIt) {
  addRoute("any", "/");
  EXPECT_EQ(match("h", "/", "CONNECT"), "<none>");
  addRoute("tunnel", "/", "", {"CONNECT"});
  EXPECT_EQ(match("h", "/", "CONNECT"), "tunnel");
  EXPECT_EQ(match("h", "/", "GET"), "any");
}

TEST_F(RouterTest, AllowedMethodsForOptionsAsterisk) {
  addRoute("api", "/api", "api.example.com", {"GET", "PURGE"});
  addRoute("writes", "/api", "api.example.com", {"POST", "GET"});
  addRoute("www", "/", "www.example.com");
  EXPECT_EQ(router_.allowedMethods("API.example.com:80"), "GET, POST, PURGE");
  EXPECT_EQ(router_.allowedMethods("www.example.com"),
            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  EXPECT_EQ(router_.allowedMethods("other.example.com"), "");
}

// The path the router sees is the listener's normal form of the request's path.
class NormalizeRequestPathTest : public ::testing::Test {
 protected:
  std::string normalized(std::string_view path) {
    http::RequestHead request;
    request.path = path;
    status_ = normalizeRequestPath(config_, &request, &storage_);
    return std::string(request.path);
  }

  config::PathNormalizationConfig config_;
  std::string storage_;
  http::PathStatus status_ = http::PathStatus::kUnchanged;
};

TEST_F(NormalizeRequestPathTest, BypassSpellingsOfAPathBecomeThePath) {
  for (const char* path : {"/x/../login", "/%6cogin", "//login", "/./login", "/%2e%2e/login",
                           "/a/b/%2E%2E/../login"}) {
    EXPECT_EQ(normalized(path), "/login") << path;
    EXPECT_EQ(status_, http::PathStatus::kNormalized);
  }
}

TEST_F(NormalizeRequestPathTest, NormalPathStaysAViewIntoTheRequest) {
  const std::string buffer = "/login/a%C3%A9";
  http::RequestHead request;
  request.path = buffer;
  EXPECT_EQ(normalizeRequestPath(config_, &request, &storage_), http::PathStatus::kUnchanged);
  EXPECT_EQ(request.path.data(), buffer.data());
  EXPECT_TRUE(storage_.empty());
}

TEST_F(NormalizeRequestPathTest, FollowsTheListenerOptions) {
  EXPECT_EQ(normalized("/a%2Fb"), "/a%2Fb");
  EXPECT_EQ(status_, http::PathStatus::kEscapedSlash);
  config_.escaped_slashes = config::PathNormalizationConfig::EscapedSlashes::kKeep;
  EXPECT_EQ(normalized("/a%2fb"), "/a%2Fb");
  config_.escaped_slashes = config::PathNormalizationConfig::EscapedSlashes::kDecode;
  EXPECT_EQ(normalized("/a%2fb"), "/a/b");
  config_.merge_slashes = false;
  EXPECT_EQ(normalized("//login"), "//login");
  config_.enabled = false;
  EXPECT_EQ(normalized("/x/../login"), "/x/../login");
  EXPECT_EQ(status_, http::PathStatus::kUnchanged);
  EXPECT_EQ(normalized("/%zz"), "/%zz");  // off means off: not even checked
}

TEST_F(NormalizeRequestPathTest, AsteriskIsLeftAlone) {
  EXPECT_EQ(normalized("*"), "*");
  EXPECT_EQ(status_, http::PathStatus::kUnchanged);
}

}  // namespace
}  // namespace sg::proxy
