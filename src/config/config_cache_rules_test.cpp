// Route cache key set_cookie: bypass (default) | strip | store.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "config/config_test_util.h"

namespace sg::config {
namespace {

using testutil::loadValid;
using testutil::routeWith;
using SetCookie = RouteCacheConfig::SetCookie;

SetCookie setCookieOf(const std::string& cache) {
  return loadValid(routeWith(cache))->listeners[0].routes[0].cache->set_cookie;
}

TEST(CacheRulesConfig, SetCookieDefaultsToBypass) {
  EXPECT_EQ(setCookieOf("cache: {enabled: true}"), SetCookie::kBypass);
}

TEST(CacheRulesConfig, SetCookieModes) {
  EXPECT_EQ(setCookieOf("cache: {set_cookie: bypass}"), SetCookie::kBypass);
  EXPECT_EQ(setCookieOf("cache: {set_cookie: strip}"), SetCookie::kStrip);
  EXPECT_EQ(setCookieOf("cache: {set_cookie: store}"), SetCookie::kStore);
}

TEST(CacheRulesConfig, SetCookieRejectsOtherValues) {
  for (const char* text : {"cache: {set_cookie: keep}", "cache: {set_cookie: Store}",
                           "cache: {set_cookie: true}", "cache: {set_cookie: [store]}"}) {
    SCOPED_TRACE(text);
    const LoadResult result = testutil::load(routeWith(text));
    ASSERT_FALSE(result.errors.empty());
    EXPECT_NE(testutil::describe(result.errors).find("set_cookie"), std::string::npos)
        << testutil::describe(result.errors);
  }
  const LoadResult result = testutil::load(routeWith("cache: {set_cookie: keep}"));
  EXPECT_NE(testutil::describe(result.errors).find("one of: bypass, strip, store"),
            std::string::npos);
}

}  // namespace
}  // namespace sg::config
