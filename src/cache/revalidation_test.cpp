// Conditional requests, 304 freshening, client conditionals, invalidation by unsafe methods.
#include "cache/revalidation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cache/rfc9111.h"
#include "cache/test_support.h"

namespace sg::cache {
namespace {

using namespace testing;

std::shared_ptr<const CachedResponse> storedWith(std::vector<http::Header> response_headers,
                                                 const config::RouteCacheConfig& r = route()) {
  http::ResponseHead resp = response(200);
  resp.headers = std::move(response_headers);
  const StoreResult result =
      makeCachedResponse("example.com/a", request(), resp, "payload", kNow, kNow, r);
  EXPECT_EQ(result.verdict, StoreVerdict::kStore);
  return result.entry;
}

std::string headerList(const CachedResponse& entry) {
  std::string out;
  for (const StoredHeader& header : entry.headers) out += header.name + "=" + header.value + ";";
  return out;
}

TEST(Conditional, HeadersFromValidators) {
  const auto both = storedWith(headers({{"Cache-Control", "max-age=1"},
                                        {"ETag", "W/\"x\""},
                                        {"Last-Modified", "Fri, 31 May 2024 00:00:00 GMT"}}));
  EXPECT_EQ(conditionalHeaders(*both).if_none_match, "W/\"x\"");
  EXPECT_EQ(conditionalHeaders(*both).if_modified_since, "Fri, 31 May 2024 00:00:00 GMT");
  const auto bad_date =
      storedWith(headers({{"Cache-Control", "max-age=1"}, {"Last-Modified", "soon"}}));
  EXPECT_EQ(conditionalHeaders(*bad_date).if_modified_since, "");
  EXPECT_EQ(conditionalHeaders(*bad_date).if_none_match, "");
}

TEST(Freshen304, UpdatesHeadersAndFreshnessButNotExcludedFields) {
  const auto old = storedWith(headers({{"Cache-Control", "max-age=10"},
                                       {"ETag", "\"v1\""},
                                       {"Content-Type", "text/plain"},
                                       {"Content-Encoding", "gzip"},
                                       {"Vary", "Accept-Encoding"},
                                       {"X-Old", "1"},
                                       {"Date", "Sat, 01 Jun 2024 00:00:00 GMT"}}));
  ASSERT_NE(old, nullptr);
  EXPECT_FALSE(isFresh(*old, kNow + std::chrono::seconds(20)));
  const http::ResponseHead not_modified = response(304, {{"Cache-Control", "max-age=100"},
                                                         {"ETag", "\"v1\""},
                                                         {"Date", "Sat, 01 Jun 2024 00:00:20 GMT"},
                                                         {"Content-Length", "0"},
                                                         {"Content-Encoding", "br"},
                                                         {"Vary", "User-Agent"},
                                                         {"X-New", "2"},
                                                         {"Age", "3"},
                                                         {"Connection", "close"}});
  const Time sent = kNow + std::chrono::seconds(20);
  const FreshenResult result = freshenWith304(*old, not_modified, sent, sent, route());
  ASSERT_NE(result.entry, nullptr);
  EXPECT_TRUE(result.storable);
  const CachedResponse& fresh = *result.entry;
  EXPECT_EQ(headerList(fresh),
            "Content-Type=text/plain;Content-Encoding=gzip;Vary=Accept-Encoding;X-Old=1;"
            "Cache-Control=max-age=100;ETag=\"v1\";Date=Sat, 01 Jun 2024 00:00:20 GMT;X-New=2;");
  EXPECT_EQ(fresh.lifetime, std::chrono::seconds(100));
  EXPECT_EQ(currentAge(fresh, sent), std::chrono::seconds(3));  // the 304's Age
  EXPECT_TRUE(isFresh(fresh, sent + std::chrono::seconds(90)));
  EXPECT_EQ(fresh.body.get(), old->body.get());  // shared, not copied
  EXPECT_EQ(fresh.key, old->key);
  EXPECT_EQ(fresh.vary, old->vary);
  // The stored entry is immutable: the old one is unchanged.
  EXPECT_EQ(old->lifetime, std::chrono::seconds(10));
}

TEST(Freshen304, WithoutDateRecordsTheReceiptTime) {
  const auto old = storedWith(headers({{"Cache-Control", "max-age=10"},
                                       {"ETag", "\"v1\""},
                                       {"Date", "Fri, 31 May 2024 00:00:00 GMT"}}));
  const Time later = kNow + std::chrono::hours(1);
  const FreshenResult result =
      freshenWith304(*old, response(304, {{"ETag", "\"v1\""}}), later, later, route());
  ASSERT_NE(result.entry, nullptr);
  EXPECT_EQ(result.entry->header("date"), "Sat, 01 Jun 2024 01:00:00 GMT");
  EXPECT_EQ(currentAge(*result.entry, later).count(), 0);
  EXPECT_TRUE(isFresh(*result.entry, later + std::chrono::seconds(9)));
}

struct ValidatorCase {
  const char* name;
  std::vector<http::Header> stored;
  std::vector<http::Header> not_modified;
  const char* etag;           // the freshened entry's
  const char* last_modified;  // the freshened entry's
};

// The 304 answered the conditions sent for this entry alone, so it always freshens it; new
// validators in it replace the stored ones (RFC 9111 4.3.4 updates ETag like any field).
TEST(Freshen304, ValidatorsInThe304ReplaceTheStoredOnes) {
  const auto base = [](std::vector<http::Header> extra) {
    std::vector<http::Header> out = headers({{"Cache-Control", "max-age=10"}});
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  };
  const char* lm = "Fri, 31 May 2024 00:00:00 GMT";
  const char* newer = "Fri, 31 May 2024 00:00:01 GMT";
  const ValidatorCase cases[] = {
      {"same strong ETag", base(headers({{"ETag", "\"a\""}})), headers({{"ETag", "\"a\""}}),
       "\"a\"", ""},
      {"different strong ETag", base(headers({{"ETag", "\"a\""}})), headers({{"ETag", "\"b\""}}),
       "\"b\"", ""},
      {"weak replaces strong", base(headers({{"ETag", "\"a\""}})), headers({{"ETag", "W/\"a\""}}),
       "W/\"a\"", ""},
      {"ETag where none was stored", base(headers({{"Last-Modified", lm}})),
       headers({{"ETag", "\"a\""}}), "\"a\"", lm},
      {"newer Last-Modified", base(headers({{"Last-Modified", lm}})),
       headers({{"Last-Modified", newer}}), "", newer},
      {"no validators in the 304", base(headers({{"ETag", "\"a\""}})), headers({}), "\"a\"", ""},
  };
  for (const ValidatorCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto old = storedWith(c.stored);
    ASSERT_NE(old, nullptr);
    http::ResponseHead not_modified = response(304);
    not_modified.headers = c.not_modified;
    const FreshenResult result = freshenWith304(*old, not_modified, kNow, kNow, route());
    ASSERT_NE(result.entry, nullptr);
    EXPECT_TRUE(result.storable);
    EXPECT_EQ(result.served, result.entry);
    EXPECT_EQ(result.entry->etag, c.etag);
    EXPECT_EQ(result.entry->last_modified, c.last_modified);
    EXPECT_EQ(result.entry->header("etag").value_or(""), c.etag);
  }
}

TEST(Freshen304, NotStorableAfterNoStoreOrPrivate) {
  const auto old = storedWith(headers({{"Cache-Control", "max-age=10"}, {"ETag", "\"a\""}}));
  for (const auto& extra :
       {headers({{"Cache-Control", "no-store"}}), headers({{"Cache-Control", "private"}}),
        headers({{"Cache-Control", "max-age=0"}, {"ETag", "\"a\""}})}) {
    http::ResponseHead not_modified = response(304);
    not_modified.headers = extra;
    const FreshenResult result = freshenWith304(*old, not_modified, kNow, kNow, route());
    ASSERT_NE(result.entry, nullptr) << extra[0].value;
    // max-age=0 with the ETag kept is still reusable (revalidation); the others are not.
    EXPECT_EQ(result.storable, extra[0].value == "max-age=0") << extra[0].value;
  }
  EXPECT_EQ(freshenWith304(*old, response(200), kNow, kNow, route()).entry, nullptr);
}

struct ClientCase {
  const char* name;
  const char* method;
  std::vector<http::Header> request_headers;
  bool not_modified;
};

TEST(ClientConditional, IfNoneMatchThenIfModifiedSince) {
  const auto entry = storedWith(headers({{"Cache-Control", "max-age=10"},
                                         {"ETag", "\"a\""},
                                         {"Last-Modified", "Fri, 31 May 2024 00:00:00 GMT"}}));
  const ClientCase cases[] = {
      {"matching tag", "GET", headers({{"If-None-Match", "\"a\""}}), true},
      {"weak comparison", "GET", headers({{"If-None-Match", "W/\"a\""}}), true},
      {"list", "HEAD", headers({{"If-None-Match", "\"x\", \"a\""}}), true},
      {"star", "GET", headers({{"If-None-Match", "*"}}), true},
      {"other tag", "GET", headers({{"If-None-Match", "\"b\""}}), false},
      {"If-None-Match wins over a satisfied If-Modified-Since", "GET",
       headers(
           {{"If-None-Match", "\"b\""}, {"If-Modified-Since", "Sat, 01 Jun 2024 00:00:00 GMT"}}),
       false},
      {"not modified since", "GET",
       headers({{"If-Modified-Since", "Fri, 31 May 2024 00:00:00 GMT"}}), true},
      {"modified since", "GET", headers({{"If-Modified-Since", "Thu, 30 May 2024 00:00:00 GMT"}}),
       false},
      {"invalid date", "GET", headers({{"If-Modified-Since", "yesterday"}}), false},
      {"POST", "POST", headers({{"If-None-Match", "\"a\""}}), false},
      {"unconditional", "GET", headers({}), false},
  };
  for (const ClientCase& c : cases) {
    SCOPED_TRACE(c.name);
    http::RequestHead req = request({}, c.method);
    req.headers = c.request_headers;
    EXPECT_EQ(clientNotModified(req, *entry), c.not_modified);
  }
  // Without Last-Modified the stored Date stands in.
  const auto dated = storedWith(headers({{"Cache-Control", "max-age=10"}}));
  EXPECT_TRUE(
      clientNotModified(request({{"If-Modified-Since", "Sat, 01 Jun 2024 00:00:00 GMT"}}), *dated));
  EXPECT_FALSE(
      clientNotModified(request({{"If-Modified-Since", "Fri, 31 May 2024 23:59:59 GMT"}}), *dated));
}

// RFC 9111 4.3.2 for a fresh response without Last-Modified: Date stands in, then the
// receipt time. A Date later than the client's If-Modified-Since means the stored response
// may be newer than the client's copy: no 304 (the cache-tests.fyi test
// conditional-lm-fresh-no-lm expects one there; this deliberately does not).
TEST(ClientConditional, WithoutLastModifiedUsesDateThenReceiptTime) {
  const auto dated = storedWith(headers({{"Cache-Control", "max-age=100000"}, {"Date", kNowDate}}));
  ASSERT_FALSE(dated->header("last-modified"));
  EXPECT_TRUE(
      clientNotModified(request({{"If-Modified-Since", "Sat, 01 Jun 2024 00:00:01 GMT"}}), *dated));
  EXPECT_FALSE(clientNotModified(request({{"If-Modified-Since", "Fri, 31 May 2024 23:10:00 GMT"}}),
                                 *dated));  // Date - 3000 s
  // If-None-Match still decides alone, even against a satisfied If-Modified-Since.
  EXPECT_FALSE(clientNotModified(
      request({{"If-None-Match", "\"x\""}, {"If-Modified-Since", "Sun, 02 Jun 2024 00:00:00 GMT"}}),
      *dated));
  auto undated = std::make_shared<CachedResponse>(*dated);
  undated->headers = {StoredHeader{"Date", "not a date"}};
  EXPECT_TRUE(clientNotModified(request({{"If-Modified-Since", kNowDate}}), *undated));
  EXPECT_FALSE(clientNotModified(request({{"If-Modified-Since", "Fri, 31 May 2024 23:59:59 GMT"}}),
                                 *undated));
  undated->headers.clear();
  EXPECT_TRUE(clientNotModified(request({{"If-Modified-Since", kNowDate}}), *undated));
}

struct InvalidationCase {
  const char* name;
  const char* method;
  int status;
  std::vector<http::Header> response_headers;
  std::vector<std::string> expected;
};

TEST(Invalidation, UnsafeMethodsInvalidateTargetLocationAndContentLocation) {
  const InvalidationCase cases[] = {
      {"POST 200", "POST", 200, {}, {"example.com/dir/a?x=1"}},
      {"PUT 201", "PUT", 201, {}, {"example.com/dir/a?x=1"}},
      {"DELETE 204", "DELETE", 204, {}, {"example.com/dir/a?x=1"}},
      {"PATCH 303", "PATCH", 303, {}, {"example.com/dir/a?x=1"}},
      {"unknown method is unsafe", "PURGE", 200, {}, {"example.com/dir/a?x=1"}},
      {"GET never", "GET", 200, {}, {}},
      {"HEAD never", "HEAD", 200, {}, {}},
      {"OPTIONS never", "OPTIONS", 200, {}, {}},
      {"error status", "POST", 404, {}, {}},
      {"server error", "DELETE", 500, {}, {}},
      {"interim", "POST", 100, {}, {}},
      {"absolute Location, same host",
       "POST",
       201,
       headers({{"Location", "http://EXAMPLE.com/items/7"}}),
       {"example.com/dir/a?x=1", "example.com/items/7"}},
      {"Location on another host",
       "POST",
       201,
       headers({{"Location", "https://evil.example/items/7"}}),
       {"example.com/dir/a?x=1"}},
      {"absolute-path Location with query and fragment",
       "POST",
       201,
       headers({{"Location", "/items/7?full=1#top"}}),
       {"example.com/dir/a?x=1", "example.com/items/7?full=1"}},
      {"relative Location",
       "POST",
       201,
       headers({{"Location", "b/c"}}),
       {"example.com/dir/a?x=1", "example.com/dir/b/c"}},
      {"dot segments",
       "POST",
       201,
       headers({{"Location", "../up/./x"}}),
       {"example.com/dir/a?x=1", "example.com/up/x"}},
      {"network-path Location",
       "POST",
       201,
       headers({{"Location", "//example.com/n"}}),
       {"example.com/dir/a?x=1", "example.com/n"}},
      {"Content-Location too",
       "PUT",
       200,
       headers({{"Content-Location", "/dir/a.json"}, {"Location", "/dir/a"}}),
       {"example.com/dir/a?x=1", "example.com/dir/a", "example.com/dir/a.json"}},
      {"duplicates collapse",
       "PUT",
       200,
       headers({{"Content-Location", "/dir/a?x=1"}}),
       {"example.com/dir/a?x=1"}},
      {"non-http scheme ignored",
       "POST",
       201,
       headers({{"Location", "mailto:a@b"}}),
       {"example.com/dir/a?x=1"}},
  };
  const config::RouteCacheConfig::Key key;
  for (const InvalidationCase& c : cases) {
    SCOPED_TRACE(c.name);
    const http::RequestHead req = request({}, c.method, "/dir/a", "x=1");
    http::ResponseHead resp = response(c.status);
    resp.headers = c.response_headers;
    std::vector<std::string> keys = invalidatedKeys(req, resp, key);
    std::sort(keys.begin(), keys.end());
    std::vector<std::string> expected = c.expected;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(keys, expected);
  }
}

TEST(Invalidation, UsesTheRouteKeyQueryRule) {
  config::RouteCacheConfig::Key key;
  key.query = config::RouteCacheConfig::Key::Query::kNone;
  const auto keys = invalidatedKeys(request({}, "POST", "/a", "x=1"), response(200), key);
  EXPECT_EQ(keys, std::vector<std::string>{"example.com/a"});
}

// Requests are stored under their normalised path: a Location must name the same key.
TEST(Invalidation, LocationPathsAreNormalisedLikeRequestPaths) {
  const config::RouteCacheConfig::Key key;
  http::ResponseHead resp = response(201);
  resp.headers = headers({{"Location", "/items//%7e1/./x?q=%7e"}, {"Content-Location", "/a%2Fb"}});
  const http::PathOptions paths;
  std::vector<std::string> keys =
      invalidatedKeys(request({}, "POST", "/items", ""), resp, key, &paths);
  EXPECT_EQ(keys, (std::vector<std::string>{"example.com/items", "example.com/items/~1/x?q=%7e"}));
  keys = invalidatedKeys(request({}, "POST", "/items", ""), resp, key);
  EXPECT_EQ(keys, (std::vector<std::string>{"example.com/items", "example.com/items//%7e1/x?q=%7e",
                                            "example.com/a%2Fb"}));
}

}  // namespace
}  // namespace sg::cache
