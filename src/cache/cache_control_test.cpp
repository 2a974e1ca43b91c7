// Cache-Control parsing: directive forms, case, quoting, duplicates, malformed values.
#include "cache/cache_control.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cache/test_support.h"

namespace sg::cache {
namespace {

using std::chrono::seconds;
using testing::headers;

std::optional<int64_t> count(const std::optional<seconds>& value) {
  if (!value) return std::nullopt;
  return value->count();
}

struct ResponseCase {
  const char* name;
  std::vector<http::Header> lines;
  bool no_store, no_cache, is_private, is_public, must_revalidate, proxy_revalidate;
  std::optional<int64_t> max_age, s_maxage, swr, sie;
};

TEST(ResponseCacheControl, DirectiveTable) {
  const std::optional<int64_t> none;
  const ResponseCase cases[] = {
      {"empty", headers({}), false, false, false, false, false, false, none, none, none, none},
      {"max-age", headers({{"Cache-Control", "max-age=60"}}), false, false, false, false, false,
       false, 60, none, none, none},
      {"names are case-insensitive", headers({{"cache-control", "MAX-AGE=60, No-Store, PUBLIC"}}),
       true, false, false, true, false, false, 60, none, none, none},
      {"quoted delta", headers({{"Cache-Control", "max-age=\"60\""}}), false, false, false, false,
       false, false, 60, none, none, none},
      {"spaces around =", headers({{"Cache-Control", " max-age = 60 , s-maxage=5"}}), false, false,
       false, false, false, false, 60, 5, none, none},
      {"several lines", headers({{"Cache-Control", "public"}, {"Cache-Control", "max-age=5"}}),
       false, false, false, true, false, false, 5, none, none, none},
      {"malformed max-age is stale", headers({{"Cache-Control", "max-age=abc"}}), false, false,
       false, false, false, false, 0, none, none, none},
      {"negative max-age is stale", headers({{"Cache-Control", "max-age=-5"}}), false, false, false,
       false, false, false, 0, none, none, none},
      {"empty max-age is stale", headers({{"Cache-Control", "max-age="}}), false, false, false,
       false, false, false, 0, none, none, none},
      {"max-age without value is stale", headers({{"Cache-Control", "max-age"}}), false, false,
       false, false, false, false, 0, none, none, none},
      {"fractional max-age is stale", headers({{"Cache-Control", "max-age=1.5"}}), false, false,
       false, false, false, false, 0, none, none, none},
      {"conflicting duplicates are stale", headers({{"Cache-Control", "max-age=60, max-age=120"}}),
       false, false, false, false, false, false, 0, none, none, none},
      {"equal duplicates are fine",
       headers({{"Cache-Control", "max-age=60"}, {"Cache-Control", "max-age=60"}}), false, false,
       false, false, false, false, 60, none, none, none},
      {"huge delta clamps to 2^31", headers({{"Cache-Control", "max-age=99999999999999999999"}}),
       false, false, false, false, false, false, int64_t{1} << 31, none, none, none},
      {"qualified no-cache is no-cache", headers({{"Cache-Control", "no-cache=\"Set-Cookie, X\""}}),
       false, true, false, false, false, false, none, none, none, none},
      {"qualified private is private", headers({{"Cache-Control", "private=\"X\", max-age=5"}}),
       false, false, true, false, false, false, 5, none, none, none},
      {"comma inside quotes does not split",
       headers({{"Cache-Control", "private=\"a,max-age=9\""}}), false, false, true, false, false,
       false, none, none, none, none},
      {"boolean with argument still counts", headers({{"Cache-Control", "no-store=1"}}), true,
       false, false, false, false, false, none, none, none, none},
      {"revalidate flags", headers({{"Cache-Control", "must-revalidate, proxy-revalidate"}}), false,
       false, false, false, true, true, none, none, none, none},
      {"stale extensions",
       headers({{"Cache-Control", "stale-while-revalidate=30, stale-if-error=600"}}), false, false,
       false, false, false, false, none, none, 30, 600},
      {"malformed stale window is zero", headers({{"Cache-Control", "stale-while-revalidate=x"}}),
       false, false, false, false, false, false, none, none, 0, none},
      {"differing stale windows keep the smaller",
       headers({{"Cache-Control", "stale-if-error=60, stale-if-error=10"}}), false, false, false,
       false, false, false, none, none, none, 10},
      {"unknown directives ignored", headers({{"Cache-Control", "foo, bar=\"baz\", immutable"}}),
       false, false, false, false, false, false, none, none, none, none},
      {"empty elements ignored", headers({{"Cache-Control", ",, max-age=7 ,,"}}), false, false,
       false, false, false, false, 7, none, none, none},
      {"other headers ignored", headers({{"X-Cache-Control", "no-store"}, {"Pragma", "no-cache"}}),
       false, false, false, false, false, false, none, none, none, none},
  };
  for (const ResponseCase& c : cases) {
    SCOPED_TRACE(c.name);
    const ResponseCacheControl cc = parseResponseCacheControl(c.lines);
    EXPECT_EQ(cc.no_store, c.no_store);
    EXPECT_EQ(cc.no_cache, c.no_cache);
    EXPECT_EQ(cc.is_private, c.is_private);
    EXPECT_EQ(cc.is_public, c.is_public);
    EXPECT_EQ(cc.must_revalidate, c.must_revalidate);
    EXPECT_EQ(cc.proxy_revalidate, c.proxy_revalidate);
    EXPECT_EQ(count(cc.max_age), c.max_age);
    EXPECT_EQ(count(cc.s_maxage), c.s_maxage);
    EXPECT_EQ(count(cc.stale_while_revalidate), c.swr);
    EXPECT_EQ(count(cc.stale_if_error), c.sie);
  }
}

TEST(ResponseCacheControl, MustUnderstand) {
  EXPECT_TRUE(parseResponseCacheControl(headers({{"Cache-Control", "must-understand, no-store"}}))
                  .must_understand);
  EXPECT_FALSE(parseResponseCacheControl(headers({{"Cache-Control", "no-store"}})).must_understand);
}

struct RequestCase {
  const char* name;
  std::vector<http::Header> lines;
  bool no_store, no_cache, only_if_cached, max_stale_any;
  std::optional<int64_t> max_age, min_fresh, max_stale;
};

TEST(RequestCacheControl, DirectiveTable) {
  const std::optional<int64_t> none;
  const RequestCase cases[] = {
      {"empty", headers({}), false, false, false, false, none, none, none},
      {"no-cache", headers({{"Cache-Control", "no-cache"}}), false, true, false, false, none, none,
       none},
      {"pragma without cache-control", headers({{"Pragma", "no-cache"}}), false, true, false, false,
       none, none, none},
      {"pragma case-insensitive", headers({{"pragma", "foo, No-Cache"}}), false, true, false, false,
       none, none, none},
      {"pragma ignored with cache-control",
       headers({{"Pragma", "no-cache"}, {"Cache-Control", "max-age=5"}}), false, false, false,
       false, 5, none, none},
      {"all of them",
       headers(
           {{"Cache-Control", "no-store, only-if-cached, max-age=0, min-fresh=10, max-stale=20"}}),
       true, false, true, false, 0, 10, 20},
      {"max-stale without value", headers({{"Cache-Control", "max-stale"}}), false, false, false,
       true, none, none, none},
      {"malformed values ignored",
       headers({{"Cache-Control", "max-age=x, min-fresh=, max-stale=-1"}}), false, false, false,
       false, none, none, none},
      {"duplicates keep the most restrictive",
       headers({{"Cache-Control",
                 "max-age=9, max-age=3, min-fresh=1, min-fresh=8, max-stale=50, max-stale=5"}}),
       false, false, false, false, 3, 8, 5},
  };
  for (const RequestCase& c : cases) {
    SCOPED_TRACE(c.name);
    const RequestCacheControl cc = parseRequestCacheControl(c.lines);
    EXPECT_EQ(cc.no_store, c.no_store);
    EXPECT_EQ(cc.no_cache, c.no_cache);
    EXPECT_EQ(cc.only_if_cached, c.only_if_cached);
    EXPECT_EQ(cc.max_stale_any, c.max_stale_any);
    EXPECT_EQ(count(cc.max_age), c.max_age);
    EXPECT_EQ(count(cc.min_fresh), c.min_fresh);
    EXPECT_EQ(count(cc.max_stale), c.max_stale);
  }
}

const std::vector<std::string> kTargets = {"scalegate-cache-control", "cdn-cache-control"};

TEST(TargetedCacheControl, ValidDictionaries) {
  struct Case {
    const char* name;
    std::vector<http::Header> lines;
    bool no_store, no_cache, is_private;
    std::optional<int64_t> max_age, swr;
  };
  const std::optional<int64_t> none;
  const Case cases[] = {
      {"max-age", headers({{"CDN-Cache-Control", "max-age=3600"}}), false, false, false, 3600,
       none},
      {"extension member", headers({{"CDN-Cache-Control", "foobar, max-age=3600"}}), false, false,
       false, 3600, none},
      {"clamped at 2^31", headers({{"CDN-Cache-Control", "max-age=99999999999"}}), false, false,
       false, int64_t{1} << 31, none},
      {"flags", headers({{"CDN-Cache-Control", "no-store, no-cache, private"}}), true, true, true,
       none, none},
      {"Boolean false unsets", headers({{"CDN-Cache-Control", "no-store=?0, max-age=5"}}), false,
       false, false, 5, none},
      {"qualified no-cache", headers({{"CDN-Cache-Control", "no-cache=\"set-cookie\""}}), false,
       true, false, none, none},
      {"params and inner list",
       headers({{"CDN-Cache-Control", "a=(b \"c\");x=1, max-age=1;p, stale-while-revalidate=9"}}),
       false, false, false, 1, 9},
      {"lines joined",
       headers({{"CDN-Cache-Control", "max-age=7"}, {"cdn-cache-control", "no-cache"}}), false,
       true, false, 7, none},
      {"Cache-Control ignored",
       headers({{"Cache-Control", "no-store"}, {"CDN-Cache-Control", "x"}}), false, false, false,
       none, none},
      {"own field wins",
       headers({{"CDN-Cache-Control", "max-age=1"}, {"Scalegate-Cache-Control", "max-age=2"}}),
       false, false, false, 2, none},
      {"invalid own field falls back to CDN",
       headers({{"CDN-Cache-Control", "max-age=1"}, {"Scalegate-Cache-Control", "max-age=a.b"}}),
       false, false, false, 1, none},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const auto cc = parseTargetedCacheControl(c.lines, kTargets);
    ASSERT_TRUE(cc.has_value());
    EXPECT_TRUE(cc->targeted);
    EXPECT_EQ(cc->no_store, c.no_store);
    EXPECT_EQ(cc->no_cache, c.no_cache);
    EXPECT_EQ(cc->is_private, c.is_private);
    EXPECT_EQ(count(cc->max_age), c.max_age);
    EXPECT_EQ(count(cc->stale_while_revalidate), c.swr);
  }
}

TEST(TargetedCacheControl, InvalidOrAbsentFieldsAreIgnored) {
  const char* invalid[] = {
      "max-age=10000, &&&&&",
      "max-age=\"10000\"",
      "max-age =100",
      "max-age= 100",
      "MaX-aGe=3600",
      "max-age=-1",
      "max-age=1.5",
      "max-age=1,",
      "",
      "   ",
      "a=\"open",
      "max-age=1234567890123456",
  };
  for (const char* value : invalid) {
    SCOPED_TRACE(value);
    EXPECT_FALSE(parseTargetedCacheControl(headers({{"CDN-Cache-Control", value}}), kTargets));
  }
  EXPECT_FALSE(parseTargetedCacheControl(headers({{"Cache-Control", "max-age=1"}}), kTargets));
  EXPECT_FALSE(parseTargetedCacheControl(headers({{"CDN-Cache-Control", "max-age=1"}}), {}));
}

}  // namespace
}  // namespace sg::cache
