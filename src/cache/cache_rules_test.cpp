// Route set_cookie modes (storing, and a 304's Set-Cookie) and POST responses stored for
// GETs of their Content-Location (RFC 9110 9.3.3).
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

struct PostCase {
  const char* name;
  const char* path;
  const char* query;
  std::vector<http::Header> response_headers;
  bool stored;
};

TEST(PostWithContentLocation, StoredOnlyForItsOwnUrlWithExplicitFreshness) {
  const PostCase cases[] = {
      {"same path", "/a", "",
       headers({{"Cache-Control", "max-age=60"}, {"Content-Location", "/a"}}), true},
      {"relative reference", "/dir/a", "",
       headers({{"Cache-Control", "max-age=60"}, {"Content-Location", "a"}}), true},
      {"dot segments", "/dir/a", "",
       headers({{"Cache-Control", "max-age=60"}, {"Content-Location", "../dir/./a"}}), true},
      {"absolute, same authority", "/a", "",
       headers({{"Cache-Control", "max-age=60"}, {"Content-Location", "http://EXAMPLE.com/a"}}),
       true},
      {"same query", "/a", "x=1",
       headers({{"Cache-Control", "s-maxage=60"}, {"Content-Location", "/a?x=1"}}), true},
      {"Expires", "/a", "",
       headers({{"Date", kNowDate},
                {"Expires", "Sat, 01 Jun 2024 01:00:00 GMT"},
                {"Content-Location", "/a"}}),
       true},
      {"another host", "/a", "",
       headers({{"Cache-Control", "max-age=60"}, {"Content-Location", "http://other.com/a"}}),
       false},
      {"another port", "/a", "",
       headers({{"Cache-Control", "max-age=60"}, {"Content-Location", "//example.com:8080/a"}}),
       false},
      {"another path", "/a", "",
       headers({{"Cache-Control", "max-age=60"}, {"Content-Location", "/b"}}), false},
      {"another query", "/a", "x=1",
       headers({{"Cache-Control", "max-age=60"}, {"Content-Location", "/a?x=2"}}), false},
      {"query dropped", "/a", "x=1",
       headers({{"Cache-Control", "max-age=60"}, {"Content-Location", "/a"}}), false},
      {"empty", "/a", "", headers({{"Cache-Control", "max-age=60"}, {"Content-Location", ""}}),
       false},
      {"two lines", "/a", "",
       headers({{"Cache-Control", "max-age=60"},
                {"Content-Location", "/a"},
                {"Content-Location", "/b"}}),
       false},
      {"no Content-Location", "/a", "", headers({{"Cache-Control", "max-age=60"}}), false},
      {"heuristic only", "/a", "",
       headers({{"Last-Modified", "Fri, 31 May 2024 00:00:00 GMT"}, {"Content-Location", "/a"}}),
       false},
      {"public only", "/a", "", headers({{"Cache-Control", "public"}, {"Content-Location", "/a"}}),
       false},
      {"no-store wins", "/a", "",
       headers({{"Cache-Control", "max-age=60, no-store"}, {"Content-Location", "/a"}}), false},
  };
  for (const PostCase& c : cases) {
    SCOPED_TRACE(c.name);
    const http::RequestHead post =
        request({{"Content-Type", "text/plain"}}, "POST", c.path, c.query);
    http::ResponseHead resp = response(200);
    resp.headers = c.response_headers;
    // The last three name the URL but lack explicit freshness or forbid storing.
    const bool same_url = c.stored || std::string_view(c.name) == "heuristic only" ||
                          std::string_view(c.name) == "public only" ||
                          std::string_view(c.name) == "no-store wins";
    EXPECT_EQ(contentLocationIsTarget(post, resp), same_url);
    const StoreResult result =
        makeCachedResponse("example.com/a", post, resp, "made", kNow, kNow, route());
    EXPECT_EQ(result.verdict == StoreVerdict::kStore, c.stored);
    if (c.stored) {
      EXPECT_EQ(result.entry->bodyBytes(), "made");
    }
  }
}

TEST(PostWithContentLocation, OtherUnsafeMethodsAreNotStored) {
  const http::ResponseHead resp =
      response(200, {{"Cache-Control", "max-age=60"}, {"Content-Location", "/a"}});
  for (const char* method : {"PUT", "PATCH", "DELETE"}) {
    EXPECT_EQ(checkStorable(request({}, method), resp, route(), kNow), StoreVerdict::kMethod);
  }
  EXPECT_EQ(checkStorable(request({}, "POST"), resp, route(), kNow), StoreVerdict::kStore);
  // The request's own rules still apply.
  EXPECT_EQ(checkStorable(request({{"Authorization", "Basic eA=="}}, "POST"), resp, route(), kNow),
            StoreVerdict::kAuthorization);
}

}  // namespace
}  // namespace sg::cache
