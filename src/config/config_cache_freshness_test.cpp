// Route cache keys for freshness rules: targeted_cache_control (RFC 9213) and heuristic.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using testutil::loadValid;
using testutil::routeWith;

const RouteCacheConfig& routeCache(const std::shared_ptr<const Config>& config) {
  return *config->listeners[0].routes[0].cache;
}

TEST(CacheFreshnessConfig, Defaults) {
  const auto config = loadValid(routeWith("cache: {enabled: true}"));
  const RouteCacheConfig& cache = routeCache(config);
  EXPECT_EQ(cache.targeted_cache_control,
            (std::vector<std::string>{"scalegate-cache-control", "cdn-cache-control"}));
  EXPECT_DOUBLE_EQ(cache.heuristic, 0.1);
}

TEST(CacheFreshnessConfig, ExplicitValues) {
  auto config =
      loadValid(routeWith("cache: {targeted_cache_control: [Surrogate-Control, CDN-Cache-Control], "
                          "heuristic: 25%}"));
  EXPECT_EQ(routeCache(config).targeted_cache_control,
            (std::vector<std::string>{"surrogate-control", "cdn-cache-control"}));
  EXPECT_DOUBLE_EQ(routeCache(config).heuristic, 0.25);
  config = loadValid(routeWith("cache: {targeted_cache_control: [], heuristic: 0}"));
  EXPECT_TRUE(routeCache(config).targeted_cache_control.empty());
  EXPECT_DOUBLE_EQ(routeCache(config).heuristic, 0);
  config = loadValid(routeWith("cache: {heuristic: 2.5%}"));
  EXPECT_DOUBLE_EQ(routeCache(config).heuristic, 0.025);
}

TEST(CacheFreshnessConfig, RejectsBadValues) {
  const char* bad[] = {
      "cache: {heuristic: 10}",
      "cache: {heuristic: 101%}",
      "cache: {heuristic: -1%}",
      "cache: {heuristic: ten%}",
      "cache: {heuristic: '%'}",
      "cache: {heuristic: 10%%}",
      "cache: {targeted_cache_control: ['a b']}",
      "cache: {targeted_cache_control: [x, X]}",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(testutil::load(routeWith(text)).errors.empty());
  }
}

}  // namespace
}  // namespace sg::config
