#include "admin/cache_admin.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>

#include "admin/admin_reply.h"
#include "config/config.h"

namespace sg::admin {
namespace {

namespace json = boost::json;

constexpr const char* kCachedConfig = R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - match: { prefix: /api }
        upstream: app
        cache: { default_ttl: 10s }
upstreams:
  app:
    servers: [{ address: 127.0.0.1:3001 }]
cache: { memory: 1MiB }
)";

constexpr const char* kUncachedConfig = R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - upstream: app
upstreams:
  app:
    servers: [{ address: 127.0.0.1:3001 }]
)";

std::unique_ptr<proxy::SharedState> sharedFrom(const char* text) {
  auto loaded = config::loadConfigString(text, "cache_admin_test.yaml");
  EXPECT_TRUE(loaded.errors.empty());
  return std::make_unique<proxy::SharedState>(loaded.config, 1);
}

void store(proxy::SharedState& shared, const std::string& key) {
  auto entry = std::make_shared<cache::CachedResponse>();
  entry->key = key;
  entry->body = std::make_shared<const std::string>("body");
  entry->charge = cache::estimateCharge(*entry);
  ASSERT_TRUE(shared.cache()->cache.insert(entry));
}

ServiceResponse call(proxy::SharedState& shared, std::string_view method, std::string_view query) {
  http::RequestHead request;
  request.method = method;
  request.path = "/admin/cache";
  request.query = query;
  auto reply = handleCacheAdmin(shared, request);
  EXPECT_TRUE(reply.has_value());
  return reply.value_or(ServiceResponse{});
}

int64_t field(const ServiceResponse& reply, std::string_view name) {
  return json::parse(reply.body).as_object().at(name).to_number<int64_t>();
}

TEST(QueryParam, FindsAndDecodesValues) {
  EXPECT_EQ(queryParam("key=a%2Fb%3Fc%3D1&x=2", "key"), "a/b?c=1");
  EXPECT_EQ(queryParam("x=2&key=a+b", "key"), "a+b");  // '+' is kept: keys may contain it
  EXPECT_EQ(queryParam("keys=1&key", "key"), "");
  EXPECT_EQ(queryParam("prefix=p", "key"), std::nullopt);
  EXPECT_EQ(queryParam("", "key"), std::nullopt);
  EXPECT_EQ(percentDecode("%zz%4"), "%zz%4");  // malformed escapes stay as they are
}

TEST(CacheAdmin, PurgesByExactKey) {
  auto shared = sharedFrom(kCachedConfig);
  store(*shared, "example.com/a?x=1");
  store(*shared, "example.com/a?x=10");
  auto reply = call(*shared, "DELETE", "key=example.com%2Fa%3Fx%3D1");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(field(reply, "purged"), 1);
  EXPECT_EQ(shared->cache()->cache.stats().entries, 1u);
  EXPECT_EQ(field(call(*shared, "DELETE", "key=example.com%2Fa%3Fx%3D1"), "purged"), 0);
}

TEST(CacheAdmin, PurgesByPrefix) {
  auto shared = sharedFrom(kCachedConfig);
  store(*shared, "example.com/img/1");
  store(*shared, "example.com/img/2");
  store(*shared, "example.com/api/1");
  auto reply = call(*shared, "DELETE", "prefix=example.com/img/");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(field(reply, "purged"), 2);
  EXPECT_EQ(field(call(*shared, "GET", ""), "entries"), 1);
}

// Keys hold the host lower-case without its port; a purge may spell it as clients do.
TEST(CacheAdmin, PurgesNormaliseTheHost) {
  auto shared = sharedFrom(kCachedConfig);
  store(*shared, "t/api/1");
  store(*shared, "t/api/2");
  store(*shared, "tx/api/1");
  EXPECT_EQ(field(call(*shared, "DELETE", "key=T%3A0001%2Fapi%2F1"), "purged"), 1);
  EXPECT_EQ(field(call(*shared, "DELETE", "prefix=T:1"), "purged"), 1);  // not tx/...
  EXPECT_EQ(field(call(*shared, "GET", ""), "entries"), 1);
}

TEST(CacheAdmin, RefusesAmbiguousOrEmptyPurges) {
  auto shared = sharedFrom(kCachedConfig);
  store(*shared, "example.com/a");
  EXPECT_EQ(call(*shared, "DELETE", "").status, 400);
  EXPECT_EQ(call(*shared, "DELETE", "key=a&prefix=b").status, 400);
  EXPECT_EQ(call(*shared, "DELETE", "prefix=").status, 400);  // would purge everything
  EXPECT_EQ(call(*shared, "POST", "key=a").status, 405);
  EXPECT_EQ(shared->cache()->cache.stats().entries, 1u);
}

TEST(CacheAdmin, ReportsStats) {
  auto shared = sharedFrom(kCachedConfig);
  store(*shared, "example.com/a");
  auto reply = call(*shared, "GET", "");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(field(reply, "entries"), 1);
  EXPECT_GT(field(reply, "bytes"), 0);
  EXPECT_EQ(field(reply, "capacity"), 1024 * 1024);
}

TEST(CacheAdmin, SaysWhenNoRouteCaches) {
  auto shared = sharedFrom(kUncachedConfig);
  EXPECT_EQ(shared->cache(), nullptr);
  EXPECT_EQ(call(*shared, "GET", "").status, 404);
  http::RequestHead other;
  other.method = "GET";
  other.path = "/metrics";
  EXPECT_FALSE(handleCacheAdmin(*shared, other).has_value());
}

ServiceResponse callWarm(proxy::SharedState& shared, std::string_view method) {
  http::RequestHead request;
  request.method = method;
  request.path = "/admin/cache/warm";
  return handleCacheAdmin(shared, request).value_or(ServiceResponse{});
}

TEST(CacheAdmin, WarmNeedsAWarmRouteAndPost) {
  auto shared = sharedFrom(kCachedConfig);
  ServiceResponse reply = callWarm(*shared, "POST");
  EXPECT_EQ(reply.status, 404);
  EXPECT_NE(reply.body.find("no route has cache warm"), std::string::npos);
  reply = callWarm(*shared, "GET");
  EXPECT_EQ(reply.status, 405);
  ASSERT_EQ(reply.headers.size(), 1u);
  EXPECT_EQ(reply.headers[0].second, "POST");
}

// Without workers (no Gateway) nothing can run the requests: the warm is refused, not queued.
TEST(CacheAdmin, WarmWithoutWorkersIsRefused) {
  auto shared = sharedFrom(R"(listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - match: { prefix: /api }
        upstream: app
        cache: { default_ttl: 10s, warm: { urls: [/api/a] } }
upstreams:
  app:
    servers: [{ address: 127.0.0.1:3001 }]
cache: { memory: 1MiB }
)");
  EXPECT_EQ(shared->cacheWarmer().warmRoutes(), 1u);
  EXPECT_EQ(callWarm(*shared, "POST").status, 503);
  EXPECT_FALSE(shared->cacheWarmer().running());
}

}  // namespace
}  // namespace sg::admin
