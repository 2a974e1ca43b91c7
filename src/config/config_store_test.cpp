// The top-level `store` and the rate limit keys that use it (scope, lease, fallback_instances).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using testutil::describe;
using testutil::load;
using testutil::loadValid;
using testutil::routeWith;

std::string withStore(const std::string& store, const std::string& route_text = "name: api") {
  return routeWith(route_text) + "store: " + store + "\n";
}

TEST(StoreConfig, AbsentMeansInProcess) {
  const auto config = loadValid(testutil::kMinimal);
  EXPECT_EQ(config->store.type, StoreConfig::Type::kNone);
}

TEST(StoreConfig, RedisWithEveryKey) {
  const auto config = loadValid(withStore(
      "{type: redis, address: 127.0.0.1:6380, username: gw, password: s3cret, database: 3, "
      "timeout: 40ms, connections: 2}"));
  const StoreConfig& store = config->store;
  EXPECT_EQ(store.type, StoreConfig::Type::kRedis);
  EXPECT_EQ(store.address.toString(), "127.0.0.1:6380");
  EXPECT_EQ(store.username, "gw");
  EXPECT_EQ(store.password, "s3cret");
  EXPECT_EQ(store.database, 3u);
  EXPECT_EQ(store.timeout, std::chrono::milliseconds(40));
  EXPECT_EQ(store.connections, 2u);
}

TEST(StoreConfig, RedisDefaults) {
  const auto config = loadValid(withStore("{type: redis, address: 127.0.0.1:6379}"));
  EXPECT_EQ(config->store.timeout, std::chrono::milliseconds(25));
  EXPECT_EQ(config->store.connections, 1u);
  EXPECT_EQ(config->store.database, 0u);
  EXPECT_TRUE(config->store.password.empty());
}

TEST(StoreConfig, ClusterSeeds) {
  const auto config =
      loadValid(withStore("{type: redis_cluster, seeds: [127.0.0.1:7000, \"[::1]:7001\"]}"));
  ASSERT_EQ(config->store.seeds.size(), 2u);
  EXPECT_EQ(config->store.seeds[1].toString(), "[::1]:7001");
}

TEST(StoreConfig, RejectsBadStores) {
  const char* bad[] = {
      "{type: memcached, address: 127.0.0.1:1}",
      "{address: 127.0.0.1:6379}",
      "{type: redis}",
      "{type: redis, address: nowhere}",
      "{type: redis, address: 127.0.0.1:6379, seeds: [127.0.0.1:7000]}",
      "{type: redis_cluster, address: 127.0.0.1:6379}",
      "{type: redis_cluster, seeds: []}",
      "{type: redis_cluster, seeds: [127.0.0.1:7000], database: 1}",
      "{type: redis, address: 127.0.0.1:6379, database: 16}",
      "{type: redis, address: 127.0.0.1:6379, timeout: 0ms}",
      "{type: redis, address: 127.0.0.1:6379, timeout: 2m}",
      "{type: redis, address: 127.0.0.1:6379, connections: 0}",
      "{type: redis, address: 127.0.0.1:6379, username: gw}",
      "{type: redis, address: 127.0.0.1:6379, pool: 3}",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(load(withStore(text)).errors.empty());
  }
}

TEST(StoreConfig, ClusterScopeRateLimit) {
  const auto config = loadValid(
      withStore("{type: redis, address: 127.0.0.1:6379}",
                "rate_limit: {rate: 100/s, scope: cluster, lease: 50, fallback_instances: 3}"));
  const RateLimitConfig& limit = *config->listeners[0].routes[0].rate_limit;
  EXPECT_EQ(limit.scope, RateLimitConfig::Scope::kCluster);
  EXPECT_EQ(limit.lease, 50u);
  EXPECT_EQ(limit.fallback_instances, 3u);
}

TEST(StoreConfig, LocalScopeIsTheDefault) {
  const auto config = loadValid(routeWith("rate_limit: {rate: 100/s}"));
  const RateLimitConfig& limit = *config->listeners[0].routes[0].rate_limit;
  EXPECT_EQ(limit.scope, RateLimitConfig::Scope::kLocal);
  EXPECT_EQ(limit.lease, 1u);
  EXPECT_EQ(limit.fallback_instances, 1u);
}

TEST(StoreConfig, ClusterScopeNeedsAStore) {
  const auto result = load(routeWith("rate_limit: {rate: 100/s, scope: cluster}"));
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  EXPECT_NE(
      result.errors[0].message.find("listeners[0].routes[0].rate_limit: scope: cluster needs"),
      std::string::npos)
      << result.errors[0].message;
}

TEST(StoreConfig, RejectsBadScopeKeys) {
  const char* bad[] = {
      "rate_limit: {rate: 1/s, scope: global}",
      "rate_limit: {rate: 1/s, scope: cluster, lease: 0}",
      "rate_limit: {rate: 1/s, scope: cluster, lease: 100001}",
      "rate_limit: {rate: 1/s, scope: cluster, fallback_instances: 0}",
      "rate_limit: {rate: 1/s, lease: 10}",
      "rate_limit: {rate: 1/s, fallback_instances: 2}",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(load(withStore("{type: redis, address: 127.0.0.1:6379}", text)).errors.empty());
  }
}

TEST(StoreConfig, CacheL2AndWarm) {
  const auto config = loadValid(withStore(
      "{type: redis, address: 127.0.0.1:6379}",
      "cache: {l2: true, l2_max_object_size: 64KiB, warm: {urls: [/a, 'http://x.test:8080/b?c=1'], "
      "concurrency: 3}}"));
  const RouteCacheConfig& cache = *config->listeners[0].routes[0].cache;
  EXPECT_TRUE(cache.l2);
  EXPECT_EQ(cache.l2_max_object_size, 64u * 1024);
  ASSERT_TRUE(cache.warm.has_value());
  EXPECT_EQ(cache.warm->urls, (std::vector<std::string>{"/a", "http://x.test:8080/b?c=1"}));
  EXPECT_EQ(cache.warm->concurrency, 3u);
  const auto defaults = loadValid(routeWith("cache: {warm: {file: /etc/urls.txt}}"));
  const RouteCacheConfig& plain = *defaults->listeners[0].routes[0].cache;
  EXPECT_FALSE(plain.l2);
  EXPECT_EQ(plain.l2_max_object_size, 1024u * 1024);
  EXPECT_EQ(plain.warm->file, "/etc/urls.txt");
  EXPECT_EQ(plain.warm->concurrency, 8u);
}

TEST(StoreConfig, L2NeedsAStore) {
  const auto result = load(routeWith("cache: {l2: true}"));
  ASSERT_EQ(result.errors.size(), 1u) << describe(result.errors);
  EXPECT_NE(result.errors[0].message.find("listeners[0].routes[0].cache: l2: true needs"),
            std::string::npos)
      << result.errors[0].message;
}

TEST(StoreConfig, RejectsBadCacheStoreKeys) {
  const char* bad[] = {
      "cache: {l2: yes please}",
      "cache: {l2: true, l2_max_object_size: 0}",
      "cache: {warm: {}}",
      "cache: {warm: {urls: [/a], file: /b}}",
      "cache: {warm: {urls: [a.html]}}",
      "cache: {warm: {urls: [/a], concurrency: 0}}",
      "cache: {warm: {file: ''}}",
      "cache: {warm: {urls: [/a], depth: 2}}",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(load(withStore("{type: redis, address: 127.0.0.1:6379}", text)).errors.empty());
  }
}

}  // namespace
}  // namespace sg::config
