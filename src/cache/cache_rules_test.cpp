// Route set_cookie modes: storing, and a 304's Set-Cookie.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cache/revalidation.h"
#include "cache/rfc9111.h"
#include "cache/test_support.h"
#include "cache/text.h"

namespace sg::cache {
namespace {

using namespace testing;
using SetCookie = config::RouteCacheConfig::SetCookie;

config::RouteCacheConfig withSetCookie(SetCookie mode) {
  config::RouteCacheConfig r = route();
  r.set_cookie = mode;
  return r;
}

size_t countOf(const CachedResponse& entry, std::string_view name) {
  size_t count = 0;
  for (const StoredHeader& header : entry.headers)
    count += detail::equalsIgnoreCase(header.name, name);
  return count;
}

StoreResult storeWithCookies(SetCookie mode) {
  const http::ResponseHead resp = response(200, {{"Cache-Control", "max-age=60"},
                                                 {"Set-Cookie", "a=1"},
                                                 {"ETag", "\"e\""},
                                                 {"set-cookie", "b=2"},
                                                 {"Content-Type", "text/plain"}});
  return makeCachedResponse("example.com/a", request(), resp, "body", kNow, kNow,
                            withSetCookie(mode));
}

TEST(SetCookieMode, BypassDoesNotStore) {
  EXPECT_EQ(storeWithCookies(SetCookie::kBypass).verdict, StoreVerdict::kSetCookie);
  EXPECT_EQ(route().set_cookie, SetCookie::kBypass);  // the default
}

TEST(SetCookieMode, StripStoresWithoutTheCookies) {
  const StoreResult result = storeWithCookies(SetCookie::kStrip);
  ASSERT_EQ(result.verdict, StoreVerdict::kStore);
  EXPECT_EQ(countOf(*result.entry, "set-cookie"), 0u);
  EXPECT_EQ(result.entry->wire_headers.find("ookie"), std::string::npos);
  EXPECT_EQ(result.entry->header("content-type"), "text/plain");
  EXPECT_EQ(result.entry->etag, "\"e\"");
}

TEST(SetCookieMode, StoreKeepsEveryCookieLine) {
  const StoreResult result = storeWithCookies(SetCookie::kStore);
  ASSERT_EQ(result.verdict, StoreVerdict::kStore);
  EXPECT_EQ(countOf(*result.entry, "set-cookie"), 2u);
  EXPECT_NE(result.entry->wire_headers.find("Set-Cookie: a=1"), std::string::npos);
  EXPECT_NE(result.entry->wire_headers.find("set-cookie: b=2"), std::string::npos);
}

TEST(SetCookieMode, ModesDoNotMakeOtherwiseUnstorableResponsesStorable) {
  const http::ResponseHead resp =
      response(200, {{"Cache-Control", "private, max-age=60"}, {"Set-Cookie", "a=1"}});
  for (SetCookie mode : {SetCookie::kStrip, SetCookie::kStore}) {
    EXPECT_EQ(checkStorable(request(), resp, withSetCookie(mode), kNow), StoreVerdict::kPrivate);
  }
}

// A 304 with Set-Cookie: the revalidating client always gets it; the entry keeps it only
// with `store` (and then replaces the stored cookies).
TEST(SetCookieMode, Freshen304Cookies) {
  const http::ResponseHead not_modified =
      response(304, {{"ETag", "\"e\""}, {"Set-Cookie", "a=3"}, {"Cache-Control", "max-age=90"}});
  for (SetCookie mode : {SetCookie::kBypass, SetCookie::kStrip, SetCookie::kStore}) {
    SCOPED_TRACE(static_cast<int>(mode));
    const config::RouteCacheConfig r = withSetCookie(mode);
    const StoreResult stored = makeCachedResponse(
        "example.com/a", request(),
        response(200, {{"Cache-Control", "max-age=10"}, {"ETag", "\"e\""}}), "body", kNow, kNow, r);
    ASSERT_NE(stored.entry, nullptr);
    const FreshenResult result = freshenWith304(*stored.entry, not_modified, kNow, kNow, r);
    ASSERT_NE(result.entry, nullptr);
    ASSERT_NE(result.served, nullptr);
    EXPECT_TRUE(result.storable);
    EXPECT_EQ(result.served->header("set-cookie"), "a=3");
    EXPECT_NE(result.served->wire_headers.find("Set-Cookie: a=3"), std::string::npos);
    EXPECT_EQ(result.served->lifetime, std::chrono::seconds(90));
    EXPECT_EQ(result.served->bodyBytes(), "body");
    if (mode == SetCookie::kStore) {
      EXPECT_EQ(result.served, result.entry);
    } else {
      EXPECT_EQ(countOf(*result.entry, "set-cookie"), 0u);
      EXPECT_EQ(result.entry->wire_headers.find("ookie"), std::string::npos);
      EXPECT_EQ(result.entry->lifetime, std::chrono::seconds(90));
    }
  }
}

TEST(SetCookieMode, StoredCookiesAreReplacedBy304Cookies) {
  const config::RouteCacheConfig r = withSetCookie(SetCookie::kStore);
  const StoreResult stored = storeWithCookies(SetCookie::kStore);
  ASSERT_NE(stored.entry, nullptr);
  const FreshenResult result =
      freshenWith304(*stored.entry, response(304, {{"Set-Cookie", "c=3"}}), kNow, kNow, r);
  ASSERT_NE(result.entry, nullptr);
  EXPECT_EQ(countOf(*result.entry, "set-cookie"), 1u);
  EXPECT_EQ(result.entry->header("set-cookie"), "c=3");
  // Without Set-Cookie in the 304 the stored ones stay.
  const FreshenResult plain =
      freshenWith304(*stored.entry, response(304, {{"ETag", "\"e\""}}), kNow, kNow, r);
  EXPECT_EQ(countOf(*plain.entry, "set-cookie"), 2u);
}

}  // namespace
}  // namespace sg::cache
