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

}  // namespace
}  // namespace sg::proxy
