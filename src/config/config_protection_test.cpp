// Protection and caching keys: rate_limit, circuit_breaker, compression, trusted_proxies,
// response_headers, hsts, and the route and top-level cache.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testutil::BadCase;
using testutil::describe;
using testutil::edit;
using testutil::expectOneError;
using testutil::load;

using testutil::listenerWith;
using testutil::loadValid;
using testutil::routeWith;
using testutil::upstreamWith;

TEST(RateLimitConfig, RouteLimitWithTiers) {
  auto config =
      loadValid(routeWith("name: api\n        rate_limit: {algorithm: gcra, key: "
                          "'header:X-Api-Key', rate: 100/s, burst: 20,"
                          " tiers: {gold: {rate: 1000/m, burst: 50}, silver: {rate: 20/10s}}, "
                          "shadow: true, max_keys: 5000}"));
  ASSERT_TRUE(config);
  const auto& limit = *config->listeners[0].routes[0].rate_limit;
  EXPECT_EQ(limit.name, "api");  // the route's name
  EXPECT_EQ(limit.algorithm, RateLimitConfig::Algorithm::kGcra);
  EXPECT_EQ(limit.key, RateLimitConfig::KeySource::kHeader);
  EXPECT_EQ(limit.key_header, "x-api-key");
  EXPECT_EQ(limit.rate.count, 100u);
  EXPECT_EQ(limit.rate.period, seconds(1));
  EXPECT_EQ(limit.burst, 20u);
  ASSERT_EQ(limit.tiers.size(), 2u);
  EXPECT_EQ(limit.tiers.at("gold").rate.count, 1000u);
  EXPECT_EQ(limit.tiers.at("gold").rate.period, minutes(1));
  EXPECT_EQ(limit.tiers.at("gold").burst, 50u);
  EXPECT_EQ(limit.tiers.at("silver").rate.period, seconds(10));
  EXPECT_EQ(limit.tiers.at("silver").burst, 0u);
  EXPECT_TRUE(limit.shadow);
  EXPECT_EQ(limit.max_keys, 5000u);
}

TEST(RateLimitConfig, ListenerLimitDefaults) {
  auto config = loadValid(listenerWith("rate_limit: {rate: 5/d}"));
  ASSERT_TRUE(config);
  const auto& limit = *config->listeners[0].rate_limit;
  EXPECT_EQ(limit.name, "public");
  EXPECT_EQ(limit.algorithm, RateLimitConfig::Algorithm::kTokenBucket);
  EXPECT_EQ(limit.key, RateLimitConfig::KeySource::kIp);
  EXPECT_EQ(limit.rate.period, hours(24));
  EXPECT_EQ(limit.burst, 0u);
  EXPECT_FALSE(limit.shadow);
  EXPECT_EQ(limit.max_keys, 100000u);
  EXPECT_FALSE(config->listeners[0].routes[0].rate_limit);
}

TEST(ProtectionConfig, CircuitBreakerDefaultsAndValues) {
  auto config = loadValid(upstreamWith("circuit_breaker: {}"));
  ASSERT_TRUE(config);
  const auto& defaults = *config->upstreams[0].circuit_breaker;
  EXPECT_EQ(defaults.error_threshold_percent, 50u);
  EXPECT_EQ(defaults.volume_threshold, 20u);
  EXPECT_EQ(defaults.window, seconds(10));
  EXPECT_EQ(defaults.buckets, 10u);
  EXPECT_EQ(defaults.reset_timeout, seconds(30));
  EXPECT_EQ(defaults.half_open_requests, 1u);
  EXPECT_EQ(defaults.error_statuses, (std::vector<int>{500, 502, 503, 504}));
  EXPECT_EQ(defaults.max_requests, 0u);

  config = loadValid(upstreamWith(
      "circuit_breaker: {error_threshold_percent: 25, volume_threshold: 4, window: 2s, buckets: 4,"
      " reset_timeout: 500ms, half_open_requests: 3, error_statuses: [500, 429], max_connections: "
      "10,"
      " max_pending: 11, max_requests: 12, max_retries: 13}"));
  ASSERT_TRUE(config);
  const auto& set = *config->upstreams[0].circuit_breaker;
  EXPECT_EQ(set.error_threshold_percent, 25u);
  EXPECT_EQ(set.window, seconds(2));
  EXPECT_EQ(set.reset_timeout, milliseconds(500));
  EXPECT_EQ(set.half_open_requests, 3u);
  EXPECT_EQ(set.error_statuses, (std::vector<int>{500, 429}));
  EXPECT_EQ(set.max_connections, 10u);
  EXPECT_EQ(set.max_pending, 11u);
  EXPECT_EQ(set.max_requests, 12u);
  EXPECT_EQ(set.max_retries, 13u);
}

TEST(ProtectionConfig, CompressionDefaultsAndRouteOverride) {
  auto config = loadValid(edit("      - upstream: users\n",
                               "      - upstream: users\n        compression: {enabled: false}\n",
                               listenerWith("compression: {algorithms: [gzip], min_size: 2KiB, "
                                            "content_types: [Text/*, application/json],"
                                            " gzip_level: 9, brotli_quality: 11}")));
  ASSERT_TRUE(config);
  const auto& listener = *config->listeners[0].compression;
  EXPECT_TRUE(listener.enabled);
  EXPECT_EQ(listener.algorithms, (std::vector{CompressionConfig::Encoding::kGzip}));
  EXPECT_EQ(listener.min_size, 2048u);
  EXPECT_EQ(listener.content_types, (std::vector<std::string>{"text/*", "application/json"}));
  EXPECT_EQ(listener.gzip_level, 9);
  EXPECT_EQ(listener.brotli_quality, 11);
  EXPECT_FALSE(config->listeners[0].routes[0].compression->enabled);

  config = loadValid(listenerWith("compression: {}"));
  ASSERT_TRUE(config);
  const auto& defaults = *config->listeners[0].compression;
  EXPECT_EQ(defaults.algorithms.front(), CompressionConfig::Encoding::kBrotli);
  EXPECT_EQ(defaults.min_size, 1024u);
  EXPECT_NE(
      std::find(defaults.content_types.begin(), defaults.content_types.end(), "application/json"),
      defaults.content_types.end());
}

TEST(ProtectionConfig, ResponseHeadersStartFromSecurityDefaults) {
  auto config = loadValid(testutil::kMinimal);
  ASSERT_TRUE(config);
  using Headers = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(config->listeners[0].response_headers,
            (Headers{{"X-Content-Type-Options", "nosniff"}, {"X-Frame-Options", "DENY"}}));
  EXPECT_FALSE(config->listeners[0].hsts);

  config =
      loadValid(listenerWith("response_headers: {x-frame-options: SAMEORIGIN, "
                             "X-Content-Type-Options: '', Referrer-Policy: no-referrer}\n"
                             "    hsts: {max_age: 2d, include_subdomains: true}"));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->listeners[0].response_headers,
            (Headers{{"x-frame-options", "SAMEORIGIN"}, {"Referrer-Policy", "no-referrer"}}));
  EXPECT_EQ(config->listeners[0].hsts->max_age, hours(48));
  EXPECT_TRUE(config->listeners[0].hsts->include_subdomains);
  EXPECT_FALSE(config->listeners[0].hsts->preload);
}

TEST(ProtectionConfig, TrustedProxies) {
  auto config = loadValid(listenerWith("trusted_proxies: [10.0.0.0/8, '::1', 192.168.1.7]"));
  ASSERT_TRUE(config);
  const auto& proxies = config->listeners[0].trusted_proxies;
  ASSERT_EQ(proxies.size(), 3u);
  EXPECT_EQ(proxies[0].toString(), "10.0.0.0/8");
  EXPECT_EQ(proxies[1].toString(), "::1/128");
  EXPECT_TRUE(proxies[2].contains(*net::IpAddress::parse("192.168.1.7")));
}

TEST(CacheConfig, RouteAndGlobal) {
  auto config = loadValid(
      routeWith("cache: {default_ttl: 30s, force_ttl: 1m, stale_while_revalidate: 10s, "
                "stale_if_error: 1h,"
                " key: {headers: [Accept-Language], query: [z, a]}, max_object_size: 2MiB}") +
      "cache: {memory: 64MiB, policy: lru, lock_timeout: 2s}\n");
  ASSERT_TRUE(config);
  const auto& cache = *config->listeners[0].routes[0].cache;
  EXPECT_TRUE(cache.enabled);
  EXPECT_EQ(cache.default_ttl, seconds(30));
  EXPECT_EQ(cache.force_ttl, minutes(1));
  EXPECT_EQ(cache.stale_while_revalidate, seconds(10));
  EXPECT_EQ(cache.stale_if_error, hours(1));
  EXPECT_EQ(cache.key.headers, (std::vector<std::string>{"accept-language"}));
  EXPECT_EQ(cache.key.query, RouteCacheConfig::Key::Query::kNames);
  EXPECT_EQ(cache.key.query_names, (std::vector<std::string>{"a", "z"}));
  EXPECT_EQ(cache.max_object_size, 2u * 1024 * 1024);
  EXPECT_EQ(config->cache.memory, 64u * 1024 * 1024);
  EXPECT_EQ(config->cache.policy, CacheConfig::Policy::kLru);
  EXPECT_EQ(config->cache.lock_timeout, seconds(2));

  config = loadValid(routeWith("cache: {key: {query: none}}"));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->listeners[0].routes[0].cache->key.query, RouteCacheConfig::Key::Query::kNone);
  EXPECT_FALSE(config->listeners[0].routes[0].cache->default_ttl);
  EXPECT_EQ(config->cache.policy, CacheConfig::Policy::kTinyLfu);
  EXPECT_EQ(config->cache.memory, 256u * 1024 * 1024);
}

class BadProtectionConfig : public testing::TestWithParam<BadCase> {};

TEST_P(BadProtectionConfig, ReportsOneErrorAtTheValue) { expectOneError(GetParam()); }

std::vector<BadCase> rateLimitCases() {
  return {
      {"RateMissing", routeWith("rate_limit: {burst: 5}"), 6, 21,
       "listeners[0].routes[0].rate_limit: missing required key 'rate'"},
      {"RateNoSlash", routeWith("rate_limit: {rate: 100}"), 6, 28,
       "listeners[0].routes[0].rate_limit.rate: invalid rate '100' (expected COUNT/PERIOD"},
      {"RateZero", routeWith("rate_limit: {rate: 0/s}"), 6, 28,
       "listeners[0].routes[0].rate_limit.rate: invalid rate '0/s' (the count must be"},
      {"RateBadUnit", routeWith("rate_limit: {rate: 10/w}"), 6, 28,
       "listeners[0].routes[0].rate_limit.rate: invalid rate '10/w' (the period must be"},
      {"RateTooLong", routeWith("rate_limit: {rate: 10/31d}"), 6, 28,
       "listeners[0].routes[0].rate_limit.rate: invalid rate '10/31d'"},
      {"Algorithm", routeWith("rate_limit: {rate: 1/s, algorithm: leaky}"), 6, 44,
       "listeners[0].routes[0].rate_limit.algorithm: unknown algorithm 'leaky' (one of: "
       "token_bucket, gcra, sliding_window)"},
      {"Key", routeWith("rate_limit: {rate: 1/s, key: cookie}"), 6, 38,
       "listeners[0].routes[0].rate_limit.key: invalid key 'cookie' (one of: ip, header:NAME, "
       "route, global)"},
      {"KeyBadHeader", routeWith("rate_limit: {rate: 1/s, key: 'header:a b'}"), 6, 38,
       "listeners[0].routes[0].rate_limit.key: invalid key"},
      {"BurstZero", routeWith("rate_limit: {rate: 1/s, burst: 0}"), 6, 40,
       "listeners[0].routes[0].rate_limit.burst:"},
      {"SlidingBurst", routeWith("rate_limit: {rate: 1/s, algorithm: sliding_window, burst: 3}"), 6,
       67, "listeners[0].routes[0].rate_limit.burst: sliding_window allows"},
      {"TierNoRate",
       routeWith("rate_limit: {rate: 1/s, key: 'header:k', tiers: {gold: {burst: 3}}}"), 6, 64,
       "listeners[0].routes[0].rate_limit.tiers.gold: missing required key 'rate'"},
      {"TiersOnGlobal", routeWith("rate_limit: {rate: 1/s, key: global, tiers: {a: {rate: 2/s}}}"),
       6, 53, "listeners[0].routes[0].rate_limit.tiers: tiers pick a limit by the key's value"},
      {"TiersList", routeWith("rate_limit: {rate: 1/s, tiers: [a]}"), 6, 40,
       "listeners[0].routes[0].rate_limit.tiers: expected a map"},
      {"NameQuote", routeWith("rate_limit: {rate: 1/s, name: \"\\x01\"}"), 6, 39,
       "listeners[0].routes[0].rate_limit.name: invalid name"},
      {"MaxKeysZero", listenerWith("rate_limit: {rate: 1/s, max_keys: 0}"), 4, 39,
       "listeners[0].rate_limit.max_keys:"},
      {"UnknownKey", listenerWith("rate_limit: {rate: 1/s, window: 1s}"), 4, 29,
       "listeners[0].rate_limit.window: unknown key 'window'"},
  };
}

std::vector<BadCase> protectionCases() {
  return {
      {"BreakerPercent", upstreamWith("circuit_breaker: {error_threshold_percent: 101}"), 8, 48,
       "upstreams.users.circuit_breaker.error_threshold_percent:"},
      {"BreakerWindowZero", upstreamWith("circuit_breaker: {window: 0}"), 8, 31,
       "upstreams.users.circuit_breaker.window:"},
      {"BreakerBucketsTooMany", upstreamWith("circuit_breaker: {window: 5ms, buckets: 10}"), 8, 45,
       "upstreams.users.circuit_breaker.buckets: more buckets than milliseconds"},
      {"BreakerStatus", upstreamWith("circuit_breaker: {error_statuses: [700]}"), 8, 40,
       "upstreams.users.circuit_breaker.error_statuses[0]: expected a status code"},
      {"BreakerUnknown", upstreamWith("circuit_breaker: {threshold: 5}"), 8, 23,
       "upstreams.users.circuit_breaker.threshold: unknown key 'threshold'"},
      {"CompressionAlgorithm", listenerWith("compression: {algorithms: [zstd]}"), 4, 32,
       "listeners[0].compression.algorithms[0]: unknown algorithm 'zstd' (one of: br, gzip)"},
      {"CompressionEmpty", listenerWith("compression: {algorithms: []}"), 4, 31,
       "listeners[0].compression.algorithms: must list"},
      {"CompressionLevel", listenerWith("compression: {gzip_level: 10}"), 4, 31,
       "listeners[0].compression.gzip_level:"},
      {"CompressionType", listenerWith("compression: {content_types: [json]}"), 4, 35,
       "listeners[0].compression.content_types[0]: invalid media type 'json'"},
      {"TrustedBad", listenerWith("trusted_proxies: [10.0.0.1/8]"), 4, 23,
       "listeners[0].trusted_proxies[0]: invalid network '10.0.0.1/8' (address bits are set past "
       "the prefix length (did you mean 10.0.0.0/8?))"},
      {"TrustedName", listenerWith("trusted_proxies: [proxy.local]"), 4, 23,
       "listeners[0].trusted_proxies[0]: invalid network 'proxy.local' (not an IP address)"},
      {"HeaderName", listenerWith("response_headers: {'a b': x}"), 4, 24,
       "listeners[0].response_headers: invalid header name 'a b'"},
      {"HeaderValue", listenerWith("response_headers: {X-A: [1]}"), 4, 29,
       "listeners[0].response_headers.X-A: invalid header value"},
      {"HeaderDuplicate", listenerWith("response_headers: {X-A: 1, x-a: 2}"), 4, 32,
       "listeners[0].response_headers.x-a: duplicate header 'x-a'"},
      {"HstsPreload", listenerWith("hsts: {max_age: 1d, preload: true}"), 4, 11,
       "listeners[0].hsts: preload needs max_age"},
      {"CacheQuery", routeWith("cache: {key: {query: some}}"), 6, 30,
       "listeners[0].routes[0].cache.key.query: expected all, none"},
      {"CacheTtlZero", routeWith("cache: {default_ttl: 0}"), 6, 30,
       "listeners[0].routes[0].cache.default_ttl:"},
      {"CachePolicy", std::string(testutil::kMinimal) + "cache: {policy: arc}\n", 10, 17,
       "cache.policy: unknown policy 'arc' (one of: tinylfu, lru)"},
      {"CacheMemoryTiny", std::string(testutil::kMinimal) + "cache: {memory: 1KiB}\n", 10, 17,
       "cache.memory:"},
  };
}

INSTANTIATE_TEST_SUITE_P(RateLimit, BadProtectionConfig, testing::ValuesIn(rateLimitCases()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Protection, BadProtectionConfig, testing::ValuesIn(protectionCases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace sg::config
